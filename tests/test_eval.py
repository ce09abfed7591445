"""eval.py: perplexity through sliding windows, LAMBADA, multiple-choice and few-shot scoring, end to end.

$ python -m pytest -q tests/test_eval.py
"""

import dataclasses
import hashlib
import json
import math
import os
import re
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import prepare  # noqa: E402
from eval import (LAMBADA_SHA256, LAMBADA_URL, accuracy, choice_metrics, choice_pairs, choice_prompts,  # noqa: E402
                  fewshot_prompts, fit, lambada_pairs, perplexity, pick, score, windows)
from scripts import run_script, script_error  # noqa: E402
from test_prepare import server  # noqa: E402,F401 (a loopback HTTP server fixture)
from prepare import save_checkpoint  # noqa: E402
from train_gpt import GPT, GPTConfig  # noqa: E402
from train_lstm import AWDLSTM, LSTMConfig  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CPU = dict(device="cpu", ctx=torch.autocast("cpu", enabled=False))


def last_run(path):
    """The last evaluation appended to an eval.py JSON file."""
    return json.loads(path.read_text())["evaluations"][-1]


def tiny_gpt(vocab_size=20, block_size=8, seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(block_size=block_size, vocab_size=vocab_size, n_layer=2, n_head=2, n_embd=16)).eval()

# -----------------------------------------------------------------------------
# perplexity


@pytest.mark.parametrize("n, block, stride", [(50, 8, 8), (50, 8, 3), (9, 8, 4), (100, 16, 1), (5, 8, 8)])
def test_windows_score_every_token_once(n, block, stride):
    counted = []
    for start, end, first in windows(n, block, stride):
        assert 0 < end - start <= block and start < first <= end  # a window reads at most block_size tokens
        counted += range(first, end + 1)
        if start:  # after the first window, each counted token has at least block - stride tokens before it
            assert first - start >= block - stride
    assert counted == list(range(1, n))  # every token after the first, once, in order


def test_perplexity_equals_exp_mean_token_loss():
    model, tokens = tiny_gpt(), np.random.default_rng(0).integers(20, size=41).astype(np.uint16)
    nll, n = perplexity(model, "gpt", tokens, 8, 8, 3, **CPU)
    with torch.no_grad():  # stride = block size: plain non-overlapping chunks, each read from a fresh start
        t = torch.from_numpy(tokens.astype(np.int64))
        losses = [F.cross_entropy(model(t[s:s + 8][None], t[s + 1:s + 9][None])[0][0], t[s + 1:s + 9], reduction="sum")
                  for s in range(0, 40, 8)]
    assert n == 40 and nll == pytest.approx(sum(l.item() for l in losses), rel=1e-5)
    # a smaller stride scores the same tokens once each, with more context: a different, finite sum
    nll2, n2 = perplexity(model, "gpt", tokens, 8, 2, 3, **CPU)
    assert n2 == 40 and math.isfinite(nll2) and nll2 != pytest.approx(nll, rel=1e-6)


def test_sliding_windows_count_each_token_once_with_its_context():
    """stride < block_size: each window's counted positions, scored by a direct forward pass over that window."""
    model, tokens = tiny_gpt(), np.random.default_rng(2).integers(20, size=37).astype(np.uint16)
    nll, n = perplexity(model, "gpt", tokens, 8, 3, 4, **CPU)
    t, direct = torch.from_numpy(tokens.astype(np.int64)), 0.0
    with torch.no_grad():
        for start, end, first in windows(len(tokens), 8, 3):
            logits = model(t[start:end][None], t[start + 1:end + 1][None])[0][0]  # every position's logits
            counted = slice(first - start - 1, end - start)  # the positions predicting tokens first..end
            direct += F.cross_entropy(logits[counted], t[first:end + 1], reduction="sum").item()
    assert n == 36 and nll == pytest.approx(direct, rel=1e-5)


def test_lstm_perplexity_carries_its_state():
    torch.manual_seed(0)
    model = AWDLSTM(LSTMConfig(vocab_size=20, emb_size=8, hidden_size=12, n_layers=2)).eval()
    tokens = np.random.default_rng(1).integers(20, size=600).astype(np.uint16)  # longer than one 256-token chunk
    nll, n = perplexity(model, "awd_lstm", tokens, 0, 0, 1, **CPU)
    with torch.no_grad():  # one pass over the whole stream
        t = torch.from_numpy(tokens.astype(np.int64))[None]
        logits = model(t[:, :-1], model.init_hidden(1))[0]
    assert n == 599 and nll == pytest.approx(F.cross_entropy(logits[0], t[0, 1:], reduction="sum").item(), rel=1e-5)

# -----------------------------------------------------------------------------
# LAMBADA and multiple choice, with a model built to know the answers


VOCAB = ["a", "b", " ", "c", "d", "e", "x"]


