"""Checkpoints that lose nothing: prepare.py's writer and reader (save_checkpoint, load_checkpoint, to_cpu) and the
saves of train_gpt.py, train_lstm.py and finetune.py. A write that fails (a full disk, a file size limit) stops the run
in one line, with a non-zero exit, the previous checkpoint intact and no temporary file left; a tied embedding is
written once; best.pt holds the best state after a resume; resume mistakes (another batch, a finished run), a schedule
longer than the run and a NaN each get one line that fits the run."""

import errno
import io
import json
import math
import os
import resource
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from scripts import run_script

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import prepare  # noqa: E402
from prepare import load_checkpoint, save_checkpoint, to_cpu  # noqa: E402
from test_train import SCRIPT, TINY, bad_input, step_losses, train  # noqa: E402
from train_gpt import GPT, GPTConfig  # noqa: E402

REPO = os.path.dirname(SCRIPT)
LSTM_SCRIPT = os.path.join(REPO, "train_lstm.py")
LSTM_TINY = ["--batch_size=4", "--bptt=12", "--emb_size=16", "--hidden_size=32", "--n_layers=2", "--log_interval=1",
             "--eval_batch_size=50", "--device=cpu", "--compile=False"]


def files(folder):
    """{name: bytes} of a folder's files but its lock, whose holder line each run rewrites."""
    return {name: open(os.path.join(folder, name), "rb").read() for name in sorted(os.listdir(folder))
            if name != ".lock"}


def leftovers(folder):
    return [name for name in os.listdir(folder) if ".tmp" in name]

# -----------------------------------------------------------------------------
# the writer and the reader


class FullDisk(io.FileIO):
    """A file on a disk that fills up after 2,000 bytes, as a real full disk does: the write raises ENOSPC."""

    def write(self, data):
        if self.tell() + len(data) > 2000:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(data)


def test_a_failed_write_stops_in_one_line_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = str(tmp_path / "latest.pt")
    big = {"model_args": {}, "w": torch.arange(10_000.0)}  # 40 kB: more than the disk holds
    monkeypatch.setattr(prepare, "open", FullDisk, raising=False)  # what save_checkpoint opens to write
    with pytest.raises(SystemExit) as e:
        save_checkpoint(path, big)
    assert str(e.value) == f"checkpoint: could not write {path} (No space left on device): no earlier latest.pt existed"
    assert os.listdir(tmp_path) == []  # the half-written temporary file is gone
    monkeypatch.undo()
    save_checkpoint(path, {"model_args": {}, "w": torch.zeros(3)})
    monkeypatch.setattr(prepare, "open", FullDisk, raising=False)
    with pytest.raises(SystemExit) as e:
        save_checkpoint(path, big)
    assert str(e.value) == (f"checkpoint: could not write {path} (No space left on device): the previous latest.pt "
                            "is intact")
    assert os.listdir(tmp_path) == ["latest.pt"]
    assert torch.equal(load_checkpoint(path)["w"], torch.zeros(3))


def test_a_tied_embedding_is_written_once(tmp_path):
    # a vocabulary large enough that the embedding outweighs everything else: written twice, it would show
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=16, vocab_size=4096, n_layer=1, n_head=2, n_embd=64))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(4096, (2, 16))
    model(x, x)[1].backward()
    optimizer.step()
    path = tmp_path / "ckpt.pt"
    save_checkpoint(str(path), to_cpu({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                       "model_args": {}}))
    params = sum(p.numel() * p.element_size() for p in model.parameters())  # parameters() yields a tied weight once
    embedding = model.transformer.wte.weight.numel() * model.transformer.wte.weight.element_size()
    assert embedding > params / 2
    # the weights and Adam's two moments of each, plus the file's bookkeeping: far less than a second embedding
    assert 3 * params <= path.stat().st_size < 3 * params + embedding / 4
    loaded = load_checkpoint(str(path))["model"]
    assert loaded["transformer.wte.weight"].data_ptr() == loaded["lm_head.weight"].data_ptr()  # still one tensor
    assert torch.equal(loaded["lm_head.weight"], model.lm_head.weight)

# -----------------------------------------------------------------------------
# the scripts under a file size limit (RLIMIT_FSIZE, as `ulimit -f`: Python ignores SIGXFSZ, so writes fail with
# EFBIG). train_gpt.py's tiny run: 137 kB at step 0 (no optimizer state yet), 387 kB after a step


def limited(limit):
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))


def popen(args, limit, **kwargs):
    prepare.load_meta("shakespeare_char")  # the bundled data is prepared on first use: here, not under the limit
    return subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=limited(limit), env=dict(os.environ, OMP_NUM_THREADS="1"), **kwargs)


def assert_step_0_kept(out):
    assert leftovers(out) == []
    assert load_checkpoint(str(out / "latest.pt"))["iter_num"] == 0


