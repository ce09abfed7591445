"""ULMFiT's pieces in finetune.py, each against the paper's formula or an independent computation: STLR,
discriminative learning rates, gradual unfreezing, concat pooling, BPT3C's gradient cut, AR/TAR in the classifier,
the mean-embedding init, one LM fine-tuning step by hand; then the script end to end on small tasks (bidirectional
ULMFiT and its ensemble included), its one-line messages for bad input, and GPT-1's pieces."""

import dataclasses
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scripts import run_script, script_error

import finetune
import prepare
from finetune import (PoolingClassifier, classifier_groups, discriminative_lrs, document_ids, freeze, length_batches,
                      lm_corpus, lm_groups, make_optimizer, numericalize, schedule_lr, set_lr, training_loss,
                      transfer_embedding, unfreezing_stages, words)
import train_lstm
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


def test_linear_schedule_is_openais_warmup_linear():
    # GPT-1: OpenAI's opt.py, warmup_linear(x, warmup=0.002) = (s * (x / warmup) + (1 - s)) * (1 - x) with
    # s = (x <= warmup) and x = t / T: a warmup over 0.2% of training (2 of 1000 steps here), then 1 - t/T
    T, warmup, eta_max = 1000, 0.002, 6.25e-5
    for t in (0, 1, 2, 3, 501, 999, 1000):
        x = t / T
        s = float(x <= warmup)
        by_hand = eta_max * (s * x / warmup + 1 - s) * (1 - x)
        assert schedule_lr("linear", t, T, eta_max, warmup, 32) == pytest.approx(by_hand)
    assert schedule_lr("linear", 1, T, eta_max, warmup, 32) == pytest.approx(eta_max * 0.5 * 0.999)
    assert schedule_lr("linear", 501, T, eta_max, warmup, 32) == pytest.approx(eta_max * 0.499)


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
    batched = clf.features(x, torch.tensor([len(d) for d in docs]))[0]  # with gradients: chunks split at 3 and 1
    with torch.no_grad():  # without: no split
        torch.testing.assert_close(clf.features(x, torch.tensor([len(d) for d in docs]))[0], batched)
        for i, d in enumerate(docs):
            alone = clf.features(d[None], torch.tensor([len(d)]))[0][0]
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


def test_bpt3c_counts_the_kept_tokens_from_each_documents_own_end():
    # a batch longer than max_len with a document shorter than (batch length - max_len): counted from the end of
    # the padded batch, the short document would get no gradient at all
    enc = tiny_encoder(vocab_size=40)
    clf = PoolingClassifier(enc, 2, bptt=5, max_len=10).eval()
    x = torch.full((2, 30), 39)  # 39: padding
    x[0] = torch.arange(30)  # token id = position in the long document,
    x[1, :8] = torch.arange(30, 38)  # and 30 + position in the short one: one embedding row per token
    clf(x, torch.tensor([30, 8])).sum().backward()
    grad_rows = enc.encoder.weight.grad.abs().sum(1)
    assert torch.all(grad_rows[:20] == 0)  # the long document: nothing before its last 10 tokens
    assert torch.all(grad_rows[20:30] > 0)
    assert torch.all(grad_rows[30:38] > 0)  # the short one: all of its 8 tokens
    assert grad_rows[39] == 0  # padding


def test_bpt3c_chunk_plan_against_a_position_by_position_reading():
    # the plan read back position by position: chunks tile the batch, none longer than bptt, one starts at every
    # bptt boundary and (with gradients) at each document's kept part; cut and kept as the positions say
    clf = PoolingClassifier(tiny_encoder(), 2, bptt=4, max_len=6)
    sizes, L = [17, 5, 9, 6, 1], 17
    plan = clf.chunks(sizes, L)
    starts = [start for start, _, _, _ in plan]
    assert [start for start, end, _, _ in plan[1:]] == [end for _, end, _, _ in plan[:-1]] and plan[-1][1] == L
    assert starts[0] == 0 and all(0 < end - start <= 4 for start, end, _, _ in plan)
    assert set(starts) == set(range(0, L, 4)) | {n - 6 for n in sizes if n > 6} == {0, 3, 4, 8, 11, 12, 16}
    for start, end, cut, kept in plan:
        assert cut == any(n > 6 and start == n - 6 for n in sizes), start
        assert kept == any(n - 6 <= p < n for p in range(start, end) for n in sizes), start
    with torch.no_grad():  # evaluation: nothing to cut, so the chunks are bptt's alone
        assert [(start, end, cut) for start, end, cut, _ in clf.chunks(sizes, L)] == [
            (0, 4, False), (4, 8, False), (8, 12, False), (12, 16, False), (16, 17, False)]


def kept_positions_by_hand(enc, docs, max_len):
    """Each document encoded alone, unpadded, in one call: its last layer's raw output at its last max_len tokens."""
    return [enc.encode(d[None], enc.init_hidden(1))[1][0, -max_len:] for d in docs]


def test_classifier_ar_and_tar_average_the_kept_positions():
    # AR = mean of the squared output and TAR = mean of its squared step-to-step change, over the positions that
    # keep gradients (each document's last max_len real tokens) and the pairs of neighbours among them
    enc = tiny_encoder()
    clf = PoolingClassifier(enc, 3, bptt=3, max_len=5).eval()  # no dropout: the dropped output is the raw one
    g = torch.Generator().manual_seed(2)
    docs = [torch.randint(0, 40, (n,), generator=g) for n in (9, 4, 1)]
    x = torch.zeros(3, 9, dtype=torch.long)
    for i, d in enumerate(docs):
        x[i, :len(d)] = d
    lengths = torch.tensor([len(d) for d in docs])
    _, ar, tar = clf.features(x, lengths)  # with gradients: the chunks split where document 0's kept part begins
    with torch.no_grad():
        kept = kept_positions_by_hand(enc, docs, 5)
    E = enc.config.emb_size
    ar_by_hand = sum(h.pow(2).sum() for h in kept) / (sum(len(h) for h in kept) * E)
    tar_by_hand = sum((h[1:] - h[:-1]).pow(2).sum() for h in kept) / (sum(len(h) - 1 for h in kept) * E)
    torch.testing.assert_close(ar, ar_by_hand)
    torch.testing.assert_close(tar, tar_by_hand)