class Successor(nn.Module):
    """A stand-in GPT that is sure each token is followed by the next one in VOCAB: after "ab" it expects " cde".
    Its hidden state is the next token, one-hot; GPT.encode and GPT.logits are what eval.py calls."""
    config = GPTConfig(block_size=16, vocab_size=len(VOCAB))

    def encode(self, idx):
        return F.one_hot((idx + 1) % len(VOCAB), len(VOCAB)).float()  # (B, T, C = V)

    def logits(self, h):
        return 10.0 * h


def encode(text):
    return [VOCAB.index(c) for c in text]


def test_lambada_needs_every_token_of_the_last_word():
    pairs = lambada_pairs(["xx ab cde", "xx ab cxe", "ab ce"], encode)
    assert pairs[0] == (encode("xx ab"), encode(" cde"))  # the last word, scored with its space
    scores = score(Successor(), "gpt", pairs, 16, 2, **CPU)
    assert [ok for _, ok in scores] == [True, False, False]  # one wrong token is a wrong word
    assert scores[0][0].shape == (4,) and scores[0][0].max() > -1e-3  # sure of each of its 4 tokens


def test_multiple_choice_picks_the_ending_the_model_prefers():
    records = [{"context": "ab", "choices": ["cdx", "cde"], "label": 1},  # cde is fully right
               {"context": "ab", "choices": ["ca", "cdeaab"], "label": 1},  # 1 wrong in 3 tokens, 2 wrong in 7
               # 2 wrong of 2 characters (3 tokens with the space), 5 wrong of 6 (7 tokens), and a third choice
               {"context": "ab", "choices": ["xx", "cxxxxx", "xxxxxxx"], "label": 0}]
    scores = score(Successor(), "gpt", choice_pairs(records, encode), 16, 3, **CPU)
    picked = pick(scores, records)
    assert picked["acc"].tolist() == [1, 0, 0]  # the short ending loses less in total: one wrong token against two
    assert picked["acc_per_token"].tolist() == [1, 1, 0]  # per token, the long ending's single mistakes weigh less
    # per character (lm-eval): 2 wrong of 2 is worse than 5 of 6; per token, 2 of 3 is better than 5 of 7
    assert picked["acc_norm"].tolist() == [1, 1, 1]


def test_pick_and_standard_errors_on_given_scores():
    """Log-likelihoods given by hand: which choice each normalisation picks, and lm-eval's standard error (the
    sample standard deviation of the 0/1 outcomes over sqrt(n)), computed here from its definition."""
    records = [{"context": "q", "choices": ["aaaa", "b"], "label": 0}, {"context": "q", "choices": ["a", "b", "cc"],
                                                                        "label": 2}]
    # per choice: token log-probabilities (a choice's tokens need not match its characters)
    logp = [[-1.0, -1.0, -1.0], [-2.5], [-1.0], [-0.9], [-0.5, -0.6]]
    scores = [(np.array(x), False) for x in logp]
    picked = pick(scores, records)
    assert picked["acc"].tolist() == [1, 1]  # totals -3 / -2.5, then -1 / -0.9 / -1.1
    assert picked["acc_per_token"].tolist() == [0, 2]  # means -1 / -2.5, then -1 / -0.9 / -0.55
    assert picked["acc_norm"].tolist() == [0, 2]  # per character -0.75 / -2.5, then -1 / -0.9 / -0.55
    metrics = choice_metrics(scores, records)
    assert metrics["acc"] == 0 and metrics["acc_stderr"] == 0 and metrics["acc_norm"] == 1.0
    for right in ([1, 0, 0, 1, 1], [1] * 3 + [0] * 7, [0, 1]):
        expected = np.std(right, ddof=1) / math.sqrt(len(right))  # lm-eval's mean_stderr
        p, n = np.mean(right), len(right)
        assert accuracy("acc", right) == {"acc": pytest.approx(p), "acc_stderr": pytest.approx(expected)}
        assert expected == pytest.approx(math.sqrt(p * (1 - p) / (n - 1)))  # the binomial form, with n - 1
    assert accuracy("acc", [True]) == {"acc": 1.0, "acc_stderr": None}  # one example: no spread to measure


def test_partial_scoring_reads_only_what_follows_the_blank():
    """Winogrande's records (a context per choice, one shared continuation): each option's context, then the same
    continuation; the log-likelihood of the continuation alone, computed here from the model's own forward pass."""
    model = tiny_gpt(block_size=16, seed=1)
    records = [{"contexts": [[1, 2, 3], [1, 2, 4, 5]], "choices": [[6, 7], [6, 7]], "label": 1}]
    pairs = choice_pairs([{"contexts": ["ab c", "ab de"], "choices": ["fg", "fg"], "label": 1}],
                         lambda t: [{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, " ": 9, "f": 6, "g": 7}[c] for c in t])
    assert pairs == [([1, 2, 9, 3], [9, 6, 7]), ([1, 2, 9, 4, 5], [9, 6, 7])]  # " " + the continuation, per context
    scores = score(model, "gpt", pairs, 16, 2, **CPU)
    totals = []
    with torch.no_grad():
        for context, continuation in pairs:
            full = torch.tensor([context + continuation])
            logp = F.log_softmax(model(full[:, :-1], full[:, 1:])[0][0], -1)[-len(continuation):]
            totals.append(logp[torch.arange(len(continuation)), torch.tensor(continuation)].sum().item())
    assert [s.sum() for s, _ in scores] == pytest.approx(totals, rel=1e-5)
    assert [len(s) for s, _ in scores] == [3, 3]  # the options' own tokens are context, never scored
    assert pick(scores, records)["acc"].tolist() == [int(np.argmax(totals))]