def test_train_gpt_stops_at_the_save_that_fails_in_one_line(tmp_path):
    proc = popen([SCRIPT, *TINY, f"--out_dir={tmp_path}", "--max_iters=10", "--eval_interval=5"], 250_000)
    _, err = proc.communicate(timeout=300)  # step 5's save fails, found at step 10's (the next wait for the writer)
    assert proc.returncode == 1, err
    assert err.splitlines() == [f"checkpoint: could not write {tmp_path}/latest.pt (File too large): the previous "
                                "latest.pt is intact"]
    assert_step_0_kept(tmp_path)


def test_train_gpt_says_saved_only_for_what_is_on_disk(tmp_path):
    proc = popen([SCRIPT, *TINY, f"--out_dir={tmp_path}", "--max_iters=100000", "--eval_interval=100000"], 250_000)
    for line in proc.stdout:
        if line.startswith("step 3/"):
            break
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert err.splitlines() == [f"checkpoint: could not write {tmp_path}/latest.pt (File too large): the previous "
                                "latest.pt is intact"]
    assert "saved" not in out
    assert_step_0_kept(tmp_path)


def test_train_lstm_stops_at_the_save_that_fails_in_one_line(tmp_path):
    # its first save is best.pt at the end of the epoch, with Adam's state: ~130 kB, over the limit
    proc = popen([LSTM_SCRIPT, *LSTM_TINY, f"--out_dir={tmp_path}", "--max_iters=3"], 100_000)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    assert err.splitlines() == [f"checkpoint: could not write {tmp_path}/best.pt (File too large): no earlier best.pt "
                                "existed"]
    assert leftovers(tmp_path) == [] and not os.path.exists(tmp_path / "latest.pt")


def test_finetune_stops_at_the_save_that_fails_in_one_line(tmp_path, monkeypatch):
    from test_finetune import order_task, write_jsonl
    monkeypatch.setattr(prepare, "DATA_DIR", str(tmp_path / "data"))
    rng = np.random.default_rng(1)
    prepare.prepare("task", inputs=[write_jsonl(tmp_path / "train.jsonl", order_task(100, rng)),
                                    write_jsonl(tmp_path / "test.jsonl", order_task(20, rng))], out="order")
    with open(tmp_path / "corpus.txt", "w") as f:
        f.write("\n".join(r["text"] for r in order_task(200, rng)) + "\n")
    prepare.prepare("text", inputs=[str(tmp_path / "corpus.txt")], tokenizer="word", out="corpus")
    assert run_script(LSTM_SCRIPT, ["--dataset=corpus", f"--out_dir={tmp_path / 'lm'}", "--emb_size=16",
                                    "--hidden_size=32", "--n_layers=2", "--batch_size=8", "--bptt=10",
                                    "--max_iters=2", "--device=cpu", "--compile=False"]) == 0
    out = tmp_path / "ft"
    # the tests' data folder, which only this process knows, handed to the script (as tests/test_finetune.py does)
    script = ("import prepare, runpy, sys; prepare.DATA_DIR = sys.argv[1]; sys.argv = sys.argv[2:]; "
              "runpy.run_path(sys.argv[0], run_name='__main__')")
    args = ["--device=cpu", "--batch_size=32", "--lm_batch_size=8", "--bptt=10", "--task=order", f"--out_dir={out}",
            f"--init_from={tmp_path / 'lm'}", "--lm_epochs=1", "--epochs=1"]
    proc = popen(["-c", script, prepare.DATA_DIR, os.path.join(REPO, "finetune.py"), *args], 20_000, cwd=REPO)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    assert err.splitlines()[-1:] == [f"checkpoint: could not write {out}/lm.pt (File too large): no earlier lm.pt "
                                     "existed"] and "Traceback" not in err
    assert leftovers(out) == []

# -----------------------------------------------------------------------------
# best.pt after a kill, resume mistakes, a schedule longer than the run, NaN advice


def test_best_pt_is_relinked_on_resume_after_a_kill_between_latest_and_best(tmp_path):
    assert train(tmp_path, "--max_iters=2", "--eval_interval=2") == 0
    older = (tmp_path / "best.pt").read_bytes()  # the state at step 2
    assert train(tmp_path, "--max_iters=4", "--eval_interval=2", "--init_from=resume") == 0
    with open(tmp_path / "log.jsonl") as f:
        val = [r["val_loss"] for r in map(json.loads, f) if "val_loss" in r]
    assert val[-1] < min(val[:-1])  # step 4 is the best state: best.pt is latest.pt
    # killed between writing latest.pt and linking it: best.pt still holds step 2
    os.remove(tmp_path / "best.pt")
    (tmp_path / "best.pt").write_bytes(older)
    assert train(tmp_path, "--max_iters=4", "--eval_interval=2", "--init_from=resume") == 0
    assert torch.load(tmp_path / "best.pt", weights_only=True)["iter_num"] == 4
    assert (tmp_path / "best.pt").read_bytes() == (tmp_path / "latest.pt").read_bytes()


