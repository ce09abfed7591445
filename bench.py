"""
The speed of one training step of any config here, as nanoGPT's bench.py measures it: random tokens (no dataset),
compile and warmup steps excluded, then ms/step, tokens/s, MFU and peak GPU memory.

$ python bench.py config/gpt2.py --batch_size=12 --bias=False --gelu=none   # nanoGPT's bench.py model and batch
$ python bench.py config/gpt3_small.py --batch_size=8                      # banded layers (FlexAttention)
$ python bench.py config/gpt3_small.py --batch_size=8 --attn_window=0      # the same, all layers dense
$ python bench.py config/awd_lstm_ptb.py --model_type=awd_lstm             # an AWD-LSTM config
$ python bench.py --sizes=True --gpus=8                                    # GPT-3's sizes: parameters, memory per GPU

And the README's "claim in minutes" table, every row on one GPU in at most 8 minutes (MINUTES_STEPS below):

$ python bench.py --prepare_from=../shared/data   # on a CPU, beforehand: the table's data into data/ (no network after)
$ python bench.py --minutes=True                  # on the GPU: each step, its number, met or not; out-minutes/
$ python bench.py --minutes=True --toy=True --deadline=4800 --minutes_dir=out-minutes-toy   # toy size, on a CPU

Settings are train_gpt.py's (or train_lstm.py's with --model_type=awd_lstm), so any of their config files works;
those that do not shape a step (data, schedule, out_dir...) are ignored. One step is one micro-batch: batch_size x
block_size tokens (x bptt for the LSTM).
"""

import glob
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

import prepare  # prepare.DATA_DIR is read at call time: tests point it elsewhere
from prepare import REPO_DIR, check_settings, configure, precision, setting_defaults
from train_gpt import GPT, GPTConfig, compiled, peak_flops

# -----------------------------------------------------------------------------
# memory per GPU of a sharded GPT, for the size table


def memory_per_gpu(n_params, cfg, micro_batch, gpus, checkpointing, sharded):
    """GiB per GPU of a GPT trained in bf16 with fp32 master weights, micro_batch sequences of cfg.block_size per
    GPU. States: fp32 weights, gradients and Adam's two moments, 16 bytes per parameter, whole on every GPU (DDP)
    or sharded over `gpus` (FSDP), which then also gathers two blocks' bf16 weights (the one computing, the next).
    Activations per layer (Korthikanti et al. 2022, Table 2, with flash attention: no T^2 term): 34 x T x C bytes
    per sequence, or only the block's 2-byte input under checkpointing, plus one block recomputed. Logits: bf16
    and the fp32 copy the loss takes, 6 bytes per vocabulary entry per token."""
    T, C, L = cfg.block_size, cfg.n_embd, cfg.n_layer
    tokens = micro_batch * T
    states = 16 * n_params / (gpus if sharded else 1)
    gathered = 2 * 2 * 12 * C * C if sharded else 0
    per_layer = 34 * tokens * C
    activations = (2 * tokens * C * L + per_layer) if checkpointing else per_layer * L
    logits = 6 * tokens * cfg.vocab_size
    gib = 2 ** 30  # as torch.cuda.max_memory_allocated reports, so estimates and measurements compare
    return {"states": states / gib, "gathered": gathered / gib, "activations": (activations + logits) / gib,
            "total": (states + gathered + activations + logits) / gib}


def gpt3_sizes(gpus):
    """One row per config/gpt3_*.py, smallest first: its model built on the meta device (nothing allocated), the
    parameter count, and the memory per GPU at its own batch_size, fsdp and activation_checkpointing."""
    rows = []
    for path in sorted(glob.glob(os.path.join(REPO_DIR, "config", "gpt3_*.py"))):
        cfg = configure(setting_defaults(os.path.join(REPO_DIR, "train_gpt.py")), [path])
        with torch.device("meta"):
            model = GPT(GPTConfig(block_size=cfg["block_size"], vocab_size=50257, n_layer=cfg["n_layer"],
                                  n_head=cfg["n_head"], n_embd=cfg["n_embd"], attn_window=cfg["attn_window"]))
        n = model.num_params(non_embedding=False)
        mem = memory_per_gpu(n, model.config, cfg["batch_size"], gpus, cfg["activation_checkpointing"], cfg["fsdp"])
        rows.append((os.path.basename(path), n, cfg, mem))
    return sorted(rows, key=lambda row: row[1])