def tiny_lstm(vocab_size=20):
    torch.manual_seed(0)
    return AWDLSTM(LSTMConfig(vocab_size=vocab_size, emb_size=8, hidden_size=12, n_layers=2)).eval()


@pytest.mark.parametrize("model_type", ["gpt", "awd_lstm"])
def test_score_matches_each_pair_alone(model_type):
    """Pairs of different lengths, batched (sorted by length, padded, logits only at the continuation): each one's
    log-probabilities and greedy flag as a full forward pass over that pair alone gives them, in the order given."""
    model = tiny_gpt(block_size=16) if model_type == "gpt" else tiny_lstm()
    rng = np.random.default_rng(3)
    pairs = [(rng.integers(20, size=c).tolist(), rng.integers(20, size=k).tolist())
             for c, k in [(9, 2), (1, 1), (14, 3), (4, 5), (6, 1)]]
    hidden = [] if model_type == "gpt" else [model.init_hidden(1)]
    greedy = model(torch.tensor([[1, 2, 3]]), *hidden)[0][0, -1].argmax()
    pairs.append(([1, 2, 3], [greedy.item()]))  # one continuation the model is sure to get right
    scores = score(model, model_type, pairs, 16 if model_type == "gpt" else 0, 4, **CPU)
    for (context, continuation), (logp, right) in zip(pairs, scores):
        full = torch.tensor([context + continuation])
        with torch.no_grad():
            if model_type == "gpt":
                logits = model(full[:, :-1], full[:, 1:])[0][0]
            else:
                logits = model(full[:, :-1], model.init_hidden(1))[0][0]
        direct = F.log_softmax(logits, -1)[-len(continuation):]
        target = torch.tensor(continuation)
        assert np.allclose(logp, direct[torch.arange(len(continuation)), target].numpy(), atol=1e-5)
        assert right == (direct.argmax(-1) == target).all().item()
    assert scores[-1][1]


def test_a_gpt_reads_only_its_last_block_size_tokens():
    model = tiny_gpt(block_size=8)
    long_context = list(range(1, 15))
    a = score(model, "gpt", [(long_context, [3, 4])], 8, 1, **CPU)[0][0]
    b = score(model, "gpt", [(long_context[-7:], [3, 4])], 8, 1, **CPU)[0][0]
    assert np.allclose(a, b)

# -----------------------------------------------------------------------------
# few-shot prompts


def test_fewshot_prompts_are_seeded_and_never_hold_the_example():
    train = [{"text": f"t{i}", "label": "pos" if i % 2 else "neg"} for i in range(20)]
    records = [{"text": "t3", "label": "pos"}, {"text": "new", "label": "neg"}]  # t3 is also a train example
    words = {"pos": "great", "neg": "bad"}
    a = fewshot_prompts(records, train, 19, "{text} = {label}", words, seed=1)
    assert a == fewshot_prompts(records, train, 19, "{text} = {label}", words, seed=1)
    assert a != fewshot_prompts(records, train, 19, "{text} = {label}", words, seed=2)
    demos, query = a[0]
    assert query == "t3 =" and len(demos) == 19 and "t3 = great" not in demos
    assert a[1][0][0] in (f"t{i} = {words[r['label']]}" for i, r in enumerate(train))
    assert fewshot_prompts(records, train, 0, "{text} = {label}", words, seed=1)[1] == ([], "new =")

def test_multiple_choice_demonstrations_are_seeded_solved_and_never_the_example():
    train = [{"context": f"c{i}", "choices": [f"a{i}", f"b{i}"], "label": i % 2} for i in range(12)]
    train.append({"contexts": ["x is", "y is"], "choices": ["big.", "big."], "label": 1})  # Winogrande's kind
    records = [train[3], {"context": "new", "choices": ["p", "q"], "label": 0}]
    a = choice_prompts(records, train, 12, seed=1)
    assert a == choice_prompts(records, train, 12, seed=1) and a != choice_prompts(records, train, 12, seed=2)
    demos, record = a[0]
    assert record is records[0] and len(demos) == 12 and "c3 b3" not in demos  # every other one, solved
    assert set(demos) == {f"c{i} {'ab'[i % 2]}{i}" for i in range(12) if i != 3} | {"y is big."}
    assert choice_prompts(records, train, 0, seed=1)[1][0] == []
    # the same draw as few-shot classification's: the same train examples, in the same order
    texts = [{"text": r.get("context", "y"), "label": "x"} for r in train]
    classified = fewshot_prompts([{"text": "c3"}, {"text": "new"}], texts, 12, "{text} {label}", {"x": "x"}, seed=1)
    assert [d.split(" ")[0] for d in a[1][0]] == [d.split(" ")[0] for d in classified[1][0]]


