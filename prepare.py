"""
The one module the scripts share: what they import, and the command that prepares their data.

What the scripts import: settings (configure, check_settings); runs (code_version, log_json, start_banner,
nan_message, lock_out_dir, Interrupt, default_device, precision, the checkpoint writer and reader save_checkpoint,
link_checkpoint, load_checkpoint, to_cpu, Progress, plot_losses); files and downloads (write_file, utf8, jsonl,
download, hub_file); the char, word, gpt2 and gpt1 tokenizers (get_tokenizer); readers of prepared datasets
(load_meta, load_split, check_vocab) and of prepared tasks (FIELDS, read_records, load_task).
What `python prepare.py` does lives in data/sources.py, beside the data it makes: one registry of the published
sources (SOURCES: each URL beside the sha256s of its files), one reader per dataset and per task, and the command line.

Prepare a dataset: data/OUT/{train,val[,test]}.bin hold each split's token ids back to back (uint16 when the
vocabulary fits, else uint32; no header) and data/OUT/meta.json describes them: dataset, tokenizer, vocab_size, dtype,
eot_token (gpt2), splits {split: {tokens, bytes}} (bytes of UTF-8 text, for bits per byte), source, command (the
`python prepare.py` command that made it), and vocab (char, word: index = token id). OUT is NAME, NAME_TOKENIZER with
another tokenizer than the dataset's own, or --out.
$ python prepare.py shakespeare_char                          # bundled text, 65 characters, no network
$ python prepare.py shakespeare                               # bundled text, GPT-2 BPE
$ python prepare.py ptb --from ../shared/data/ptb             # a local copy instead of a download
$ python prepare.py wikitext2 --tokenizer gpt2                # -> data/wikitext2_gpt2
$ python prepare.py wikitext103 --max_vocab 60000             # ULMFiT's vocabulary cap
$ python prepare.py text --input a.txt b.jsonl --out mydata   # your own documents
$ python prepare.py fineweb10B --shards 8                     # llm.c GPT-2 shards, 100M tokens each

Prepare a task for finetune.py: data/OUT/{split}.jsonl, one record a line with its type's fields (FIELDS), and
task.json.
$ python prepare.py trec --from ../shared/data/trec           # TREC-6 questions: train 5,452, test 500
$ python prepare.py sst2 --from ../shared/data/sst2           # GLUE SST-2 sentences: train, val (GLUE's dev)
$ python prepare.py imdb                                      # IMDb reviews: train, test, 50,000 unlabelled (unsup)
$ python prepare.py ag_news                                   # AG News: World, Sports, Business, Sci/Tech
$ python prepare.py rte --from ../shared/data/rte             # GLUE RTE (entailment: premise, hypothesis)
$ python prepare.py mrpc                                      # GLUE MRPC (similarity: text_a, text_b; F1 too)
$ python prepare.py stsb                                      # GLUE STS-B (regression: text_a, text_b, score 0-5)
$ python prepare.py copa                                      # SuperGLUE COPA (multiple_choice: context, choices)
$ python prepare.py task --input train.csv dev.jsonl --out mytask  # your own labelled text (columns text, label)
$ python prepare.py task --type entailment --input train.jsonl --out mynli  # any task type, as .jsonl

The config helper every script uses:
$ python train_gpt.py config/gpt2.py --batch_size=8
"""

import ast
import csv
import difflib
import hashlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import unicodedata

import numpy as np
import requests

REPO_DIR = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.path.join(REPO_DIR, "data")  # read at call time, so tests can point it elsewhere

# -----------------------------------------------------------------------------
# config (first half: what the scripts import): module globals overridden by config files and --key=value


def _coerce(key, value, default, where):
    """Check a config value against the type of its default; an int is fine where a float is expected."""
    if default is None or value is None:
        return value
    if isinstance(default, bool):  # bool before int: bool is a subclass of int
        if isinstance(value, bool):
            return value
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(value, type(default)):
        return value
    raise SystemExit(f"config: {key} must be {type(default).__name__} (default {default!r}), got {value!r} in {where}")


def _unknown(key, known, where):
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else f"; known keys: {', '.join(sorted(known))}"
    return SystemExit(f"config: unknown key '{key}' in {where}{hint}")


def configure(defaults, argv=None, scripts=None):
    """Resolve a script's settings: `defaults` (name -> value), then each config file and --key=value in argv order.

    Config files are Python run in a namespace holding the current settings, so they can compute one setting
    from another; any new name they bind (not starting with _) is an error, like an unknown --key.
    Config paths are tried as given, then relative to the repository, so scripts work from any directory.
    --help (or -h) prints the settings of `scripts` (default: the running script) and exits.
    Returns the resolved dict; every mistake is one SystemExit line.
    """
    args = sys.argv[1:] if argv is None else argv
    if "--help" in args or "-h" in args:
        print_help(scripts or [sys.argv[0]])
        sys.exit(0)
    config = dict(defaults)
    for arg in args:
        if arg.startswith("--"):
            key, sep, text = arg[2:].partition("=")
            if not sep:
                raise SystemExit(f"config: '{arg}' needs a value: write --{key}=VALUE")
            if key not in config:
                raise _unknown(key, config, "the command line")
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                value = text  # a bare word is a string: --dataset=ptb
            if isinstance(config[key], str) and not isinstance(value, str):
                value = text  # --out_dir=123 is still a path
            config[key] = _coerce(key, value, config[key], "the command line")
        else:
            path = arg if os.path.exists(arg) else os.path.join(REPO_DIR, arg)
            if not os.path.isfile(path):
                raise SystemExit(f"config: no config file '{arg}' (settings are written --key=value)")
            namespace = dict(config)
            with open(path) as f:
                code = f.read()
            try:
                exec(compile(code, path, "exec"), namespace)
            except Exception as e:  # a typo in a config file is the user's mistake: one line, not a traceback
                line = e.lineno if isinstance(e, SyntaxError) else e.__traceback__.tb_next.tb_lineno
                raise SystemExit(f"config: {path} line {line}: {type(e).__name__}: {e}") from None
            for key, value in namespace.items():
                if key.startswith("_") or type(value).__name__ in ("module", "function", "type"):
                    continue
                if key not in config:
                    raise _unknown(key, config, path)
                config[key] = _coerce(key, value, config[key], path)
    return config


# what a setting may be, by kind, for check_settings: (test of the value, what the message says is allowed)
ALLOWED = {"prob": (lambda v: 0 <= v < 1, "in [0, 1) (a probability)"),
           "positive": (lambda v: v > 0, "> 0"),
           "nonneg": (lambda v: v >= 0, ">= 0")}


