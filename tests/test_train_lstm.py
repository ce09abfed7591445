"""The training loop of train_lstm.py, run for a few steps on the bundled Shakespeare: one step against an update
computed by hand, exact resume mid-epoch (hidden state, BPTT lengths and dropout masks included), the backward LM,
Ctrl-C, evaluation, and the one-line bad-input messages."""

import json
import math
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scripts import run_script, script_error

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "train_lstm.py")
sys.path.insert(0, REPO)
from train_lstm import AWDLSTM, LSTMConfig  # noqa: E402

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


# -----------------------------------------------------------------------------
# one optimizer step, by hand: the loss, the clipping and the SGD update written out here, on the model's forward


def shakespeare_stream(streams, backwards=False):
    """The training split as the loop should read it: (B, N), row b the b-th slice of the text, reversed first
    for a backward LM."""
    tokens = np.fromfile(os.path.join(REPO, "data", "shakespeare_char", "train.bin"), dtype=np.uint16)
    tokens = tokens.astype(np.int64)[::-1] if backwards else tokens.astype(np.int64)
    n = len(tokens) // streams
    return torch.from_numpy(tokens[:n * streams].copy()).view(streams, n)


def first_step_by_hand(ckpt, stream):
    """The weights after the script's first step, from the same start: torch seeded as the script seeds it, so
    the initial weights and then the step's dropout masks are drawn in the same order; the first window of stream
    (its length is where the step left pos); loss = cross-entropy + alpha * mean(dropped output^2) (AR) +
    beta * mean(raw output's step-to-step change^2) (TAR, §4.6); gradients clipped to grad_clip in total norm;
    one SGD step with weight decay at lr * seq_len / bptt (§4.1)."""
    c = ckpt["config"]
    seq_len = ckpt["pos"]
    assert seq_len != c["bptt"]  # else a missing lr rescaling would not show
    x, y = stream[:, :seq_len], stream[:, 1:seq_len + 1]
    torch.manual_seed(c["seed"])
    model = AWDLSTM(LSTMConfig(**ckpt["model_args"]))  # in train mode, as the loop runs it
    logits, _, raw_output, output = model(x, model.init_hidden(x.size(0)))
    assert not torch.equal(output, raw_output)  # dropout_out is on, so AR on the raw output would show
    loss = (F.cross_entropy(logits.view(-1, logits.size(-1)), y.reshape(-1))
            + c["alpha"] * output.pow(2).mean()
            + c["beta"] * (raw_output[:, 1:] - raw_output[:, :-1]).pow(2).mean())
    names, params = zip(*model.named_parameters())  # the tied decoder weight once, as encoder.weight
    grads = torch.autograd.grad(loss, params)
    norm = math.sqrt(sum(g.pow(2).sum().item() for g in grads))
    scale = min(1.0, c["grad_clip"] / (norm + 1e-6))  # clip_grad_norm_'s rule, its 1e-6 guard included
    assert scale < 1  # the clipping is part of what is checked
    lr = c["learning_rate"] * seq_len / c["bptt"]
    with torch.no_grad():
        return {k: w - lr * (scale * g + c["weight_decay"] * w) for k, w, g in zip(names, params, grads)}


# every dropout on (the masks come from the seed), a weight decay that shows, the paper's AR/TAR and clipping
ONE_STEP = ["--max_iters=1", "--optimizer_name=sgd", "--learning_rate=2", "--weight_decay=0.01", "--alpha=2",
            "--beta=1", "--grad_clip=0.25", "--dtype=float32", "--dropout_emb=0.1", "--dropout_in=0.2",
            "--dropout_hidden=0.2", "--dropout_out=0.5", "--weight_drop=0.3"]


def assert_first_step_by_hand(out_dir, backwards):
    ckpt = torch.load(out_dir / "latest.pt", weights_only=True)
    expected = first_step_by_hand(ckpt, shakespeare_stream(ckpt["config"]["batch_size"], backwards))
    for k, w in expected.items():  # measured: within 3e-8; AR on the raw output or an unscaled lr: 3e-2 off
        torch.testing.assert_close(ckpt["model"][k], w, rtol=0, atol=1e-6, msg=lambda m: f"{k} after one step: {m}")
    return ckpt