def test_fit_drops_the_first_demonstrations_until_every_prompt_fits():
    def encode(text):
        return list(text)  # a token a character
    ids, kept = fit(["d1", "d2", "d3"], ["qq", "q"], [2, 3], 12, encode)  # all three: 14 + 2 characters
    assert kept == ["d2", "d3"] and ids == [list("d2\n\nd3\n\nqq"), list("d2\n\nd3\n\nq")]  # 10 + 2, 9 + 3 fit
    assert fit(["d1", "d2", "d3"], ["qq", "q"], [2, 4], 12, encode)[1] == ["d3"]  # 9 + 4 does not: one more goes
    assert fit(["d1"], ["q" * 20], [1], 8, encode)[1] == []  # the query alone may overflow: the GPT keeps its end
    assert fit(["d1", "d2"], ["q"], [1], 0, encode)[1] == ["d1", "d2"]  # no window: all kept

# -----------------------------------------------------------------------------
# the script


@pytest.fixture
def setup(tmp_path, monkeypatch):
    monkeypatch.setattr(prepare, "DATA_DIR", str(tmp_path / "data"))
    rng = np.random.default_rng(0)
    (tmp_path / "text.txt").write_text("".join(rng.choice(list("abcde \n"), size=3000)))
    meta = prepare.prepare("text", inputs=[str(tmp_path / "text.txt")], tokenizer="char", out="chars")
    config = GPTConfig(block_size=32, vocab_size=meta["vocab_size"], n_layer=1, n_head=2, n_embd=16)
    torch.manual_seed(0)
    save_checkpoint(str(tmp_path / "gpt.pt"), {"model": GPT(config).state_dict(), "model_args": dataclasses.asdict(
        config), "meta": meta, "model_type": "gpt", "iter_num": 0, "best_val_loss": 0.0})
    task = [{"text": "".join(rng.choice(list("abcde "), size=12)), "label": ["x", "y"][i % 2]} for i in range(30)]
    for split, records in (("train", task[:20]), ("val", task[20:])):
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    prepare.prepare("task", inputs=[str(tmp_path / "train.jsonl"), str(tmp_path / "val.jsonl")], out="tiny")
    (tmp_path / "choices.jsonl").write_text('{"context": "abc", "choices": ["de", "ed"], "label": 0}\n' * 3)
    (tmp_path / "lambada.jsonl").write_text('{"text": "ab cd ebb"}\n{"text": "a b"}\n')
    return tmp_path


def test_eval_script_writes_table_and_json(setup, capsys):
    out = setup / "eval.json"
    assert run_script(os.path.join(REPO, "eval.py"), [
        f"--init_from={setup / 'gpt.pt'}", "--dataset=chars", "--split=val", f"--choices={setup / 'choices.jsonl'}",
        f"--lambada={setup / 'lambada.jsonl'}", "--task=tiny", "--template={text} {label}",
        "--label_words={'x': 'a', 'y': 'b'}", "--shots=(0, 1, 50)", f"--out={out}", "--device=cpu"]) == 0
    printed = capsys.readouterr().out
    assert "k=50 does not fit in block_size=32" in printed  # said, then as many as fit
    report = last_run(out)
    rows = {r["eval"]: r for r in report["results"]}
    assert set(rows) == {"chars val", "lambada", "choices.jsonl", "tiny val k=0", "tiny val k=1", "tiny val k=50"}
    ppl = rows["chars val"]
    assert ppl["ppl"] == pytest.approx(math.exp(ppl["loss"])) and ppl["tokens"] == prepare.load_meta("chars")[
        "splits"]["val"]["tokens"] - 1
    assert ppl["bpb"] == pytest.approx(ppl["loss"] * ppl["tokens"] / math.log(2) / prepare.load_meta("chars")[
        "splits"]["val"]["bytes"])
    assert rows["tiny val k=0"]["shots_used"] == 0 and rows["tiny val k=1"]["shots_used"] == 1
    assert rows["tiny val k=50"]["shots_used"] < 50 and report["model_type"] == "gpt"


MC_VAL = [{"context": "abc", "choices": ["de", "ed", "aa"], "label": 0},  # three choices
          {"contexts": ["ab a", "ab b"], "choices": ["cde", "cde"], "label": 1},  # a context per choice
          {"context": "e d", "choices": ["a", "bb c"], "label": 1},
          {"context": "cab", "choices": ["dd", "e"], "label": 0},
          {"context": "bad", "choices": ["a a", "cc"], "label": 1}]


