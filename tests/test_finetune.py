"""ULMFiT's pieces in finetune.py, each against the paper's formula or an independent computation: STLR,
discriminative learning rates, gradual unfreezing, concat pooling, BPT3C's gradient cut, the mean-embedding init;
then the script end to end on small tasks, and its one-line messages for bad input."""

import dataclasses
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
import train_gpt
from train_gpt import GPT, GPTConfig
from train_lstm import AWDLSTM, LSTMConfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "finetune.py")
NO_DROPOUT = dict(dropout_emb=0.0, dropout_in=0.0, dropout_hidden=0.0, dropout_out=0.0, weight_drop=0.0)


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
    # GPT-1: linear warmup over 0.2% of training (2 of 1000 steps here), then linear decay to zero
    assert [schedule_lr("linear", t, T, eta_max, 0.002, ratio) for t in (0, 1, 2, 501, 1000)] == \
        pytest.approx([0, eta_max / 2, eta_max, eta_max * 499 / 998, 0])


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

TINY = ["--device=cpu", "--batch_size=32", "--lm_batch_size=8", "--bptt=10"]


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


def test_a_classifier_from_scratch_learns_word_order(pretrained):
    out = pretrained.parent / "out"
    assert run(out, f"--init_from={pretrained}", "--pretrained=False", "--lm_epochs=0", "--epochs=12", "--gradual_unfreezing=False",
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

    clf = tmp_path / "clf.pt"
    torch.save({"model_args": {}, "model": {}, "model_type": "ulmfit_classifier"}, clf)
    assert "holds a ulmfit_classifier model" in message(f"--init_from={clf}", f"--out_dir={tmp_path / 'a'}")
    char = tmp_path / "char.pt"
    torch.save({"model_args": {}, "model": {}, "model_type": "awd_lstm",
                "meta": {"tokenizer": "char", "vocab_size": 2, "vocab": ["a", "b"]}}, char)
    assert "char vocabulary" in message(f"--init_from={char}", f"--out_dir={tmp_path / 'b'}")
    assert "n_train=5000" in message(f"--init_from={pretrained}", "--n_train=5000", f"--out_dir={tmp_path / 'c'}")
    assert "does not exist" in message("--mode=predict", f"--out_dir={tmp_path / 'nothing'}")
    assert "schedule must be" in message("--schedule=triangular")
    assert "not prepared" in message("--task=nosuchtask") or "prepare.py" in message("--task=nosuchtask")
    out = tmp_path / "done"
    assert run(out, f"--init_from={pretrained}", "--lm_epochs=0", "--epochs=1") == 0
    assert "already holds a classifier" in message(f"--init_from={pretrained}", f"--out_dir={out}")


def test_ctrl_c_saves_the_lm_then_exits(pretrained, capsys):
    out = pretrained.parent / "out"

    def interrupt_once_training():  # after the first LM evaluation, so the script's own handler is in place
        log = out / "log.jsonl"
        while not (log.exists() and '"stage": "lm"' in log.read_text()):
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_once_training, daemon=True).start()
    assert run(out, f"--init_from={pretrained}", "--lm_epochs=500", "--epochs=1") == 130
    assert "interrupted in LM fine-tuning: saved" in capsys.readouterr().out
    ckpt = torch.load(out / "lm.pt", weights_only=True)
    assert ckpt["model_type"] == "awd_lstm" and ckpt["iter_num"] > 0
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the script gave Ctrl-C back
    # and the saved LM carries on: the classifier stage from it
    assert run(out / "next", f"--init_from={out / 'lm.pt'}", "--lm_epochs=0", "--epochs=1") == 0

# -----------------------------------------------------------------------------
# GPT-1's task fine-tuning

SPECIAL = (100, 101, 102)  # start, delimiter, extract


def encode_chars(text):
    return [ord(c) - 96 for c in text]  # a..z -> 1..26


