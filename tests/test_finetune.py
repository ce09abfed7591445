"""ULMFiT's pieces in finetune.py, each against the paper's formula or an independent computation: STLR,
discriminative learning rates, gradual unfreezing, concat pooling, BPT3C's gradient cut, the mean-embedding init;
then the script end to end on small tasks, and its one-line messages for bad input."""

import json
import math
import os
import signal
import threading
import time

import numpy as np
import pytest
import torch
from scripts import run_script, script_error

import finetune
import prepare
from finetune import (PoolingClassifier, classifier_groups, discriminative_lrs, freeze, length_batches, lm_groups,
                      make_optimizer, numericalize, schedule_lr, set_lr, transfer_embedding, unfreezing_stages, words)
from train_lstm import AWDLSTM, LSTMConfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "finetune.py")
NO_DROPOUT = dict(dropout_emb=0.0, dropout_in=0.0, dropout_hidden=0.0, dropout_out=0.0, weight_drop=0.0)


@pytest.fixture(autouse=True)
def one_thread():  # tiny models: a second thread only adds overhead on a busy machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_encoder(vocab_size=40, **dropouts):
    torch.manual_seed(0)
    return AWDLSTM(LSTMConfig(vocab_size=vocab_size, emb_size=8, hidden_size=12, n_layers=3,
                              **{**NO_DROPOUT, **dropouts}))

# -----------------------------------------------------------------------------
# schedules


def test_stlr_follows_the_papers_equation_3():
    # ULMFiT eq. 3, written out: cut = floor(T * cut_frac); p = t/cut if t < cut else 1 - (t - cut)/(cut (1/cut_frac - 1));
    # eta_t = eta_max (1 + p (ratio - 1)) / ratio
    T, cut_frac, ratio, eta_max = 1000, 0.1, 32, 0.01
    cut = math.floor(T * cut_frac)
    for t in (0, 1, 50, 99, 100, 101, 400, 999, 1000):
        p = t / cut if t < cut else 1 - (t - cut) / (cut * (1 / cut_frac - 1))
        assert schedule_lr("stlr", t, T, eta_max, cut_frac, ratio) == pytest.approx(eta_max * (1 + p * (ratio - 1)) / ratio)
    assert schedule_lr("stlr", 0, T, eta_max, cut_frac, ratio) == pytest.approx(eta_max / 32)  # starts low
    assert schedule_lr("stlr", 100, T, eta_max, cut_frac, ratio) == pytest.approx(eta_max)  # peaks at the cut
    assert schedule_lr("stlr", 1000, T, eta_max, cut_frac, ratio) == pytest.approx(eta_max / 32)  # back down
    assert schedule_lr("constant", 500, T, eta_max, cut_frac, ratio) == eta_max
    assert schedule_lr("cosine", 500, T, eta_max, cut_frac, ratio) == pytest.approx(eta_max / 2)


def test_discriminative_lrs_divide_by_2_6_per_group_down():
    lrs = discriminative_lrs(0.01, 5, 2.6)
    assert lrs[-1] == 0.01
    assert all(lrs[k] == pytest.approx(lrs[k + 1] / 2.6) for k in range(4))
    assert discriminative_lrs(0.01, 5, 1.0) == [0.01] * 5  # switched off
    # and the optimizer's groups get exactly these rates, top group last
    clf = PoolingClassifier(tiny_encoder(), 3)
    optimizer = make_optimizer(classifier_groups(clf), 2.6, (0.7, 0.99), 0.01)
    set_lr(optimizer, 0.01)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx(lrs)


def test_layer_groups_cover_each_parameter_once():
    model = tiny_encoder()
    lm = lm_groups(model)
    assert len(lm) == 4 and lm[-1][0] is model.encoder.weight is model.decoder.weight  # tied table on top
    assert sorted(map(id, (p for g in lm for p in g))) == sorted(map(id, model.parameters()))
    clf = PoolingClassifier(model, 3)
    groups = classifier_groups(clf)
    assert len(groups) == 5 and groups[0] == [model.encoder.weight]
    params = [p for g in groups for p in g]
    assert len(set(map(id, params))) == len(params)
    missing = {id(p) for p in clf.parameters()} - set(map(id, params))
    assert missing == {id(model.decoder.bias)}  # the LM's output bias has no use in a classifier


