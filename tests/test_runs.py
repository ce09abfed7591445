"""Runs that survive schedulers and mistakes, and say where they are (train_gpt.py, with prepare.py's runs helpers):
settings out of range and corrupt data refused in one line before anything is written, one run per out_dir (a killed
run leaves it free), SIGTERM saved like Ctrl-C and resumed bit-exactly, a second signal quitting in one line, log
lines with elapsed time and ETA, progress lines, loss.png, and --help listing every setting of every script."""

import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch
from scripts import run_script, script_error

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import prepare  # noqa: E402
from test_train import SCRIPT, TINY, step_losses, train  # noqa: E402

REPO = os.path.dirname(SCRIPT)


def files(folder):
    """{name: bytes} of a folder's files but its lock, whose holder line is rewritten by each run that takes it."""
    return {name: open(os.path.join(folder, name), "rb").read() for name in sorted(os.listdir(folder))
            if name != ".lock"}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished tiny run: each mistake below, made on it with --init_from=resume, must leave it as it is."""
    out = tmp_path_factory.mktemp("finished")
    assert train(out, "--max_iters=3", "--eval_interval=1000") == 0
    return out


def start(out_dir, *args, model=TINY):
    """train_gpt.py in its own process (one thread, like the in-process runs), once it has logged step 3."""
    proc = subprocess.Popen([sys.executable, SCRIPT, *model, f"--out_dir={out_dir}", "--max_iters=100000",
                             "--eval_interval=100000", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("step 3/"):
            return proc, seen
    raise AssertionError(proc.stderr.read()[-2000:])

# -----------------------------------------------------------------------------
# settings, data and out_dir mistakes: one line each, nothing written


def test_settings_out_of_range_are_refused_before_anything_is_written(tmp_path, finished):
    before = files(finished)
    assert bad_line(finished, "--dropout=2") == "config: dropout=2.0 must be in [0, 1) (a probability)"
    assert bad_line(finished, "--batch_size=-3") == "config: batch_size=-3 must be > 0"
    assert bad_line(finished, "--dtype=fp8") == "config: dtype='fp8' must be one of auto, float32, bfloat16, float16"
    assert files(finished) == before
    # every mistake at once, one line each; a fresh out_dir is not even made
    with pytest.raises(SystemExit) as e:
        run_script(SCRIPT, [*TINY, f"--out_dir={tmp_path / 'new'}", "--learning_rate=-1", "--eval_interval=0"])
    assert str(e.value.code).splitlines() == ["config: eval_interval=0 must be > 0",
                                              "config: learning_rate=-1.0 must be >= 0"]
    assert not (tmp_path / "new").exists()
    # and what a user sees: exit status 1, those lines on stderr, no traceback
    r = subprocess.run([sys.executable, SCRIPT, f"--out_dir={tmp_path / 'new'}", "--dropout=2", "--batch_size=-3"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.splitlines() == ["config: batch_size=-3 must be > 0",
                                     "config: dropout=2.0 must be in [0, 1) (a probability)"]


def bad_line(out_dir, *args):
    return script_error(SCRIPT, [*TINY, f"--out_dir={out_dir}", "--init_from=resume", *args])


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """The bundled dataset copied to a data folder of its own, free to be damaged."""
    monkeypatch.setattr(prepare, "DATA_DIR", str(tmp_path / "data"))
    shutil.copytree(os.path.join(REPO, "data", "shakespeare_char"), tmp_path / "data" / "shakespeare_char")
    return tmp_path / "data" / "shakespeare_char"


def test_corrupt_data_names_the_file_and_the_command_that_rebuilds_it(data_copy, tmp_path, finished):
    before, rebuild = files(finished), "rebuild it with `python prepare.py shakespeare_char`"
    meta = json.loads((data_copy / "meta.json").read_text())
    train_bin = data_copy / "train.bin"
    with open(train_bin, "r+b") as f:  # an odd byte count: half a uint16 token at the end
        f.truncate(train_bin.stat().st_size - 1)
    size = train_bin.stat().st_size
    assert bad_line(finished) == (f"data: {train_bin} is {size:,} bytes, but meta.json says it holds "
                                  f"{meta['splits']['train']['tokens']:,} uint16 tokens ({size + 1:,} bytes): it is "
                                  f"truncated or damaged; {rebuild}")
    del meta["splits"]["train"]["tokens"]  # a meta.json that does not say: the size alone gives it away
    (data_copy / "meta.json").write_text(json.dumps(meta))
    assert bad_line(finished) == (f"data: {train_bin} is {size:,} bytes, not a whole number of uint16 tokens "
                                  f"(2 bytes each): it is truncated or damaged; {rebuild}")
    shutil.copy(os.path.join(REPO, "data", "shakespeare_char", "train.bin"), train_bin)
    meta["splits"]["val"]["tokens"] = 0
    (data_copy / "meta.json").write_text(json.dumps(meta))
    (data_copy / "val.bin").write_bytes(b"")
    assert bad_line(finished) == f"data: {data_copy / 'val.bin'} holds no tokens (an empty split): {rebuild}"
    (data_copy / "meta.json").write_text('{"tokenizer": "char", "vocab_size": 65')  # cut short
    assert re.fullmatch(rf"data: {re.escape(str(data_copy / 'meta.json'))} is not valid JSON \(.*\): "
                        + re.escape(rebuild), bad_line(finished))
    (data_copy / "meta.json").write_text('{"tokenizer": "char", "vocab_size": 65}')
    assert bad_line(finished) == f"data: {data_copy / 'meta.json'} lacks dtype, splits, vocab: {rebuild}"
    assert files(finished) == before
    assert script_error(SCRIPT, [*TINY, f"--out_dir={tmp_path / 'new'}"]).startswith("data: ")
    assert not (tmp_path / "new").exists()


def test_out_dir_that_is_a_file_or_cannot_be_written(tmp_path):
    (tmp_path / "notes").write_text("mine")
    assert script_error(SCRIPT, [*TINY, f"--out_dir={tmp_path / 'notes'}"]) == (
        f"config: out_dir='{tmp_path / 'notes'}' is a file, not a folder: choose another --out_dir")
    assert script_error(SCRIPT, [*TINY, f"--out_dir={tmp_path / 'notes' / 'run'}"]) == (
        f"config: cannot write to out_dir='{tmp_path / 'notes' / 'run'}' (Not a directory): choose another --out_dir")
    assert (tmp_path / "notes").read_text() == "mine"
    if os.geteuid() != 0:  # root writes anywhere
        (tmp_path / "locked").mkdir(mode=0o500)
        assert "(Permission denied): choose another --out_dir" in script_error(
            SCRIPT, [*TINY, f"--out_dir={tmp_path / 'locked' / 'run'}"])



def test_a_relative_out_dir_is_named_with_the_folder_it_is_relative_to(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes").write_text("mine")
    where = f"(relative to the current directory, {tmp_path})"
    assert script_error(SCRIPT, [*TINY, "--out_dir=notes"]) == (
        f"config: out_dir='notes' {where} is a file, not a folder: choose another --out_dir")
    assert script_error(SCRIPT, [*TINY, "--out_dir=notes/run"]) == (
        f"config: cannot write to out_dir='notes/run' {where} (Not a directory): choose another --out_dir")

# -----------------------------------------------------------------------------
# one run per out_dir


def test_lock_is_refused_while_held_and_free_once_its_process_is_killed(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time, prepare; prepare.lock_out_dir(sys.argv[1]); "
                               "print('locked', flush=True); time.sleep(120)", str(tmp_path)], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "locked\n"
    with pytest.raises(SystemExit, match=rf"^{re.escape(str(tmp_path))} is in use by process {holder.pid} \(-c\) on "
                       rf"{re.escape(socket.gethostname())} since .*: wait for that run to end or stop it, or choose "
                       "another --out_dir$"):
        prepare.lock_out_dir(str(tmp_path))
    holder.send_signal(signal.SIGKILL)  # no handler, no cleanup: the kernel drops the lock with the process
    holder.wait(timeout=60)
    prepare.lock_out_dir(str(tmp_path))
    prepare.lock_out_dir(str(tmp_path))  # this process again (a script run twice in-process): its own lock, taken over
    assert f"process {os.getpid()} " in (tmp_path / ".lock").read_text()


def test_a_second_run_on_a_live_folder_is_refused_and_a_killed_run_frees_it(tmp_path):
    proc, _ = start(tmp_path)
    try:
        for args in (["--init_from=resume"], []):  # a second resume, or a run from scratch over it
            message = script_error(SCRIPT, [*TINY, f"--out_dir={tmp_path}", *args])
            assert message.startswith(f"{tmp_path} is in use by process {proc.pid} (train_gpt.py) on "
                                      f"{socket.gethostname()} since ")
    finally:
        proc.kill()  # SIGKILL: the run cannot save or unlock anything
        proc.communicate(timeout=60)
    assert train(tmp_path, "--init_from=resume", "--max_iters=2", "--eval_interval=100000") == 0
    with open(tmp_path / "log.jsonl") as f:
        headers = [r for r in map(json.loads, f) if "config" in r]
    assert [h["config"]["init_from"] for h in headers] == ["scratch", "resume"]  # the refused runs logged nothing



def test_a_run_trains_and_saves_where_fcntl_does_not_exist(tmp_path):
    # as on Windows: fcntl cannot be imported, so prepare must not need it to import
    code = ("import runpy, sys; sys.modules['fcntl'] = None; sys.argv = sys.argv[1:]; "
            "runpy.run_path(sys.argv[0], run_name='__main__')")
    r = subprocess.run([sys.executable, "-c", code, SCRIPT, *TINY, f"--out_dir={tmp_path}", "--max_iters=2",
                        "--eval_interval=2"], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "step 2/2" in r.stdout and torch.load(tmp_path / "latest.pt", weights_only=True)["iter_num"] == 2


# Windows' msvcrt.locking, played by POSIX record locks: lock nbytes from the file's position, or raise at once
FAKE_MSVCRT = """
import fcntl, os, subprocess, sys, time, types  # subprocess before the fake: it takes any msvcrt for Windows
msvcrt = types.ModuleType("msvcrt")
msvcrt.LK_NBLCK = 2
msvcrt.locking = lambda fd, mode, n: fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, n, os.lseek(fd, 0, os.SEEK_CUR))
sys.modules["fcntl"], sys.modules["msvcrt"] = None, msvcrt
import prepare
prepare.lock_out_dir(sys.argv[1])
"""


def test_the_windows_lock_refuses_a_second_run_and_ends_with_its_process(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", FAKE_MSVCRT + "print('locked', flush=True); time.sleep(120)",
                               str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        second = subprocess.run([sys.executable, "-c", FAKE_MSVCRT, str(tmp_path)], cwd=REPO, capture_output=True,
                                text=True, timeout=60)
        assert second.returncode == 1 and re.fullmatch(
            rf"{re.escape(str(tmp_path))} is in use by process {holder.pid} \(-c\) on "
            rf"{re.escape(socket.gethostname())} since .*: wait for that run to end or stop it, or choose another "
            r"--out_dir\n", second.stderr)
    finally:
        holder.kill()
        holder.wait(timeout=60)
    again = subprocess.run([sys.executable, "-c", FAKE_MSVCRT, str(tmp_path)], cwd=REPO, capture_output=True,
                           text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    holder_line = (tmp_path / ".lock").read_text()  # the new holder's line alone: the locked byte lies past it
    assert re.fullmatch(r"process \d+ \(-c\) on .*\n", holder_line) and f" {holder.pid} " not in holder_line


def test_the_next_run_removes_what_a_killed_run_left(tmp_path, capsys):
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()  # its process id: a run killed mid-write leaves files named with it
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        left = {f"latest.pt.tmp{ended.pid}": 1_000_000, f"best.pt.tmp{ended.pid}": 200_000,
                f"loss.png.{ended.pid}.tmp": 34_000}
        kept = {f"latest.pt.tmp{alive.pid}": 10, "notes.tmp": 10, "latest.pt.tmpx": 10, "mine.txt": 10}
        for name, size in {**left, **kept}.items():
            (tmp_path / name).write_bytes(b"\0" * size)
        (tmp_path / "latest_sharded.tmp").mkdir()  # a folder: a sharded save's, left to it
        train(tmp_path, "--max_iters=1", "--eval_interval=100000", "--log_interval=100000")
    finally:
        alive.kill()
        alive.wait(timeout=60)
    assert f"note: removed 3 temporary files of a stopped run from {tmp_path} (1.2 MB)\n" in capsys.readouterr().out
    assert not any((tmp_path / name).exists() for name in left)
    assert all((tmp_path / name).exists() for name in kept) and (tmp_path / "latest_sharded.tmp").is_dir()

# -----------------------------------------------------------------------------
# SIGTERM, a second signal, where the run is


def test_sigterm_saves_says_so_exits_143_and_resumes_bit_exactly(tmp_path, capsys):
    # dropout on, so the saved RNG state matters; the lr schedule is fixed by lr_decay_iters, not max_iters
    common = ["--dropout=0.1", "--lr_decay_iters=50"]
    proc, seen = start(tmp_path / "split", *common)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    out = "".join(seen) + out
    assert proc.returncode == 143 and "Traceback" not in err, err
    saved = torch.load(tmp_path / "split" / "latest.pt", weights_only=True)["iter_num"]
    assert "\nSIGTERM: saving a checkpoint after this step (Ctrl-C again to quit without saving)\n" in out
    assert out.endswith(f"interrupted at step {saved}: saved {tmp_path / 'split' / 'latest.pt'}; continue with "
                        "--init_from=resume\n")
    step_lines = [line for line in out.splitlines() if line.startswith("step ") and "| loss" in line]
    assert step_lines and all(re.search(r" \| \d+s elapsed, ETA (\d+h)?(\d+m)?\d+[sm]$", line) for line in step_lines)
    # resumed, it says so and continues exactly as a run that was never stopped
    assert train(tmp_path / "split", *common, "--init_from=resume", f"--max_iters={saved + 3}",
                 "--eval_interval=100000") == 0
    assert f"\nresumed from step {saved} ({saved * 4 * 32:,} tokens) of {tmp_path / 'split' / 'latest.pt'}\n" in (
        capsys.readouterr().out)
    assert train(tmp_path / "full", *common, f"--max_iters={saved + 3}", "--eval_interval=100000") == 0
    split, full = step_losses(tmp_path / "split"), step_losses(tmp_path / "full")
    assert [split[it]["loss"] for it in range(1, saved + 4)] == [full[it]["loss"] for it in range(1, saved + 4)]
    assert all(split[it]["elapsed"] >= 0 for it in split)


def test_a_second_signal_quits_at_once_in_one_line():
    """The handler itself, in this process: a first signal is noted and said, a second quits with SystemExit and the
    signal's exit code (never a KeyboardInterrupt traceback), and the previous handlers are back."""
    previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    for first, second, code in ((signal.SIGINT, signal.SIGINT, 130), (signal.SIGTERM, signal.SIGINT, 130),
                                (signal.SIGINT, signal.SIGTERM, 143)):
        interrupt = prepare.Interrupt("saving")
        os.kill(os.getpid(), first)
        time.sleep(0.01)  # the handler runs in this (main) thread, between two bytecodes
        assert interrupt.pressed and interrupt.code == (143 if first == signal.SIGTERM else 130)
        with pytest.raises(SystemExit) as e:
            os.kill(os.getpid(), second)
            time.sleep(1)
        assert e.value.code == code
        assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == previous