# -----------------------------------------------------------------------------
# one training step of a GPT, or of an AWD-LSTM


def gpt_step(cfg, device, ctx):
    """(step function, tokens per step, FLOPs per token, model) for train_gpt.py's model and optimizer."""
    with torch.device("meta"):
        model = GPT(GPTConfig(block_size=cfg["block_size"], vocab_size=cfg["vocab_size"], n_layer=cfg["n_layer"],
                              n_head=cfg["n_head"], n_embd=cfg["n_embd"], dropout=cfg["dropout"], bias=cfg["bias"],
                              prenorm=cfg["prenorm"], attn_window=cfg["attn_window"], gelu=cfg["gelu"]))
    model.to_empty(device=device)
    model.init_weights()
    model.checkpointing = cfg["activation_checkpointing"]
    optimizer = model.configure_optimizers(cfg["weight_decay"], cfg["learning_rate"], (cfg["beta1"], cfg["beta2"]),
                                           device.split(":")[0])
    run = compiled(model, cfg["compile_mode"], cfg["activation_checkpointing"]) if cfg["compile"] else model
    B, T = cfg["batch_size"], cfg["block_size"]
    x, y = (torch.randint(cfg["vocab_size"], (B, T), device=device) for _ in range(2))

    def step():
        with ctx:
            _, loss = run(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"] or math.inf)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss
    return step, B * T, model.flops_per_token(T), model


def lstm_step(cfg, device, ctx):
    """(step function, tokens per step, FLOPs per token, model) for train_lstm.py's model, loss and optimizer."""
    from train_lstm import AWDLSTM, LSTMConfig, activation_regularization, temporal_activation_regularization
    model = AWDLSTM(LSTMConfig(vocab_size=cfg["vocab_size"], emb_size=cfg["emb_size"], hidden_size=cfg["hidden_size"],
                               n_layers=cfg["n_layers"], dropout_emb=cfg["dropout_emb"], dropout_in=cfg["dropout_in"],
                               dropout_hidden=cfg["dropout_hidden"], dropout_out=cfg["dropout_out"],
                               weight_drop=cfg["weight_drop"])).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg["learning_rate"], weight_decay=cfg["weight_decay"])

    def head_loss(output, targets):  # compiled as train_lstm.py compiles it: the decoder and the loss
        logits = model.decoder(output)
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1))
    if cfg["compile"]:
        head_loss = torch.compile(head_loss)
    B, T = cfg["batch_size"], cfg["bptt"]
    x, y = (torch.randint(cfg["vocab_size"], (B, T), device=device) for _ in range(2))
    hidden = model.init_hidden(B)

    def step():
        with ctx:
            _, raw_output, output = model.encode(x, hidden)
            loss = (head_loss(output, y) + activation_regularization(output.float(), cfg["alpha"])
                    + temporal_activation_regularization(raw_output.float(), cfg["beta"]))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"] or math.inf)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss
    return step, B * T, 6 * model.num_params(), model  # 6N: the LSTMs' and the decoder's matmuls, forward and back


# -----------------------------------------------------------------------------
# the minutes table: each paper's claim (config/minutes_*.py), one step after another on one GPU within a deadline


NO_REGULARISATION = ["--dropout_emb=0", "--dropout_in=0", "--dropout_hidden=0", "--dropout_out=0", "--weight_drop=0",
                     "--alpha=0", "--beta=0"]
