"""The first LLMs side by side (eval.py --compare): the four config/compare_*.py recipes trained for a few steps on
generated text in WikiText-2's published format, then compared; the table's numbers checked against each run's
own log.jsonl and checkpoint, the figure written; and the one-line refusals of runs that cannot be compared.

$ python -m pytest -q tests/test_compare.py
"""

import json
import math
import os
import shutil
import sys

import numpy as np
import pytest
import torch
from scripts import run_script, script_error

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
import prepare  # noqa: E402

EVAL = os.path.join(REPO, "eval.py")
RECIPES = {"lstm": "AWD-LSTM (2017)", "gpt1": "GPT-1 (2018)", "gpt2": "GPT-2 (2019)", "gpt3": "GPT-3 (2020)"}
# the recipes at toy size: their switches (prenorm, attn_window, the regularisers) kept, a few steps each
SHRINK = {"gpt": ["--n_layer=2", "--n_head=2", "--n_embd=16", "--block_size=32", "--batch_size=2", "--max_iters=4",
                  "--lr_decay_iters=4", "--warmup_iters=1", "--eval_interval=2", "--eval_iters=2", "--log_interval=1",
                  "--max_seconds=0"],
          "lstm": ["--emb_size=16", "--hidden_size=16", "--batch_size=4", "--bptt=8", "--max_iters=6",
                   "--max_seconds=0", "--eval_batch_size=2", "--test_batch_size=1", "--log_interval=1"]}


def script(recipe):
    return "lstm" if recipe == "lstm" else "gpt"


def train(recipe, out_dir, *args):
    s = script(recipe)
    argv = [f"config/compare_{recipe}.py", *SHRINK[s], f"--out_dir={out_dir}", *args]
    assert run_script(os.path.join(REPO, f"train_{s}.py"), argv) == 0


def records(run):
    with open(os.path.join(run, "log.jsonl")) as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The four recipes trained on generated text read as characters (the configs' wikitext2_char), and a GPT-2
    trained on the same text read as words."""
    root = tmp_path_factory.mktemp("compare")
    saved, prepare.DATA_DIR = prepare.DATA_DIR, str(root / "data")
    rng = np.random.default_rng(0)
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "far", "@-@", ","]
    src = root / "wt2"
    src.mkdir()
    for split, n in (("train", 300), ("valid", 40), ("test", 40)):
        lines = [" ".join(rng.choice(words, size=12)) for _ in range(n)]
        (src / f"wiki.{split}.tokens").write_text("\n = Title = \n\n" + "".join(f" {line} \n" for line in lines))
    prepare.prepare("wikitext2", src=str(src), tokenizer="char")
    prepare.prepare("wikitext2", src=str(src))  # words
    torch.manual_seed(0)
    for recipe in RECIPES:
        train(recipe, str(root / recipe))
    train("gpt2", str(root / "words"), "--dataset=wikitext2")
    yield root
    prepare.DATA_DIR = saved


def table_rows(md):
    """The Markdown table's rows as lists of cells, the header first."""
    lines = md.read_text().strip().split("\n")
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[:1] + lines[2:]]