def test_two_quick_ctrl_cs_in_a_real_run_leave_one_line_and_a_whole_checkpoint(tmp_path):
    # the default model: a step takes long enough that the second Ctrl-C usually lands before the save is done
    proc, _ = start(tmp_path, "--log_interval=1", "--eval_iters=2", "--sample_tokens=0", "--device=cpu",
                    "--compile=False", model=[])
    proc.send_signal(signal.SIGINT)
    time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err and "KeyboardInterrupt" not in err, err
    last = out.strip().splitlines()[-1]
    assert last == "Ctrl-C again: quitting without saving" or last.startswith("interrupted at step ")
    assert torch.load(tmp_path / "latest.pt", weights_only=True)["iter_num"] >= 0  # whole: the last save, or step 0


# -----------------------------------------------------------------------------
# where am I: progress of long phases, durations, the loss picture


def test_durations_and_eta():
    assert [prepare.duration(s) for s in (0, 12.4, 83, 3599, 7500)] == ["0s", "12s", "1m23s", "59m59s", "2h05m"]
    assert prepare.timing(83, 1, 4) == "1m23s elapsed, ETA 4m09s"  # 3 more at 83 s each
    assert prepare.timing(100, 10, 20, busy=50) == "1m40s elapsed, ETA 50s"  # the rate of the busy time only
    assert prepare.timing(5, 0, 20) == "5s elapsed, ETA unknown"


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_in_a_log_file_on_a_terminal_and_not_at_all_when_quick(monkeypatch):
    log, tty, quick = io.StringIO(), Terminal(), io.StringIO()
    monkeypatch.setattr(prepare, "PROGRESS_EVERY", 0)
    monkeypatch.setattr(prepare, "PROGRESS_REDRAW", 0)
    for stream in (log, tty):
        progress = prepare.Progress(4, "lambada", stream)
        for _ in range(4):
            progress.update()
        progress.done()
    lines = log.getvalue().splitlines()  # plain lines, the last one repeated by done()
    assert len(lines) == 5 and lines[0].startswith("lambada: 1/4 (25%) | 0s elapsed, ETA ")
    assert lines[-1].startswith("lambada: 4/4 (100%) | 0s elapsed, ETA 0s")
    drawn = tty.getvalue()  # one line, redrawn in place, then a line break
    assert drawn.count("\r") == 5 and drawn.count("\n") == 1 and drawn.endswith("lambada: 4/4 (100%) | 0s elapsed, "
                                                                                 "ETA 0s\033[K\n")
    monkeypatch.undo()
    progress = prepare.Progress(4, "lambada", quick)
    progress.update(4)
    progress.done()
    assert quick.getvalue() == ""