# the README's commands in order: (row, step, seconds allowed, the steps it needs, script, arguments). The seconds
# are each config's budget with room for start-up (the configs say what each budget assumes); the table has 480 s
MINUTES_STEPS = [
    ("awd", "awd-lstm", 100, (), "train_lstm.py", ["config/minutes_awd_lstm.py"]),
    ("awd", "awd-lstm-plain", 100, (), "train_lstm.py",
     ["config/minutes_awd_lstm.py", "--out_dir=out-minutes-awd-plain", *NO_REGULARISATION]),
    ("ulmfit", "wt2-fwd", 70, (), "train_lstm.py", ["config/minutes_ulmfit_wt2.py"]),
    ("ulmfit", "wt2-bwd", 70, (), "train_lstm.py",
     ["config/minutes_ulmfit_wt2.py", "--backwards=True", "--out_dir=out-minutes-wt2-bwd"]),
    ("ulmfit", "trec-fwd", 45, ("wt2-fwd",), "finetune.py", ["config/minutes_ulmfit_trec.py"]),
    ("ulmfit", "trec-bwd", 45, ("wt2-bwd", "trec-fwd"), "finetune.py",
     ["config/minutes_ulmfit_trec.py", "config/ulmfit_backward.py"]),
    ("ulmfit", "trec-scratch", 45, ("wt2-fwd",), "finetune.py",
     ["config/minutes_ulmfit_trec.py", "--pretrained=False", "--out_dir=out-minutes-trec-scratch"]),
    ("gpt1", "gpt-wt2", 110, (), "train_gpt.py", ["config/minutes_gpt_wt2.py"]),
    ("gpt1", "sst2", 30, ("gpt-wt2",), "finetune.py", ["config/minutes_gpt1_sst2.py"]),
    ("gpt1", "sst2-scratch", 30, ("gpt-wt2",), "finetune.py",
     ["config/minutes_gpt1_sst2.py", "--pretrained=False", "--out_dir=out-minutes-sst2-scratch"]),
    ("gpt1", "sst2-nolm", 30, ("gpt-wt2",), "finetune.py",
     ["config/minutes_gpt1_sst2.py", "--lm_coef=0", "--out_dir=out-minutes-sst2-nolm"]),
    ("gpt1", "rte", 25, ("gpt-wt2",), "finetune.py", ["config/minutes_gpt1_rte.py"]),
    ("gpt2", "zeroshot", 35, ("gpt-wt2",), "eval.py", ["config/minutes_gpt2_zeroshot.py"]),
    ("gpt3", "fewshot", 45, ("gpt-wt2",), "eval.py", ["config/minutes_gpt3_fewshot.py"]),
]
# toy=True: each step's arguments, then these: tiny models, a few steps, on the CPU (the numbers mean nothing). Their
# evaluations still read the real splits, which a CPU takes tens of times longer to do than the GPU the step limits
# are sized for: a toy step gets TOY_SLACK times its limit (give --deadline to match)
TOY_SLACK = 10
MINUTES_TOY = {
    "train_lstm.py": ["--device=cpu", "--emb_size=16", "--hidden_size=32", "--max_iters=3", "--max_seconds=0",
                      "--log_interval=1", "--eval_batch_size=20", "--test_batch_size=20"],  # full splits, 20 streams
    "train_gpt.py": ["--device=cpu", "--n_layer=1", "--n_head=2", "--n_embd=32", "--block_size=32", "--batch_size=4",
                     "--max_iters=3", "--lr_decay_iters=3", "--warmup_iters=1", "--eval_iters=1", "--sample_tokens=0"],
    "finetune.py": ["--device=cpu", "--epochs=1", "--n_train=16", "--block_size=32"],  # GPT-2's 50,257 logits cost
    "eval.py": ["--device=cpu", "--max_examples=4"],
}
# what --prepare_from=DIR makes in data/, from DIR's copies in their published formats (as ../shared/data holds them)
MINUTES_DATA = [("ptb", "ptb", None), ("wikitext2", "wikitext-2", None), ("wikitext2", "wikitext-2", "gpt2"),
                ("trec", "trec", None), ("sst2", "sst2", None), ("rte", "rte", None)]


def prepare_minutes(src):
    """Prepare the table's data sets and tasks from src into data/, and copy tiktoken's GPT-2 files to data/tiktoken,
    so that the GPU run reads only data/: no network, no src."""
    folders = sorted({folder for _, folder, _ in MINUTES_DATA})
    missing = [folder for folder in folders if not os.path.isdir(os.path.join(src, folder))]
    if missing:  # all checked before anything is written
        raise SystemExit(f"bench: --prepare_from={src} has no {', '.join(missing)}: give the folder holding "
                         f"{', '.join(folders)} in their published formats (as ../shared/data does)")
    for name, folder, tokenizer in MINUTES_DATA:
        prepare.prepare(name, src=os.path.join(src, folder), tokenizer=tokenizer)
    prepare.gpt2_encoding()  # loads tiktoken's files (downloads them where not cached yet)
    cache = (os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
             or os.path.join(tempfile.gettempdir(), "data-gym-cache"))  # where tiktoken/load.py caches them
    shutil.copytree(cache, os.path.join(prepare.DATA_DIR, "tiktoken"), dirs_exist_ok=True)