def check_settings(config, rules):
    """Check a script's resolved settings before it writes anything: every mistake at once, one line each, such as
    `config: dropout=2.0 must be in [0, 1) (a probability)`. rules maps a setting to a kind in ALLOWED, to a tuple
    of the values allowed, or to (test, what is allowed) for anything else; a test that fails to run (a None where
    a number belongs, a division by a zero setting) counts as a mistake."""
    mistakes = []
    for name, rule in rules.items():
        if isinstance(rule, str):
            test, allowed = ALLOWED[rule]
        elif callable(rule[0]):
            test, allowed = rule
        else:
            test, allowed = rule.__contains__, "one of " + ", ".join(map(str, rule))
        try:
            ok = test(config[name])
        except (TypeError, ArithmeticError):
            ok = False
        if not ok:
            mistakes.append(f"config: {name}={config[name]!r} must be {allowed}")
    if mistakes:
        raise SystemExit("\n".join(mistakes))


def script_settings(path):
    """A script's settings as its source writes them: [(group, name, default as written, comment)], from the
    assignments between `_before = set(globals())` and `config = configure(...)` in its __main__ block (names
    starting with _ are the script's own workings, as configure treats them). A comment on a line of its own heads
    the group of settings below it. --help prints them; bench.py and the tests use them."""
    with open(path) as f:
        source = f.read()
    lines = source.split("\n")
    main = next(node.body for node in ast.parse(source).body
                if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test))
    names = [ast.unparse(node.targets[0]) if isinstance(node, ast.Assign) else None for node in main]
    start, end = names.index("_before"), names.index("config")
    settings, group, after = [], "", main[start].end_lineno
    for node in main[start + 1:end]:
        for text in lines[after:node.lineno - 1]:
            if text.strip().startswith("#"):
                group = text.strip("# ")
        after = node.end_lineno
        if not isinstance(node, ast.Assign) or node.targets[0].id.startswith("_"):
            continue
        # the value as written (ast.get_source_segment, without splitting the whole file again for each setting);
        # ast's columns count UTF-8 bytes
        value = [line.encode() for line in lines[node.value.lineno - 1:node.value.end_lineno]]
        value[-1] = value[-1][:node.value.end_col_offset]
        value[0] = value[0][node.value.col_offset:]
        rest = lines[node.end_lineno - 1].encode()[node.end_col_offset:].decode().strip()
        settings.append((group, node.targets[0].id, b"\n".join(value).decode(),
                         rest[1:].strip() if rest.startswith("#") else ""))
    return settings


def setting_defaults(path):
    """{name: default value} of a script's settings, each evaluated as the script would (torch, default_device)."""
    import torch
    namespace = {"torch": torch, "default_device": default_device}
    for _, name, value, _ in script_settings(path):
        namespace[name] = eval(value, namespace)
    return {name: namespace[name] for _, name, _, _ in script_settings(path)}


def print_help(scripts):
    print(f"usage: python {os.path.basename(scripts[0])} [CONFIG.py ...] [--key=value ...]\n"
          "Settings, each with its default; config files and --key=value override them in order.")
    for path in scripts:
        group = None
        for new_group, name, value, comment in script_settings(path):
            if new_group != group:
                group = new_group
                print(f"\n{group}" if group else "")
            print((f"  --{name}={value}".ljust(HELP_COLUMN) + " " + comment).rstrip())


HELP_COLUMN = 44  # where --help starts each setting's comment: most defaults fit before it

# -----------------------------------------------------------------------------
# runs: what every training script does around its loop, one small function or class each


def code_version():
    """The repository's commit (with -dirty for local edits), logged with every run's config so results trace back."""
    try:  # 10 s at most: a git that hangs (a lock, a network file system) never stalls a run
        return subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO_DIR, capture_output=True,
                              text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def log_json(path, record, wandb=None):
    """One JSON object per line in a run's log.jsonl, which plot_losses draws and a program reads; with wandb (the
    module), a step's numbers go there too (the run's config went to wandb.init)."""
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
    if wandb is not None and "iter" in record:
        wandb.log({k: v for k, v in record.items() if isinstance(v, (int, float))})


def start_banner(script, device, dtype, config, details, log_path, resumed=None, resumed_line="", **logged):
    """The first lines of a run, so a result traces back to its code and settings: the script at its code version,
    torch, device, dtype and details; the config as JSON; where it resumed from (resumed_line, when it did). The same
    go into log_path as its first record, with `logged` (world_size...) and resumed_from (a step, or None)."""
    import torch
    version = code_version()
    print(f"origins {script} @ {version} | torch {torch.__version__} | {device} {dtype} | {details}")
    print("config: " + json.dumps(config))
    if resumed is not None:
        print(resumed_line)
    log_json(log_path, {"version": version, "torch": torch.__version__, "device": device, "dtype": dtype, **logged,
                        "config": config, "resumed_from": resumed})


def nan_message(what, latest, dtype, grad_clip, clip_default, lr_name="learning_rate", clip_name="grad_clip"):
    """The one line a run stops with when what ("the loss is nan at step 12") is not finite: nothing is saved, so
    latest, where it exists, stays the last good checkpoint; then what may help, only the advice that applies, in
    the names of the settings that apply (finetune.py's LM stage has its own, lm_lr and lm_grad_clip)."""
    kept = f"the last good checkpoint is {latest}" if os.path.exists(latest) else "no checkpoint was written"
    advice = [f"a lower {lr_name}", f"a smaller {clip_name} than {grad_clip:g}" if grad_clip else
              f"{clip_name}={clip_default} (clipping is off)"] + (["dtype=float32"] if dtype != "float32" else [])
    return f"{what}: stopping without saving; {kept}. Try {', '.join(advice[:-1])} or {advice[-1]}"


# one run per out_dir: the kernel's lock on out_dir/.lock, flock on POSIX, msvcrt's byte lock on Windows (both end
# with their process); a platform with neither runs unguarded rather than not at all
try:
    import fcntl
    msvcrt = None
except ImportError:
    fcntl = None
    try:
        import msvcrt
    except ImportError:
        msvcrt = None
LOCK_BYTE = 1 << 20  # the byte msvcrt locks: past the holder's line, which a Windows lock would hide from readers
LOCKS = {}  # out_dir's real path -> the file descriptor holding its lock, for as long as this process runs
# the temporary files a write leaves when its process is killed: save_checkpoint's and plot_losses' NAME.tmpPID,
# write_file's NAME.PID.tmp
LEFTOVER = re.compile(r".+\.tmp(\d+)|.+\.(\d+)\.tmp")