def test_input_transformations_token_layout():
    s, d, e = SPECIAL
    t = finetune.transform
    assert t({"text": "abc"}, "classification", encode_chars, SPECIAL, 64) == [[s, 1, 2, 3, e]]
    assert t({"premise": "ab", "hypothesis": "c"}, "entailment", encode_chars, SPECIAL, 64) == [[s, 1, 2, d, 3, e]]
    assert t({"text_a": "ab", "text_b": "c"}, "similarity", encode_chars, SPECIAL, 64) == \
        [[s, 1, 2, d, 3, e], [s, 3, d, 1, 2, e]]
    assert t({"context": "ab", "choices": ["c", "de"]}, "multiple_choice", encode_chars, SPECIAL, 64) == \
        [[s, 1, 2, d, 3, e], [s, 1, 2, d, 4, 5, e]]
    # too long: a text loses its end, a pair its longer part's end, a context its beginning (alike for each choice)
    assert t({"text": "abcdefgh"}, "classification", encode_chars, SPECIAL, 6) == [[s, 1, 2, 3, 4, e]]
    assert t({"premise": "abcdef", "hypothesis": "xy"}, "entailment", encode_chars, SPECIAL, 8) == \
        [[s, 1, 2, 3, d, 24, 25, e]]
    assert t({"context": "abcdef", "choices": ["x", "yz"]}, "multiple_choice", encode_chars, SPECIAL, 8) == \
        [[s, 4, 5, 6, d, 24, e], [s, 4, 5, 6, d, 25, 26, e]]
    with pytest.raises(ValueError, match="no room"):
        t({"context": "ab", "choices": ["x", "wxyzw"]}, "multiple_choice", encode_chars, SPECIAL, 8)


def tiny_gpt(task_type, n_out, vocab_size=30):
    torch.manual_seed(0)
    gpt = GPT(GPTConfig(block_size=32, vocab_size=vocab_size, n_layer=2, n_head=2, n_embd=16, prenorm=False))
    return finetune.GPTTaskModel(gpt, task_type, n_out).eval()


def test_similarity_is_symmetric_and_choices_share_the_head():
    special = (27, 28, 29)
    model = tiny_gpt("similarity", 2)
    ab = finetune.transform({"text_a": "abc", "text_b": "de"}, "similarity", encode_chars, special, 32)
    ba = finetune.transform({"text_a": "de", "text_b": "abc"}, "similarity", encode_chars, special, 32)
    with torch.no_grad():
        out_ab = model(*finetune.collate_sequences([ab], "cpu"))
        out_ba = model(*finetune.collate_sequences([ba], "cpu"))
    torch.testing.assert_close(out_ab, out_ba)
    model = tiny_gpt("multiple_choice", 1)
    example = finetune.transform({"context": "ab", "choices": ["c", "dd", "e"]}, "multiple_choice", encode_chars,
                                 special, 32)
    with torch.no_grad():
        scores = model(*finetune.collate_sequences([example], "cpu"))[0]
        reordered = model(*finetune.collate_sequences([[example[2], example[0], example[1]]], "cpu"))[0]
        alone = [model(*finetune.collate_sequences([[seq]], "cpu"))[0, 0] for seq in example]
    torch.testing.assert_close(reordered, scores[[2, 0, 1]])  # the same weights score every choice
    torch.testing.assert_close(scores, torch.stack(alone))  # padding to the longest choice changes nothing


def test_auxiliary_lm_loss_is_the_gpt_loss_over_real_tokens():
    model = tiny_gpt("classification", 3)
    seqs = [[27, 1, 2, 3, 4, 29], [27, 5, 6, 29]]
    idx, lengths = finetune.collate_sequences([[s] for s in seqs], "cpu")
    with torch.no_grad():
        _, lm = model(idx, lengths, with_lm=True)
        # independently: GPT.forward's own loss on each unpadded sequence, weighted by its number of targets
        total = sum(model.gpt(torch.tensor([s[:-1]]), torch.tensor([s[1:]]))[1] * (len(s) - 1) for s in seqs)
    torch.testing.assert_close(lm, total / sum(len(s) - 1 for s in seqs))