def test_gradual_unfreezing_schedule():
    assert unfreezing_stages(8, 5, True) == [(1, 1), (2, 1), (3, 1), (4, 1), (5, 4)]
    assert unfreezing_stages(5, 5, True) == [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1)]
    assert unfreezing_stages(3, 5, True) == [(1, 1), (2, 1), (3, 1)]  # too few epochs to reach the embedding
    assert unfreezing_stages(1, 5, True) == [(1, 1)]
    assert unfreezing_stages(8, 5, False) == [(5, 8)]


def test_frozen_groups_are_bit_identical_after_a_step():
    clf = PoolingClassifier(tiny_encoder(dropout_in=0.2), 3)  # dropout on: frozen still means untouched
    groups = classifier_groups(clf)
    optimizer = make_optimizer(groups, 2.6, (0.7, 0.99), 0.01)  # weight decay on: it must skip frozen weights too
    x = torch.randint(0, 40, (6, 9))
    lengths = torch.tensor([9, 9, 7, 5, 3, 1])
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    for n_trainable in (1, 2, 5):
        freeze(groups, n_trainable)
        before = [[p.detach().clone() for p in g] for g in groups]
        set_lr(optimizer, 0.01)
        torch.nn.functional.cross_entropy(clf(x, lengths), y).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        for k, (g, b) in enumerate(zip(groups, before)):
            same = all(torch.equal(p, q) for p, q in zip(g, b))
            assert same == (k < len(groups) - n_trainable), (n_trainable, k)

# -----------------------------------------------------------------------------
# the classifier


def test_concat_pooling_ignores_padding():
    # each document alone, unpadded, gives the same features as inside a right-padded batch, across BPT3C chunks
    clf = PoolingClassifier(tiny_encoder(), 3, bptt=4, max_len=8).eval()
    g = torch.Generator().manual_seed(1)
    docs = [torch.randint(0, 40, (n,), generator=g) for n in (11, 6, 1, 9)]
    x = torch.full((4, 11), 5)  # padding with a real token id: only the masks may keep it out
    for i, d in enumerate(docs):
        x[i, :len(d)] = d
    with torch.no_grad():
        batched = clf.features(x, torch.tensor([len(d) for d in docs]))
        for i, d in enumerate(docs):
            alone = clf.features(d[None], torch.tensor([len(d)]))[0]
            torch.testing.assert_close(batched[i], alone, rtol=1e-5, atol=1e-6)
            # and pooling is what it says: [last state, max over time, mean over time] of the last layer
            _, raw, _ = clf.encoder.encode(d[None], clf.encoder.init_hidden(1))
            H = raw[0]
            torch.testing.assert_close(alone, torch.cat([H[-1], H.max(0).values, H.mean(0)]), rtol=1e-5, atol=1e-6)


def test_bpt3c_gives_no_gradient_before_the_last_max_len_tokens():
    L, bptt, max_len = 23, 5, 10
    enc = tiny_encoder(vocab_size=L)
    clf = PoolingClassifier(enc, 2, bptt=bptt, max_len=max_len)
    x = torch.arange(L)[None]  # token id = position, so the embedding's gradient rows are per position
    clf.train()
    clf.head.eval()  # BatchNorm of a batch of one
    clf(x, torch.tensor([L]))[0, 1].backward()
    grad_rows = enc.encoder.weight.grad.abs().sum(1)
    assert torch.all(grad_rows[:L - max_len] == 0)
    assert torch.all(grad_rows[L - max_len:] > 0)


def test_new_words_start_at_the_mean_embedding():
    weight = torch.randn(5, 3)
    bias = torch.randn(5)
    old = ["<eos>", "<unk>", "the", "cat", "sat"]
    new = ["<eos>", "<unk>", "sat", "dog", "the"]
    w, b = transfer_embedding(weight, bias, old, new)
    assert torch.equal(w[2], weight[4]) and torch.equal(w[4], weight[2]) and torch.equal(w[0], weight[0])
    torch.testing.assert_close(w[3], weight.mean(0))
    torch.testing.assert_close(b[3], bias.mean())
    assert b[2] == bias[4]


def test_words_keep_known_tokens_and_split_the_rest():
    known = {"@-@", "n't"}
    assert words("does n't work @-@ well", known) == ["does", "n't", "work", "@-@", "well"]
    assert words("It's a movie. Great!", set()) == ["It", "'s", "a", "movie", ".", "Great", "!"]
    stoi = {"<eos>": 0, "<unk>": 1, "a": 2, "b": 3}
    assert numericalize("a b\nc a", stoi) == [0, 2, 3, 0, 1, 2]