def test_classifier_loss_adds_ar_on_the_dropped_output_and_tar_on_the_raw_one():
    # in training, with output dropout on: one chunk (bptt and max_len cover the batch), so the one mask drawn is
    # the one drawn here by hand from the same seed
    enc = tiny_encoder(dropout_out=0.5)
    clf = PoolingClassifier(enc, 3, bptt=16, max_len=16, dropout=(0.0, 0.0)).train()
    batch = [[[3, 4, 5, 6, 7, 8]], [[9, 10, 11]], [[12, 13, 14, 15]]]
    y = [0, 2, 1]
    idx, lengths = finetune.model_inputs("awd_lstm", batch, "cpu")
    torch.manual_seed(7)
    loss, parts = training_loss(clf, "awd_lstm", "classification", batch, y, "cpu", alpha=2.0, beta=1.0)
    torch.manual_seed(7)
    _, raw_output, output = enc.encode(idx, enc.init_hidden(3))
    real = (torch.arange(6)[None, :] < lengths[:, None])[..., None]  # (B, T, 1)
    pairs = real[:, 1:] & real[:, :-1]
    assert not torch.equal(output, raw_output)  # so AR on the raw output would show
    ar = (output.pow(2) * real).sum() / (real.sum() * 8)
    tar = ((raw_output[:, 1:] - raw_output[:, :-1]).pow(2) * pairs).sum() / (pairs.sum() * 8)
    torch.manual_seed(7)
    logits = clf(idx, lengths)  # the same masks again
    task = F.cross_entropy(logits, torch.tensor(y))
    torch.testing.assert_close(loss, task + 2.0 * ar + 1.0 * tar)
    assert parts["task_loss"] == pytest.approx(task.item()) and parts["ar_tar"] == pytest.approx((2 * ar + tar).item())
    torch.manual_seed(7)
    loss_off, parts_off = training_loss(clf, "awd_lstm", "classification", batch, y, "cpu")  # the ablation
    torch.testing.assert_close(loss_off, task)
    assert parts_off is None


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