def test_loss_png_after_each_evaluation_and_nothing_without_matplotlib(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    assert train(tmp_path / "with", "--max_iters=4", "--eval_interval=2") == 0
    png = (tmp_path / "with" / "loss.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and png[12:16] == b"IHDR"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width > 300 and height > 200
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    assert prepare.plot_losses(str(tmp_path / "with" / "log.jsonl"), str(tmp_path / "none.png")) is None
    capsys.readouterr()
    assert train(tmp_path / "without", "--max_iters=4", "--eval_interval=2") == 0  # three evaluations
    assert sorted(os.listdir(tmp_path / "without")) == [".lock", "best.pt", "latest.pt", "log.jsonl"]
    assert capsys.readouterr().out.count("note: no loss.png: matplotlib is not installed (pip install matplotlib)") == 1


def test_every_curve_of_loss_png_shows_even_with_one_point(tmp_path, monkeypatch):
    # an LSTM run of one epoch shorter than two log lines: one train loss and one val loss, each a single point
    pytest.importorskip("matplotlib")
    from matplotlib.axes import Axes
    log = tmp_path / "log.jsonl"
    log.write_text('{"config": {}}\n{"iter": 50, "epoch": 1, "loss": 2.5}\n{"iter": 60, "epoch": 1, "val_loss": 2.4, '
                   '"tokens": 134400}\n')
    drawn, plot = [], Axes.plot

    def recorded(ax, *args, **kwargs):  # the real plot, its lines kept to look at
        lines = plot(ax, *args, **kwargs)
        drawn.extend(lines)
        return lines
    monkeypatch.setattr(Axes, "plot", recorded)
    assert prepare.plot_losses(str(log), str(tmp_path / "loss.png")) == str(tmp_path / "loss.png")
    assert sorted(line.get_label() for line in drawn) == ["train (log lines)", "val (evaluations)"]
    for line in drawn:  # a line through one point draws nothing: a single point needs a marker
        assert len(line.get_xdata()) > 1 or line.get_marker() not in (None, "", "None", " "), line.get_label()

# -----------------------------------------------------------------------------
# devices: CUDA, else Apple silicon's GPU (mps), else the CPU, and the precision of each (torch's checks stubbed)


def test_default_device_is_cuda_else_mps_else_cpu_in_every_script(monkeypatch):
    for cuda, mps, expected in ((True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
        assert prepare.default_device() == expected
        for script in ("train_gpt.py", "train_lstm.py", "finetune.py", "sample.py", "eval.py"):
            defaults = prepare.setting_defaults(os.path.join(REPO, script))
            assert defaults["device"] == expected, script
            # compiled by default on CUDA by the training scripts only; mps and the CPU run eagerly
            assert defaults.get("compile", False) is (expected == "cuda" and script.startswith("train_")), script


@pytest.mark.filterwarnings("ignore:CUDA is not available")  # an autocast for CUDA made on this CPU machine
def test_precision_of_each_device(monkeypatch):
    from contextlib import nullcontext
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    # (device, dtype, GPU has bfloat16, torch version, macOS 14 or newer) -> the dtype chosen
    table = [("cuda", "auto", True, "2.13.0", False, "bfloat16"), ("cuda:1", "auto", False, "2.13.0", False, "float16"),
             ("mps", "auto", False, "2.13.0", True, "bfloat16"), ("mps", "auto", False, "2.5.1", True, "float32"),
             ("mps", "auto", False, "2.13.0", False, "float32"), ("mps", "float16", False, "2.13.0", True, "float16"),
             ("cpu", "auto", True, "2.13.0", True, "float32"), ("cpu", "bfloat16", False, "2.13.0", True, "bfloat16")]
    for device, dtype, bf16, version, sonoma, expected in table:
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: bf16)
        monkeypatch.setattr(torch, "__version__", version)
        monkeypatch.setattr(torch.backends.mps, "is_macos_or_newer", lambda major, minor: sonoma or major < 14)
        device_type, chosen, ctx = prepare.precision(device, dtype)
        assert (device_type, chosen) == (device.split(":")[0], expected), (device, dtype, version)
        if expected == "float32":
            assert isinstance(ctx, nullcontext)
        else:
            assert (ctx.device, ctx.fast_dtype) == (device_type, getattr(torch, expected))
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(SystemExit) as e:
        prepare.precision("mps", "auto")
    assert e.value.code == "config: device='mps', but torch finds no Apple GPU (MPS) here: use --device=cpu"

# -----------------------------------------------------------------------------
# --help and -h: every setting of every script, with its default


@pytest.mark.parametrize("flag", ["--help", "-h"])
@pytest.mark.parametrize("script", ["train_gpt.py", "train_lstm.py", "finetune.py", "sample.py", "eval.py", "bench.py"])
def test_help_lists_every_setting(script, flag, capsys):
    path = os.path.join(REPO, script)
    assert run_script(path, [flag]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"usage: python {script} [CONFIG.py ...] [--key=value ...]\n")
    listed = re.findall(r"^  --(\w+)=", printed, re.M)
    expected = list(prepare.setting_defaults(path))
    if script == "bench.py":  # its own settings, then those of the training script whose config files it reads
        expected += list(prepare.setting_defaults(SCRIPT))
    assert listed == expected
    for _, name, value, _ in prepare.script_settings(path):  # each with its default as the source writes it
        assert f"  --{name}={value}" in printed


@pytest.mark.parametrize("old_spelling", [False, True])
def test_bench_times_an_awd_lstm_by_its_model_type(old_spelling, capsys):
    """bench.py --model_type=awd_lstm (the AWD-LSTM's name in checkpoints) times train_lstm.py's model with its
    settings; --model_kind=lstm, the old spelling, still does for one release, with a note."""
    tiny = ["--device=cpu", "--warmup=0", "--steps=1", "--vocab_size=50", "--emb_size=8", "--hidden_size=8",
            "--n_layers=1", "--batch_size=2", "--bptt=4"]  # bptt: a train_lstm.py setting
    spelling = "--model_kind=lstm" if old_spelling else "--model_type=awd_lstm"
    assert run_script(os.path.join(REPO, "bench.py"), [spelling, *tiny]) == 0
    printed = capsys.readouterr().out
    note = "note: --model_kind=lstm is bench.py's old spelling of --model_type=awd_lstm, gone in the next release\n"
    assert (note in printed) == old_spelling
    assert re.search(rf"^bench: awd_lstm, [\d.]+M parameters \| {2 * 4} tokens per step \| cpu ", printed, re.M)