def running(pid):
    """Whether process pid runs on this machine (this process included). Windows has no harmless test (os.kill ends
    the process there): False, and an open file is kept there anyway, since Windows cannot remove it."""
    if pid == os.getpid():
        return True
    if os.name == "nt":
        return False
    try:
        os.kill(pid, 0)  # signal 0 only asks whether the process exists
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_leftovers(folder, writer):
    """Remove the temporary files that killed processes left in folder (LEFTOVER: a half-written checkpoint can be
    gigabytes, enough to keep a disk full) and say so in one note naming their writer ("run", "prepare"); returns how
    many. A file whose process still runs here is its writer's; folders (a sharded checkpoint's) are left to the code
    that writes them."""
    count = size = 0
    for entry in os.scandir(folder):
        match = LEFTOVER.fullmatch(entry.name)
        if not match or not entry.is_file(follow_symlinks=False) or running(int(match[1] or match[2])):
            continue
        try:
            n = entry.stat().st_size
            os.remove(entry.path)
        except OSError:  # gone meanwhile, or open in another process (Windows)
            continue
        count, size = count + 1, size + n
    if count:
        print(f"note: removed {count} temporary file{'s' * (count > 1)} of a stopped {writer} from {folder} "
              f"({size / 1e6:,.1f} MB)")
    return count