def test_length_batches_group_similar_lengths_and_cover_everything():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 500, size=1000)
    batches = length_batches(lengths, 10, rng)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    spread = np.mean([lengths[b].max() - lengths[b].min() for b in batches])
    assert spread < 40  # random batches of 10 would spread ~400
    ordered = length_batches(lengths, 10)
    assert list(lengths[np.concatenate(ordered)]) == sorted(lengths, reverse=True)

# -----------------------------------------------------------------------------
# the script end to end

TINY = ["--device=cpu", "--emb_size=16", "--hidden_size=32", "--n_layers=2", "--batch_size=32", "--lm_batch_size=8",
        "--bptt=10"]


def write_jsonl(path, records):
    with open(path, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)
    return str(path)


def order_task(n, rng):
    """Label 'ab' when the word a comes before the word b, else 'ba', among filler words: the same bag of words
    for both classes, so only word order tells them apart."""
    records = []
    for _ in range(n):
        text = [f"w{i}" for i in rng.integers(0, 12, size=rng.integers(4, 10))]
        i, j = sorted(rng.choice(len(text) + 1, size=2, replace=False))
        first, second = ("a", "b") if rng.random() < 0.5 else ("b", "a")
        text.insert(i, first)
        text.insert(j + 1, second)
        records.append({"text": " ".join(text), "label": first + second})
    return records


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.setattr(prepare, "DATA_DIR", str(tmp_path / "data"))
    rng = np.random.default_rng(0)
    prepare.prepare("task", inputs=[write_jsonl(tmp_path / "train.jsonl", order_task(600, rng)),
                                    write_jsonl(tmp_path / "test.jsonl", order_task(200, rng))], out="order")
    return tmp_path


def records(out_dir):
    with open(os.path.join(out_dir, "log.jsonl")) as f:
        return [json.loads(line) for line in f]


def run(out_dir, *args):
    return run_script(SCRIPT, [*TINY, "--task=order", f"--out_dir={out_dir}", *args])


def test_a_classifier_from_scratch_learns_word_order(data):
    out = data / "out"
    assert run(out, "--init_from=scratch", "--lm_epochs=0", "--epochs=12", "--gradual_unfreezing=False",
               "--dropout_emb=0", "--dropout_in=0", "--dropout_hidden=0", "--dropout_out=0", "--weight_drop=0",
               "--head_dropout=(0.0,0.0)") == 0
    final = records(out)[-1]
    assert final["stage"] == "final" and final["test_accuracy"] > 0.9, final
    assert final["test_error"] == pytest.approx(1 - final["test_accuracy"])


@pytest.fixture
def pretrained(data):
    """A tiny word-level AWD-LSTM trained for a few steps on unlabelled text of the task's kind."""
    rng = np.random.default_rng(1)
    with open(data / "corpus.txt", "w") as f:
        f.write("\n".join(r["text"] for r in order_task(800, rng)) + "\n")
    prepare.prepare("text", inputs=[str(data / "corpus.txt")], tokenizer="word", out="corpus")
    out = data / "lm"
    assert run_script(os.path.join(REPO, "train_lstm.py"),
                      ["--dataset=corpus", f"--out_dir={out}", "--emb_size=16", "--hidden_size=32", "--n_layers=2",
                       "--batch_size=8", "--bptt=10", "--max_iters=20", "--device=cpu", "--compile=False"]) == 0
    return out