def test_lm_fine_tuning_then_classifier_then_predict(pretrained, capsys, monkeypatch):
    out = pretrained.parent / "ulmfit"
    monkeypatch.setattr(prepare, "PROGRESS_EVERY", 0)  # a progress line at every update, as a long phase shows them
    assert run(out, f"--init_from={pretrained}", "--lm_epochs=2", "--epochs=6", "--n_train=100") == 0
    printed = capsys.readouterr().out.splitlines()
    # where the run is: numericalising, each LM epoch (in tokens per row) and classifier epoch (in batches), then the
    # epoch lines with the time so far and the time left
    for what, total in (("numericalising order train", 100), ("numericalising the LM's text", 600),
                        ("epoch 6", 4)):
        assert any(line.startswith(f"{what}: {total}/{total} (100%) | ") for line in printed), what
    assert any(re.match(r"LM epoch 2: [\d,]+/[\d,]+ \(100%\) \| ", line) for line in printed)
    epoch_lines = [line for line in printed if re.match(r"(LM )?epoch \d+ \| ", line)]
    assert len(epoch_lines) == 8 and all(re.search(r" \| \d+s elapsed, ETA (\d+m)?\d+s$", line) for line in epoch_lines)
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
    assert run_script(os.path.join(REPO, "sample.py"), [f"--init_from={out / 'lm.pt'}", "--num_samples=1",
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
    # the same texts as prepare.py task's CSV (a header naming the columns, a label column ignored): the same lines
    rows = "".join(f"{i},{text},ab\n" for i, text in enumerate(texts))
    (pretrained.parent / "new.csv").write_text("id,text,label\n" + rows)
    assert run_script(SCRIPT, ["--mode=predict", f"--out_dir={out}", f"--input={pretrained.parent / 'new.csv'}",
                               "--device=cpu"]) == 0
    assert capsys.readouterr().out.strip().split("\n") == lines
    # nothing on stdin (file descriptor 0, which predict mode reads): one line saying how to give input
    saved, empty = os.dup(0), os.open(os.devnull, os.O_RDONLY)
    os.dup2(empty, 0)
    try:
        assert script_error(SCRIPT, ["--mode=predict", f"--out_dir={out}", "--device=cpu"]) == (
            "predict: nothing to label: stdin holds no examples; give one text per line on stdin (echo \"Who wrote "
            f"Hamlet ?\" | python finetune.py --mode=predict --out_dir={out}) or a .txt, .csv or .jsonl file with "
            "--input=FILE")
    finally:
        os.dup2(saved, 0)
        os.close(saved)
        os.close(empty)


def test_help_shows_each_settings_comment_under_its_groups_header(capsys):
    # a comment line of its own heads a group (prepare.script_settings): a setting's comment running on to a second
    # line would show in --help as a group of its own
    assert run_script(SCRIPT, ["--help"]) == 0
    printed = capsys.readouterr().out
    groups = [line for line in printed.splitlines()[2:] if line and not line.startswith("  --")]
    assert groups == [
        "both recipes: I/O", "both recipes: data",
        "both recipes: the task training: epochs, lr and batch are ULMFiT's (§4); GPT-1's are 3, 6.25e-5 and 32 (§4.1)",
        "both recipes: the optimisation tricks and their ablation switches (ULMFiT §3.2, §3.3, §5)",
        "both recipes: system", "ULMFiT: the vocabulary",
        "ULMFiT: dropouts for fine-tuning (§4), replacing the pretrained checkpoint's",
        "ULMFiT: target LM fine-tuning (§3.2), on the task's text, labelled or not", "ULMFiT: the classifier (§3.3)",
        "GPT-1: fine-tuning (§3.3, §4.1)"]
    assert re.search(r"^  --resume=False +continue out_dir's unfinished run from its latest.pt", printed, re.M)
    assert re.search(r"^  --save_interval=10.0 +minutes between saves of latest.pt", printed, re.M)


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
    assert message("--schedule=triangular") == ("config: schedule='triangular' must be one of stlr, linear, constant, "
                                                "cosine")
    assert "not prepared" in message("--task=nosuchtask") or "prepare.py" in message("--task=nosuchtask")
    out = tmp_path / "done"
    assert run(out, f"--init_from={pretrained}", "--lm_epochs=0", "--epochs=1") == 0
    assert "already holds a classifier" in message(f"--init_from={pretrained}", f"--out_dir={out}")


def test_wandb_log(pretrained, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # not installed (an import of it raises ImportError)
    assert script_error(SCRIPT, [*TINY, "--task=order", f"--out_dir={tmp_path / 'a'}", "--wandb_log=True"]) == (
        "config: wandb_log=True but wandb is not installed: pip install wandb, or drop wandb_log")
    assert not os.path.exists(tmp_path / "a")  # before anything is written
    inits, logs = [], []
    monkeypatch.setitem(sys.modules, "wandb", type(sys)("wandb"))
    sys.modules["wandb"].init, sys.modules["wandb"].log = lambda **kwargs: inits.append(kwargs), logs.append
    assert run(tmp_path / "b", f"--init_from={pretrained}", "--lm_epochs=1", "--epochs=1", "--n_train=50",
               "--wandb_log=True") == 0
    assert [(i["project"], i["name"], i["config"]["epochs"]) for i in inits] == [("origins", "finetune", 1)]
    # each stage record of log.jsonl, its numbers named stage/key: lm/loss, classifier/loss, final/test_accuracy
    expected = [{f"{r['stage']}/{k}": v for k, v in r.items() if isinstance(v, (int, float))}
                for r in records(tmp_path / "b") if "stage" in r]
    assert logs == expected and "lm/loss" in logs[1] and "final/test_accuracy" in logs[-1]


def test_predict_reads_what_prepare_task_reads(tmp_path, monkeypatch):
    """Predict mode's input: JSONL records, a CSV with a text column (its header never labelled), or one text a line;
    each fault one line."""
    read = finetune.read_new_records
    (tmp_path / "new.csv").write_bytes(b'\xef\xbb\xbfid,text,label\n1,"one, two",x\n2,"three\nlines\n",y\n')
    assert read(str(tmp_path / "new.csv"), "classification") == [{"text": "one, two"}, {"text": "three\nlines\n"}]
    (tmp_path / "new.jsonl").write_text('{"text": "a b"}\n\n{"text": "c", "id": 3}\n')
    assert read(str(tmp_path / "new.jsonl"), "classification") == [{"text": "a b"}, {"text": "c"}]
    (tmp_path / "new.txt").write_text("text\nfirst line\n\nsecond line\n")  # plain lines: no header, all labelled
    assert read(str(tmp_path / "new.txt"), "classification") == [{"text": t} for t in ("text", "first line",
                                                                                        "second line")]
    # a CSV without a text column (GLUE's SST-2 names it sentence): one line naming the columns it has
    (tmp_path / "notext.csv").write_text("id,sentence,label\n1,a fine film,1\n")
    with pytest.raises(SystemExit) as e:
        read(str(tmp_path / "notext.csv"), "classification")
    assert str(e.value) == (f"predict: {tmp_path / 'notext.csv'} needs a header row naming a text column (it has "
                            "id, sentence, label), as `prepare.py task` reads CSV")
    (tmp_path / "blank.csv").write_text("text,label\n,1\n")
    with pytest.raises(SystemExit, match=r'^data: .*blank\.csv line 2 needs "text" as a non-empty string'):
        read(str(tmp_path / "blank.csv"), "classification")
    with pytest.raises(SystemExit, match=r"^predict: a entailment model reads \.jsonl records"):
        read(str(tmp_path / "new.csv"), "entailment")
    with pytest.raises(SystemExit) as e:
        read(str(tmp_path), "classification")
    assert str(e.value) == f"predict: {tmp_path} is a folder: give a .txt, .csv or .jsonl file, or - for stdin"
    # latin-1 on standard input (file descriptor 0): named as such, not as "-"
    (tmp_path / "latin1.txt").write_bytes("caf\u00e9\n".encode("latin-1"))
    saved, latin1 = os.dup(0), os.open(tmp_path / "latin1.txt", os.O_RDONLY)
    os.dup2(latin1, 0)
    try:
        with pytest.raises(SystemExit) as e:
            read("-", "classification")
    finally:
        os.dup2(saved, 0)
        os.close(saved)
        os.close(latin1)
    assert str(e.value).startswith("prepare: standard input is not UTF-8 text (byte 3)")


def test_lm_texts_all_adds_the_held_out_texts_never_their_labels(pretrained, capsys):
    splits = {"train": [{"text": "a b", "label": "x"}], "unsup": [{"text": "u"}], "test": [{"text": "t", "label": "y"}]}
    assert lm_corpus(splits, "train") == ["a b", "u"]  # TREC's and SST's: the training text (§3.2)
    assert lm_corpus(splits, "all") == ["a b", "u", "t"]  # IMDb's, as fastai: every review's text
    # end to end: the LM's stream is every document of both splits of the order task, as ids
    base = torch.load(pretrained / "best.pt", weights_only=True)
    stoi = {w: i for i, w in enumerate(base["meta"]["vocab"])}
    texts = {split: [r["text"] for r in prepare.read_records(pretrained.parent / "data" / "order" / f"{split}.jsonl")]
             for split in ("train", "test")}
    for which, splits_read in (("train", ["train"]), ("all", ["train", "test"])):
        capsys.readouterr()
        assert run(pretrained.parent / which, f"--init_from={pretrained}", "--lm_epochs=1", "--epochs=1",
                   "--lm_batch_size=32", "--n_train=100", f"--lm_texts={which}", "--clf_ar_tar=False") == 0
        n_tokens = int(re.search(r"LM fine-tuning: ([\d,]+) tokens", capsys.readouterr().out)[1].replace(",", ""))
        assert n_tokens == sum(len(numericalize(t, stoi)) for split in splits_read for t in texts[split])
        epoch = [r for r in records(pretrained.parent / which) if r.get("stage") == "classifier"][0]
        assert "ar_tar" not in epoch  # and clf_ar_tar=False leaves the classifier's loss the task loss alone

# -----------------------------------------------------------------------------
# runs that survive schedulers and mistakes (tests/test_runs.py for train_gpt.py): settings refused before anything
# is written, one run per out_dir, Ctrl-C, SIGTERM and kills after an interval save resumed bit-exactly in either
# stage, each fault in one line with the shell's exit code, nothing in out_dir lost or overwritten

# LM fine-tuning for 2 epochs (about 18 steps each), then 3 classifier epochs of 4 batches (100 examples, 32 a
# batch), one unfreezing stage each; every dropout on (the defaults), so the saved generators matter
RESUMABLE = ["--lm_epochs=2", "--lm_batch_size=32", "--epochs=3", "--n_train=100"]


def files(folder):
    """{name: bytes} of a folder's files but its lock, whose holder line is rewritten by each run that takes it."""
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder)) if name != ".lock"}