def run_step(argv, log_path, timeout, cwd, env=None):
    """Run argv in cwd as a process group of its own, stdout and stderr added to log_path; kill the group
    (torch.compile's workers too) after timeout seconds, keeping what it logged. Returns (exit code, or None when
    killed, seconds)."""
    t0 = time.time()
    with open(log_path, "a") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=cwd, env=env, start_new_session=True)
        try:
            code = proc.wait(timeout=max(timeout, 0))
        except (subprocess.TimeoutExpired, KeyboardInterrupt) as e:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            if isinstance(e, KeyboardInterrupt):
                raise SystemExit(f"bench: interrupted; the step stopped, its log is {log_path}") from None
            code = None
    return code, time.time() - t0


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def finetune_final(out_dir):
    """finetune.py's final evaluation: the log's last record, written once the run has finished."""
    final = read_jsonl(os.path.join(out_dir, "log.jsonl"))[-1]
    if final.get("stage") != "final":
        raise ValueError(f"{out_dir} has no final evaluation")
    return final


def eval_results(path):
    """eval.py's results of its latest run in path ({"evaluations": [...]}, or one run's {"results": ...})."""
    with open(path) as f:
        report = json.load(f)
    return (report["evaluations"][-1] if "evaluations" in report else report)["results"]


def stderr(p, n):
    """The standard error of an accuracy p over n examples (binomial)."""
    return math.sqrt(p * (1 - p) / n)


def apart(a, b, n_a, n_b):
    """Whether accuracy a is above b by more than twice the standard error of their difference."""
    return a - b > 2 * math.sqrt(stderr(a, n_a) ** 2 + stderr(b, n_b) ** 2)


def awd_claim(folder):
    best = [min(r["val_ppl"] for r in read_jsonl(os.path.join(folder, out, "log.jsonl")) if "val_ppl" in r)
            for out in ("out-minutes-awd-lstm", "out-minutes-awd-plain")]
    return f"best val ppl {best[0]:.1f} regularised, {best[1]:.1f} without", best[0] <= 0.95 * best[1]


def ulmfit_claim(folder):
    n = prepare.load_task("trec")[0]["splits"]["test"]
    both, scratch = (finetune_final(os.path.join(folder, out)) for out in ("out-minutes-trec-bwd",
                                                                          "out-minutes-trec-scratch"))
    error, alone = both["ensemble_test_error"], scratch["test_error"]
    return (f"test error {error:.1%} (forward {both['partner_test_error']:.1%}, backward {both['test_error']:.1%}); "
            f"no pretraining {alone:.1%}", error <= 0.07 and apart(1 - error, 1 - alone, n, n))


def gpt1_claim(folder):
    acc = {out: finetune_final(os.path.join(folder, f"out-minutes-{out}"))["val_accuracy"]
           for out in ("sst2", "sst2-scratch", "sst2-nolm", "rte")}
    return (f"SST-2 {acc['sst2']:.1%}, scratch {acc['sst2-scratch']:.1%}, lambda 0 {acc['sst2-nolm']:.1%}; "
            f"RTE {acc['rte']:.1%}", acc["sst2"] - acc["sst2-scratch"] >= 0.05)


def gpt2_claim(folder):
    results = eval_results(os.path.join(folder, "out-minutes-gpt-wt2", "eval_zeroshot.json"))
    text, task = (next(r for r in results if r["eval"].startswith(name)) for name in ("wikitext2", "sst2"))
    se = stderr(task["acc"], task["examples"])
    return (f"SST-2 k=0 {task['acc']:.1%} ± {se:.1%} (chance {task['chance']:.1%}); WikiText-2 test ppl "
            f"{text['ppl']:.1f}", task["acc"] - task["chance"] > 2 * se)