def test_metrics_against_hand_computed_values():
    assert finetune.task_metrics("classification", [0, 1, 2, 1], [0, 1, 1, 1], ["a", "b", "c"]) == {"accuracy": 0.75}
    # F1 of the positive class: tp 2, fp 1, fn 1 -> 2*2 / (2*2 + 1 + 1)
    m = finetune.task_metrics("similarity", [1, 1, 1, 0, 0], [1, 1, 0, 1, 0], ["0", "1"])
    assert m["f1"] == pytest.approx(4 / 6) and m["accuracy"] == pytest.approx(0.6)
    # Spearman with a tie: scipy.stats.spearmanr([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) is 0.8207826816681233
    m = finetune.task_metrics("regression", [1, 2, 3, 4, 5], [5, 6, 7, 8, 7], None)
    assert m["spearman"] == pytest.approx(0.8207826816681233)
    assert m["pearson"] == pytest.approx(np.corrcoef([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])[0, 1])


@pytest.fixture
def gpt_checkpoint(data):
    """An untrained GPT-1-layout model with a character vocabulary covering the order task's texts."""
    rng = np.random.default_rng(2)
    with open(data / "chars.txt", "w") as f:
        f.write("\n".join(r["text"] for r in order_task(50, rng)) + "\n")
    meta = prepare.prepare("text", inputs=[str(data / "chars.txt")], tokenizer="char", out="chars")
    torch.manual_seed(0)
    config = GPTConfig(block_size=48, vocab_size=meta["vocab_size"], n_layer=2, n_head=2, n_embd=32, prenorm=False)
    path = data / "gpt.pt"
    train_gpt.save_checkpoint(str(path), {"model": GPT(config).state_dict(), "model_args": dataclasses.asdict(config),
                                          "meta": meta, "model_type": "gpt", "iter_num": 0, "best_val_loss": 0.0})
    return path


def test_gpt_fine_tuning_end_to_end(gpt_checkpoint, capsys):
    out = gpt_checkpoint.parent / "gpt-ft"
    assert run(out, f"--init_from={gpt_checkpoint}", "--lm_epochs=0", "--epochs=2", "--learning_rate=1e-3",
               "--schedule=linear", "--cut_frac=0.002", "--discriminative=False", "--gradual_unfreezing=False",
               "--beta1=0.9", "--beta2=0.999") == 0
    log = records(out)
    epochs = [r for r in log if r.get("stage") == "classifier"]
    assert len(epochs) == 2 and all(r["groups"] == 4 for r in epochs)  # embeddings, 2 blocks, head: all trained
    for r in epochs:  # the loop's loss is task + 0.5 * LM (means of per-step values are linear)
        assert r["loss"] == pytest.approx(r["task_loss"] + 0.5 * r["lm_loss"], rel=1e-6)
    assert "test_accuracy" in log[-1]
    ckpt = torch.load(out / "classifier.pt", weights_only=True)
    assert ckpt["model_type"] == "gpt_classifier" and ckpt["model_args"]["vocab_size"] == ckpt["special"][0] + 3
    (gpt_checkpoint.parent / "new.jsonl").write_text('{"text": "a w1 b"}\n{"text": "b w2 a"}\n')
    capsys.readouterr()
    assert run_script(SCRIPT, ["--mode=predict", f"--out_dir={out}", f"--input={gpt_checkpoint.parent / 'new.jsonl'}",
                               "--device=cpu"]) == 0
    lines = capsys.readouterr().out.strip().split("\n")
    assert [line.split("\t")[-1] for line in lines] == ["a w1 b", "b w2 a"]
    assert all(line.split("\t")[0] in ("ab", "ba") for line in lines)
    # without the auxiliary loss there is no LM part to log
    assert run(out / "no-lm", f"--init_from={gpt_checkpoint}", "--lm_epochs=0", "--epochs=1", "--lm_coef=0") == 0
    assert "lm_loss" not in records(out / "no-lm")[-2]
    # ULMFiT's LM stage is not for GPTs, and characters outside the vocabulary are named
    assert "lm_epochs" in script_error(SCRIPT, [*TINY, "--task=order", f"--init_from={gpt_checkpoint}",
                                                f"--out_dir={out / 'x'}", "--lm_epochs=2"])