class Killed(Exception):
    """A run stopped dead, as by SIGKILL: no handler, no save."""


def stop_at_step(patch, n, how):
    """Stop the next run at its n-th step (LM steps first, then the classifier's), counted by its lr schedule's
    calls: with a signal to this process (caught by the script's handler, as from a shell) or by Killed."""
    real, calls = train_lstm.stlr, []

    def stlr(*args):
        calls.append(1)
        if len(calls) == n:
            if how == "kill":
                raise Killed
            os.kill(os.getpid(), how)
        return real(*args)

    patch.setattr(train_lstm, "stlr", stlr)


def run_log(out_dir):
    """The numbers a run logged (not its headers, which differ by design), an epoch logged twice counted once."""
    logged = {(r["stage"], r.get("epoch")): r for r in records(out_dir) if "stage" in r}
    return list(logged.values())


def assert_same_run(split, full):
    for name in ("lm.pt", "classifier.pt"):
        a, b = (torch.load(out / name, weights_only=True)["model"] for out in (split, full))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    assert run_log(split) == run_log(full)
    assert not (split / "latest.pt").exists()  # a finished run keeps its results, lm.pt and classifier.pt


def test_stopped_runs_resume_bit_exactly_in_either_stage(pretrained, monkeypatch, capsys):
    common = [f"--init_from={pretrained}", *RESUMABLE]
    full = pretrained.parent / "full"
    assert run(full, *common) == 0
    lm_steps = torch.load(full / "lm.pt", weights_only=True)["iter_num"]
    saved = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    for name, n, how, code in (("lm-sigterm", lm_steps - 5, signal.SIGTERM, 143),  # mid LM epoch 2
                               ("clf-ctrl-c", lm_steps + 6, signal.SIGINT, 130),  # mid classifier epoch 2
                               ("clf-kill", lm_steps + 7, "kill", None)):
        out = pretrained.parent / name
        capsys.readouterr()
        with monkeypatch.context() as patch:
            stop_at_step(patch, n, how)
            if how == "kill":  # after the interval save at every safe point, the last of them (mid epoch 2)
                with pytest.raises(Killed):
                    run(out, *common, "--save_interval=1e-9")
                signal.signal(signal.SIGINT, saved[0])  # the killed run could not put its handlers back
                signal.signal(signal.SIGTERM, saved[1])
                printed = capsys.readouterr().out
                assert printed.endswith(f"saved {out / 'latest.pt'} (in epoch 2, batch 2 of 4)\n")
            else:
                assert run(out, *common) == code
                printed = capsys.readouterr().out
                signame, where = ("SIGTERM", f"in LM fine-tuning epoch 2, step {n}") if code == 143 else (
                    "Ctrl-C", "in epoch 2, batch 2 of 4")
                assert (f"\n{signame}: saving latest.pt after this step (Ctrl-C again to quit without saving)\n"
                        in printed)
                assert printed.endswith(f"interrupted {where}: saved {out / 'latest.pt'}; continue with the same "
                                        "settings and --init_from=resume\n")
                assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == saved  # given back
        ckpt = torch.load(out / "latest.pt", weights_only=True)
        position = ckpt["position"]
        if ckpt["stage"] == "lm":
            assert (position["epoch"], position["iter_num"]) == (2, n) and position["pos"] > 0
            assert not (out / "lm.pt").exists()
        else:
            assert (position["epoch"], position["batch_pos"], len(position["batches"])) == (2, 2, 4)
        stopped = files(out)
        # the same settings continue it; a fresh run on it, or a resume with other settings, is refused
        assert script_error(SCRIPT, [*TINY, "--task=order", f"--out_dir={out}", *common]) == (
            f"{out} holds an unfinished run ({out / 'latest.pt'}): continue it with --init_from=resume, or choose "
            f"another --out_dir, or delete {out}")
        assert script_error(SCRIPT, [*TINY, "--task=order", f"--out_dir={out}", *common, "--init_from=resume",
                                     "--lm_lr=0.01"]) == (
            f"resume: {out / 'latest.pt'} was written with lm_lr=0.004, but the settings say 0.01: resume with the "
            "settings of the run you continue")
        assert files(out) == stopped
        assert run(out, *common, "--init_from=resume") == 0
        where = (f"LM fine-tuning epoch 2, token {position['pos']:,} of each row (step {n})"
                 if ckpt["stage"] == "lm" else "classifier epoch 2, batch 2 of 4")
        assert f"\nresumed from {where} of {out / 'latest.pt'}\n" in capsys.readouterr().out
        assert (out / "log.jsonl").read_bytes().startswith(stopped["log.jsonl"])
        assert_same_run(out, full)
    # a finished run is never trained over, nor resumed
    finished = files(full)
    assert "already holds a classifier" in script_error(SCRIPT, [*TINY, "--task=order", f"--out_dir={full}", *common])
    assert script_error(SCRIPT, [*TINY, "--task=order", f"--out_dir={full}", *common, "--init_from=resume"]) == (
        f"resume: {full} holds no latest.pt to continue from; its run is finished ({full / 'classifier.pt'}): label "
        "examples with --mode=predict")
    assert files(full) == finished


