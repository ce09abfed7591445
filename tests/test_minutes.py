"""The "claim in minutes" table (bench.py --minutes=True: config/minutes_*.py, one step after another) end to end on
a CPU at toy size, once, then what each row's steps left behind. Tiny stand-ins for PTB, WikiText-2, TREC-6, SST-2
and RTE are written here in their published formats and prepared by the runner's own --prepare_from step (no
network, no ../shared), so a broken recipe or runner fails here rather than on a GPU.

$ python -m pytest -q tests/test_minutes.py
"""

import contextlib
import json
import os
import re
import sys
import time

import pytest
from scripts import run_script, script_error

import bench
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
    """A DATA_DIR holding the table's datasets and tasks, prepared by bench.prepare_minutes from tiny files in the
    published formats, in the folders ../shared/data names."""
    root = tmp_path_factory.mktemp("minutes")
    saved, prepare.DATA_DIR = prepare.DATA_DIR, str(root / "data")
    src = root / "src"
    ptb, wt2, trec, sst2, rte = (src / name for name in ("ptb", "wikitext-2", "trec", "sst2", "rte"))
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
    bench.prepare_minutes(str(src))
    yield root
    prepare.DATA_DIR = saved


def in_process(argv, log_path, timeout, cwd, env=None):
    """bench.run_step's stand-in: the same command in this process (torch imported once: seconds, not minutes, for
    the whole table), its output in log_path. No time limit: run_step's own test below checks that."""
    t0, here = time.time(), os.getcwd()
    with open(log_path, "a") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        os.chdir(cwd)
        try:
            code = run_script(argv[1], argv[2:])
        except SystemExit as e:  # a one-line message: the step's failure, as a process would print it and exit 1
            print(e.code)
            code = 1
        finally:
            os.chdir(here)
    return code, time.time() - t0


@pytest.fixture(scope="module")
def table(data):
    """The whole table at toy size: (its folder, the rows it returned)."""
    folder = data / "table"
    return folder, bench.minutes_table(str(folder), deadline=600, toy=True, run=in_process)


def records(path):
    return [json.loads(line) for line in open(path)]


def test_every_step_runs_and_every_row_gets_a_verdict(table):
    folder, rows = table
    report = json.load(open(folder / "table.json"))
    assert [s["status"] for s in report["steps"]] == ["ok"] * len(bench.MINUTES_STEPS)
    assert [r["claim"] for r in rows] == [claim for claim, _, _ in bench.MINUTES_CLAIMS.values()]
    assert all(r["met"] in (True, False) and not r["unfinished"] for r in rows), rows
    for step in report["steps"]:  # every log kept, beginning with its command
        assert open(step["log"]).readline().startswith("$ ")
    table_rows = [line for line in open(folder / "table.md") if line.startswith("| ")]
    assert len(table_rows) == 1 + len(rows)  # the header, then one a row


def test_awd_lstm_steps_train_with_and_without_regularisation(table):
    folder, rows = table
    for out, weight_drop in (("out-minutes-awd-lstm", 0.5), ("out-minutes-awd-plain", 0.0)):
        log = records(folder / out / "log.jsonl")
        assert log[0]["config"]["weight_drop"] == weight_drop and any("test_ppl" in r for r in log)
    best = [min(r["val_ppl"] for r in records(folder / out / "log.jsonl") if "val_ppl" in r)
            for out in ("out-minutes-awd-lstm", "out-minutes-awd-plain")]
    assert f"{best[0]:.1f} regularised, {best[1]:.1f} without" in rows[0]["number"]


def test_ulmfit_steps_average_forward_and_backward(table):
    folder, _ = table
    final = records(folder / "out-minutes-trec-bwd" / "log.jsonl")[-1]
    assert final["stage"] == "final" and final["ensemble"] == "out-minutes-trec"
    assert {"test_error", "partner_test_error", "ensemble_test_error"} <= set(final)
    assert records(folder / "out-minutes-trec-scratch" / "log.jsonl")[0]["config"]["pretrained"] is False


def test_gpt_steps_fine_tune_and_evaluate(table):
    folder, _ = table
    configs = {out: records(folder / f"out-minutes-{out}" / "log.jsonl")[0]["config"]
               for out in ("sst2", "sst2-scratch", "sst2-nolm", "rte")}
    assert configs["sst2-scratch"]["pretrained"] is False and configs["sst2-nolm"]["lm_coef"] == 0
    zero = bench.eval_results(folder / "out-minutes-gpt-wt2" / "eval_zeroshot.json")
    assert [r["eval"] for r in zero] == ["wikitext2_gpt2 test", "sst2 val k=0"]
    few = bench.eval_results(folder / "out-minutes-gpt-wt2" / "eval_fewshot.json")
    assert [r["eval"] for r in few] == [f"sst2 val k={k}" for k in (0, 1, 4, 8)]