def test_compare_table_equals_logs_and_checkpoints(runs, capsys):
    names = [str(runs / recipe) for recipe in RECIPES]
    png = runs / "compare.png"
    assert run_script(EVAL, [f"--compare={','.join(names)}", f"--out={png}", "--device=cpu"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
    header, *rows = table_rows(runs / "compare.md")
    assert header[-1] == "test bpb" and len(rows) == 4
    meta = prepare.load_meta("wikitext2_char")
    val, test = meta["splits"]["val"], meta["splits"]["test"]
    for (recipe, paper), name, row in zip(RECIPES.items(), names, rows):
        log = records(name)
        evals = [r for r in log if "val_loss" in r]
        run, model, non_embedding, total, tokens, seconds, tok_s, best_val, test_bpb = row
        assert run == name and model == paper
        # the last evaluation's tokens and training seconds, and the best val loss in bits per byte
        assert int(tokens.replace(",", "")) == evals[-1]["tokens"] > 0
        assert float(seconds) == pytest.approx(evals[-1]["train_seconds"], abs=0.5)
        assert float(tok_s.replace(",", "")) == pytest.approx(evals[-1]["tokens"] / evals[-1]["train_seconds"], abs=1)
        bpb = min(e["val_loss"] for e in evals) / math.log(2) * val["tokens"] / val["bytes"]
        assert float(best_val) == pytest.approx(bpb, abs=1e-4)
        if recipe == "lstm":  # the same as its own logged val bpb, and train_lstm.py's own one-stream test pass
            assert float(best_val) == pytest.approx(min(e["val_bpb"] for e in evals), abs=1e-4)
            t = next(r for r in log if "test_loss" in r)  # its mean over the n - 1 tokens predicted
            assert float(test_bpb) == pytest.approx(t["test_loss"] * (test["tokens"] - 1) / math.log(2) /
                                                    test["bytes"], abs=1e-4)
        # parameters counted from the checkpoint's tensors: the tied table once; without it (and positions)
        state = torch.load(os.path.join(name, "best.pt"), weights_only=True)["model"]
        tied, tables = (("decoder.weight", ["encoder.weight"]) if recipe == "lstm" else
                        ("lm_head.weight", ["transformer.wte.weight", "transformer.wpe.weight"]))
        assert torch.equal(state.pop(tied), state[tables[0]])
        assert int(total.replace(",", "")) == sum(t.numel() for t in state.values())
        assert int(non_embedding.replace(",", "")) == sum(t.numel() for t in state.values()) - sum(
            state[k].numel() for k in tables)
    printed = capsys.readouterr().out
    assert f"wrote {png}" in printed and "| GPT-3 (2020) |" in printed


def test_tokens_budget_config_gives_every_recipe_the_same_tokens():
    """config/compare_tokens.py after each recipe: max_iters steps of the recipe's tokens make its 1M."""
    for recipe in RECIPES:
        path = os.path.join(REPO, f"train_{script(recipe)}.py")
        c = prepare.configure(prepare.setting_defaults(path),
                              [f"config/compare_{recipe}.py", "config/compare_tokens.py"], [path])
        per_step = c["batch_size"] * (0.975 * c["bptt"] - 0.5 if recipe == "lstm" else c["block_size"])
        assert c["max_seconds"] == 0 and abs(c["max_iters"] * per_step - 1_000_000) <= per_step
        if recipe != "lstm":
            assert c["lr_decay_iters"] == c["max_iters"]


def test_bad_runs_are_named_in_one_line(runs, tmp_path):
    good = [str(runs / recipe) for recipe in RECIPES]

    def refused(*names):
        return script_error(EVAL, [f"--compare={','.join(names)}", f"--out={tmp_path / 'c.png'}", "--device=cpu"])

    missing = str(tmp_path / "nowhere")
    assert refused(good[0], missing) == f"compare: {missing}: no such run folder"
    unfinished = tmp_path / "unfinished"  # started, not yet evaluated: its header only
    unfinished.mkdir()
    (unfinished / "log.jsonl").write_text(json.dumps(records(good[1])[0]) + "\n")
    assert refused(good[0], str(unfinished)).startswith(f"compare: {unfinished} is unfinished")
    message = refused(*good, str(runs / "words"))  # the same text, another tokenizer
    assert message.startswith(f"compare: {runs / 'words'} was trained on 'wikitext2' (word tokenizer")
    resumed = tmp_path / "resumed"
    shutil.copytree(good[2], resumed)
    with open(resumed / "log.jsonl", "a") as f:
        f.write(json.dumps({**records(good[2])[0], "resumed_from": 4}) + "\n")
    assert refused(good[0], str(resumed)).startswith(f"compare: {resumed} was resumed")
    assert not (tmp_path / "c.png").exists()  # nothing written by a refused comparison