def test_settings_out_of_range_are_refused_before_anything_is_written(pretrained, tmp_path):
    out = tmp_path / "new"
    with pytest.raises(SystemExit) as e:
        run(out, f"--init_from={pretrained}", "--dropout_in=1.5", "--lm_batch_size=0", "--lm_lr=-1",
            "--head_dropout=(0.5,)", "--vocab=mine", "--cut_frac=0", "--save_interval=-1")
    assert str(e.value.code).splitlines() == [  # every mistake at once, one line each (exit status 1)
        "config: save_interval=-1.0 must be >= 0",
        "config: cut_frac=0.0 must be in [0, 1), a fraction of the steps (> 0 for schedule='stlr')",
        "config: vocab='mine' must be one of pretrained, task",
        "config: dropout_in=1.5 must be in [0, 1) (a probability)",
        "config: lm_lr=-1.0 must be >= 0",
        "config: lm_batch_size=0 must be > 0",
        "config: head_dropout=(0.5,) must be two probabilities in [0, 1), one per head block"]
    assert not out.exists()
    assert run(out, f"--init_from={pretrained}", "--lm_epochs=0", "--epochs=0", "--schedule=linear",
               "--cut_frac=0") == 0  # no warmup: fine for a linear schedule
    finished = files(out)
    assert script_error(SCRIPT, [*TINY, "--task=order", f"--out_dir={out}", "--init_from=resume", "--beta2=1"]) == (
        "config: beta2=1.0 must be in [0, 1) (a probability)")
    assert files(out) == finished


