"""The training loop of train_lstm.py, run for a few steps on the bundled Shakespeare: exact resume mid-epoch
(hidden state, BPTT lengths and dropout masks included), Ctrl-C, evaluation, and the one-line bad-input messages."""

import json
import math
import os
import signal
import subprocess
import sys

import pytest
import torch
from scripts import run_script, script_error

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "train_lstm.py")
TINY = ["--batch_size=4", "--bptt=12", "--emb_size=16", "--hidden_size=32", "--n_layers=2", "--log_interval=1",
        "--eval_batch_size=50", "--device=cpu", "--compile=False"]


def run(out_dir, *args):
    return run_script(SCRIPT, [*TINY, f"--out_dir={out_dir}", *args])


def message(out_dir, *args):
    return script_error(SCRIPT, [*TINY, f"--out_dir={out_dir}", *args])


def records(out_dir):
    with open(os.path.join(out_dir, "log.jsonl")) as f:
        return [json.loads(line) for line in f]


def step_losses(out_dir):
    return {r["iter"]: r["loss"] for r in records(out_dir) if "loss" in r}


def test_resume_mid_epoch_is_bit_exact(tmp_path):
    # every dropout on, so the restored RNG matters; SGD so the schedule does not depend on max_iters
    reg = ["--optimizer_name=sgd", "--learning_rate=5", "--dropout_emb=0.1", "--weight_drop=0.3",
           "--dropout_in=0.2", "--dropout_hidden=0.2", "--dropout_out=0.2"]
    assert run(tmp_path / "full", *reg, "--max_iters=16") == 0
    assert run(tmp_path / "split", *reg, "--max_iters=8") == 0
    assert run(tmp_path / "split", *reg, "--max_iters=16", "--init_from=resume") == 0
    full, split = step_losses(tmp_path / "full"), step_losses(tmp_path / "split")
    assert sorted(full) == sorted(split) == list(range(1, 17))
    assert all(full[i] == split[i] for i in full), "losses differ after resume"
    a = torch.load(tmp_path / "full" / "latest.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "latest.pt", weights_only=True)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["state"]["pos"] == b["state"]["pos"] > 0  # stopped mid-epoch, at the same place in the text


def test_learns_and_reports_bits_per_byte(tmp_path):
    assert run(tmp_path, "--max_iters=60", "--learning_rate=1e-2") == 0
    losses = step_losses(tmp_path)
    assert losses[1] == pytest.approx(math.log(65), abs=0.1)  # uniform over 65 characters at init
    val = [r for r in records(tmp_path) if "val_loss" in r][-1]
    assert val["val_loss"] < losses[1] - 0.5
    assert val["val_ppl"] == pytest.approx(math.exp(val["val_loss"]))
    # bits per byte: bits per token times tokens per byte of the split (1 here: the text is ASCII)
    meta = json.load(open(os.path.join(REPO, "data", "shakespeare_char", "meta.json")))
    s = meta["splits"]["val"]
    assert val["val_bpb"] == pytest.approx(val["val_loss"] / math.log(2) * s["tokens"] / s["bytes"])
    # the checkpoint evaluates to the same number
    assert run(tmp_path, "--eval_only=True", "--init_from=resume") == 0
    assert records(tmp_path)[-1]["val_loss"] == pytest.approx(val["val_loss"], rel=1e-6)


def test_ctrl_c_saves_then_exits(tmp_path):
    proc = subprocess.Popen([sys.executable, SCRIPT, *TINY, f"--out_dir={tmp_path}"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    for line in proc.stdout:
        if line.startswith("epoch 1 step 3 "):
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted at step" in out
    ckpt = torch.load(tmp_path / "latest.pt", weights_only=True)
    assert ckpt["iter_num"] >= 3 and ckpt["state"]["pos"] > 0
    assert run(tmp_path, f"--max_iters={ckpt['iter_num'] + 2}", "--init_from=resume") == 0
    assert max(step_losses(tmp_path)) == ckpt["iter_num"] + 2


def test_bad_input(tmp_path):
    assert "did you mean optimizer_name" in message(tmp_path, "--optimizer=sgd")
    assert "'sgd' or 'adam'" in message(tmp_path, "--optimizer_name=rmsprop")
    assert "python prepare.py" in message(tmp_path, "--dataset=no_such_data")
    assert "nonmono" in message(tmp_path, "--nonmono=0")
    assert run(tmp_path, "--max_iters=2") == 0
    assert "--init_from=resume" in message(tmp_path, "--max_iters=2")  # never overwrites a run
    assert "hidden_size=32" in message(tmp_path, "--init_from=resume", "--hidden_size=64")
    path = tmp_path / "latest.pt"
    ckpt = torch.load(path, weights_only=True)
    ckpt["meta"]["vocab"] = ckpt["meta"]["vocab"][::-1]
    torch.save(ckpt, path)
    assert "vocabulary" in message(tmp_path, "--init_from=resume")
    ckpt["model_type"] = "gpt"
    torch.save(ckpt, path)
    assert "not an AWD-LSTM" in message(tmp_path, "--init_from=resume")
    path.write_bytes(path.read_bytes()[:1000])
    assert "truncated or corrupted" in message(tmp_path, "--init_from=resume")