def typed_records(task_type, n, rng):
    """Random examples of a task type over the order task's characters (the GPT fixture's vocabulary)."""
    def words(k):
        return " ".join(f"w{i}" for i in rng.integers(0, 10, size=k))
    records = []
    for _ in range(n):
        if task_type == "entailment":
            records.append({"premise": words(5), "hypothesis": words(2), "label": str(rng.choice(["no", "yes"]))})
        elif task_type == "similarity":
            records.append({"text_a": words(4), "text_b": words(3), "label": str(rng.choice(["0", "1"]))})
        elif task_type == "regression":
            records.append({"text_a": words(4), "text_b": words(3), "label": float(rng.uniform(0, 5))})
        else:
            records.append({"context": words(4), "choices": [words(2), words(3), "a b"], "label": int(rng.integers(3))})
    return records


@pytest.mark.parametrize("task_type, metric", [("entailment", "test_accuracy"), ("similarity", "test_f1"),
                                                ("regression", "test_spearman"), ("multiple_choice", "test_accuracy")])
def test_gpt_fine_tuning_on_each_task_type(gpt_checkpoint, task_type, metric):
    folder = gpt_checkpoint.parent / "data" / task_type
    folder.mkdir()
    rng = np.random.default_rng(3)
    splits = {"train": typed_records(task_type, 24, rng), "test": typed_records(task_type, 12, rng)}
    for split, examples in splits.items():
        write_jsonl(folder / f"{split}.jsonl", examples)
    info = {"task": task_type, "type": task_type, "splits": {k: len(v) for k, v in splits.items()}}
    if task_type in ("entailment", "similarity"):
        info["labels"] = sorted({r["label"] for r in splits["train"]})
    (folder / "task.json").write_text(json.dumps(info))
    out = gpt_checkpoint.parent / f"ft-{task_type}"
    assert run_script(SCRIPT, [*TINY, f"--task={task_type}", f"--out_dir={out}", f"--init_from={gpt_checkpoint}",
                               "--lm_epochs=0", "--epochs=1", "--learning_rate=1e-3", "--gradual_unfreezing=False"]) == 0
    final = records(out)[-1]
    assert final["stage"] == "final" and math.isfinite(final[metric])


@pytest.mark.parametrize("task_type, record, match", [
    ("entailment", {"premise": "a", "label": "yes"}, 'needs "hypothesis"'),
    ("similarity", {"text_a": "a", "text_b": " ", "label": "1"}, 'needs "text_b"'),
    ("regression", {"text_a": "a", "text_b": "b", "label": "high"}, "label is a number"),
    ("multiple_choice", {"context": "a", "choices": ["b", "c"], "label": 2}, "choice index 0 to 1"),
    ("multiple_choice", {"context": "a", "choices": ["b"], "label": 0}, "at least two"),
])
def test_records_must_match_their_task_type(tmp_path, task_type, record, match):
    path = write_jsonl(tmp_path / "x.jsonl", [record])
    with pytest.raises(SystemExit, match=match):
        prepare.read_records(path, task_type=task_type)


def test_multiple_choice_examples_need_the_same_number_of_choices(tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [{"context": "a", "choices": ["b", "c"], "label": 0},
                                              {"context": "a", "choices": ["b", "c", "d"], "label": 0}])
    with pytest.raises(SystemExit, match="line 2 has 3 choices but .* line 1 has 2"):
        prepare.read_records(path, task_type="multiple_choice")