def test_a_live_run_holds_its_folder_and_sigterm_saves_it(pretrained):
    """finetune.py in its own process, as from a shell: a second run on its folder is refused naming it; SIGTERM
    saves latest.pt, says so and exits 143 without a traceback."""
    out = pretrained.parent / "live"
    args = [*TINY, "--task=order", f"--out_dir={out}", f"--init_from={pretrained}", "--lm_epochs=1000"]
    proc = subprocess.Popen(  # the tests' data folder, which only this process knows, handed to the script
        [sys.executable, "-c", "import prepare, runpy, sys; prepare.DATA_DIR = sys.argv[1]; sys.argv = sys.argv[2:]; "
         "runpy.run_path(sys.argv[0], run_name='__main__')", prepare.DATA_DIR, SCRIPT, *args], cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("LM fine-tuning: "):  # after the LM's first evaluation: the run is under way
            break
    else:
        raise AssertionError(proc.stderr.read()[-2000:])
    try:
        for extra in ([], ["--init_from=resume"]):  # a second run from scratch over it, or a resume of it
            assert script_error(SCRIPT, [*args, *extra]).startswith(
                f"{out} is in use by process {proc.pid} (finetune.py) on {socket.gethostname()} since ")
        proc.send_signal(signal.SIGTERM)
        printed, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    printed = "".join(seen) + printed
    assert proc.returncode == 143 and "Traceback" not in err, err
    assert "\nSIGTERM: saving latest.pt after this step (Ctrl-C again to quit without saving)\n" in printed
    assert re.search(rf"\ninterrupted in LM fine-tuning epoch \d+, step \d+: saved {re.escape(str(out))}/latest.pt; "
                     r"continue with the same settings and --init_from=resume\n$", printed), printed[-500:]
    assert torch.load(out / "latest.pt", weights_only=True)["stage"] == "lm"
    assert [r["config"]["resume"] for r in records(out) if "config" in r] == [False]  # the refused runs logged nothing


# -----------------------------------------------------------------------------
# target LM fine-tuning: one step by hand, forward and backward

STEP_VOCAB = ["<eos>", "<unk>", "a", "b", "w1", "w2", "w3", "w4"]
STEP_TRAIN = [{"text": "w1 a w2 b", "label": "ab"}, {"text": "b w3\na", "label": "ba"}]  # 5 ids each, <eos>s included
STEP_TEST = [{"text": "a w4 b", "label": "ab"}]
# every dropout on (the masks come from the seed), AR/TAR, weight decay, a clip that acts; the stream of 10 ids in 2
# rows is one window of 4 tokens, half of bptt, so a missing seq_len/bptt rescaling would show
ONE_LM_STEP = ["--device=cpu", "--dtype=float32", "--lm_epochs=1", "--epochs=0", "--lm_batch_size=2", "--bptt=8",
               "--lm_lr=0.01", "--alpha=2", "--beta=1", "--weight_decay=0.01", "--lm_grad_clip=0.05",
               "--dropout_emb=0.1", "--dropout_in=0.2", "--dropout_hidden=0.2", "--dropout_out=0.5",
               "--weight_drop=0.3", "--task=step"]


def lm_step_by_hand(base, lm, backwards):
    """The LM after finetune.py's first step of target LM fine-tuning, from the same start: torch seeded as the
    script seeds it, so building the model and then the step's dropout masks draw in the same order; the training
    documents' ids (each reversed for a backward LM, §3.4) in 2 rows of 5, so the one window is 4 tokens;
    loss = cross-entropy + alpha * mean(dropped output^2) (AR) + beta * mean(raw output's change^2) (TAR); the
    gradients clipped to lm_grad_clip in total norm; AdamW's first step, whose update is lr * g / (|g| + eps) (its
    moments are g and g^2 once bias-corrected), after the decay w * lr * weight_decay. lr: STLR's at step 0,
    lm_lr / ratio (§3.2, eq. 3), times seq_len / bptt for the top group (the tied embedding), divided by 2.6 for
    each LSTM layer below it (§3.2, eq. 2)."""
    c = lm["config"]
    stoi = {w: i for i, w in enumerate(STEP_VOCAB)}
    stream = [i for r in STEP_TRAIN for i in document_ids(r["text"], stoi, backwards)]
    assert backwards == (stream[:5] == numericalize(STEP_TRAIN[0]["text"], stoi)[::-1])  # a backward LM reads
    data = torch.tensor(stream).view(2, 5)  # each document right to left
    seq_len = 4
    x, y = data[:, :seq_len], data[:, 1:seq_len + 1]
    torch.manual_seed(c["seed"])
    model = AWDLSTM(LSTMConfig(**lm["model_args"]))  # in train mode, as the step runs it
    model.load_state_dict(base["model"])
    logits, _, raw_output, output = model(x, model.init_hidden(2))
    assert not torch.equal(output, raw_output)  # dropout_out is on, so AR on the raw output would show
    loss = (F.cross_entropy(logits.flatten(0, 1), y.flatten()) + c["alpha"] * output.pow(2).mean()
            + c["beta"] * (raw_output[:, 1:] - raw_output[:, :-1]).pow(2).mean())
    names, params = zip(*model.named_parameters())  # the tied decoder weight once, as encoder.weight
    grads = torch.autograd.grad(loss, params)
    norm = math.sqrt(sum(g.pow(2).sum().item() for g in grads))
    scale = min(1.0, c["lm_grad_clip"] / (norm + 1e-6))  # clip_grad_norm_'s rule
    assert scale < 1  # the clipping is part of what is checked
    top_lr = c["lm_lr"] / c["stlr_ratio"] * seq_len / c["bptt"]
    n_layers = lm["model_args"]["n_layers"]
    expected = {}
    with torch.no_grad():
        for name, w, g in zip(names, params, grads):
            below = n_layers - int(name.split(".")[1]) if name.startswith("rnns.") else 0  # groups below the top
            lr = top_lr / c["lr_factor"] ** below
            g = scale * g
            expected[name] = w * (1 - lr * c["weight_decay"]) - lr * g / (g.abs() + 1e-8)
    return expected


def step_task(tmp_path, monkeypatch, backwards=False):
    """The 'step' task prepared under tmp_path, and a tiny untrained AWD-LSTM saved as tmp_path/base.pt (returned)."""
    monkeypatch.setattr(prepare, "DATA_DIR", str(tmp_path / "data"))
    prepare.prepare("task", inputs=[write_jsonl(tmp_path / "train.jsonl", STEP_TRAIN),
                                    write_jsonl(tmp_path / "test.jsonl", STEP_TEST)], out="step")
    torch.manual_seed(0)
    config = LSTMConfig(vocab_size=len(STEP_VOCAB), emb_size=6, hidden_size=10, n_layers=3)
    base = {"model": AWDLSTM(config).state_dict(), "model_args": dataclasses.asdict(config), "model_type": "awd_lstm",
            "meta": {"tokenizer": "word", "vocab": STEP_VOCAB, "vocab_size": len(STEP_VOCAB)}, "backwards": backwards}
    torch.save(base, tmp_path / "base.pt")
    return base


@pytest.mark.parametrize("backwards", [False, True])
def test_one_lm_fine_tuning_step_matches_an_update_by_hand(tmp_path, monkeypatch, backwards):
    base = step_task(tmp_path, monkeypatch, backwards)
    assert run_script(SCRIPT, [*ONE_LM_STEP, f"--init_from={tmp_path / 'base.pt'}",
                               f"--out_dir={tmp_path / 'out'}"]) == 0
    lm = torch.load(tmp_path / "out" / "lm.pt", weights_only=True)
    assert lm["iter_num"] == 1 and lm["backwards"] == backwards  # a backward LM stays one, for sample.py and eval.py
    for k, w in lm_step_by_hand(base, lm, backwards).items():  # measured: within 8e-9; AR on the raw output, an
        # unscaled lr or a forward stream for a backward LM: 2e-4 to 3e-4 off (Adam's first step is lr * sign(g))
        torch.testing.assert_close(lm["model"][k], w, rtol=0, atol=1e-7, msg=lambda m: f"{k} after one step: {m}")


def test_nan_advice_fits_the_run(tmp_path, monkeypatch):
    # an lr of 1e30 blows the tiny model up within a few steps: the run stops in one line, saying where, that nothing
    # was saved, and only the advice that applies, in the names of the settings the stage reads
    step_task(tmp_path, monkeypatch)
    blow_up = ["--device=cpu", "--task=step", f"--init_from={tmp_path / 'base.pt'}", "--lm_batch_size=2", "--bptt=8"]
    # LM fine-tuning, float32 and clipped at lm_grad_clip: nothing about dtype; one window an epoch, so epoch = step
    out = tmp_path / "lm"
    message = script_error(SCRIPT, [*blow_up, "--dtype=float32", "--lm_epochs=20", "--lm_lr=1e30",
                                    "--lm_grad_clip=0.5", f"--out_dir={out}"])
    assert not (out / "latest.pt").exists()
    assert re.fullmatch(r"the loss is (nan|inf) in LM fine-tuning epoch (\d+), step \2: stopping without saving; no "
                        r"checkpoint was written\. Try a lower lm_lr or a smaller lm_grad_clip than 0\.5", message), message
    # the classifier, unclipped: the clip on offer is grad_clip's default (25.0, fastai's); dtype=float32 only where
    # the run is not already in float32
    for dtype, advice in [("float32", "a lower learning_rate or grad_clip=25.0 (clipping is off)"),
                          ("bfloat16", "a lower learning_rate, grad_clip=25.0 (clipping is off) or dtype=float32")]:
        message = script_error(SCRIPT, [*blow_up, f"--dtype={dtype}", "--lm_epochs=0", "--epochs=20",
                                        "--learning_rate=1e30", "--grad_clip=0", f"--out_dir={tmp_path / dtype}"])
        assert re.fullmatch(r"the loss is (nan|inf) in epoch \d+, batch 1 of 1: stopping without saving; no checkpoint "
                            rf"was written\. Try {re.escape(advice)}", message), message

# -----------------------------------------------------------------------------
# bidirectional ULMFiT (§3.4): a backward classifier, and a forward and a backward one averaged


def probabilities_one_by_one(run_dir, records):
    """Each record's class probabilities from run_dir's classifier, each document alone (no batching, no padding)."""
    ckpt = torch.load(run_dir / "classifier.pt", weights_only=True)
    clf, _, _, encode_example = finetune.classifier_from_checkpoint(ckpt)
    clf.eval()
    with torch.no_grad():
        return torch.stack([F.softmax(clf(torch.tensor(ids), torch.tensor([len(ids[0])])), -1)[0]
                            for ids in map(encode_example, records)])


def test_bidirectional_ulmfit_averages_a_forward_and_a_backward_classifier(pretrained, capsys):
    # the backward LM: the fixture's marked as one, as train_lstm.py --backwards=True marks its checkpoints
    base = torch.load(pretrained / "best.pt", weights_only=True)
    torch.save({**base, "backwards": True}, pretrained.parent / "backward.pt")
    fwd, bwd = pretrained.parent / "fwd", pretrained.parent / "bwd"
    quick = ["--lm_epochs=1", "--lm_batch_size=32", "--epochs=3", "--n_train=100"]  # all this test needs
    assert run(fwd, f"--init_from={pretrained}", *quick) == 0
    assert run(bwd, f"--init_from={pretrained.parent / 'backward.pt'}", *quick, f"--ensemble={fwd}") == 0
    assert torch.load(bwd / "lm.pt", weights_only=True)["backwards"] is True  # eval.py reads it right to left
    ckpt = torch.load(bwd / "classifier.pt", weights_only=True)
    assert ckpt["backwards"] is True and torch.load(fwd / "classifier.pt", weights_only=True)["backwards"] is False
    # the backward classifier reads each document reversed: its last state is the one at the document's first token
    stoi = {w: i for i, w in enumerate(ckpt["vocab"])}
    encode_example = finetune.classifier_from_checkpoint(ckpt)[3]
    assert encode_example({"text": "w1 a w2\nb"}) == [numericalize("w1 a w2\nb", stoi)[::-1]]
    assert encode_example({"text": "w1 a"})[0][-1] == stoi["<eos>"]
    # the final evaluation: this (backward) classifier, the forward one, and their probabilities averaged
    test = prepare.read_records(pretrained.parent / "data" / "order" / "test.jsonl")
    y = torch.tensor([["ab", "ba"].index(r["label"]) for r in test])
    p_fwd, p_bwd = probabilities_one_by_one(fwd, test), probabilities_one_by_one(bwd, test)
    final = records(bwd)[-1]
    assert final["stage"] == "final" and final["ensemble"] == str(fwd)
    for key, p in (("test_accuracy", p_bwd), ("partner_test_accuracy", p_fwd), ("ensemble_test_accuracy",
                                                                                  (p_fwd + p_bwd) / 2)):
        assert final[key] == pytest.approx((p.argmax(1) == y).float().mean().item()), key
    assert records(fwd)[-1]["test_accuracy"] == final["partner_test_accuracy"]
    # predict mode: each line's label and probability are the averaged probabilities' (computed here directly)
    texts = ["w1 a w2 b w3", "b w4 w5 a", "a zebra b"]
    (pretrained.parent / "new.txt").write_text("\n".join(texts) + "\n")
    capsys.readouterr()
    assert run_script(SCRIPT, ["--mode=predict", f"--out_dir={bwd}", f"--ensemble={fwd}",
                               f"--input={pretrained.parent / 'new.txt'}", "--device=cpu"]) == 0
    lines = [line.split("\t") for line in capsys.readouterr().out.strip().split("\n")]
    new = [{"text": t} for t in texts]
    mean = (probabilities_one_by_one(fwd, new) + probabilities_one_by_one(bwd, new)) / 2
    assert [line[2] for line in lines] == texts
    assert [line[0] for line in lines] == [["ab", "ba"][i] for i in mean.argmax(1)]
    assert [float(line[1]) for line in lines] == pytest.approx(mean.max(1).values.tolist(), abs=5e-4)
    # classifiers of different tasks are refused in one line, in predict mode and before training
    other = pretrained.parent / "other"
    other.mkdir()
    fwd_ckpt = torch.load(fwd / "classifier.pt", weights_only=True)
    torch.save({**fwd_ckpt, "labels": ["ba", "ab"]}, other / "classifier.pt")
    predict = ["--mode=predict", f"--out_dir={bwd}", f"--ensemble={other}", "--device=cpu"]
    assert "average classifiers of the same task" in script_error(SCRIPT, predict)
    torch.save({**fwd_ckpt, "task_type": "entailment"}, other / "classifier.pt")
    assert "entailment" in script_error(SCRIPT, predict)
    assert "same task" in script_error(SCRIPT, [*TINY, "--task=order", f"--init_from={pretrained}",
                                                 f"--out_dir={pretrained.parent / 'x'}", f"--ensemble={other}"])
    assert not os.path.exists(pretrained.parent / "x")  # refused before anything was written


def test_ensemble_row_is_the_averaged_probabilities_accuracy(monkeypatch, capsys):
    """final_evaluation's three rows on probabilities chosen so that this classifier, the partner and their average
    each get a different accuracy (in the end-to-end test above all three can be 1.0, where a wrong average passes)."""
    mine = {"val": [[0.9, 0.1], [0.4, 0.6], [0.45, 0.55], [0.2, 0.8]], "test": [[0.3, 0.7], [0.8, 0.2], [0.6, 0.4]]}
    theirs = {"val": [[0.4, 0.6], [0.7, 0.3], [0.3, 0.7], [0.6, 0.4]], "test": [[0.6, 0.4], [0.1, 0.9], [0.7, 0.3]]}
    targets = {"val": [0, 0, 0, 1], "test": [0, 1, 0]}
    examples = {split: [] for split in targets}
    split_of = {id(records): split for split, records in examples.items()}  # which split predict() was handed
    labelled = {split: [{"text": "x"}] * len(targets[split]) for split in targets}
    monkeypatch.setattr(finetune, "predict", lambda clf, model_type, task_type, records, *rest: torch.tensor(
        mine[split_of[id(records)]]))
    monkeypatch.setattr(finetune, "classifier_outputs", lambda ckpt, records, *rest: torch.tensor(
        theirs[next(s for s in targets if labelled[s] is records)]))
    final = finetune.final_evaluation(None, "ulmfit", "classification", ["neg", "pos"], labelled, examples, targets,
                                      "backward", ("fwd", {"backwards": False}), 2, "cpu", None,
                                      prepare.Interrupt(""))
    for split in targets:  # by hand: numpy's mean of the two and its argmax against the targets
        y = np.array(targets[split])
        a, b = np.array(mine[split]), np.array(theirs[split])
        accuracies = [np.mean(p.argmax(1) == y) for p in (a, b, (a + b) / 2)]
        assert len(set(accuracies)) == 3  # the fixture separates the three rows
        for prefix, value in zip(("", "partner_", "ensemble_"), accuracies):
            assert final[f"{prefix}{split}_accuracy"] == pytest.approx(value), prefix + split
            assert final[f"{prefix}{split}_error"] == pytest.approx(1 - value), prefix + split
    assert final["ensemble"] == "fwd"
    printed = capsys.readouterr().out
    assert "ensemble (probabilities averaged): val_accuracy 0.7500 | val_error 0.2500 | test_accuracy " in printed

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


def test_auxiliary_lm_loss_averages_each_sequence_then_the_batch():
    # OpenAI's train.py: lm_losses = sum(losses * M[:, 1:], 1) / sum(M[:, 1:], 1), then tf.reduce_mean over the
    # batch's sequences (every choice of an example is one), so a short sequence weighs as much as a long one
    model = tiny_gpt("multiple_choice", 1)
    examples = [[[27, 1, 2, 3, 4, 29], [27, 5, 6, 29]], [[27, 7, 29], [27, 8, 9, 10, 11, 12, 13, 29]]]
    idx, lengths = finetune.collate_sequences(examples, "cpu")
    with torch.no_grad():
        _, lm = model(idx, lengths, with_lm=True)
        # independently: GPT.forward's own loss (a mean over its targets) on each unpadded sequence
        each = [model.gpt(torch.tensor([s[:-1]]), torch.tensor([s[1:]]))[1] for ex in examples for s in ex]
    torch.testing.assert_close(lm, sum(each) / 4)


def test_choices_share_one_dropout_mask():
    # OpenAI's train.py drops the extract states with noise shape [B, 1, C]: one mask per example, broadcast over
    # its choices, so identical choices get identical scores in training too
    torch.manual_seed(0)
    gpt = GPT(GPTConfig(block_size=32, vocab_size=30, n_layer=2, n_head=2, n_embd=16, prenorm=False))
    model = finetune.GPTTaskModel(gpt, "multiple_choice", 1, dropout=0.5).train()  # dropout only before the head
    example = finetune.transform({"context": "ab", "choices": ["c", "c", "dd"]}, "multiple_choice", encode_chars,
                                 (27, 28, 29), 32)
    idx, lengths = finetune.collate_sequences([example, example], "cpu")  # (2, 3, L)
    torch.manual_seed(1)
    scores = model(idx, lengths)  # (2, 3)
    # by hand, from the same seed: the final states at [extract], then one (B, 1, C) mask of 0 and 1/(1-p)
    torch.manual_seed(1)
    h = model.gpt.encode(idx.view(6, -1))
    last = h[torch.arange(6), lengths.view(-1) - 1].view(2, 3, 16)
    mask = torch.empty(2, 1, 16).bernoulli_(0.5) / 0.5
    torch.testing.assert_close(scores, model.head(last * mask).squeeze(-1))
    assert scores[0, 0] == scores[0, 1] and scores[1, 0] == scores[1, 1]  # the same choice, the same mask
    assert not torch.equal(scores[0], scores[1])  # but each example has its own


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
    prepare.save_checkpoint(str(path), {"model": GPT(config).state_dict(), "model_args": dataclasses.asdict(config),
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


@pytest.mark.parametrize("old_spelling", [False, True])
def test_gpt_fine_tuning_resumes_bit_exactly(gpt_checkpoint, monkeypatch, capsys, old_spelling):
    # 2 steps an epoch; stopped by SIGTERM in the first step of epoch 2, the one whose lr warms up again (a stage of
    # gradual unfreezing each epoch)
    common = [f"--init_from={gpt_checkpoint}", "--lm_epochs=0", "--epochs=2", "--n_train=64", "--learning_rate=1e-3"]
    full, split = gpt_checkpoint.parent / "full", gpt_checkpoint.parent / "split"
    assert run(full, *common) == 0
    with monkeypatch.context() as patch:
        stop_at_step(patch, 3, signal.SIGTERM)
        assert run(split, *common) == 143
    ckpt = torch.load(split / "latest.pt", weights_only=True)
    assert ckpt["model_type"] == "gpt_classifier" and ckpt["position"]["epoch"] == 2
    capsys.readouterr()
    # --init_from=resume needs no model: latest.pt names the one the run started from; --resume=True is the old
    # spelling, kept for one release with a note
    assert run(split, *([*common, "--resume=True"] if old_spelling else [*common[1:], "--init_from=resume"])) == 0
    note = "note: --resume=True is finetune.py's old spelling of --init_from=resume, gone in the next release\n"
    assert (note in capsys.readouterr().out) == old_spelling
    a, b = (torch.load(out / "classifier.pt", weights_only=True)["model"] for out in (split, full))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert run_log(split) == run_log(full)
    assert [r["config"]["init_from"] for r in records(split) if "config" in r] == [str(gpt_checkpoint)] * 2


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


def test_multiple_choice_examples_may_differ_in_their_number_of_choices(tmp_path):
    """As ARC's do: read_records keeps them (eval.py scores them); finetune.py's task_data refuses them
    (tests/test_benchmarks.py), GPT-1's head reading a fixed number."""
    path = write_jsonl(tmp_path / "x.jsonl", [{"context": "a", "choices": ["b", "c"], "label": 0},
                                              {"context": "a", "choices": ["b", "c", "d"], "label": 2}])
    assert [len(r["choices"]) for r in prepare.read_records(path, task_type="multiple_choice")] == [2, 3]