def gpt3_claim(folder):
    results = eval_results(os.path.join(folder, "out-minutes-gpt-wt2", "eval_fewshot.json"))
    first, last = results[0], results[-1]
    curve = ", ".join(f"{r['eval'].split()[-1]} {r['acc']:.1%} ± {stderr(r['acc'], r['examples']):.1%}"
                      for r in results)
    return f"SST-2 {curve}", apart(last["acc"], first["acc"], last["examples"], first["examples"])


# each row: (claim, target, how its number is read from the steps' outputs)
MINUTES_CLAIMS = {
    "awd": ("AWD-LSTM regularisation (Merity et al. 2017)",
            "regularised best val ppl >= 5% below the unregularised one's", awd_claim),
    "ulmfit": ("ULMFiT transfer (Howard & Ruder 2018, TREC-6)",
               "ensemble test error <= 7%; no pretraining worse by > 2 stderr", ulmfit_claim),
    "gpt1": ("GPT-1 transfer (Radford et al. 2018)", "pretrained beats scratch on SST-2 by >= 5 points", gpt1_claim),
    "gpt2": ("GPT-2 zero-shot (Radford et al. 2019)", "SST-2 above chance by > 2 stderr", gpt2_claim),
    "gpt3": ("GPT-3 in-context learning (Brown et al. 2020)", "SST-2 at k=8 above k=0 by > 2 stderr", gpt3_claim),
}