def test_resuming_a_finished_run_says_so_and_writes_nothing(tmp_path, capsys):
    assert train(tmp_path, "--max_iters=3", "--eval_interval=2") == 0
    before = files(tmp_path)
    capsys.readouterr()
    assert train(tmp_path, "--max_iters=3", "--eval_interval=2", "--init_from=resume") == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"resume: {tmp_path}/latest.pt holds a finished run (step 3 of max_iters=3")
    assert "val loss" not in printed.replace("best val loss", "")  # no evaluation
    assert files(tmp_path) == before
    lstm = tmp_path / "lstm"
    assert run_script(LSTM_SCRIPT, [*LSTM_TINY, f"--out_dir={lstm}", "--max_iters=2"]) == 0
    before = files(lstm)
    capsys.readouterr()
    assert run_script(LSTM_SCRIPT, [*LSTM_TINY, f"--out_dir={lstm}", "--max_iters=2", "--init_from=resume"]) == 0
    assert capsys.readouterr().out.startswith(f"resume: {lstm}/latest.pt holds a finished run (step 2;")
    assert files(lstm) == before


def test_resuming_with_another_batch_is_refused_unless_the_tokens_per_step_match(tmp_path):
    assert train(tmp_path, "--max_iters=2", "--eval_interval=1000") == 0
    assert bad_input(tmp_path, "--init_from=resume", "--max_iters=4", "--batch_size=8", out_dir=tmp_path) == (
        f"resume: {tmp_path}/latest.pt was trained with 128 tokens per step (gradient_accumulation_steps=1 x "
        "batch_size=4 x block_size=32), the config gives 256: resume with the run's batch (or the same product of "
        "the three)")
    # half the batch, twice the accumulation: the same tokens per step, so the same schedule
    assert train(tmp_path, "--init_from=resume", "--max_iters=4", "--eval_interval=1000", "--batch_size=2",
                 "--gradient_accumulation_steps=2") == 0
    logged = step_losses(tmp_path)
    assert sorted(logged) == [1, 2, 3, 4] and logged[4]["tokens"] == 4 * 4 * 32
    lstm = tmp_path / "lstm"
    assert run_script(LSTM_SCRIPT, [*LSTM_TINY, f"--out_dir={lstm}", "--max_iters=2"]) == 0
    with pytest.raises(SystemExit) as e:
        run_script(LSTM_SCRIPT, [*LSTM_TINY, f"--out_dir={lstm}", "--max_iters=4", "--init_from=resume",
                                 "--batch_size=8"])
    assert str(e.value) == (f"resume: {lstm}/latest.pt was trained with batch_size=4 but the config says 8: its "
                            "hidden state and position are per stream; resume with the run's batch_size")


def test_a_warmup_or_decay_longer_than_the_run_gets_a_note(tmp_path, capsys):
    # warmup_iters=5 over a 3-step run: the last step's lr is learning_rate * 3 / (5 + 1), the schedule's formula
    assert train(tmp_path / "a", "--max_iters=3", "--eval_interval=1000", "--lr_decay_iters=3") == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note:")]
    assert notes == [f"note: warmup_iters=5 outlasts the run (max_iters=3): the lr peaks at {3e-3 * 3 / 6:.2e}, not "
                     "learning_rate=0.003; lower warmup_iters to reach it"]
    assert train(tmp_path / "b", "--max_iters=10", "--eval_interval=1000", "--lr_decay_iters=20") == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note:")]
    last = 3e-4 + 0.5 * (1 + math.cos(math.pi * (9 - 5) / 15)) * (3e-3 - 3e-4)  # the cosine at the last step, 9
    assert notes == [f"note: lr_decay_iters=20 outlasts the run (max_iters=10): the lr ends at {last:.2e}, not "
                     "min_lr=0.0003; set lr_decay_iters=10 to decay fully"]
    assert train(tmp_path / "c", "--max_iters=10", "--eval_interval=1000", "--lr_decay_iters=10") == 0
    assert "note:" not in capsys.readouterr().out


def test_nan_advice_fits_the_run(tmp_path):
    blow_up = ["--learning_rate=1e12", "--warmup_iters=0", "--max_iters=200", "--eval_interval=100000"]
    message = bad_input(tmp_path, *blow_up, "--grad_clip=0", "--dtype=float32", out_dir=tmp_path / "a")
    assert message.endswith("Try a lower learning_rate or grad_clip=1.0 (clipping is off)")
    message = bad_input(tmp_path, *blow_up, "--grad_clip=0", "--dtype=bfloat16", out_dir=tmp_path / "b")
    assert message.endswith("Try a lower learning_rate, grad_clip=1.0 (clipping is off) or dtype=float32")
    huge = ["--optimizer_name=sgd", "--learning_rate=1e30", "--log_interval=10", "--max_iters=3"]
    with pytest.raises(SystemExit) as e:
        run_script(LSTM_SCRIPT, [*LSTM_TINY, f"--out_dir={tmp_path / 'lstm'}", *huge, "--dtype=float32"])
    assert str(e.value).endswith("Try a lower learning_rate or a smaller grad_clip than 0.25")