def test_one_step_matches_an_update_by_hand(tmp_path):
    assert run(tmp_path, *ONE_STEP) == 0
    assert_first_step_by_hand(tmp_path, backwards=False)


# -----------------------------------------------------------------------------
# the loop over many steps


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
    assert a["pos"] == b["pos"] > 0  # stopped mid-epoch, at the same place in the text


def test_resumes_a_checkpoint_that_keeps_the_loop_state_in_a_dict(tmp_path):
    # the layout before the loop state became top-level keys: under "state", and no "backwards"
    assert run(tmp_path / "new", "--optimizer_name=sgd", "--max_iters=2") == 0
    shutil.copytree(tmp_path / "new", tmp_path / "old")
    ckpt = torch.load(tmp_path / "old" / "latest.pt", weights_only=True)
    ckpt["state"] = {k: ckpt.pop(k) for k in ("epoch", "pos", "optimizer_name", "val_losses")}
    ckpt["state"].update(iter_num=ckpt["iter_num"], best_val_loss=ckpt["best_val_loss"])
    del ckpt["backwards"]
    torch.save(ckpt, tmp_path / "old" / "latest.pt")
    for run_dir in ("new", "old"):
        assert run(tmp_path / run_dir, "--optimizer_name=sgd", "--max_iters=4", "--init_from=resume") == 0
    new, old = step_losses(tmp_path / "new"), step_losses(tmp_path / "old")
    assert sorted(new) == sorted(old) == [1, 2, 3, 4] and new == old


def test_backward_lm_reads_every_split_reversed(tmp_path):
    # the first step's update is the one by hand on the reversed training stream (so not on the forward one)
    assert run(tmp_path, *ONE_STEP, "--backwards=True") == 0
    ckpt = assert_first_step_by_hand(tmp_path, backwards=True)
    assert ckpt["backwards"] is True
    # validation: the exact loss of the saved model on the reversed val split, read here as one long pass
    tokens = np.fromfile(os.path.join(REPO, "data", "shakespeare_char", "val.bin"), dtype=np.uint16)
    val = torch.from_numpy(tokens.astype(np.int64)[::-1].copy())
    B = ckpt["config"]["eval_batch_size"]
    val = val[:len(val) // B * B].view(B, -1)
    model = AWDLSTM(LSTMConfig(**ckpt["model_args"])).eval()
    model.load_state_dict(ckpt["model"])
    with torch.no_grad():
        logits, *_ = model(val[:, :-1], model.init_hidden(B))
        expected = F.cross_entropy(logits.view(-1, logits.size(-1)), val[:, 1:].reshape(-1)).item()
    assert [r["val_loss"] for r in records(tmp_path) if "val_loss" in r] == [pytest.approx(expected, rel=1e-5)]
    # resuming in the other direction is refused, either way round
    assert "backwards=True" in message(tmp_path, "--init_from=resume", "--max_iters=2")
    assert run(tmp_path / "fwd", "--max_iters=1") == 0
    assert "backwards=False" in message(tmp_path / "fwd", "--init_from=resume", "--max_iters=2", "--backwards=True")


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
    assert ckpt["iter_num"] >= 3 and ckpt["pos"] > 0
    assert run(tmp_path, f"--max_iters={ckpt['iter_num'] + 2}", "--init_from=resume") == 0
    assert max(step_losses(tmp_path)) == ckpt["iter_num"] + 2


def test_a_nan_stops_the_run_before_anything_is_saved(tmp_path):
    # a huge lr sends the loss to NaN within a log interval: the check before the end-of-run save catches it
    huge = ["--optimizer_name=sgd", "--learning_rate=1e30", "--log_interval=10"]
    error = message(tmp_path / "new", *huge, "--max_iters=3")
    assert "loss is nan in steps 1-3" in error and "no checkpoint was written" in error
    assert not os.path.exists(tmp_path / "new" / "latest.pt")
    # resumed from a good checkpoint, the run stops the same way and leaves that checkpoint as it was
    assert run(tmp_path / "old", "--optimizer_name=sgd", "--max_iters=2") == 0
    error = message(tmp_path / "old", *huge, "--max_iters=5", "--init_from=resume")
    assert "loss is nan in steps 3-5" in error and "the last good checkpoint is" in error
    assert torch.load(tmp_path / "old" / "latest.pt", weights_only=True)["iter_num"] == 2


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