def minutes_table(folder, deadline, toy=False, run=run_step):
    """Run MINUTES_STEPS in folder (each step's out_dir lands there, its log in folder/logs), each within its seconds
    and all within deadline seconds; a step whose needs failed, or that the deadline leaves no time for, is not
    run. Then each claim's number from the outputs, printed as a table and written to folder/table.json and
    table.md. Returns the rows."""
    os.makedirs(os.path.join(folder, "logs"))
    env = dict(os.environ)
    tiktoken_files = os.path.join(prepare.DATA_DIR, "tiktoken")  # from --prepare_from: no download on the GPU
    if os.path.isdir(tiktoken_files) and "TIKTOKEN_CACHE_DIR" not in env:
        env["TIKTOKEN_CACHE_DIR"] = tiktoken_files
    t_start, done, steps = time.time(), set(), []
    for i, (row, name, allowed, needs, script, args) in enumerate(MINUTES_STEPS, 1):
        argv = [sys.executable, os.path.join(REPO_DIR, script), *args, *(MINUTES_TOY[script] if toy else [])]
        log_path = os.path.join(folder, "logs", f"{i:02d}-{name}.log")
        left = deadline - (time.time() - t_start)
        missing = [n for n in needs if n not in done]
        if missing or left <= 0:
            status, seconds = f"not run ({'needs ' + ', '.join(missing) if missing else 'deadline'})", 0.0
        else:
            with open(log_path, "w") as log:  # the command first: the log says how to run the step again
                log.write(f"$ cd {folder} && {' '.join(argv)}\n")
            code, seconds = run(argv, log_path, min(allowed * (TOY_SLACK if toy else 1), left), folder, env)
            status = ("ok" if code == 0 else f"killed after {seconds:.0f} s" if code is None
                      else f"failed (exit {code})")
            if code == 0:
                done.add(name)
        steps.append({"row": row, "step": name, "status": status, "seconds": seconds, "log": log_path,
                      "command": " ".join([os.path.basename(argv[1]), *argv[2:]])})
        print(f"step {i}/{len(MINUTES_STEPS)} {name}: {status}, {seconds:.1f} s | {time.time() - t_start:.0f} s of "
              f"{deadline:.0f} | {log_path}", flush=True)
    rows = []
    for row, (claim, target, read) in MINUTES_CLAIMS.items():
        mine = [s for s in steps if s["row"] == row]
        try:
            number, met = read(folder)
        except (OSError, ValueError, KeyError, IndexError) as e:  # a step that did not finish left no number
            number, met = f"no number ({type(e).__name__}: {e})", None
        unfinished = [f"{s['step']} {s['status']}" for s in mine if s["status"] != "ok"]  # no verdict on part of a row
        rows.append({"claim": claim, "number": number, "target": target, "met": None if unfinished else met,
                     "unfinished": unfinished, "seconds": sum(s["seconds"] for s in mine)})
    machine = (f"{torch.cuda.get_device_name()}" if torch.cuda.is_available() and not toy else
               "CPU" + (" (toy: the numbers mean nothing)" if toy else "")) + f", torch {torch.__version__}"
    total = time.time() - t_start
    lines = [f"minutes table: {machine}, {total:.0f} s in all (deadline {deadline:.0f} s)", "",
             "| claim | number | target | met | wall |", "|---|---|---|---|---|"]
    for r in rows:
        met = ("met" if r["met"] else "not met") if r["met"] is not None else "no verdict: " + "; ".join(
            r["unfinished"] or ["no number"])
        lines.append(f"| {r['claim']} | {r['number']} | {r['target']} | {met} | {r['seconds']:.0f} s |")
    print("\n" + "\n".join(lines))
    with open(os.path.join(folder, "table.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(folder, "table.json"), "w") as f:
        json.dump({"machine": machine, "seconds": total, "deadline": deadline, "toy": toy, "rows": rows,
                   "steps": steps}, f, indent=1)
    return rows


# -----------------------------------------------------------------------------

if __name__ == "__main__":
    _before = set(globals())
    model_type = "gpt"  # as checkpoints name it: 'gpt' (train_gpt.py's settings) or 'awd_lstm' (train_lstm.py's)
    warmup = 10  # steps run first and not timed: compilation, autotuning, allocator warmup
    steps = 30  # timed steps
    sizes = False  # print GPT-3's sizes (parameters, memory per GPU) instead of timing a step
    gpus = 8  # the GPU count the size table assumes
    vocab_size = 0  # tokens in the vocabulary (0: GPT-2's 50,257 for a GPT, PTB's 10,000 for an LSTM)
    minutes = False  # run the "claim in minutes" table (MINUTES_STEPS) instead of timing a step
    minutes_dir = "out-minutes"  # minutes: a new folder for its runs, logs/ (one log per step) and table.md/.json
    deadline = 480.0  # minutes: seconds for the whole table; a step is stopped at its own limit or at this one
    toy = False  # minutes: every step at toy size on the CPU (MINUTES_TOY): checks the runner, the numbers mean nothing
    prepare_from = ""  # prepare the table's data from this folder (as ../shared/data) into data/, then exit
    _own = {k: v for k, v in globals().items() if k not in _before and not k.startswith("_")}
    # the script whose settings these are, from the command line before the settings themselves. --model_kind is the
    # old spelling, kept for one release
    _old = {"--model_kind=gpt": "--model_type=gpt", "--model_kind=lstm": "--model_type=awd_lstm"}
    for _arg in [a for a in sys.argv[1:] if a in _old]:
        print(f"note: {_arg} is bench.py's old spelling of {_old[_arg]}, gone in the next release")
    _argv = [_old.get(a, a) for a in sys.argv[1:]]
    _type = next((a.partition("=")[2] for a in _argv if a.startswith("--model_type=")), "gpt")
    _scripts = {"gpt": "train_gpt.py", "awd_lstm": "train_lstm.py"}  # by model_type
    if _type not in _scripts:
        raise SystemExit(f"config: model_type={_type!r} must be one of gpt, awd_lstm")
    _script = os.path.join(REPO_DIR, _scripts[_type])
    config = configure({**setting_defaults(_script), **_own}, _argv, [os.path.abspath(__file__), _script])
    globals().update(config)
    # the settings that shape a step, as the training scripts check them (a GPT's or an LSTM's, whichever is here)
    _rules = {"warmup": "nonneg", "steps": "positive", "gpus": "positive", "vocab_size": "nonneg", "deadline": "nonneg",
              "batch_size": "positive", "block_size": "positive", "bptt": "positive", "n_layer": "positive",
              "n_head": "positive", "n_embd": "positive", "emb_size": "positive", "hidden_size": "positive",
              "n_layers": "positive", "dropout": "prob", "dropout_emb": "prob", "dropout_in": "prob",
              "dropout_hidden": "prob", "dropout_out": "prob", "weight_drop": "prob", "learning_rate": "nonneg",
              "dtype": ("auto", "float32", "bfloat16", "float16"),
              "compile_mode": ("default", "reduce-overhead", "max-autotune")}
    check_settings(config, {k: rule for k, rule in _rules.items() if k in config})

    if prepare_from:
        prepare_minutes(prepare_from)
        print(f"prepared the minutes table's data in {prepare.DATA_DIR}: run `python bench.py --minutes=True`")
        sys.exit(0)
    if minutes:
        if os.path.exists(minutes_dir) and os.listdir(minutes_dir):  # never mix two tables' runs and logs
            raise SystemExit(f"bench: {minutes_dir} already holds a run: give another --minutes_dir, or move it away")
        print(f"minutes table: {len(MINUTES_STEPS)} steps within {deadline:.0f} s, their runs and logs in {minutes_dir}"
              + (" (toy size, on the CPU)" if toy else ""), flush=True)
        rows = minutes_table(minutes_dir, deadline, toy)
        unfinished = [u for r in rows for u in r["unfinished"]]
        if unfinished:
            raise SystemExit(f"bench: not every step finished ({'; '.join(unfinished)}): see {minutes_dir}/logs")
        sys.exit(0)

    if sizes:
        print(f"GPT-3 (Table 2.1) on {gpus} GPUs as each config trains it (fsdp: sharded; else a whole copy per GPU), "
              "bf16 with fp32 master weights, the config's batch_size per GPU; GiB per GPU, estimated")
        print(f"{'config':<16} {'parameters':>15} {'layers':>6} {'d_model':>7} {'heads':>5} {'fsdp':>5} {'ckpt':>5} "
              f"{'batch':>5} {'states':>7} {'acts':>6} {'total':>6}")
        for name, n, cfg, mem in gpt3_sizes(gpus):
            print(f"{name:<16} {n:>15,} {cfg['n_layer']:>6} {cfg['n_embd']:>7} {cfg['n_head']:>5} "
                  f"{str(cfg['fsdp']):>5} "
                  f"{str(cfg['activation_checkpointing']):>5} {cfg['batch_size']:>5} {mem['states']:>7.1f} "
                  f"{mem['activations']:>6.1f} {mem['total']:>6.1f}")
        sys.exit(0)

    config["vocab_size"] = vocab_size or (50257 if model_type == "gpt" else 10000)
    device_type, dtype, ctx = precision(device, dtype)
    if device_type != "cuda" and config.get("compile_mode", "default") != "default":
        print(f"note: compile_mode={config['compile_mode']} needs a GPU; compiling with the default mode")
        config["compile_mode"] = "default"
    torch.manual_seed(seed)
    torch.backends.cuda.matmul.allow_tf32 = True
    step, tokens_per_step, flops_per_token, model = (gpt_step if model_type == "gpt" else lstm_step)(config, device,
                                                                                                   ctx)
    params = sum(p.numel() for p in model.parameters())
    print(f"bench: {model_type}, {params / 1e6:.1f}M parameters | {tokens_per_step:,} tokens per step | {device} "
          f"{dtype} | compile {compile} ({config.get('compile_mode', 'default')}) | torch {torch.__version__}")

    # a GPU runs what Python queued later: the timing waits for it to finish
    sync = {"cuda": torch.cuda.synchronize, "mps": torch.mps.synchronize}.get(device_type, lambda: None)
    t0 = time.time()
    for _ in range(warmup):
        step()
    sync()
    print(f"warmup: {warmup} steps in {time.time() - t0:.1f} s (compilation included)")
    if device_type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.time()
    for _ in range(steps):
        loss = step()
    loss = loss.item()  # waits for the last step: the timing covers all of them
    dt = (time.time() - t0) / steps
    tok_s = tokens_per_step / dt
    peak = peak_flops(device)
    mfu = flops_per_token * tok_s / peak if peak else None
    memory = torch.cuda.max_memory_allocated() / 2**30 if device_type == "cuda" else None
    print(f"{dt * 1000:.2f} ms/step | {tok_s / 1000:.1f}k tok/s" + (f" | mfu {mfu * 100:.1f}%" if mfu else "")
          + (f" | peak memory {memory:.2f} GiB" if memory is not None else "") + f" | loss {loss:.3f}")