def test_lm_fine_tuning_then_classifier_then_predict(pretrained, capsys):
    out = pretrained.parent / "ulmfit"
    assert run(out, f"--init_from={pretrained}", "--lm_epochs=2", "--epochs=6", "--n_train=100") == 0
    log = records(out)
    lm = [r for r in log if r.get("stage") == "lm"]
    assert [r["epoch"] for r in lm] == [0, 1, 2] and lm[2]["test_loss"] < lm[1]["test_loss"] < lm[0]["test_loss"]
    clf = [r for r in log if r.get("stage") == "classifier"]
    assert [r["groups"] for r in clf] == [1, 2, 3, 4, 4, 4]  # gradual unfreezing: head, +1 layer a epoch, all
    lm_ckpt = torch.load(out / "lm.pt", weights_only=True)
    base = torch.load(pretrained / "best.pt", weights_only=True)
    assert lm_ckpt["meta"]["vocab"] == base["meta"]["vocab"]  # vocab='pretrained'
    assert not torch.equal(lm_ckpt["model"]["rnns.0.weight_hh_l0"], base["model"]["rnns.0.weight_hh_l0"])
    # the fine-tuned LM is an ordinary train_lstm.py checkpoint: sample.py reads it
    assert run_script(os.path.join(REPO, "sample.py"), [f"--ckpt={out / 'lm.pt'}", "--num_samples=1",
                                                         "--max_new_tokens=5", "--device=cpu"]) == 0
    # predict: one line per text, label, probability, text; unknown words are <unk>, never an error
    texts = ["w1 a w2 b w3", "b w4 w5 a", "a zebra b"]
    (pretrained.parent / "new.txt").write_text("\n".join(texts) + "\n")
    capsys.readouterr()
    assert run_script(SCRIPT, ["--mode=predict", f"--out_dir={out}", f"--input={pretrained.parent / 'new.txt'}",
                               "--device=cpu"]) == 0
    lines = capsys.readouterr().out.strip().split("\n")
    assert [line.split("\t")[2] for line in lines] == texts
    assert all(line.split("\t")[0] in ("ab", "ba") and 0.5 <= float(line.split("\t")[1]) <= 1 for line in lines)


def test_a_task_vocabulary_keeps_pretrained_rows(pretrained):
    out = pretrained.parent / "task-vocab"
    assert run(out, f"--init_from={pretrained}", "--lm_epochs=0", "--epochs=1", "--vocab=task", "--min_freq=1") == 0
    base = torch.load(pretrained / "best.pt", weights_only=True)
    ckpt = torch.load(out / "classifier.pt", weights_only=True)
    old = {w: i for i, w in enumerate(base["meta"]["vocab"])}
    emb = ckpt["model"]["encoder.encoder.weight"]
    assert set(ckpt["vocab"]) >= set(old) - {"<unk>"}
    # lm_epochs=0 and the embedding frozen for one epoch: rows of known words are exactly the pretrained ones
    for i, w in enumerate(ckpt["vocab"]):
        if w in old:
            assert torch.equal(emb[i], base["model"]["encoder.weight"][old[w]])


def test_bad_input_gets_one_line(pretrained, tmp_path):
    def message(*args):
        return script_error(SCRIPT, [*TINY, "--task=order", *args])

    gpt = tmp_path / "gpt.pt"
    torch.save({"model_args": {}, "model": {}}, gpt)  # a train_gpt.py checkpoint has no model_type
    assert "holds a gpt model" in message(f"--init_from={gpt}", f"--out_dir={tmp_path / 'a'}")
    char = tmp_path / "char.pt"
    torch.save({"model_args": {}, "model": {}, "model_type": "awd_lstm",
                "meta": {"tokenizer": "char", "vocab_size": 2, "vocab": ["a", "b"]}}, char)
    assert "char vocabulary" in message(f"--init_from={char}", f"--out_dir={tmp_path / 'b'}")
    assert "n_train=5000" in message(f"--init_from={pretrained}", "--n_train=5000", f"--out_dir={tmp_path / 'c'}")
    assert "does not exist" in message("--mode=predict", f"--out_dir={tmp_path / 'nothing'}")
    assert "schedule must be" in message("--schedule=linear")
    assert "not prepared" in message("--task=nosuchtask") or "prepare.py" in message("--task=nosuchtask")
    out = tmp_path / "done"
    assert run(out, f"--init_from={pretrained}", "--lm_epochs=0", "--epochs=1") == 0
    assert "already holds a classifier" in message(f"--init_from={pretrained}", f"--out_dir={out}")


def test_ctrl_c_saves_the_lm_then_exits(data, capsys):
    out = data / "out"

    def interrupt_once_training():  # after the first LM evaluation, so the script's own handler is in place
        log = out / "log.jsonl"
        while not (log.exists() and '"stage": "lm"' in log.read_text()):
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_once_training, daemon=True).start()
    assert run(out, "--init_from=scratch", "--lm_epochs=500", "--epochs=1") == 130
    assert "interrupted in LM fine-tuning: saved" in capsys.readouterr().out
    ckpt = torch.load(out / "lm.pt", weights_only=True)
    assert ckpt["model_type"] == "awd_lstm" and ckpt["iter_num"] > 0
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the script gave Ctrl-C back
    # and the saved LM carries on: the classifier stage from it
    assert run(out / "next", f"--init_from={out / 'lm.pt'}", "--lm_epochs=0", "--epochs=1") == 0