def test_verdicts_follow_the_targets(tmp_path):
    """Each claim's verdict from outputs written here, on either side of its threshold."""
    def lstm_log(out, ppls):
        (tmp_path / out).mkdir(exist_ok=True)
        (tmp_path / out / "log.jsonl").write_text("".join(json.dumps({"val_ppl": p}) + "\n" for p in ppls))
    lstm_log("out-minutes-awd-lstm", [200.0, 94.0])
    lstm_log("out-minutes-awd-plain", [100.0, 120.0])  # its best, 100, counts: 94 is 6% below it
    assert bench.awd_claim(tmp_path)[1] is True
    lstm_log("out-minutes-awd-lstm", [96.0])  # 4% below: not clearly
    assert bench.awd_claim(tmp_path)[1] is False

    def fewshot(accs, n=872):
        (tmp_path / "out-minutes-gpt-wt2").mkdir(exist_ok=True)
        results = [{"eval": f"sst2 val k={k}", "examples": n, "acc": a} for k, a in zip((0, 1, 4, 8), accs)]
        (tmp_path / "out-minutes-gpt-wt2" / "eval_fewshot.json").write_text(json.dumps({"evaluations": [
            {"results": results}]}))
    # two accuracies near 0.5 over 872 examples each: the difference's standard error is sqrt(2 x 0.25 / 872)
    margin = 2 * (2 * 0.25 / 872) ** 0.5  # 0.0479
    fewshot([0.50, 0.52, 0.53, 0.50 + margin + 0.005])
    assert bench.gpt3_claim(tmp_path)[1] is True
    fewshot([0.50, 0.52, 0.53, 0.50 + margin - 0.005])
    assert bench.gpt3_claim(tmp_path)[1] is False


def test_run_step_kills_a_step_past_its_time(tmp_path):
    log = tmp_path / "slow.log"
    code, seconds = bench.run_step([sys.executable, "-c", "import time; print('started', flush=True); "
                                    "time.sleep(60)"], str(log), 1.0, str(tmp_path))
    assert code is None and seconds < 30
    assert log.read_text() == "started\n"  # what it printed before it was killed stays
    code, _ = bench.run_step([sys.executable, "-c", "raise SystemExit(3)"], str(tmp_path / "fails.log"), 30.0,
                             str(tmp_path))
    assert code == 3


def test_deadline_leaves_later_steps_unrun(tmp_path):
    def never(*args):
        raise AssertionError("no step should run past the deadline")
    rows = bench.minutes_table(str(tmp_path / "t"), deadline=0, toy=True, run=never)
    assert all(r["met"] is None and r["unfinished"] for r in rows)
    message = script_error(os.path.join(REPO, "bench.py"), ["--minutes=True", "--toy=True", "--deadline=0",
                                                            f"--minutes_dir={tmp_path / 'cli'}"])
    assert message.startswith("bench: not every step finished (awd-lstm not run (deadline)")
    message = script_error(os.path.join(REPO, "bench.py"), ["--minutes=True", f"--minutes_dir={tmp_path / 't'}"])
    assert "already holds a run" in message


def shrink(config):
    """The --key=value arguments of the config's documented CPU shrink (its "# CPU shrink...: ..." comment)."""
    with open(os.path.join(REPO, "config", config)) as f:
        text = f.read()
    found = re.search(r"^# CPU shrink[^:]*: (.*)$", text, re.MULTILINE)
    assert found, f"{config} documents no CPU shrink"
    return found.group(1).split()


@pytest.mark.parametrize("config", sorted(f for f in os.listdir(os.path.join(REPO, "config"))
                                          if f.startswith("minutes_")))
def test_documented_cpu_shrinks_are_settings_of_their_script(config):
    """Each config's CPU shrink (run and timed by hand: /tmp/notes, the README) names settings its script has."""
    script = next(s for _, _, _, _, s, args in bench.MINUTES_STEPS if f"config/{config}" in args)
    path = os.path.join(REPO, script)
    resolved = prepare.configure(prepare.setting_defaults(path), [os.path.join(REPO, "config", config),
                                                                  *shrink(config)])
    assert resolved["device"] == "cpu"