def lock_out_dir(out_dir):
    """Make out_dir and lock it for this run: a second run on the folder (or a second resume) is refused in one line
    naming the process that holds it. The lock is the kernel's (flock on out_dir/.lock; msvcrt's on Windows), so it
    ends with the process however it ends, SIGKILL included: a killed run never leaves its folder locked. The same
    process locking the folder again (a script run twice in-process, as the tests do) takes its own lock over.
    Holding the lock, it removes the temporary files of killed runs (remove_leftovers) and says so in one note."""
    where = "" if os.path.isabs(out_dir) else f" (relative to the current directory, {os.getcwd()})"
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise SystemExit(f"config: out_dir={out_dir!r}{where} is a file, not a folder: choose another --out_dir")
    try:
        os.makedirs(out_dir, exist_ok=True)
        fd = os.open(os.path.join(out_dir, ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise SystemExit(f"config: cannot write to out_dir={out_dir!r}{where} ({e.strerror}): choose another "
                         "--out_dir") from None
    key = os.path.realpath(out_dir)
    if key in LOCKS:
        os.close(LOCKS.pop(key))
    try:
        if fcntl:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        elif msvcrt:
            os.lseek(fd, LOCK_BYTE, os.SEEK_SET)  # msvcrt locks from the file's position
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except (BlockingIOError, PermissionError):  # held: flock says EWOULDBLOCK, msvcrt EACCES
        os.lseek(fd, 0, os.SEEK_SET)
        holder = os.read(fd, 1000).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise SystemExit(f"{out_dir} is in use by {holder}: wait for that run to end or stop it, or choose "
                         "another --out_dir") from None
    os.lseek(fd, 0, os.SEEK_SET)
    os.ftruncate(fd, 0)
    os.write(fd, f"process {os.getpid()} ({os.path.basename(sys.argv[0])}) on {socket.gethostname()} since "
                 f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
    LOCKS[key] = fd
    remove_leftovers(out_dir, "run")  # no other run writes here now: what is left, a killed run left


class Interrupt:
    """Ctrl-C (SIGINT), or the SIGTERM that schedulers send (SLURM, Kubernetes, `timeout`), during training: the
    first sets .pressed and .name, the loop saves at its next safe point and calls exit(), which exits with the
    shell's code for that signal (130 for SIGINT, 143 for SIGTERM). A second signal quits at once, in one line.
    restore() puts the previous handlers back, as a script run in-process (the tests) must."""
    SIGNALS = {signal.SIGINT: ("Ctrl-C", 130), signal.SIGTERM: ("SIGTERM", 143)}

    def __init__(self, message):
        self.pressed, self.name, self.code, self.message = False, None, 130, message
        self.previous = {signum: signal.signal(signum, self.handle) for signum in self.SIGNALS}

    def handle(self, signum, frame):
        name, code = self.SIGNALS[signum]
        if self.pressed:  # a SystemExit, not a KeyboardInterrupt: one line, no traceback
            self.restore()
            if self.message:
                print(f"\n{name} again: quitting without saving", flush=True)
            raise SystemExit(code)
        self.pressed, self.name, self.code = True, name, code
        if self.message:
            print(f"\n{name}: {self.message} (Ctrl-C again to quit without saving)", flush=True)

    def restore(self):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

    def exit(self, message=""):
        """After the save: say what was saved, put the handlers back, exit with the signal's code."""
        if message:
            print(message, flush=True)
        self.restore()
        sys.exit(self.code)


def default_device():
    """The device a script runs on unless --device names one: CUDA, else Apple silicon's GPU (mps), else the CPU."""
    import torch
    if torch.cuda.is_available():
        return "cuda"
    return "mps" if torch.backends.mps.is_available() else "cpu"


def precision(device, dtype):
    """(device_type, dtype, autocast context) for a device and a dtype setting. 'auto' is, by device type:
    cuda: bfloat16 on a GPU that has it (Ampere and later), else float16, which training pairs with a GradScaler;
    mps: bfloat16 where MPS autocast has it (torch 2.6 or newer on macOS 14 or newer), else float32: float16 would
      need the GradScaler too, little tried on Apple GPUs, so it runs there only when asked for (MPS was not run
      here: the choices are tested on a CPU);
    cpu: float32.
    The scripts enable their GradScaler for float16 only: bfloat16 has float32's range, so its gradients never
    underflow."""
    from contextlib import nullcontext

    import torch  # here, so that importing prepare stays light
    device_type = next((kind for kind in ("cuda", "mps") if device.startswith(kind)), "cpu")
    if device_type == "mps" and not torch.backends.mps.is_available():
        raise SystemExit(f"config: device={device!r}, but torch finds no Apple GPU (MPS) here: use --device=cpu")
    if dtype == "auto" and device_type == "cuda":
        dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    elif dtype == "auto" and device_type == "mps":
        torch_version = tuple(map(int, torch.__version__.split(".")[:2]))
        dtype = "bfloat16" if torch_version >= (2, 6) and torch.backends.mps.is_macos_or_newer(14, 0) else "float32"
    elif dtype == "auto":
        dtype = "float32"
    if dtype not in ("float32", "bfloat16", "float16"):
        raise SystemExit(f"config: dtype must be auto, float32, bfloat16 or float16, not '{dtype}'")
    if dtype == "float32":
        return device_type, dtype, nullcontext()
    return device_type, dtype, torch.autocast(device_type=device_type, dtype=getattr(torch, dtype))


def save_checkpoint(path, obj):
    """Write obj to path whole or not at all: into path.tmp<pid>, flushed to the disk (fsync), then renamed over path,
    so a kill or a crash mid-write leaves the previous file as it was. A write that fails (a full disk, a file size
    limit) removes the temporary file and stops the run in one line saying what is kept."""
    import torch
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:  # our file object: torch.save to a name turns the OSError into "unexpected pos"
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:  # a second Ctrl-C mid-write too: never leave the half-written file behind
        if os.path.exists(tmp):
            os.remove(tmp)
        error = e
        while error is not None and not isinstance(error, OSError):  # torch raises a RuntimeError from our OSError
            error = error.__context__
        if error is None:
            raise
        kept = (f"the previous {os.path.basename(path)} is intact" if os.path.exists(path)
                else f"no earlier {os.path.basename(path)} existed")
        raise SystemExit(f"checkpoint: could not write {path} ({error.strerror or error}): {kept}") from None


def link_checkpoint(path, alias):
    """Give the checkpoint at path a second name (best.pt for latest.pt): a hard link costs no writing. The next
    save replaces path by a rename, which leaves alias holding this state."""
    import shutil
    tmp = f"{alias}.tmp{os.getpid()}"
    try:
        try:
            os.link(path, tmp)
        except OSError:  # a file system without hard links
            shutil.copyfile(path, tmp)
        os.replace(tmp, alias)
    except OSError as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        kept = (f"the previous {os.path.basename(alias)} is intact" if os.path.exists(alias)
                else f"no earlier {os.path.basename(alias)} existed")
        raise SystemExit(f"checkpoint: could not write {alias} ({e.strerror or e}): {kept}") from None


def load_checkpoint(path, device="cpu", model_type="gpt"):
    """The checkpoint dict at path if it holds a model_type model ("gpt", "awd_lstm", ...); model_type=None accepts
    any (sample.py and finetune.py read the type and build the model themselves). Checkpoints without a model_type
    are GPTs. Read with weights_only=True: a checkpoint never unpickles arbitrary objects."""
    import torch
    if not os.path.exists(path):
        raise SystemExit(f"checkpoint: {path} does not exist (check --out_dir, or train a model there first)")
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # torch's messages run to paragraphs: the exception type says enough
        raise SystemExit(f"checkpoint: {path} is truncated or corrupted, or not a torch checkpoint "
                         f"({type(e).__name__}); use another checkpoint or retrain")
    if not isinstance(ckpt, dict) or "model_args" not in ckpt:
        raise SystemExit(f"checkpoint: {path} was not written by this project's training scripts")
    found = ckpt.get("model_type", "gpt")
    if model_type is not None and found != model_type:
        wanted = {"gpt": "a GPT", "awd_lstm": "an AWD-LSTM"}.get(model_type, f"a {model_type} model")
        raise SystemExit(f"checkpoint: {path} holds a {found} model, not {wanted}")
    return ckpt


def to_cpu(obj, copies=None):
    """A copy of a checkpoint dict with every tensor on the CPU, so it can be written while training goes on. Tensors
    that are one tensor (the tied wte and lm_head weights) stay one: torch.save then writes it once, not twice
    (GPT-2 124M's embedding is 154 MB)."""
    import torch
    copies = {} if copies is None else copies
    if isinstance(obj, torch.Tensor):
        key = (obj.untyped_storage().data_ptr(), obj.storage_offset(), obj.dtype, obj.shape, obj.stride())
        if key not in copies:
            copies[key] = obj.detach().to("cpu", copy=True)
        return copies[key]
    if isinstance(obj, dict):
        return {k: to_cpu(v, copies) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v, copies) for v in obj)
    return obj


def duration(seconds):
    """A time as a person reads it at a glance: 12s, 4m10s, 2h05m."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    return f"{s // 60}m{s % 60:02d}s" if s < 3600 else f"{s // 3600}h{s % 3600 // 60:02d}m"


def timing(elapsed, done, total, busy=None):
    """'1m23s elapsed, ETA 4m10s': the ETA is what is left of total at the rate of done per busy second so far
    (busy: the seconds spent on this work alone, such as training without its evaluations; elapsed by default)."""
    rate = done / (busy or elapsed) if done and (busy or elapsed) else 0
    eta = duration((total - done) / rate) if rate else "unknown"
    return f"{duration(elapsed)} elapsed, ETA {eta}"


PROGRESS_EVERY = 10  # seconds between progress lines in a log file (not a terminal): a job is seen to be alive
PROGRESS_REDRAW = 0.5  # seconds between redraws of the progress line on a terminal


class Progress:
    """Where a long phase is: `lambada: 1,200/5,153 (23%) | 12s elapsed, ETA 40s`, on a terminal one line rewritten
    in place, otherwise (a log file) a plain line every PROGRESS_EVERY seconds. A phase over before the first line
    is due prints nothing; update(n) counts n more done, done() prints the last line of a phase that printed any."""

    def __init__(self, total, what, file=None):
        self.total, self.what, self.count, self.lines = total, what, 0, 0
        self.file = file or sys.stdout
        self.tty = getattr(self.file, "isatty", lambda: False)()
        self.start = self.shown = time.time()

    def line(self):
        share = f" ({self.count / self.total:.0%})" if self.total else ""
        return (f"{self.what}: {self.count:,}/{self.total:,}{share} | "
                + timing(time.time() - self.start, self.count, self.total))

    def show(self):
        print(f"\r{self.line()}\033[K" if self.tty else self.line(), end="" if self.tty else "\n", file=self.file,
              flush=True)  # \033[K clears what a longer line left on a terminal
        self.shown, self.lines = time.time(), self.lines + 1

    def update(self, n=1):
        self.count = min(self.count + n, self.total)  # a last step may reach past an estimated total
        if time.time() - self.shown >= (PROGRESS_REDRAW if self.tty else PROGRESS_EVERY):
            self.show()

    def done(self):
        if self.lines:
            self.show()
            if self.tty:
                print(file=self.file, flush=True)


UNDRAWN = set()  # the png paths plot_losses has said it cannot draw


def plot_losses(log_path, png_path):
    """Draw a run's log.jsonl as png_path: the training loss of each log line, and the train and val losses of each
    evaluation, against steps and (where logged) tokens. A step logged twice (a resume from an earlier checkpoint)
    keeps its last record; a curve of one point (a run shorter than two log lines) is a dot, as a line of one point
    shows nothing. Needs matplotlib (optional, as wandb is): without it nothing is drawn, a note says so once for each
    png_path, and this returns None. The figure is drawn by matplotlib's Agg renderer without pyplot, so no window or
    global state is touched."""
    try:
        from matplotlib import figure
    except ImportError:
        if png_path not in UNDRAWN:  # once a run, not at every evaluation
            UNDRAWN.add(png_path)
            print(f"note: no {os.path.basename(png_path)}: matplotlib is not installed (pip install matplotlib)")
        return None
    curves = {"loss": {}, "train_loss": {}, "val_loss": {}}  # log key -> {step: (tokens, loss)}
    with open(log_path) as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # the last line of a process killed mid-write
                continue
            for key, points in curves.items():
                if key in record and "iter" in record:
                    points[record["iter"]] = (record.get("tokens"), record[key])
    with_tokens = all(tokens is not None for points in curves.values() for tokens, _ in points.values())
    fig = figure.Figure(figsize=(11 if with_tokens else 6, 4))
    fig.subplots_adjust(left=0.08 if with_tokens else 0.13, right=0.98, bottom=0.13, top=0.9, wspace=0.05)  # fixed
    axes = fig.subplots(1, 2 if with_tokens else 1, sharey=True, squeeze=False)[0]  # margins: half the time of a layout
    for ax, x in zip(axes, ("steps", "tokens")):
        for key, label, style in (("loss", "train (log lines)", "-"), ("train_loss", "train (evaluations)", "o-"),
                                  ("val_loss", "val (evaluations)", "o-")):
            points = sorted(curves[key].items())
            if points:
                xs = [step if x == "steps" else tokens for step, (tokens, _) in points]
                ax.plot(xs, [loss for _, (_, loss) in points], style if len(points) > 1 else "o", label=label,
                        linewidth=1, markersize=3)
        ax.set_xlabel(x)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("loss")
    axes[0].legend()
    fig.suptitle(os.path.basename(os.path.dirname(os.path.abspath(log_path))))
    tmp = f"{png_path}.tmp{os.getpid()}"
    fig.savefig(tmp, format="png", dpi=100)
    os.replace(tmp, png_path)  # a reader never sees half a picture
    return png_path

# -----------------------------------------------------------------------------
# files and downloads: whole files or none, UTF-8 or a one-line error, downloads resumed and checked


def write_file(path, chunks):
    """Write byte chunks (numpy arrays write their raw buffer) to a temp file, then rename: never half a file."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"  # per process: DDP ranks may prepare the bundled data at once
    with open(tmp, "wb") as f:
        for chunk in chunks:
            f.write(chunk)
    os.replace(tmp, path)


def utf8(data, where):
    """The text of a file's bytes; bytes that are not UTF-8 are one line naming where."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SystemExit(f"prepare: {where} is not UTF-8 text (byte {e.start:,}): convert it to UTF-8") from None


def jsonl(path, text):
    """(line number, object) for each non-blank line of a JSONL file's text; a line that is no object: one line."""
    for n, line in enumerate(text.split("\n"), 1):
        if line.strip():
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise SystemExit(f"data: {path} line {n} is not valid JSON ({e.msg}): one object per line") from None
            if not isinstance(record, dict):
                raise SystemExit(f"data: {path} line {n} is not a JSON object: write {{\"text\": ...}} on each line")
            yield n, record


RETRIES = 3  # tries per download: enough to ride out a dropped connection, few enough to fail soon when offline
BACKOFF = 2.0  # seconds before the second try, doubled before each later one
TIMEOUT = 30  # seconds to connect, and to wait for each chunk
CHUNK = 1 << 20  # bytes read or written at a time (1 MiB): FineWeb shards are hundreds of MB, memory stays flat


def download(url, path, sha256=None):
    """Fetch url into path unless it is there; a partial path.part is resumed with a Range request. Returns path."""
    if os.path.exists(path):  # only a complete, checked download is ever renamed to path
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    part, reason = f"{path}.part", ""
    for attempt in range(RETRIES):
        if attempt:
            time.sleep(BACKOFF * 2 ** (attempt - 1))
        have = os.path.getsize(part) if os.path.exists(part) else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            with requests.get(url, headers=headers, stream=True, timeout=TIMEOUT) as r:
                r.raise_for_status()
                resume = r.status_code == 206  # 200: the server ignored the range, so start over
                print(f"downloading {url}" + (f" from byte {have:,}" if resume else ""))
                with open(part, "ab" if resume else "wb") as f:
                    for chunk in r.iter_content(CHUNK):
                        f.write(chunk)
            break
        except requests.RequestException as e:
            status = getattr(e.response, "status_code", None)
            reason = f"HTTP {status}" if status else type(e).__name__
            if status == 416 and have:  # the part reaches past the file's end: start over
                os.remove(part)
    else:
        raise SystemExit(f"download: could not download {url} after {RETRIES} tries ({reason}): "
                         "check the connection or use --from DIR with a local copy")
    digest = hashlib.sha256()
    with open(part, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    ok = not sha256 or digest.hexdigest() == sha256
    if not ok:
        os.remove(part)
        raise SystemExit(f"download: {url} does not match its published sha256 (deleted it): run again, "
                         "or use --from DIR with a copy you trust")
    os.replace(part, path)
    return path


HUB_URL = "https://huggingface.co/{}/resolve/main/{}"  # repo, filename


def hub_file(repo, filename):
    """The path of one file of a Hugging Face hub repo, downloaded once into data/hub/. The hub stores large files
    with git LFS and names their sha256 in the X-Linked-Etag header, which the download is then checked against."""
    path = os.path.join(DATA_DIR, "hub", repo.replace("/", "--"), filename)
    if os.path.exists(path):
        return path
    url, sha256 = HUB_URL.format(repo, filename), None
    try:
        with requests.head(url, allow_redirects=False, timeout=TIMEOUT) as r:  # the LFS redirect carries the hash
            etag = r.headers.get("X-Linked-Etag", "").strip('"')
            sha256 = etag if re.fullmatch(r"[0-9a-f]{64}", etag) else None  # small files: a git hash, no sha256
    except requests.RequestException:
        pass  # download() retries and reports
    return download(url, path, sha256)

# -----------------------------------------------------------------------------
# tokenizers: char and word keep their vocabulary in meta.json, gpt2 is tiktoken's BPE, gpt1 OpenAI's files

EOS, UNK = "<eos>", "<unk>"  # word level: end of line, and any word outside the vocabulary (as in PTB and WikiText)
TOKENIZERS = ("char", "word", "gpt2", "gpt1")  # the --tokenizer choices, as meta.json names them


def gpt2_encoding():
    import tiktoken  # imported here: it is slow to import and only the gpt2 tokenizer needs it
    try:
        return tiktoken.get_encoding("gpt2")
    except Exception as e:  # tiktoken fetches its BPE files on first use
        raise SystemExit(f"tokenizer: could not load tiktoken's gpt2 files ({type(e).__name__}): connect to the "
                         "internet once, or set TIKTOKEN_CACHE_DIR to a folder holding them") from None


# GPT-1's BPE (Radford et al. 2018, §4.1: "a bytepair encoding (BPE) vocabulary with 40,000 merges"): lower-cased
# words, the last symbol of each word marked with </w>. OpenAI's code cleans text with ftfy and splits it with spaCy;
# without them, GPT1_WORD approximates spaCy's English rules (see the README for where the two differ).
GPT1_PUNCT = re.compile(r"""(-+|~+|!+|"+|;+|\?+|\++|,+|\)+|\(+|\\+|/+|\*+|\[+|\]+|}+|{+|\|+|_+)""")  # padded by spaces
GPT1_WORD = re.compile(r"\n|n't\b|'(?:s|re|ve|ll|d|m)\b"  # a line break; the contractions spaCy splits off
                       r"|\d+(?:[.,:]\d+)+|(?:[^\W\d_]\.)+(?!\S)"  # 3.5 and 10:30; initials such as h. and u.s.
                       r"|[^\W_]+(?=n't\b)|[^\W_]+|_+|\.{2,}|[^\w\s]")  # do|n't; words; ...; any other symbol



def gpt1_encoding(source):
    """(encode, decode) of GPT-1's BPE from vocab.json and merges.txt in the folder source, or the hub repo source."""
    where = (lambda f: os.path.join(source, f)) if os.path.isdir(source) else (lambda f: hub_file(source, f))
    vocab_path, merges_path = where("vocab.json"), where("merges.txt")
    try:
        with open(vocab_path, encoding="utf-8") as f:
            encoder = json.load(f)
        with open(merges_path, encoding="utf-8") as f:
            lines = [line.split() for line in f.read().split("\n")[1:]]  # line 1 is "#version: 0.2"
    except (OSError, ValueError) as e:
        raise SystemExit(f"tokenizer: cannot read GPT-1's BPE files in {source} ({type(e).__name__}): use the "
                         "vocab.json and merges.txt of openai-community/openai-gpt") from None
    ranks = {tuple(pair): rank for rank, pair in enumerate(lines) if len(pair) == 2}
    decoder, unk, cache = {i: s for s, i in encoder.items()}, encoder.get("<unk>", 0), {}

    def bpe(word):  # merge the adjacent pair with the lowest rank, everywhere in the word, until none is in ranks
        if word not in cache:
            symbols = [*word[:-1], word[-1] + "</w>"]
            while len(symbols) > 1:
                pair = min(zip(symbols, symbols[1:]), key=lambda p: ranks.get(p, len(ranks)))
                if pair not in ranks:
                    break
                merged, i = [], 0
                while i < len(symbols):
                    if symbols[i:i + 2] == list(pair):
                        merged.append(pair[0] + pair[1])
                        i += 2
                    else:
                        merged.append(symbols[i])
                        i += 1
                symbols = merged
            cache[word] = [encoder.get(s, unk) for s in symbols]  # a symbol never seen in BooksCorpus is <unk>
        return cache[word]

    def encode(text):
        # OpenAI's text_standardize: dashes, ellipses and accents as ASCII
        for a, b in (("—", "-"), ("–", "-"), ("―", "-"), ("…", "..."), ("´", "'")):
            text = text.replace(a, b)
        text = GPT1_PUNCT.sub(r" \1 ", text)
        text = re.sub(r"\s*\n\s*", " \n ", text)  # a whitespace run holding line breaks: one line break, as there
        text = unicodedata.normalize("NFC", text).lower()
        return [i for word in GPT1_WORD.findall(text) for i in bpe(word)]

    def decode(ids):
        return "".join(decoder.get(i, UNK) for i in ids).replace("</w>", " ")  # UNK: an id past the vocabulary
    return encode, decode


def get_tokenizer(meta):
    """(encode, decode) for a prepared dataset: encode(str) -> list[int], decode(list[int]) -> str."""
    if meta["tokenizer"] == "gpt2":
        enc = gpt2_encoding()
        return enc.encode_ordinary, enc.decode  # ordinary: "<|endoftext|>" typed in a text is text, not the token
    if meta["tokenizer"] == "gpt1":
        return gpt1_encoding(meta["bpe"])
    vocab = meta["vocab"]
    stoi = {s: i for i, s in enumerate(vocab)}
    if meta["tokenizer"] == "char":
        def encode(text):
            try:
                return [stoi[c] for c in text]
            except KeyError:  # no <unk> for characters: a model cannot read what it never saw
                missing = sorted(set(text) - stoi.keys())  # the first ten are named: the message stays one line
                more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
                shown = ", ".join(map(repr, missing[:10]))
                raise ValueError(f"characters not in the vocabulary: {shown}{more}") from None
        return encode, lambda ids: "".join(vocab[i] for i in ids)
    eos, unk = stoi[EOS], stoi[UNK]

    def encode(text):  # whitespace-separated words, one <eos> per line break (pytorch/examples, AWD-LSTM)
        *lines, last = text.split("\n")
        ids = []
        for line in lines:
            ids.extend([stoi.get(w, unk) for w in line.split()])
            ids.append(eos)
        ids.extend(stoi.get(w, unk) for w in last.split())
        return ids

    def decode(ids):  # words joined by spaces, each <eos> back to a line break
        lines = [[]]
        for i in ids:
            if i == eos:
                lines.append([])
            else:
                lines[-1].append(vocab[i])
        return "\n".join(" ".join(words) for words in lines)
    return encode, decode

# -----------------------------------------------------------------------------
# reading prepared data: data/NAME/{split}.bin and meta.json

DATASETS = {"shakespeare_char": "char", "shakespeare": "gpt2", "ptb": "word", "wikitext2": "word",
            "wikitext103": "word", "text": "gpt2", "fineweb10B": "gpt2"}  # name: default tokenizer
# the bundled datasets: their text is in the repository, so load_meta prepares them on first use, with no network
BUNDLED = ("shakespeare_char", "shakespeare")
SHAKESPEARE_TEXT = os.path.join(REPO_DIR, "data", "tinyshakespeare", "input.txt")


def dataset_dir(name):
    return os.path.join(DATA_DIR, name)


OWN_TEXT = "python prepare.py text --input FILE... --out {}"  # the command for a name that no other command makes


def prepare_command(name, meta=None):
    """The command that makes data/NAME, for messages: the one its meta.json records (meta, or read from data/NAME),
    else one made from the name (NAME or NAME_TOKENIZER; any other name is your own text)."""
    if meta is None:
        try:
            with open(os.path.join(dataset_dir(name), "meta.json"), "rb") as f:
                meta = json.loads(f.read())
        except (OSError, ValueError):  # none, or damaged: the name is all there is
            meta = {}
    if isinstance(meta, dict) and isinstance(meta.get("command"), str):
        return meta["command"]
    base, _, tokenizer = name.rpartition("_")
    if name in DATASETS:
        return f"python prepare.py {name}"
    if base in DATASETS and tokenizer in TOKENIZERS:
        return f"python prepare.py {base} --tokenizer {tokenizer}"
    return OWN_TEXT.format(name)


def not_prepared(name):
    """The message for a dataset that is not prepared. A name that only your own text could make (a typo such as
    wikitext-2) is first matched with the nearest prepared or known one."""
    command = prepare_command(name)
    message = f"data: dataset '{name}' is not prepared in {DATA_DIR}: run `{command}`"
    if command != OWN_TEXT.format(name):
        return message
    found = sorted(os.listdir(DATA_DIR)) if os.path.isdir(DATA_DIR) else []
    prepared = [d for d in found if os.path.isfile(os.path.join(DATA_DIR, d, "meta.json"))]
    close = difflib.get_close_matches(name, prepared + [d for d in DATASETS if d not in prepared], n=1)
    if not close:
        return message
    how = "prepared there" if close[0] in prepared else f"made by `{prepare_command(close[0])}`"
    return (f"data: dataset '{name}' is not prepared in {DATA_DIR}: did you mean '{close[0]}' ({how})? Else run "
            f"`{command}`")


META_FIELDS = ("tokenizer", "vocab_size", "dtype", "splits")  # what every meta.json holds; char and word: vocab too


def load_meta(name):
    """meta.json of a prepared dataset; the bundled ones are prepared on first use, others say how to make them."""
    path = os.path.join(dataset_dir(name), "meta.json")
    if not os.path.exists(path) and name in BUNDLED:
        print(f"preparing the bundled dataset {name} (first run only)")
        prepare(name)  # the files `python prepare.py NAME` makes (data/sources.py, through prepare() at the end)
    if not os.path.exists(path):
        raise SystemExit(not_prepared(name))
    try:
        with open(path, "rb") as f:
            meta = json.loads(f.read())
    except ValueError as e:  # not JSON, or not text at all
        raise SystemExit(f"data: {path} is not valid JSON ({e}): rebuild it with "
                         f"`{prepare_command(name, {})}`") from None
    rebuild = f"rebuild it with `{prepare_command(name, meta)}`"  # the command meta.json records, if it is one
    if not isinstance(meta, dict):
        raise SystemExit(f"data: {path} is not a JSON object: {rebuild}")
    needs = META_FIELDS + (("vocab",) if meta.get("tokenizer") in ("char", "word") else ())
    missing = [k for k in needs if k not in meta]
    if missing:
        raise SystemExit(f"data: {path} lacks {', '.join(missing)}: {rebuild}")
    if meta["dtype"] not in ("uint16", "uint32") or not isinstance(meta["splits"], dict):
        raise SystemExit(f"data: {path} has dtype {meta['dtype']!r} (uint16 or uint32 expected) or no splits: "
                         f"{rebuild}")
    return meta


def check_vocab(ckpt_meta, meta, path, dataset):
    """A checkpoint is only usable on data numericalised with the same vocabulary. A refusal says what differs: two
    char or word vocabularies, the first few tokens found in only one of them (or the same tokens with other ids)."""
    def describe(m):
        return f"{m['tokenizer']} vocabulary of {m['vocab_size']}"
    if all(ckpt_meta.get(k) == meta.get(k) for k in ("tokenizer", "vocab_size", "vocab")):
        return
    ours, theirs, differs = ckpt_meta.get("vocab"), meta.get("vocab"), ""
    if ckpt_meta.get("tokenizer") == meta.get("tokenizer") and isinstance(ours, list) and isinstance(theirs, list):
        unit, parts = "characters" if meta["tokenizer"] == "char" else "words", []
        for whose, tokens, other in (("checkpoint", ours, set(theirs)), ("dataset", theirs, set(ours))):
            only = [t for t in tokens if t not in other]
            if only:  # the first five: the message stays one line
                more = f" and {len(only) - 5:,} more" if len(only) > 5 else ""
                parts.append(f"{', '.join(map(repr, only[:5]))}{more} only in the {whose}'s")
        differs = f" ({'; '.join(parts) or f'the same {unit} with other ids'})"
    raise SystemExit(f"checkpoint: {path} was trained on a {describe(ckpt_meta)}, but dataset '{dataset}' has a "
                     f"{describe(meta)}{differs}: train on the same dataset, or start fresh with init_from='scratch'")


def load_split(name, split, meta=None):
    """The token stream of one split as a read-only memmap (nothing is read until it is indexed)."""
    meta = meta or load_meta(name)
    path = os.path.join(dataset_dir(name), f"{split}.bin")
    if not os.path.exists(path):
        raise SystemExit(f"data: {path} is missing: run `{prepare_command(name, meta)}` again")
    size, width = os.path.getsize(path), np.dtype(meta["dtype"]).itemsize
    tokens = (meta["splits"].get(split) or {}).get("tokens")  # what meta.json says was written
    rebuild = f"rebuild it with `{prepare_command(name, meta)}`"  # a prepare killed part-way is found here
    if tokens is not None and size != tokens * width:
        raise SystemExit(f"data: {path} is {size:,} bytes, but meta.json says it holds {tokens:,} {meta['dtype']} "
                         f"tokens ({tokens * width:,} bytes): it is truncated or damaged; {rebuild}")
    if size % width:
        raise SystemExit(f"data: {path} is {size:,} bytes, not a whole number of {meta['dtype']} tokens ({width} "
                         f"bytes each): it is truncated or damaged; {rebuild}")
    if not size:
        raise SystemExit(f"data: {path} holds no tokens (an empty split): {rebuild}")
    return np.memmap(path, dtype=meta["dtype"], mode="r")

# -----------------------------------------------------------------------------
# reading prepared tasks: data/NAME/{split}.jsonl and task.json, for finetune.py and eval.py

# {split}.jsonl holds one record a line: its type's FIELDS and a label (none in unsup); task.json holds task, type,
# labels (sorted class names; [] for regression and multiple choice), splits {split: records} and source.
TASKS = ("trec", "sst2", "imdb", "ag_news", "rte", "mrpc", "stsb", "copa", "hellaswag", "piqa", "arc_easy",
         "arc_challenge", "winogrande", "storycloze", "task")  # task: your own files, last
FIELDS = {"classification": ("text",), "entailment": ("premise", "hypothesis"), "similarity": ("text_a", "text_b"),
          "regression": ("text_a", "text_b"), "multiple_choice": ("context", "choices")}  # each task type's inputs


def check_record(record, where, labelled, first, task_type="classification"):
    """A record as its type's input fields plus "label" (a str; a float score for regression; a choice index for
    multiple choice). A multiple-choice record may hold "contexts", one per choice, in place of its "context": each
    choice is read after its own (Winogrande's partial scoring, GPT-3 §3.4); examples may differ in their number of
    choices (not all of ARC's have four). `first` keeps the first label's type and place: a file cannot mix them."""
    out, own = {}, task_type == "multiple_choice" and "contexts" in record  # own: a context per choice
    for field in ("contexts", "choices") if own else FIELDS[task_type]:
        value = record.get(field)
        listed = field in ("choices", "contexts")
        texts = value if listed and isinstance(value, list) else [value]
        if not all(isinstance(t, str) and t.strip() for t in texts) or (listed and len(texts) < 2):
            what = "a list of at least two non-empty strings" if listed else "a non-empty string"
            per_choice = " or contexts, one per choice" if task_type == "multiple_choice" else ""
            raise SystemExit(f"data: {where} needs \"{field}\" as {what} (a {task_type} task's fields: "
                             f"{', '.join(FIELDS[task_type])}{per_choice})")
        out[field] = value
    if own and len(out["contexts"]) != len(out["choices"]):
        raise SystemExit(f"data: {where} has {len(out['contexts'])} contexts for {len(out['choices'])} choices: give "
                         "one context per choice, or one \"context\" for all")
    if not labelled:
        return out
    label = record.get("label")
    if task_type in ("regression", "multiple_choice"):
        # json.loads reads NaN and Infinity: no score to regress towards
        number = type(label) in (int, float) and np.isfinite(label) if task_type == "regression" else type(label) is int
        if not number or (task_type == "multiple_choice" and not 0 <= label < len(out["choices"])):
            want = "a number" if task_type == "regression" else f"a choice index 0 to {len(out['choices']) - 1}"
            raise SystemExit(f"data: {where} has the label {label!r}: a {task_type} label is {want}")
        return {**out, "label": float(label) if task_type == "regression" else label}
    if type(label) not in (int, str) or not str(label).strip():  # type(), not isinstance: True is an int too
        what = "no \"label\"" if "label" not in record else f"the label {label!r}"
        raise SystemExit(f"data: {where} has {what}: labels are non-empty strings or integers")
    kind, at = first.setdefault("label", (type(label), where))
    if type(label) is not kind:  # 1 and "1" would become one class after str(): almost surely a mistake
        raise SystemExit(f"data: {where} has a {type(label).__name__} label ({label!r}) but {at} has a "
                         f"{kind.__name__}: use one type for all labels of a file")
    return {**out, "label": str(label)}


def read_records(path, labelled=True, task_type="classification"):
    """The records of a JSONL file, one object per line with its task type's fields (FIELDS) and a "label", checked
    by check_record (only the input fields unless labelled). Blank lines are skipped; every mistake is one line
    naming the file and line number."""
    if not os.path.isfile(path):
        raise SystemExit(f"data: no such file: {path}")
    with open(path, "rb") as f:
        text, first = utf8(f.read(), path), {}
    return [check_record(record, f"{path} line {n}", labelled, first, task_type) for n, record in jsonl(path, text)]


def read_csv_records(text, where, labelled, who):
    """The records of a classification CSV's text (where: its file, for messages; who: the command, "task" or
    "predict"): a header row naming a text column, and a label column when labelled; other columns are ignored and
    the header is never a record. Every mistake is one line naming where and the line."""
    rows, first = csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline="")), {}
    try:
        if not ({"text", "label"} if labelled else {"text"}) <= set(rows.fieldnames or ()):
            raise SystemExit(f"{who}: {where} needs a header row naming a text{' and a label' * labelled} column (it "
                             f"has {', '.join(rows.fieldnames or ()) or 'none'}), as `prepare.py task` reads CSV")
        return [check_record(row, f"{where} line {rows.line_num}", labelled, first) for row in rows]
    except csv.Error as e:  # a field over csv.field_size_limit(), 131,072 characters; line_num: lines read
        raise SystemExit(f"{who}: {where} line {rows.line_num + 1} is not valid CSV ({e})") from None


def check_splits(splits, where, task_type="classification"):
    """A classifier needs train examples, and cannot be scored on labels it never saw in train."""
    if not splits.get("train"):
        raise SystemExit(f"data: {where} has no train records: a classifier needs a non-empty train split")
    for split in ("val", "test") if task_type in ("classification", "entailment", "similarity") else ():
        unseen = sorted({r["label"] for r in splits.get(split, ())} - {r["label"] for r in splits["train"]})
        if unseen:
            raise SystemExit(f"data: the {split} split of {where} has labels that never occur in train: "
                             f"{', '.join(map(repr, unseen))}: fix them or add train examples")


def load_task(name):
    """(task.json's dict, {split: records}) of a prepared task, checked as when it was prepared."""
    folder = dataset_dir(name)
    if not os.path.exists(os.path.join(folder, "task.json")):
        how = (f"`python prepare.py {name}` (or `python prepare.py {name} --from DIR` with a local copy)"
               if name in TASKS[:-1] else f"`python prepare.py task --input FILE... --out {name}`")
        raise SystemExit(f"data: task '{name}' is not prepared in {DATA_DIR}: run {how}")
    with open(os.path.join(folder, "task.json")) as f:
        info = json.load(f)
    task_type = info.get("type", "classification")
    if task_type not in FIELDS:
        raise SystemExit(f"data: {folder}/task.json has the type '{task_type}': use one of {', '.join(FIELDS)}")
    splits = {split: read_records(os.path.join(folder, f"{split}.jsonl"), split != "unsup", task_type)
              for split in info["splits"]}
    check_splits(splits, folder, task_type)
    return info, splits


# -----------------------------------------------------------------------------
# making datasets and tasks: data/sources.py holds the converters, read only when something is prepared

def prepare(*args, **kwargs):
    """Make data/OUT/ for a dataset or task: see data/sources.py's prepare for the arguments."""
    from data import sources
    return sources.prepare(*args, **kwargs)


if __name__ == "__main__":
    from data import sources
    sources.main()