@pytest.fixture
def mc_task(setup):
    """A multiple-choice task in the char vocabulary of setup's model: train (the demonstrations) and val."""
    (setup / "mc").mkdir()
    train = [{"context": f"{a} {b}", "choices": [a + b, b + a], "label": i % 2}
             for i, (a, b) in enumerate(zip("abcdeab", "cdeabba"))]
    for split, records in (("train", train), ("val", MC_VAL)):
        (setup / "mc" / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    prepare.prepare("task", inputs=[str(setup / "mc" / "train.jsonl"), str(setup / "mc" / "val.jsonl")], out="mc",
                    task_type="multiple_choice")
    return "mc"


def test_multiple_choice_task_metrics_match_a_direct_computation(setup, mc_task):
    """--task with a multiple_choice task, k=0: acc, acc_norm (per character), acc_per_token and their standard
    errors as computed here from the model's own forward pass over each context and choice; k=2: the demonstrations
    are solved train examples, a blank line apart, before the context."""
    out = setup / "mc.json"
    assert run_script(os.path.join(REPO, "eval.py"), [f"--init_from={setup / 'gpt.pt'}", f"--task={mc_task}",
                                                      "--shots=(0, 2)", f"--out={out}", "--device=cpu"]) == 0
    zero, two = last_run(out)["results"]
    ckpt = torch.load(setup / "gpt.pt", weights_only=True)
    model = GPT(GPTConfig(**ckpt["model_args"])).eval()
    model.load_state_dict(ckpt["model"])
    stoi = {c: i for i, c in enumerate(ckpt["meta"]["vocab"])}
    right = {"acc": [], "acc_norm": [], "acc_per_token": []}
    for r in MC_VAL:
        totals, means, per_char = [], [], []
        for context, choice in zip(r.get("contexts") or [r["context"]] * len(r["choices"]), r["choices"]):
            ids, n = [stoi[c] for c in context + " " + choice], len(choice) + 1  # the space is scored with it
            with torch.no_grad():
                logits = model(torch.tensor([ids[:-1]]), torch.tensor([ids[1:]]))[0][0]
            logp = F.log_softmax(logits, -1)[torch.arange(len(ids) - 1), torch.tensor(ids[1:])][-n:]
            totals.append(logp.sum().item())
            means.append(logp.mean().item())
            per_char.append(logp.sum().item() / len(choice))
        for name, values in (("acc", totals), ("acc_norm", per_char), ("acc_per_token", means)):
            right[name].append(int(np.argmax(values)) == r["label"])
    assert zero["eval"] == "mc val k=0" and zero["examples"] == len(MC_VAL)
    for name, outcomes in right.items():
        assert zero[name] == pytest.approx(np.mean(outcomes))
        assert zero[f"{name}_stderr"] == pytest.approx(np.std(outcomes, ddof=1) / math.sqrt(len(outcomes)))
    assert two["eval"] == "mc val k=2" and two["shots_used"] == 2
    train = [json.loads(line) for line in (setup / "mc" / "train.jsonl").read_text().splitlines()]
    solved = {f"{t['context']} {t['choices'][t['label']]}" for t in train}
    *demos, query = two["first_prompt"].split("\n\n")
    assert query == "abc" and len(demos) == 2 and set(demos) <= solved


def test_each_evaluation_is_kept(setup, mc_task, capsys):
    """A second run into the same eval.json is appended to it (perplexity, then a task); a file written by an older
    eval.py (one run) becomes the first evaluation; a file of anything else is refused before any work, unchanged."""
    out = setup / "runs.json"
    base = [f"--init_from={setup / 'gpt.pt'}", f"--out={out}", "--device=cpu"]
    assert run_script(os.path.join(REPO, "eval.py"), base + ["--dataset=chars", "--split=val"]) == 0
    assert run_script(os.path.join(REPO, "eval.py"), base + [f"--task={mc_task}", "--shots=(0,)"]) == 0
    runs = json.loads(out.read_text())["evaluations"]
    assert [[r["eval"] for r in run["results"]] for run in runs] == [["chars val"], ["mc val k=0"]]
    assert runs[0]["config"]["dataset"] == "chars" and runs[1]["config"]["task"] == "mc" and runs[0]["time"]
    assert "this run is evaluation 2 of the file" in capsys.readouterr().out
    older = {"model": "x", "results": [{"eval": "lambada", "acc": 0.5}]}  # eval.py's single-run file, from before
    out.write_text(json.dumps(older))
    assert run_script(os.path.join(REPO, "eval.py"), base + ["--dataset=chars", "--split=val"]) == 0
    assert [run["results"][0]["eval"] for run in json.loads(out.read_text())["evaluations"]] == ["lambada", "chars val"]
    capsys.readouterr()
    for other in ("not json", json.dumps([1, 2]), json.dumps({"loss": 1.0})):
        out.write_text(other)
        message = script_error(os.path.join(REPO, "eval.py"), base + ["--dataset=chars", "--split=val"])
        assert message == (f"eval: {out} is not eval.py's JSON (no \"evaluations\" list), so a run cannot be added to "
                           "it: give another --out, or move that file away")
        assert out.read_text() == other and "chars val" not in capsys.readouterr().out  # refused before the work


@pytest.mark.parametrize("args, message", [
    (["--lambada={setup}/no_text.jsonl"], "eval: {setup}/no_text.jsonl line 2 needs {{\"text\": passage}}, a "
                                          "passage with a final word after a space: LAMBADA's format"),
    (["--lambada={setup}/empty.jsonl"], "eval: {setup}/empty.jsonl holds no passages: LAMBADA's format is one "
                                        "{{\"text\": passage}} a line"),
    (["--choices={setup}/bad_choices.jsonl"], "data: {setup}/bad_choices.jsonl line 1 has 3 contexts for 2 choices"),
    (["--choices={setup}/bad_label.jsonl"], "data: {setup}/bad_label.jsonl line 1 has the label 2: a multiple_choice "
                                            "label is a choice index 0 to 1"),
    (["--choices={setup}/no_context.jsonl"], 'data: {setup}/no_context.jsonl line 1 needs "context" as a non-empty '
                                             "string (a multiple_choice task's fields: context, choices or contexts, "
                                             "one per choice)"),
    (["--task=sts"], "eval: task 'sts' is a regression task; prompts here read one text and a label word, or a "
                     "context and its choices: use a classification or multiple_choice task"),
    (["--task=only_train"], "eval: task 'only_train' has no val or test examples to evaluate: prepare it with one"),
])
def test_eval_bad_task_files(setup, args, message):
    (setup / "no_text.jsonl").write_text('{"text": "a b"}\n{"passage": "a b"}\n')
    (setup / "empty.jsonl").write_text("\n")
    (setup / "bad_choices.jsonl").write_text('{"contexts": ["a", "b", "c"], "choices": ["d", "e"], "label": 0}\n')
    (setup / "bad_label.jsonl").write_text('{"context": "a", "choices": ["d", "e"], "label": 2}\n')
    (setup / "no_context.jsonl").write_text('{"question": "a", "choices": ["d", "e"], "label": 0}\n')
    (setup / "sts").mkdir()
    (setup / "sts" / "train.jsonl").write_text('{"text_a": "a", "text_b": "b", "label": 1.5}\n')
    prepare.prepare("task", inputs=[str(setup / "sts" / "train.jsonl")], out="sts", task_type="regression")
    (setup / "only").mkdir()
    (setup / "only" / "train.jsonl").write_text('{"text": "a b", "label": "x"}\n')
    prepare.prepare("task", inputs=[str(setup / "only" / "train.jsonl")], out="only_train")
    assert message.format(setup=setup) in script_error(os.path.join(REPO, "eval.py"), [
        f"--init_from={setup / 'gpt.pt'}", "--device=cpu", *(a.format(setup=setup) for a in args)])


def test_multiple_choice_demonstrations_that_do_not_fit_are_noted(setup, mc_task, capsys):
    assert run_script(os.path.join(REPO, "eval.py"), [f"--init_from={setup / 'gpt.pt'}", f"--task={mc_task}",
                                                      "--shots=(7,)", f"--out={setup / 'mc.json'}",
                                                      "--device=cpu"]) == 0
    assert re.search(r"note: k=7 does not fit in block_size=32 for \d+ of 5 prompts", capsys.readouterr().out)
    assert last_run(setup / "mc.json")["results"][0]["shots_used"] < 7


@pytest.mark.parametrize("args, message", [
    (["--task=tiny", "--template=Answer: {label}"], "needs a {text} slot"),
    (["--task=tiny", "--label_words={'x': ' ', 'y': 'b'}"], "tokenizes to nothing"),
    (["--task=tiny", "--label_words={'x': 'a'}"], "a word for each label"),
    (["--task=tiny", "--label_words={'x': 'a', 'y': ' a'}"], "share a label word"),
    (["--dataset=chars", "--split=test"], "has no test split"),
    (["--dataset=never_prepared"], "not prepared"),
    ([], "nothing to evaluate"),
    (["--dataset=chars", "--batch_size=0"], "config: batch_size=0 must be > 0"),
    (["--task=tiny", "--shots=(1, -1)"], "config: shots=(1, -1) must be whole numbers >= 0, such as (0, 1, 4)"),
    (["--dataset=chars", "--dtype=half"], "config: dtype='half' must be one of auto, float32, bfloat16, float16"),
])
def test_eval_bad_input(setup, args, message):
    assert message in script_error(os.path.join(REPO, "eval.py"), [f"--init_from={setup / 'gpt.pt'}",
                                                                   "--device=cpu", *args])


def test_eval_refuses_an_out_it_cannot_write_before_evaluating(setup, capsys):
    for out in (setup, setup / "missing" / "eval.json"):  # a folder; a file in a folder that is not there
        message = script_error(os.path.join(REPO, "eval.py"), [f"--init_from={setup / 'gpt.pt'}", "--dataset=chars",
                                                               "--split=val", f"--out={out}", "--device=cpu"])
        assert message == (f"config: out='{out}' cannot be written (a folder, or in a folder that is missing or not "
                           "writable): give another --out")
    assert "eval:" not in capsys.readouterr().out  # nothing was evaluated


def test_eval_shows_where_it_is(setup, capsys, monkeypatch):
    """Each long phase prints progress lines (here every update: a log file's period set to 0), ending at 100%."""
    monkeypatch.setattr(prepare, "PROGRESS_EVERY", 0)
    assert run_script(os.path.join(REPO, "eval.py"), [
        f"--init_from={setup / 'gpt.pt'}", "--dataset=chars", "--split=val", f"--choices={setup / 'choices.jsonl'}",
        f"--lambada={setup / 'lambada.jsonl'}", "--task=tiny", "--template={text} {label}", "--shots=(0,)",
        "--label_words={'x': 'a', 'y': 'b'}", "--batch_size=4", f"--out={setup / 'eval.json'}", "--device=cpu"]) == 0
    printed = capsys.readouterr().out
    n = prepare.load_meta("chars")["splits"]["val"]["tokens"] - 1
    for what, total in (("chars val", n), ("lambada", 2), ("choices.jsonl", 6), ("tiny k=0: prompts", 10),
                        ("tiny k=0: scoring", 20)):
        line = rf"^{re.escape(what)}: ([\d,]+)/([\d,]+) \((\d+)%\) \| \d+s elapsed, ETA \S+$"
        lines = re.findall(line, printed, re.M)
        assert lines and lines[-1] == (f"{total:,}", f"{total:,}", "100"), what


def test_lambada_download_is_pinned_and_checked(setup, server, monkeypatch):
    """--lambada=download asks prepare.download for OpenAI's file with its pinned sha256 (served here from a loopback
    server): a file that fails the check is refused in one line and not kept, a good one is scored and cached."""
    server.files["/lambada_test.jsonl"] = (setup / "lambada.jsonl").read_bytes()
    asked, real = [], prepare.download
    expect = {"sha256": LAMBADA_SHA256}  # the real file's: the fixture fails it

    def from_loopback(url, path, sha256=None):
        asked.append((url, sha256))
        return real(server.url + "/lambada_test.jsonl", path, expect["sha256"])

    monkeypatch.setattr(prepare, "download", from_loopback)  # eval.py imports it from prepare when it runs
    argv = [f"--init_from={setup / 'gpt.pt'}", "--lambada=download", f"--out={setup / 'eval.json'}", "--device=cpu"]
    assert "does not match its published sha256" in script_error(os.path.join(REPO, "eval.py"), argv)
    assert asked == [(LAMBADA_URL, LAMBADA_SHA256)]
    cached = setup / "data" / "downloads" / "lambada" / "lambada_test.jsonl"
    assert not cached.exists() and not os.path.exists(f"{cached}.part")
    expect["sha256"] = hashlib.sha256(server.files["/lambada_test.jsonl"]).hexdigest()
    assert run_script(os.path.join(REPO, "eval.py"), argv) == 0
    assert cached.read_bytes() == server.files["/lambada_test.jsonl"]
    rows = last_run(setup / "eval.json")["results"]
    assert [(r["eval"], r["examples"]) for r in rows] == [("lambada", 2)]


def test_fewshot_reports_a_model_that_always_picks_one_label(setup):
    """A GPT with every weight zero gives every label word the same likelihood, so the first label always wins:
    most_picked is 1 and the accuracy is that label's share of the val split (5 of 10). The JSON keeps the first
    prompt, where a typed \\n (as a shell passes it) became a line break."""
    ckpt = torch.load(setup / "gpt.pt", weights_only=True)
    ckpt["model_args"]["block_size"] = 64  # two demonstrations fit
    ckpt["model"] = {k: torch.zeros_like(v) for k, v in GPT(GPTConfig(**ckpt["model_args"])).state_dict().items()}
    save_checkpoint(str(setup / "zero.pt"), ckpt)
    assert run_script(os.path.join(REPO, "eval.py"), [
        f"--init_from={setup / 'zero.pt'}", "--task=tiny", "--shots=(0, 2)", "--template={text}\\nd {label}",
        "--label_words={'x': 'a', 'y': 'b'}", f"--out={setup / 'zero.json'}", "--device=cpu"]) == 0
    rows = last_run(setup / "zero.json")["results"]
    assert [(r["acc"], r["chance"], r["most_picked"]) for r in rows] == [(0.5, 0.5, 1.0)] * 2
    val = [json.loads(line)["text"] for line in (setup / "val.jsonl").read_text().splitlines()]
    assert rows[0]["first_prompt"] == val[0] + "\nd"
    demos = rows[1]["first_prompt"].split("\n\n")
    assert len(demos) == 3 and demos[-1] == val[0] + "\nd" and demos[0].endswith("\nd a")


def test_eval_reads_an_lstm_checkpoint(setup):
    meta = prepare.load_meta("chars")
    config = LSTMConfig(vocab_size=meta["vocab_size"], emb_size=8, hidden_size=12, n_layers=2)
    torch.manual_seed(0)
    save_checkpoint(str(setup / "lstm.pt"), {"model": AWDLSTM(config).state_dict(), "model_args": dataclasses.asdict(
        config), "meta": meta, "model_type": "awd_lstm", "iter_num": 0, "best_val_loss": 0.0})
    assert run_script(os.path.join(REPO, "eval.py"), [
        f"--init_from={setup / 'lstm.pt'}", "--dataset=chars", "--split=val", "--task=tiny", "--shots=(0, 50)",
        "--template={text} {label}", "--label_words={'x': 'a', 'y': 'b'}", f"--out={setup / 'lstm.json'}",
        "--device=cpu"]) == 0
    rows = {r["eval"]: r for r in last_run(setup / "lstm.json")["results"]}
    assert rows["tiny val k=50"]["shots_used"] == 20  # no window: all 20 train examples fit
    assert math.isfinite(rows["chars val"]["bpb"])


def test_eval_vocabulary_mismatch_one_line(setup):
    """A dataset numericalised with another vocabulary is refused (prepare.check_vocab), naming both."""
    (setup / "other.txt").write_text("xyz " * 200)
    prepare.prepare("text", inputs=[str(setup / "other.txt")], tokenizer="char", out="other_chars")
    message = script_error(os.path.join(REPO, "eval.py"), [f"--init_from={setup / 'gpt.pt'}", "--device=cpu",
                                                           "--dataset=other_chars", "--split=val"])
    assert message.startswith(f"checkpoint: {setup / 'gpt.pt'} was trained on a char vocabulary of ")
    assert "dataset 'other_chars' has a char vocabulary of" in message
    assert "prepare the text with the model's tokenizer" in message

# -----------------------------------------------------------------------------
# a backward AWD-LSTM (ULMFiT §3.4): it reads text right to left


@pytest.fixture
def backward_lstm(setup):
    meta = prepare.load_meta("chars")
    config = LSTMConfig(vocab_size=meta["vocab_size"], emb_size=8, hidden_size=12, n_layers=2)
    torch.manual_seed(0)
    model = AWDLSTM(config).eval()
    with torch.no_grad():  # far from uniform, so which way it reads changes its loss
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.5)
    save_checkpoint(str(setup / "backward.pt"), {"model": model.state_dict(), "model_args": dataclasses.asdict(
        config), "meta": meta, "model_type": "awd_lstm", "backwards": True, "iter_num": 0, "best_val_loss": 0.0})
    return setup / "backward.pt", model


