"""The config/minutes_*.py recipes (each paper's claim in minutes on one GPU) run end to end on a CPU at toy size:
each config, then the CPU shrink its own comment documents, then a few steps. Tiny stand-ins for PTB, WikiText-2,
TREC-6, SST-2 and RTE are written here in their published formats (no network, no ../shared), so a broken recipe
fails here rather than on a GPU."""

import json
import os
import re

import pytest
from scripts import run_script

import prepare

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORDS = ("the cat sat on the mat . a dog ran in the park . the film was good and the acting was fine . "
         "it was a bad film with a dull plot . who wrote the play ? where is the city ? how far is the moon ?").split()


def lines(n, seed):
    """n lines of 8 to 20 words drawn from WORDS, the same for a seed."""
    import random
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 20))) for _ in range(n)]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A DATA_DIR holding the datasets and tasks the minutes configs name, prepared from tiny published-format files."""
    root = tmp_path_factory.mktemp("minutes")
    saved, prepare.DATA_DIR = prepare.DATA_DIR, str(root / "data")
    src = root / "src"
    ptb, wt2, trec, sst2, rte = (src / name for name in ("ptb", "wt2", "trec", "sst2", "rte"))
    for folder in (ptb, wt2, trec, sst2, rte):
        folder.mkdir(parents=True)
    for split, n in (("train", 400), ("valid", 60), ("test", 60)):
        (ptb / f"ptb.{split}.txt").write_text("".join(f" {line} \n" for line in lines(n, split)))
        text = "".join(f" {line} \n" for line in lines(n, split))
        (wt2 / f"wiki.{split}.tokens").write_text("\n = Title = \n\n" + text)
    labels = ["DESC:manner", "LOC:city", "NUM:dist", "HUM:ind", "ENTY:other", "ABBR:exp"]
    (trec / "train_5500.label").write_bytes("".join(f"{labels[i % 6]} {line}\n" for i, line in
                                                    enumerate(lines(120, 1))).encode("latin-1"))
    (trec / "TREC_10.label").write_bytes("".join(f"{labels[i % 6]} {line}\n" for i, line in
                                                 enumerate(lines(30, 2))).encode("latin-1"))
    for name, n in (("train", 120), ("dev", 30)):
        (sst2 / f"{name}.tsv").write_text("sentence\tlabel\n" + "".join(f"{line} \t{i % 2}\n" for i, line in
                                                                        enumerate(lines(n, name))))
        pairs = zip(lines(n, name + "a"), lines(n, name + "b"))
        (rte / f"{name}.tsv").write_text("index\tsentence1\tsentence2\tlabel\n" + "".join(
            f"{i}\t{a}\t{b}\t{('entailment', 'not_entailment')[i % 2]}\n" for i, (a, b) in enumerate(pairs)))
    prepare.prepare("ptb", src=str(ptb))
    prepare.prepare("wikitext2", src=str(wt2))
    prepare.prepare("wikitext2", src=str(wt2), tokenizer="gpt2")
    for name, folder in (("trec", trec), ("sst2", sst2), ("rte", rte)):
        prepare.prepare(name, src=str(folder))
    yield root
    prepare.DATA_DIR = saved


def shrink(config):
    """The --key=value arguments of the config's documented CPU shrink (its "# CPU shrink...: ..." comment)."""
    with open(os.path.join(REPO, "config", config)) as f:
        text = f.read()
    found = re.search(r"^# CPU shrink[^:]*: (.*)$", text, re.MULTILINE)
    assert found, f"{config} documents no CPU shrink"
    return found.group(1).split()


def run(script, config, *extra):
    return run_script(os.path.join(REPO, script), [os.path.join("config", config), *shrink(config), *extra])


def test_awd_lstm_regularisation_recipe(data, monkeypatch):
    monkeypatch.chdir(data)
    quick = ["--max_iters=3", "--log_interval=1", "--eval_batch_size=2"]
    assert run("train_lstm.py", "minutes_awd_lstm.py", *quick) == 0
    assert run("train_lstm.py", "minutes_awd_lstm.py", *quick, "--out_dir=out-minutes-awd-plain", "--dropout_emb=0",
               "--dropout_in=0", "--dropout_hidden=0", "--dropout_out=0", "--weight_drop=0", "--alpha=0",
               "--beta=0") == 0
    for out in ("out-minutes-awd-lstm", "out-minutes-awd-plain"):
        records = [json.loads(line) for line in open(data / out / "log.jsonl")]
        assert any("test_ppl" in r for r in records)


def test_gpt_pretraining_zero_shot_and_few_shot_recipes(data, monkeypatch):
    monkeypatch.chdir(data)
    assert run("train_gpt.py", "minutes_gpt_wt2.py", "--max_iters=3", "--eval_iters=1", "--sample_tokens=0") == 0
    device = ["--device=cpu", "--max_examples=4"]  # eval.py's configs document no shrink: the model is already small
    assert run_script(os.path.join(REPO, "eval.py"), ["config/minutes_gpt2_zeroshot.py", *device]) == 0
    zero = json.load(open(data / "out-minutes-gpt-wt2" / "eval_zeroshot.json"))["results"]
    assert zero[0]["eval"] == "wikitext2_gpt2 test" and zero[1]["eval"] == "sst2 val k=0"
    assert run_script(os.path.join(REPO, "eval.py"), ["config/minutes_gpt3_fewshot.py", *device]) == 0
    few = json.load(open(data / "out-minutes-gpt-wt2" / "eval_fewshot.json"))["results"]
    assert [r["eval"] for r in few] == [f"sst2 val k={k}" for k in (0, 1, 4, 8)]


def test_ulmfit_bidirectional_recipe(data, monkeypatch):
    monkeypatch.chdir(data)
    quick = ["--max_iters=2", "--log_interval=1", "--eval_batch_size=2", "--test_batch_size=2"]
    assert run("train_lstm.py", "minutes_ulmfit_wt2.py", *quick) == 0
    assert run("train_lstm.py", "minutes_ulmfit_wt2.py", *quick, "--backwards=True",
               "--out_dir=out-minutes-wt2-bwd") == 0
    assert run("finetune.py", "minutes_ulmfit_trec.py") == 0
    backward = [os.path.join("config", "minutes_ulmfit_trec.py"), os.path.join("config", "ulmfit_backward.py"),
                *shrink("minutes_ulmfit_trec.py")]
    assert run_script(os.path.join(REPO, "finetune.py"), backward) == 0
    final = [json.loads(line) for line in open(data / "out-minutes-trec-bwd" / "log.jsonl")][-1]
    assert any(k.startswith("ensemble_") for k in final)  # forward, backward and their average reported
    assert run("finetune.py", "minutes_ulmfit_trec.py", "--pretrained=False",
               "--out_dir=out-minutes-trec-scratch") == 0


@pytest.mark.parametrize("config", ["minutes_gpt1_sst2.py", "minutes_gpt1_rte.py"])
def test_gpt1_transfer_recipes(data, monkeypatch, config):
    monkeypatch.chdir(data)
    if not os.path.exists(data / "out-minutes-gpt-wt2" / "latest.pt"):
        assert run("train_gpt.py", "minutes_gpt_wt2.py", "--max_iters=3", "--eval_iters=1", "--sample_tokens=0") == 0
    name = config.removeprefix("minutes_gpt1_").removesuffix(".py")
    assert run("finetune.py", config) == 0
    assert run("finetune.py", config, "--pretrained=False", f"--out_dir=out-minutes-{name}-scratch") == 0
    assert run("finetune.py", config, "--lm_coef=0", f"--out_dir=out-minutes-{name}-nolm") == 0
