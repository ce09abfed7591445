"""The training loop of train_gpt.py, run for a few steps on the bundled Shakespeare: exact resume, DDP equivalence,
Ctrl-C, NaN, the learning-rate schedule, logs, and the one-line messages for bad input."""

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
SCRIPT = os.path.join(REPO, "train_gpt.py")
# a model small enough that a step takes milliseconds on a CPU
TINY = ["--batch_size=4", "--block_size=32", "--n_layer=2", "--n_head=2", "--n_embd=32", "--eval_iters=2",
        "--log_interval=1", "--sample_tokens=0", "--device=cpu", "--compile=False", "--warmup_iters=5"]


def train(out_dir, *args):
    return run_script(SCRIPT, [*TINY, f"--out_dir={out_dir}", *args])


def bad_input(tmp_path, *args, out_dir=None):
    return script_error(SCRIPT, [*TINY, f"--out_dir={out_dir or tmp_path / 'out'}", *args])


def step_losses(out_dir):
    with open(os.path.join(out_dir, "log.jsonl")) as f:
        records = [json.loads(line) for line in f]
    return {r["iter"]: r for r in records if "loss" in r}


def test_resume_is_bit_exact(tmp_path):
    # dropout on, so the restored RNG state matters too; evaluations in between must not disturb the data order
    common = ["--dropout=0.1", "--eval_interval=10", "--max_iters=20", "--lr_decay_iters=20"]
    assert train(tmp_path / "full", *common) == 0
    assert train(tmp_path / "split", *common[:-2], "--max_iters=10", "--lr_decay_iters=20") == 0
    assert train(tmp_path / "split", *common, "--init_from=resume") == 0
    full, split = step_losses(tmp_path / "full"), step_losses(tmp_path / "split")
    assert sorted(full) == sorted(split) == list(range(1, 21))
    for it in range(1, 21):
        assert split[it]["loss"] == full[it]["loss"], f"step {it} differs after resume"
        assert split[it]["lr"] == full[it]["lr"]
    a = torch.load(tmp_path / "full" / "latest.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "split" / "latest.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_lr_schedule_and_log(tmp_path):
    assert train(tmp_path, "--max_iters=30", "--lr_decay_iters=25", "--learning_rate=1e-2", "--min_lr=1e-3",
                 "--eval_interval=1000") == 0
    with open(tmp_path / "log.jsonl") as f:
        header = json.loads(f.readline())
    assert header["config"]["max_iters"] == 30 and header["config"]["n_layer"] == 2
    logged = step_losses(tmp_path)
    assert sorted(logged) == list(range(1, 31))  # exactly max_iters steps
    for it, rec in logged.items():
        i = it - 1  # the lr logged at step `it` is the one used to take it
        if i < 5:
            expected = 1e-2 * (i + 1) / 6  # linear warmup over warmup_iters=5
        elif i >= 25:
            expected = 1e-3
        else:
            expected = 1e-3 + 0.5 * (1 + math.cos(math.pi * (i - 5) / 20)) * (1e-2 - 1e-3)
        assert rec["lr"] == pytest.approx(expected, rel=1e-12)
    assert logged[1]["loss"] == pytest.approx(math.log(65), abs=0.1)  # 65 characters, uniform at init
    assert logged[30]["loss"] < logged[1]["loss"] - 0.5  # and it learns


def test_ddp_matches_single_process(tmp_path):
    # the same global batch (2 micro-batches per step) split over 2 gloo processes or accumulated in one
    args = [*TINY, "--max_iters=6", "--eval_interval=1000", "--gradient_accumulation_steps=2", "--dropout=0.0"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", SCRIPT,
                    *args, f"--out_dir={tmp_path / 'ddp'}"], check=True, env=env, capture_output=True, timeout=300)
    assert train(tmp_path / "single", "--max_iters=6", "--eval_interval=1000", "--gradient_accumulation_steps=2") == 0
    ddp, single = step_losses(tmp_path / "ddp"), step_losses(tmp_path / "single")
    for it in range(1, 7):
        assert ddp[it]["loss"] == pytest.approx(single[it]["loss"], abs=1e-5)
    a = torch.load(tmp_path / "ddp" / "latest.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "single" / "latest.pt", weights_only=True)["model"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=1e-4)


def test_ctrl_c_saves_then_exits(tmp_path):
    proc = subprocess.Popen([sys.executable, SCRIPT, *TINY, f"--out_dir={tmp_path}", "--max_iters=100000",
                             "--eval_interval=100000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:  # wait until training is under way
        if line.startswith("step 3/"):
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted at step" in out
    ckpt = torch.load(tmp_path / "latest.pt", weights_only=True)
    assert ckpt["iter_num"] > 3
    # and the run continues from there
    assert train(tmp_path, f"--max_iters={ckpt['iter_num'] + 2}", "--eval_interval=100000", "--init_from=resume") == 0
    assert max(step_losses(tmp_path)) == ckpt["iter_num"] + 2


def test_nan_stops_and_keeps_last_good_checkpoint(tmp_path):
    # an absurd learning rate without clipping blows the weights up within a few steps
    message = bad_input(tmp_path, "--learning_rate=1e12", "--grad_clip=0", "--warmup_iters=0", "--max_iters=200",
                        "--eval_interval=100000", out_dir=tmp_path)
    assert "stopping without saving" in message and "latest.pt" in message
    ckpt = torch.load(tmp_path / "latest.pt", weights_only=True)
    assert ckpt["iter_num"] == 0  # the evaluation at step 0 is the last good state
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())


def test_bad_config_keys(tmp_path):
    assert "did you mean n_layer" in bad_input(tmp_path, "--n_layers=4")
    assert bad_input(tmp_path, "--dtype=float8") == ("config: dtype='float8' must be one of auto, float32, bfloat16, "
                                                     "float16")
    assert bad_input(tmp_path, "--gelu=fast") == "config: gelu='fast' must be one of none, tanh"
    assert bad_input(tmp_path, "--init_from=gpt5").startswith("config: init_from='gpt5' must be 'scratch', 'resume', ")
    assert "python prepare.py" in bad_input(tmp_path, "--dataset=no_such_data")
    assert "block_size" in bad_input(tmp_path, "--block_size=10000000")  # longer than the data
    cfg = tmp_path / "typo.py"
    cfg.write_text("learning_rat = 1e-3\n")
    assert "did you mean learning_rate" in bad_input(tmp_path, str(cfg))


def test_checkpoint_mismatches(tmp_path):
    assert train(tmp_path, "--max_iters=2", "--eval_interval=1000") == 0
    # a second run from scratch must not overwrite the first
    assert "--init_from=resume" in bad_input(tmp_path, "--max_iters=2", out_dir=tmp_path)
    # a different architecture or a longer context than the checkpoint's
    assert "n_layer=2" in bad_input(tmp_path, "--init_from=resume", "--n_layer=3", out_dir=tmp_path)
    assert "larger than the model's context" in bad_input(tmp_path, "--init_from=resume", "--block_size=64",
                                                          out_dir=tmp_path)
    # a checkpoint trained on another vocabulary
    path = tmp_path / "latest.pt"
    ckpt = torch.load(path, weights_only=True)
    ckpt["meta"]["vocab"] = ckpt["meta"]["vocab"][::-1]
    torch.save(ckpt, path)
    assert "vocabulary" in bad_input(tmp_path, "--init_from=resume", out_dir=tmp_path)
    # a truncated checkpoint
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert "truncated or corrupted" in bad_input(tmp_path, "--init_from=resume", out_dir=tmp_path)


def test_bad_input_is_one_line_on_the_command_line(tmp_path):
    r = subprocess.run([sys.executable, SCRIPT, "--n_embed=64", f"--out_dir={tmp_path}"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == ["config: unknown key 'n_embed' in the command line (did you mean n_embd?)"]


# -----------------------------------------------------------------------------
# sharded training (FSDP2 over gloo), exact resume, consolidation; GPT-3's batch ramp


def torchrun(out_dir, *args, nproc=2, kill=None):
    """stdout of train_gpt.py under torchrun. kill names a point of a save where process 0 kills itself (SIGKILL,
    train_gpt.py's kill_point hook): the run must then die there."""
    env = dict(os.environ, OMP_NUM_THREADS="1", **({"TRAIN_GPT_KILL": kill} if kill else {}))
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                        SCRIPT, *TINY, f"--out_dir={out_dir}", *args], env=env, capture_output=True, text=True,
                       timeout=300)
    if kill:
        assert r.returncode != 0 and "Signal 9 (SIGKILL) received" in r.stderr, r.stderr[-2000:]
    else:
        assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def final_sample(stdout):
    """The text train_gpt.py samples at the end of training (printed after "sample:", then a line break)."""
    return stdout.split("sample:\n", 1)[1][:-1]


def resumed_from(stdout):
    """The step and the folder a resumed run says it continues from."""
    step, folder = stdout.split("resumed from step ", 1)[1].split("\n", 1)[0].split(" of ")
    return int(step.split()[0]), os.path.basename(folder)


def test_sharded_matches_single_process(tmp_path):
    # the same global batch (2 micro-batches per step) sharded over 2 processes or accumulated in one
    common = ["--gradient_accumulation_steps=2", "--eval_interval=3", "--lr_decay_iters=6", "--max_iters=6"]
    torchrun(tmp_path / "sharded", *common, "--fsdp=True")
    assert train(tmp_path / "single", *common) == 0
    a, b = step_losses(tmp_path / "sharded"), step_losses(tmp_path / "single")
    for it in range(1, 7):
        assert a[it]["loss"] == pytest.approx(b[it]["loss"], abs=1e-5)
    assert sorted(os.listdir(tmp_path / "sharded" / "latest_sharded")) == [".metadata", "__0_0.distcp",
                                                                           "__1_0.distcp", "train.pt"]
    assert not os.path.exists(tmp_path / "sharded" / "latest.pt")  # no process ever held the whole model


def test_sharded_save_killed_anywhere_resumes_exactly(tmp_path, capsys):
    # saves at steps 2, 4, 6 and 8. Process 0 is killed (SIGKILL) at a point of a save, and the run resumed, three
    # times over: each resume starts from the newest complete checkpoint, and the run ends as one never killed,
    # bit-exactly (dropout on, so every process's RNG is restored too), with nothing left behind
    common = ["--gradient_accumulation_steps=2", "--eval_interval=2", "--max_iters=8", "--lr_decay_iters=8",
              "--dropout=0.1", "--sample_tokens=20", "--fsdp=True"]
    full = torchrun(tmp_path / "full", *common)
    out, resume = tmp_path / "killed", "--init_from=resume"
    torchrun(out, *common, kill="written latest_sharded.tmp 4")  # step 4's shards written, its train.pt not yet
    stdout = torchrun(out, *common, resume, kill="renamed latest_sharded.old 4")  # between the two renames
    assert resumed_from(stdout) == (2, "latest_sharded")
    stdout = torchrun(out, *common, resume, kill="discarding latest_sharded.old 6")  # deleting step 4's copy
    assert resumed_from(stdout) == (4, "latest_sharded.tmp")
    last = torchrun(out, *common, resume)
    assert resumed_from(last) == (6, "latest_sharded")
    expected = step_losses(tmp_path / "full")
    with open(out / "log.jsonl") as f:  # every step logged, by the killed runs too, as in the run never killed
        logged = [r for r in map(json.loads, f) if "loss" in r]
    assert {r["iter"] for r in logged} == set(expected) == set(range(1, 9))
    assert all(r["loss"] == expected[r["iter"]]["loss"] for r in logged)
    assert final_sample(last) == final_sample(full)
    assert sorted(name for name in os.listdir(out) if "sharded" in name) == ["best_sharded", "latest_sharded"]
    # consolidated into plain checkpoints, the model samples what the sharded model sampled at the end of training
    assert run_script(SCRIPT, [f"--out_dir={tmp_path / 'full'}", "--consolidate=True"]) == 0
    ckpt = torch.load(tmp_path / "full" / "latest.pt", weights_only=True)
    assert ckpt["iter_num"] == 8 and "optimizer" not in ckpt
    capsys.readouterr()
    assert run_script(os.path.join(REPO, "sample.py"), [f"--init_from={tmp_path / 'full' / 'latest.pt'}",
                                                         "--num_samples=1", "--max_new_tokens=20", "--temperature=0.8",
                                                         "--top_k=200", "--start=\n", "--device=cpu"]) == 0
    sampled = capsys.readouterr().out[len("\n"):].split("\n---------------")[0]  # after the prompt, before the rule
    assert sampled == final_sample(full)


# each process's own dropout stream, continued exactly on resume: the CPU generator, and the GPU's where there is one
RNG_RUNS = [("cpu", 2)] + [("cuda", n) for n in (1, 2) if torch.cuda.device_count() >= n]


@pytest.mark.parametrize("device,nproc", RNG_RUNS)
def test_ddp_resume_continues_every_process_rng(tmp_path, device, nproc):
    common = [f"--device={device}", "--gradient_accumulation_steps=2", "--eval_interval=2", "--lr_decay_iters=4",
              "--dropout=0.1"]
    torchrun(tmp_path / "full", *common, "--max_iters=4", nproc=nproc)
    torchrun(tmp_path / "split", *common, "--max_iters=2", nproc=nproc)
    torchrun(tmp_path / "split", *common, "--max_iters=4", "--init_from=resume", nproc=nproc)
    full, split = (torch.load(tmp_path / run / "latest.pt", weights_only=True)["rng"]["processes"]
                   for run in ("full", "split"))
    assert len(full) == len(split) == nproc
    for a, b in zip(full, split):  # every process's generators where the uninterrupted run left them
        assert a.keys() == b.keys() == ({"cpu", "cuda"} if device == "cuda" else {"cpu"})
        assert all(torch.equal(a[k], b[k]) for k in a)
    if nproc == 2:
        assert not torch.equal(full[0]["cpu"], full[1]["cpu"])  # each process draws its own masks
    if device == "cpu":  # on a GPU, atomic adds make the sums differ in their last bits
        a, b = step_losses(tmp_path / "full"), step_losses(tmp_path / "split")
        assert [a[it]["loss"] for it in range(1, 5)] == [b[it]["loss"] for it in range(1, 5)]


def test_sharding_mistakes(tmp_path, capsys):
    # one process: sharding has no effect, and the run says so and goes on
    assert train(tmp_path / "one", "--max_iters=1", "--fsdp=True") == 0
    assert "no effect" in capsys.readouterr().out
    # a sharded checkpoint handed to sample.py: how to convert it
    os.makedirs(tmp_path / "s" / "latest_sharded")
    (tmp_path / "s" / "latest_sharded" / "train.pt").write_bytes(b"")  # a complete sharded save ends with train.pt
    assert "--consolidate=True" in script_error(os.path.join(REPO, "sample.py"), [f"--init_from={tmp_path / 's'}"])
    assert "--fsdp=True" in bad_input(tmp_path, "--init_from=resume", out_dir=tmp_path / "s")


def test_batch_ramp_tokens_and_lr_follow_the_formula(tmp_path):
    # 4 x 32 = 128 tokens per micro-step, 8 of them per full step (1024 tokens); the ramp starts at 256 tokens
    # and reaches the full batch after 2048 tokens; the lr schedule counts full steps of tokens
    assert train(tmp_path, "--gradient_accumulation_steps=8", "--batch_ramp_start=256", "--batch_ramp_tokens=2048",
                 "--max_iters=4", "--warmup_iters=2", "--lr_decay_iters=4", "--learning_rate=1e-2", "--min_lr=1e-3",
                 "--eval_interval=1000") == 0
    logged = step_losses(tmp_path)
    seen, lr_min, lr_max = 0, 1e-3, 1e-2
    for it in sorted(logged):
        ramp = 256 + (1024 - 256) * seen / 2048 if seen < 2048 else 1024
        step_tokens = int(ramp // 128) * 128  # whole micro-steps
        progress = seen / 1024  # full-batch steps of tokens so far
        if progress < 2:
            lr = lr_max * (progress + 1) / 3
        elif progress >= 4:
            lr = lr_min
        else:
            lr = lr_min + 0.5 * (1 + math.cos(math.pi * (progress - 2) / 2)) * (lr_max - lr_min)
        assert logged[it]["lr"] == pytest.approx(lr, rel=1e-12), it
        seen += step_tokens
        assert logged[it]["tokens"] == seen, it
    assert seen >= 4 * 1024 and seen - step_tokens < 4 * 1024  # stops once max_iters full batches are seen
    assert [logged[it]["tokens"] for it in (1, 2, 3)] == [256, 512, 896]  # 256, then 256 + 768 * 256/2048 -> 2 steps


def test_batch_ramp_mistakes(tmp_path):
    assert "whole number of micro-steps" in bad_input(tmp_path, "--gradient_accumulation_steps=8",
                                                       "--batch_ramp_start=200", "--batch_ramp_tokens=2048")
    assert bad_input(tmp_path, "--batch_ramp_start=256") == ("config: batch_ramp_tokens=0 must be > 0 with "
                                                             "batch_ramp_start=256 > 0, or 0 with it 0 (no ramp)")
    assert bad_input(tmp_path, "--n_embd=2048", "--n_head=24") == (
        "config: n_embd=2048 must be a multiple of n_head=24: each head gets n_embd / n_head dimensions")
    assert bad_input(tmp_path, "--attn_window=-1") == "config: attn_window=-1 must be 0 (dense) to block_size=32"
    assert "attn_window=100 must be" in bad_input(tmp_path, "--attn_window=100")  # longer than block_size=32


# -----------------------------------------------------------------------------
# the loop reads the GPU only at log lines: the log, Ctrl-C and NaN still work at that granularity


def test_loss_reaches_the_log_at_every_log_interval(tmp_path, capsys):
    assert train(tmp_path, "--max_iters=23", "--log_interval=5", "--eval_interval=1000") == 0
    logged = step_losses(tmp_path)
    assert sorted(logged) == [5, 10, 15, 20, 23]  # every log_interval, and the last step
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("step ") and "| loss" in line]
    assert [int(line.split()[1].split("/")[0]) for line in printed] == [5, 10, 15, 20, 23]
    assert all(math.isfinite(r["loss"]) and r["tokens"] == it * 4 * 32 for it, r in logged.items())
    # the logged loss is the mean over the steps since the last line: the same run logging every step agrees
    assert train(tmp_path / "every", "--max_iters=23", "--log_interval=1", "--eval_interval=1000") == 0
    every = step_losses(tmp_path / "every")
    assert logged[10]["loss"] == pytest.approx(sum(every[i]["loss"] for i in range(6, 11)) / 5, rel=1e-5)


def test_ctrl_c_saves_within_one_log_interval(tmp_path):
    proc = subprocess.Popen([sys.executable, SCRIPT, *TINY, f"--out_dir={tmp_path}", "--max_iters=100000",
                             "--eval_interval=100000", "--log_interval=7"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if line.startswith("step 14/"):
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err
    saved = torch.load(tmp_path / "latest.pt", weights_only=True)["iter_num"]
    stopped = int(out.split("interrupted at step ")[1].split(":")[0])
    assert saved == stopped >= 14
    assert train(tmp_path, f"--max_iters={saved + 3}", "--eval_interval=100000", "--init_from=resume") == 0


def test_gpu_only_settings_on_a_cpu_fall_back_and_say_so(tmp_path, capsys):
    assert train(tmp_path, "--max_iters=1", "--compile_mode=reduce-overhead") == 0
    assert "compile_mode=reduce-overhead needs a GPU" in capsys.readouterr().out
    assert "compile_mode" in bad_input(tmp_path, "--compile_mode=fastest", out_dir=tmp_path / "x")