def test_backward_lstm_perplexity_reads_the_reversed_stream(setup, backward_lstm):
    path, model = backward_lstm
    out = setup / "backward.json"
    assert run_script(os.path.join(REPO, "eval.py"), [f"--init_from={path}", "--dataset=chars", "--split=val",
                                                      f"--out={out}", "--device=cpu"]) == 0
    report = last_run(out)
    row, = report["results"]
    assert row["eval"] == "chars val (backward)" and report["backwards"] is True
    tokens = torch.from_numpy(prepare.load_split("chars", "val").astype(np.int64))
    with torch.no_grad():  # the model over the val text from its last token to its first, in one pass
        def loss(t):
            return F.cross_entropy(model(t[None, :-1], model.init_hidden(1))[0][0], t[1:]).item()
        backward, forward = loss(tokens.flip(0)), loss(tokens)
    assert row["tokens"] == len(tokens) - 1 and row["loss"] == pytest.approx(backward, rel=1e-5)
    assert abs(backward - forward) > 1e-3  # the direction matters: reading it forwards gives another loss (by 0.012)


@pytest.mark.parametrize("args", [["--lambada={setup}/lambada.jsonl"], ["--choices={setup}/choices.jsonl"],
                                  ["--task=tiny", "--template={{text}} {{label}}"],
                                  ["--dataset=chars", "--split=val", "--lambada={setup}/lambada.jsonl"]])
def test_backward_lstm_refuses_continuations(setup, backward_lstm, args):
    message = script_error(os.path.join(REPO, "eval.py"), [f"--init_from={backward_lstm[0]}", "--device=cpu",
                                                           *(a.format(setup=setup) for a in args)])
    assert f"{backward_lstm[0]} is a backward language model (it reads text right to left)" in message
    assert "--dataset" in message and not (setup / "eval.json").exists()  # refused before anything ran
