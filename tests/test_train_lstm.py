"""The training loop of train_lstm.py, run for a few steps on the bundled Shakespeare: one step against an update
computed by hand, exact resume mid-epoch (hidden state, BPTT lengths and dropout masks included), the backward LM,
Ctrl-C, evaluation, and the one-line bad-input messages. Then the run mechanics of tests/test_runs.py, for this
script: settings and data refused before anything is written, one run per out_dir, SIGTERM saved and resumed
bit-exactly, the interval saves within an epoch, where the run is (ETA, progress of evaluations, loss.png)."""

import importlib.util
import json
import math
import os
import re
import shutil
import signal
import socket
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
import prepare  # noqa: E402
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


def start(out_dir, *args, until="epoch 1 step 3 "):
    """train_lstm.py in its own process (one thread, like the in-process runs), once it has printed a line starting
    with `until`; returns the process and the lines so far."""
    proc = subprocess.Popen([sys.executable, SCRIPT, *TINY, f"--out_dir={out_dir}", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith(until):
            return proc, seen
    raise AssertionError(proc.stderr.read()[-2000:])


def test_ctrl_c_saves_then_exits(tmp_path):
    proc, _ = start(tmp_path)
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
    assert message(tmp_path, "--optimizer_name=rmsprop") == "config: optimizer_name='rmsprop' must be one of sgd, adam"
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

def fake_wandb(monkeypatch):
    """A stand-in wandb module that keeps what the script gives it."""
    import types
    module = types.SimpleNamespace(inits=[], logs=[])
    module.init = lambda **kwargs: module.inits.append(kwargs)
    module.log = module.logs.append
    monkeypatch.setitem(sys.modules, "wandb", module)
    return module


def test_wandb_log(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # not installed (an import of it raises ImportError)
    assert message(tmp_path / "a", "--wandb_log=True") == (
        "config: wandb_log=True but wandb is not installed: pip install wandb, or drop wandb_log")
    assert not os.path.exists(tmp_path / "a")  # before anything is written
    wandb = fake_wandb(monkeypatch)
    assert run(tmp_path / "b", "--max_iters=2", "--wandb_log=True", "--wandb_run_name=tiny") == 0
    assert [(i["project"], i["name"], i["config"]["max_iters"]) for i in wandb.inits] == [("origins", "tiny", 2)]
    # each step record of log.jsonl (steps, evaluations, the test pass), its numbers only
    steps = [{k: v for k, v in r.items() if isinstance(v, (int, float))} for r in records(tmp_path / "b") if "iter" in r]
    assert wandb.logs == steps and any("loss" in r for r in steps) and any("val_loss" in r for r in steps)

# -----------------------------------------------------------------------------
# runs that survive schedulers and mistakes (tests/test_runs.py for train_gpt.py): each fault in one line, with the
# shell's exit code, and nothing in out_dir lost or overwritten


def files(folder):
    """{name: bytes} of a folder's files but its lock, whose holder line is rewritten by each run that takes it."""
    return {name: open(os.path.join(folder, name), "rb").read() for name in sorted(os.listdir(folder))
            if name != ".lock"}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished tiny run: each mistake below, made on it with --init_from=resume, must leave it as it is."""
    out = tmp_path_factory.mktemp("finished")
    assert run(out, "--max_iters=2") == 0
    return out


def test_settings_out_of_range_are_refused_before_anything_is_written(tmp_path, finished):
    before = files(finished)
    for arg, line in (("--dropout_in=1.5", "dropout_in=1.5 must be in [0, 1) (a probability)"),
                      ("--cut_frac=0", "cut_frac=0.0 must be in (0, 1) (a fraction of the steps)"),
                      ("--stlr_ratio=0", "stlr_ratio=0 must be >= 1 (the peak lr over the lowest)"),
                      ("--max_seconds=-1", "max_seconds=-1 must be >= 0"),
                      ("--dtype=fp8", "dtype='fp8' must be one of auto, float32, bfloat16, float16")):
        assert message(finished, "--init_from=resume", arg) == f"config: {line}"
    assert files(finished) == before
    # what a user sees: every mistake at once, one line each on stderr, exit status 1, and no out_dir made (the
    # dropout_in=1.5 that once failed in torch, after log.jsonl was written)
    r = subprocess.run([sys.executable, SCRIPT, f"--out_dir={tmp_path / 'new'}", "--dropout_in=1.5", "--bptt=0",
                        "--save_interval=-1"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.splitlines() == ["config: save_interval=-1.0 must be >= 0", "config: bptt=0 must be > 0",
                                     "config: dropout_in=1.5 must be in [0, 1) (a probability)"]
    assert not (tmp_path / "new").exists()


def test_corrupt_data_is_refused_in_one_line(tmp_path, monkeypatch, finished):
    # the checks are prepare.load_split's (tests/test_runs.py tries each damage): here, that this script shows them
    monkeypatch.setattr(prepare, "DATA_DIR", str(tmp_path / "data"))
    data = tmp_path / "data" / "shakespeare_char"
    shutil.copytree(os.path.join(REPO, "data", "shakespeare_char"), data)
    with open(data / "val.bin", "r+b") as f:  # an odd byte count: half a uint16 token at the end
        f.truncate((data / "val.bin").stat().st_size - 1)
    before, size = files(finished), (data / "val.bin").stat().st_size
    assert message(finished, "--init_from=resume") == (
        f"data: {data / 'val.bin'} is {size:,} bytes, but meta.json says it holds {(size + 1) // 2:,} uint16 tokens "
        f"({size + 1:,} bytes): it is truncated or damaged; rebuild it with `python prepare.py shakespeare_char`")
    assert files(finished) == before
    assert message(tmp_path / "new").startswith("data: ") and not (tmp_path / "new").exists()


# the runs below stop and resume: every dropout on, so the restored RNG matters; SGD, so that the schedule does not
# depend on max_iters
REG = ["--optimizer_name=sgd", "--learning_rate=5", "--dropout_emb=0.1", "--weight_drop=0.3", "--dropout_in=0.2",
       "--dropout_hidden=0.2", "--dropout_out=0.2"]


def assert_same_run(split, full, log_steps):
    """Two runs that logged the same losses at log_steps and ended with the same weights, in the same place."""
    a, b = step_losses(split), step_losses(full)
    assert [a[it] for it in log_steps] == [b[it] for it in log_steps]
    a, b = (torch.load(out / "latest.pt", weights_only=True) for out in (split, full))
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert (a["epoch"], a["pos"]) == (b["epoch"], b["pos"])


def test_sigterm_mid_epoch_saves_says_so_exits_143_and_resumes_bit_exactly(tmp_path, capsys):
    proc, seen = start(tmp_path / "split", *REG)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    out = "".join(seen) + out
    assert proc.returncode == 143 and "Traceback" not in err, err
    latest = tmp_path / "split" / "latest.pt"
    ckpt = torch.load(latest, weights_only=True)
    saved, pos = ckpt["iter_num"], ckpt["pos"]
    assert ckpt["epoch"] == 1 and pos > 0  # mid-epoch
    assert "\nSIGTERM: saving a checkpoint after this step (Ctrl-C again to quit without saving)\n" in out
    assert out.endswith(f"interrupted at step {saved}: saved {latest}; continue with --init_from=resume\n")
    step_lines = [line for line in out.splitlines() if line.startswith("epoch 1 step ")]
    assert len(step_lines) == saved and all(re.search(r" \| \d+s elapsed, ETA (\d+h)?(\d+m)?\d+[sm]$", line)
                                            for line in step_lines)
    logged = files(tmp_path / "split")
    # resumed, it says so, keeps what the first run wrote, and continues exactly as a run that was never stopped
    assert run(tmp_path / "split", *REG, "--init_from=resume", f"--max_iters={saved + 3}") == 0
    assert f"\nresumed from step {saved} (epoch 1, token {pos:,} of 250,963 in each stream) of {latest}\n" in (
        capsys.readouterr().out)
    assert (tmp_path / "split" / "log.jsonl").read_bytes().startswith(logged["log.jsonl"])
    assert run(tmp_path / "full", *REG, f"--max_iters={saved + 3}") == 0
    assert_same_run(tmp_path / "split", tmp_path / "full", range(1, saved + 4))


def test_a_live_run_holds_its_folder_and_once_killed_resumes_from_its_last_interval_save(tmp_path):
    # saves at every log line (save_interval a few microseconds); a log line every 3 steps, where the saves are, so
    # the resumed run's log lines average the same steps as an unstopped run's
    common = [*REG, "--log_interval=3"]
    split, latest = tmp_path / "split", tmp_path / "split" / "latest.pt"
    proc, seen = start(split, *common, "--save_interval=1e-7", until="epoch 1 step 6 | saved ")
    try:
        for args in (["--init_from=resume"], []):  # a second resume, or a run from scratch over it
            assert message(split, *common, *args).startswith(f"{split} is in use by process {proc.pid} (train_lstm.py) "
                                                            f"on {socket.gethostname()} since ")
    finally:
        proc.kill()  # SIGKILL: the run cannot save or unlock anything
        out, _ = proc.communicate(timeout=60)
    ckpt = torch.load(latest, weights_only=True)  # the last interval save before the kill, whole
    saved = ckpt["iter_num"]
    assert saved >= 6 and saved % 3 == 0 and ckpt["epoch"] == 1 and ckpt["pos"] > 0
    printed = re.findall(r"epoch 1 step (\d+) \| saved ", "".join(seen) + out)  # SIGKILL may land between a save and
    assert printed and saved - 3 <= int(printed[-1]) <= saved  # its line
    assert not any("val_loss" in r for r in records(split))  # never reached the end of an epoch
    # the lock went with the process; the resumed run continues as if never stopped
    assert run(split, *common, "--init_from=resume", f"--max_iters={saved + 6}") == 0
    assert run(tmp_path / "full", *common, f"--max_iters={saved + 6}") == 0
    assert_same_run(split, tmp_path / "full", range(3, saved + 7, 3))
    assert [r["config"]["init_from"] for r in records(split) if "config" in r] == ["scratch", "resume"]  # the refused
    # runs logged nothing


def test_evaluations_show_progress_and_each_epoch_draws_loss_png(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(prepare, "PROGRESS_EVERY", 0)  # a line per window, as a long evaluation in a log file shows
    assert run(tmp_path, "--max_iters=2") == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("val: ")]
    windows = math.ceil((111540 // 50 - 1) / 12)  # the val split in 50 streams, 12 tokens a window
    assert len(lines) == windows + 1 and lines[-1].startswith(f"val: {windows}/{windows} (100%) | ")
    if importlib.util.find_spec("matplotlib"):  # optional: without it, no picture and no error
        assert (tmp_path / "loss.png").read_bytes().startswith(b"\x89PNG")
