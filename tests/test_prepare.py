"""prepare.py: tokenizers, dataset preparation, downloads (against a loopback server), the config helper, the CLI.

Needs no network and no ../shared; the gpt2 tests need tiktoken's BPE files (TIKTOKEN_CACHE_DIR) and skip without them.
$ TIKTOKEN_CACHE_DIR=../shared/tiktoken_cache python -m pytest -q tests/test_prepare.py
"""

import hashlib
import http.server
import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
import zipfile
from types import SimpleNamespace

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import prepare  # noqa: E402
from data import sources  # noqa: E402
from prepare import configure, get_tokenizer, load_meta, load_split  # noqa: E402


def gpt2_available():
    try:
        import tiktoken
        tiktoken.get_encoding("gpt2")
        return True
    except Exception:
        return False


needs_gpt2 = pytest.mark.skipif(not gpt2_available(), reason="tiktoken cannot load gpt2: set TIKTOKEN_CACHE_DIR")


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(prepare, "DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def tokens(name, split):
    return load_split(name, split).tolist()

# -----------------------------------------------------------------------------
# tokenizers


def test_char_round_trip_and_unknown_characters():
    encode, decode = get_tokenizer({"tokenizer": "char", "vocab": list("\n !abc")})
    assert encode("ab c!\n") == [3, 4, 1, 5, 2, 0]
    assert decode(encode("ab c!\n")) == "ab c!\n"
    with pytest.raises(ValueError, match=r"^characters not in the vocabulary: 'é', '€'$"):
        encode("a€bé")


def test_word_round_trip_eos_and_unk():
    encode, decode = get_tokenizer({"tokenizer": "word", "vocab": ["<eos>", "<unk>", "a", "b"]})
    assert encode(" a b \n b zzz \n") == [2, 3, 0, 3, 1, 0]  # one <eos> per line, unknown words -> <unk>
    assert encode("a b") == [2, 3] and encode("\n") == [0]  # a prompt without a line break gets no <eos>
    assert decode(encode("a b\nb a\n\na")) == "a b\nb a\n\na"
    assert decode([3, 1, 0]) == "b <unk>\n"


@needs_gpt2
def test_gpt2_round_trip():
    encode, decode = get_tokenizer({"tokenizer": "gpt2"})
    assert encode("Hello world") == [15496, 995]
    assert decode(encode("naïve <|endoftext|> text\n")) == "naïve <|endoftext|> text\n"
    assert 50256 not in encode("<|endoftext|>")  # typed text is never the document separator


def test_gpt1_whitespace_with_line_breaks_is_one_line_break():
    # OpenAI's text_standardize: re.sub(r'\s*\n\s*', ' \n ', text), so a blank line is one "\n</w>" token, the only
    # line break GPT-1 ever saw
    bpe = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "gpt1_bpe")
    encode, _ = get_tokenizer({"tokenizer": "gpt1", "bpe": bpe})
    newline = 40477  # "\n</w>" in GPT-1's vocab.json
    assert encode("a\n\nb") == encode("a \n b") and encode("a\n\nb").count(newline) == 1
    assert encode("hello\n\nworld") == encode("hello \r\n\t\n  world") == [3570, newline, 1276]

# -----------------------------------------------------------------------------
# datasets


def test_shakespeare_char_prepared_on_first_use(data_dir):
    with open(prepare.SHAKESPEARE_TEXT, encoding="utf-8") as f:
        text = f.read()
    meta = load_meta("shakespeare_char")  # bundled: prepared here, with no network
    n = int(len(text) * 0.9)  # nanoGPT's split: first 90% of characters
    assert meta["vocab_size"] == 65 and meta["vocab"] == sorted(set(text)) and meta["dtype"] == "uint16"
    assert meta["splits"] == {"train": {"tokens": n, "bytes": len(text[:n].encode())},
                              "val": {"tokens": len(text) - n, "bytes": len(text[n:].encode())}}
    _, decode = get_tokenizer(meta)
    assert decode(tokens("shakespeare_char", "val")) == text[n:]
    assert (data_dir / "shakespeare_char" / "train.bin").stat().st_size == 2 * n


@needs_gpt2
def test_shakespeare_gpt2_matches_nanogpt(data_dir):
    meta = prepare.prepare("shakespeare")
    assert [s["tokens"] for s in meta["splits"].values()] == [301_966, 36_059]  # nanoGPT's counts
    assert meta["eot_token"] == 50256 and "vocab" not in meta


@pytest.fixture
def ptb_dir(tmp_path):
    src = tmp_path / "ptb_src"
    src.mkdir()
    (src / "ptb.train.txt").write_text(" a b <unk> \n b c \n")
    (src / "ptb.valid.txt").write_text(" a d \n")  # d is not in train
    (src / "ptb.test.txt").write_text(" c é \n")
    return src


def test_word_dataset_from_dir(data_dir, ptb_dir, capsys):
    meta = prepare.prepare("ptb", src=str(ptb_dir))
    out = capsys.readouterr().out
    assert "warning" in out and "sha256" in out  # not the published files: said, then used
    assert "val: 1 words outside" in out and "test: 1 words outside" in out
    assert meta["vocab"] == ["<eos>", "<unk>", "b", "a", "c"]  # specials, then by train frequency, ties in order
    assert meta["dtype"] == "uint16" and meta["splits"]["val"] == {"tokens": 3, "bytes": 6}
    assert tokens("ptb", "train") == [3, 2, 1, 0, 2, 4, 0] and tokens("ptb", "val") == [3, 1, 0]
    assert meta["source"] == str(ptb_dir)

    meta = prepare.prepare("ptb", src=str(ptb_dir), max_vocab=4)  # the rarest train word c becomes <unk> too
    assert meta["vocab"] == ["<eos>", "<unk>", "b", "a"] and tokens("ptb", "test") == [1, 1, 0]
    meta = prepare.prepare("ptb", src=str(ptb_dir), tokenizer="char")
    assert (data_dir / "ptb_char" / "meta.json").exists() and meta["vocab"][-1] == "é"  # val/test-only chars appended


def test_large_word_vocabulary_is_uint32(data_dir, tmp_path):
    src = tmp_path / "big"
    src.mkdir()
    words = [f"w{i}" for i in range(70_000)]
    (src / "ptb.train.txt").write_text(" ".join(words) + "\n")
    (src / "ptb.valid.txt").write_text("w69999 w0\n")
    (src / "ptb.test.txt").write_text("w5\n")
    meta = prepare.prepare("ptb", src=str(src))
    assert meta["vocab_size"] == 70_002 and meta["dtype"] == "uint32"
    assert (data_dir / "ptb" / "val.bin").stat().st_size == 4 * 3
    assert [meta["vocab"][i] for i in tokens("ptb", "val")] == ["w69999", "w0", "<eos>"]


def write_jsonl(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_text_from_txt_and_jsonl(data_dir, tmp_path):
    (tmp_path / "a.txt").write_text("hello world\n")
    b = write_jsonl(tmp_path / "b.jsonl", ['{"text": "second doc"}', "", '{"text": "third", "id": 3}'])
    meta = prepare.prepare("text", inputs=[str(tmp_path / "a.txt"), b], tokenizer="char", out="mine", val_fraction=0.25)
    # 27 characters of documents: the first 20 (75%) are train; documents are joined on new lines
    _, decode = get_tokenizer(meta)
    assert decode(tokens("mine", "train")) == "hello world\n\nsecond d" and decode(tokens("mine", "val")) == "oc\nthird"
    assert meta["splits"]["train"]["bytes"] == 20 and meta["splits"]["val"]["bytes"] == 7  # separators not counted


@needs_gpt2
def test_text_gpt2_separates_documents_with_eot(data_dir, tmp_path):
    docs = ["one", "two", "three", "four " * 20]  # the last 10% of the characters lie in the last document
    path = write_jsonl(tmp_path / "d.jsonl", [json.dumps({"text": d}) for d in docs])
    meta = prepare.prepare("text", inputs=[path])
    train, val = tokens("text", "train"), tokens("text", "val")
    assert train.count(50256) == 3 and val.count(50256) == 0 and train[0] != 50256
    _, decode = get_tokenizer(meta)
    assert decode(train) + decode(val) == "<|endoftext|>".join(docs)


def test_text_bad_jsonl_names_the_line(data_dir, tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", ['{"text": "ok"}', '{"text": "unclosed'])
    with pytest.raises(SystemExit, match=r"bad.jsonl line 2 is not valid JSON"):
        prepare.prepare("text", inputs=[path])
    path = write_jsonl(tmp_path / "nofield.jsonl", ['{"text": "ok"}', "", '{"body": "x"}'])
    with pytest.raises(SystemExit, match=r"nofield.jsonl line 3 has no \"text\" string"):
        prepare.prepare("text", inputs=[path])
    assert not data_dir.exists()  # nothing written on a mistake


def test_text_drops_a_byte_order_mark_and_makes_every_line_end_a_newline(data_dir, tmp_path, capsys):
    # as Windows Notepad saves: a BOM and \r\n; an old Mac's \r; a JSONL text holding \r\n
    (tmp_path / "win.txt").write_bytes("\ufeffOne line\r\nTwo\r\nold mac\rend\r\n".encode())
    jsonl_path = write_jsonl(tmp_path / "more.jsonl", [json.dumps({"text": "a\r\nb"})])
    meta = prepare.prepare("text", inputs=[str(tmp_path / "win.txt"), jsonl_path], tokenizer="char", out="win")
    assert "\ufeff" not in meta["vocab"] and "\r" not in meta["vocab"]
    _, decode = get_tokenizer(meta)
    # 27 characters once converted: the last 10% (val) is the second document
    assert decode(tokens("win", "train")) == "One line\nTwo\nold mac\nend\n" and decode(tokens("win", "val")) == "a\nb"
    out = capsys.readouterr().out
    assert f"note: {tmp_path / 'win.txt'}: its byte-order mark dropped and 4 \\r\\n or \\r line ends made \\n\n" in out
    assert f"note: {jsonl_path}: 1 \\r\\n or \\r line ends made \\n\n" in out


def test_text_input_that_is_a_folder_says_so(data_dir, tmp_path):
    folder = tmp_path / "adir.txt"
    folder.mkdir()
    with pytest.raises(SystemExit) as e:
        prepare.prepare("text", inputs=[str(folder)])
    assert e.value.code == f"text: {folder} is a folder, not a file: name the files in it (--input {folder}/*.txt)"


def test_meta_byte_counts_of_non_ascii_text(data_dir, tmp_path):
    # bits per byte divide by these: the UTF-8 bytes of each split's text, whatever its characters
    docs = ["Grüße aus Köln, ça va? 日本語の文章\n" * 3, "naïve café ✓ — done"]
    path = write_jsonl(tmp_path / "intl.jsonl", [json.dumps({"text": d}) for d in docs])
    meta = prepare.prepare("text", inputs=[path], tokenizer="char", out="intl", val_fraction=0.25)
    text = "".join(docs)  # the split falls where the last quarter of the characters begins; separators not counted
    at = int(len(text) * 0.75)
    assert meta["splits"]["train"]["bytes"] == len(text[:at].encode("utf-8"))
    assert meta["splits"]["val"]["bytes"] == len(text[at:].encode("utf-8"))
    assert meta["splits"]["train"]["bytes"] > meta["splits"]["train"]["tokens"]  # characters of several bytes


def shard(path, tokens, magic=20240520, version=1, count=None):
    header = np.zeros(256, dtype="<i4")
    header[:3] = magic, version, len(tokens) if count is None else count
    path.write_bytes(header.tobytes() + np.array(tokens, dtype="<u2").tobytes())


def test_fineweb_shards(data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "SHARD_CHUNK", 3)  # several chunks per shard
    src = tmp_path / "fw"
    src.mkdir()
    shard(src / "fineweb_val_000000.bin", [50256, 1, 2])
    shard(src / "fineweb_train_000001.bin", [50256, 10, 11, 12, 13, 14, 15])
    shard(src / "fineweb_train_000002.bin", [50256, 20])
    meta = prepare.prepare("fineweb10B", src=str(src), shards=2)
    assert tokens("fineweb10B", "train") == [50256, 10, 11, 12, 13, 14, 15, 50256, 20]
    assert meta["splits"]["val"] == {"tokens": 3, "bytes": None} and "bytes are null" in meta["note"]
    assert meta["vocab_size"] == 50257 and meta["dtype"] == "uint16"

    for bad, message in (({"magic": 1234}, "wrong magic"), ({"version": 2}, "version 2"), ({"count": 9}, "cut short")):
        shard(src / "fineweb_train_000002.bin", [50256, 20], **bad)
        with pytest.raises(SystemExit, match=message):
            prepare.prepare("fineweb10B", src=str(src), shards=2)
    with pytest.raises(SystemExit, match="fineweb_train_000003.bin not found"):
        prepare.prepare("fineweb10B", src=str(src), shards=3)

# -----------------------------------------------------------------------------
# downloads, against a server on 127.0.0.1


@pytest.fixture
def server(monkeypatch):
    files, log, options, headers = {}, [], {"ignore_range": False}, {}  # headers: extra ones per path, as the hub's

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):
            if self.path not in files:
                return self.send_error(404)
            self.send_response(200)
            for key, value in headers.get(self.path, {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(files[self.path])))
            self.end_headers()

        def do_GET(self):
            log.append(self.headers.get("Range"))
            data = files.get(self.path)
            if data is None:
                return self.send_error(404)
            start = 0
            if self.headers.get("Range") and not options["ignore_range"]:
                start = int(self.headers["Range"].removeprefix("bytes=").removesuffix("-"))
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            self.wfile.write(data[start:])

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True).start()  # poll often: quick shutdown
    monkeypatch.setattr(prepare, "BACKOFF", 0)
    monkeypatch.setattr(prepare, "TIMEOUT", 5)
    yield SimpleNamespace(url=f"http://127.0.0.1:{httpd.server_port}", files=files, log=log, options=options,
                          headers=headers)
    httpd.shutdown()
    httpd.server_close()


DATA = bytes(range(256)) * 40
SHA = hashlib.sha256(DATA).hexdigest()


def test_download_checks_sha256(server, tmp_path):
    server.files["/f.bin"] = DATA
    path = prepare.download(server.url + "/f.bin", str(tmp_path / "sub" / "f.bin"), SHA)
    assert open(path, "rb").read() == DATA and os.listdir(tmp_path / "sub") == ["f.bin"]
    prepare.download(server.url + "/f.bin", path, SHA)
    assert len(server.log) == 1  # a finished download is kept

    server.files["/bad.bin"] = DATA[:-1] + b"x"
    with pytest.raises(SystemExit, match="does not match its published sha256"):
        prepare.download(server.url + "/bad.bin", str(tmp_path / "bad.bin"), SHA)
    assert not any(name.startswith("bad") for name in os.listdir(tmp_path))  # no bad file or .part left


def test_download_gives_up_after_retries(server, tmp_path):
    with pytest.raises(SystemExit, match=r"could not download .*/missing after 3 tries \(HTTP 404\): .*--from DIR"):
        prepare.download(server.url + "/missing", str(tmp_path / "m"))
    assert len(server.log) == 3
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SystemExit, match=r"after 3 tries \(ConnectionError\)"):
        prepare.download(f"http://127.0.0.1:{port}/x", str(tmp_path / "x"))


@pytest.mark.parametrize("ignore_range", [False, True])
def test_download_resumes_a_partial_file(server, tmp_path, ignore_range):
    server.files["/f.bin"] = DATA
    server.options["ignore_range"] = ignore_range  # a server without Range support sends it all again
    (tmp_path / "f.bin.part").write_bytes(DATA[:1000])
    path = prepare.download(server.url + "/f.bin", str(tmp_path / "f.bin"), SHA)
    assert server.log == ["bytes=1000-"] and open(path, "rb").read() == DATA


def test_wikitext_downloaded_as_zip(data_dir, server, monkeypatch):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for split in ("train", "valid", "test"):
            z.writestr(f"wikitext-103/wiki.{split}.tokens", f" = {split} = \n one two <unk> \n")
    server.files["/wikitext-103-v1.zip"] = buffer.getvalue()
    monkeypatch.setitem(sources.SOURCES["wikitext103"], "url", server.url + "/wikitext-103-v1.zip")
    monkeypatch.setitem(sources.SOURCES["wikitext2"], "url", server.url + "/wikitext-2-v1.zip")
    meta = prepare.prepare("wikitext103")
    assert meta["splits"]["val"]["tokens"] == 8 and meta["source"] == server.url + "/wikitext-103-v1.zip"
    assert (data_dir / "downloads" / "wikitext103" / "wikitext-103-v1.zip").exists()

    server.files["/wikitext-2-v1.zip"] = buffer.getvalue().replace(b"wikitext-103/", b"wikitext-2/\0\0")
    with pytest.raises(SystemExit, match="not the expected zip"):  # a damaged zip: deleted
        prepare.prepare("wikitext2")
    assert not (data_dir / "downloads" / "wikitext2" / "wikitext-2-v1.zip").exists()

# -----------------------------------------------------------------------------
# config


DEFAULTS = {"batch_size": 12, "learning_rate": 6e-4, "n_head": 4, "n_embd": 128, "compile": True, "out_dir": "out"}


def test_config_command_line():
    config = configure(DEFAULTS, ["--learning_rate=1", "--compile=False", "--out_dir=123", "--batch_size=8"])
    assert config["learning_rate"] == 1.0 and isinstance(config["learning_rate"], float)  # an int is fine for a float
    assert config["compile"] is False and config["out_dir"] == "123" and config["batch_size"] == 8
    mistakes = {"--lerning_rate=1": r"unknown key 'lerning_rate' in the command line \(did you mean learning_rate\?\)",
                "--batch_size=0.5": r"batch_size must be int \(default 12\), got 0.5",
                "--batch_size=abc": r"batch_size must be int \(default 12\), got 'abc'",
                "--batch_size": r"'--batch_size' needs a value: write --batch_size=VALUE",
                "nofile.py": r"no config file 'nofile.py'"}
    for arg, message in mistakes.items():
        with pytest.raises(SystemExit, match=message):
            configure(DEFAULTS, [arg])


def test_config_files(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / "config").mkdir(parents=True)
    (repo / "config" / "wide.py").write_text("# wider heads\nn_head = 8\nn_embd = 64 * n_head  # computed\n")
    (repo / "config" / "typo.py").write_text("batch_sise = 4\n")
    (repo / "config" / "broken.py").write_text("n_head = 8\nn_embd = 64 * n_heads\n")
    monkeypatch.setattr(prepare, "REPO_DIR", str(repo))
    monkeypatch.chdir(tmp_path)  # not the repository: config/wide.py is found relative to it
    config = configure(DEFAULTS, ["config/wide.py", "--n_head=2"])
    assert config["n_embd"] == 512 and config["n_head"] == 2  # later arguments win
    with pytest.raises(SystemExit, match=r"unknown key 'batch_sise' in .*typo.py \(did you mean batch_size\?\)"):
        configure(DEFAULTS, ["config/typo.py"])
    with pytest.raises(SystemExit, match=r"broken.py line 2: NameError"):
        configure(DEFAULTS, ["config/broken.py"])


def test_load_meta_says_how_to_prepare(data_dir):
    for name, command in (("ptb", "ptb"), ("wikitext2_gpt2", "wikitext2 --tokenizer gpt2"),
                          ("mydata", "text --input FILE... --out mydata")):
        message = f"dataset '{name}' is not prepared in .*: run `python prepare.py {re.escape(command)}`$"
        with pytest.raises(SystemExit, match=message):
            load_meta(name)


def test_check_settings_names_every_mistake_in_one_line_each():
    rules = {"dropout": "prob", "batch_size": "positive", "learning_rate": "nonneg", "dtype": ("auto", "float32"),
             "top_k": (lambda v: v is None or v >= 1, "an integer >= 1, or None (off)"),
             "n_embd": (lambda v: v % 0 == 0, "a multiple of n_head=0")}  # a test that cannot run: a mistake too
    good = {"dropout": 0.0, "batch_size": 1, "learning_rate": 0.0, "dtype": "auto", "top_k": None, "n_embd": 8}
    prepare.check_settings(good, {k: v for k, v in rules.items() if k != "n_embd"})
    bad = {"dropout": 1.0, "batch_size": -3, "learning_rate": 0.0, "dtype": "fp8", "top_k": 0, "n_embd": 8}
    with pytest.raises(SystemExit) as e:
        prepare.check_settings(bad, rules)
    assert str(e.value.code).splitlines() == [
        "config: dropout=1.0 must be in [0, 1) (a probability)", "config: batch_size=-3 must be > 0",
        "config: dtype='fp8' must be one of auto, float32", "config: top_k=0 must be an integer >= 1, or None (off)",
        "config: n_embd=8 must be a multiple of n_head=0"]


def test_corrupt_prepared_data_is_one_line_naming_the_file_and_the_command(data_dir, tmp_path):
    (tmp_path / "a.txt").write_text("hello world\n" * 50)
    prepare.prepare("text", inputs=[str(tmp_path / "a.txt")], tokenizer="char", out="mine")
    folder = data_dir / "mine"
    # the command meta.json records, as the test gave it; a meta.json that cannot say: the one its name suggests
    recorded = f"rebuild it with `python prepare.py text --input {tmp_path / 'a.txt'} --tokenizer char --out mine`"
    guessed = "rebuild it with `python prepare.py text --input FILE... --out mine`"
    meta_text = (folder / "meta.json").read_text()

    def refused(read, problem, rebuild=recorded):
        with pytest.raises(SystemExit, match=rf"^data: {re.escape(str(folder))}/{problem}[:;] {re.escape(rebuild)}$"):
            read()
    with open(folder / "train.bin", "ab") as f:
        f.write(b"\0")  # half a token more than meta.json says
    refused(lambda: load_split("mine", "train"), r"train.bin is 1,081 bytes, but meta.json says it holds 540 uint16 "
            r"tokens \(1,080 bytes\): it is truncated or damaged")
    (folder / "val.bin").write_bytes(b"")
    (folder / "meta.json").write_text(meta_text.replace('"tokens": ', '"was": '))  # no counts to compare with
    refused(lambda: load_split("mine", "train"), r"train.bin is 1,081 bytes, not a whole number of uint16 tokens "
            r"\(2 bytes each\): it is truncated or damaged")
    refused(lambda: load_split("mine", "val"), r"val.bin holds no tokens \(an empty split\)")
    for text, problem, rebuild in (("{oops", r"is not valid JSON \(Expecting property name .*\)", guessed),
                                   ("[]", "is not a JSON object", guessed),
                                   ('{"tokenizer": "char", "dtype": "uint16"}', "lacks vocab_size, splits, vocab",
                                    guessed),
                                   (meta_text.replace('"uint16"', '"int8"'),
                                    r"has dtype 'int8' \(uint16 or uint32 expected\) or no splits", recorded)):
        (folder / "meta.json").write_text(text)
        refused(lambda: load_meta("mine"), f"meta.json {problem}", rebuild)


def dead_pid():
    """The id of a process that has ended (the leftovers of a killed process carry one)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_prepare_killed_part_way_is_named_by_its_command_and_its_leftovers_removed(data_dir, ptb_dir, capsys):
    prepare.prepare("ptb", src=str(ptb_dir), out="ptbmix")  # a published dataset under a name of your own
    folder, dead = data_dir / "ptbmix", dead_pid()
    # a second prepare killed part-way: a new train.bin renamed in, val.bin's temporary file half-written
    (folder / "train.bin").write_bytes(b"\0\0" * 3)
    (folder / f"val.bin.{dead}.tmp").write_bytes(b"\0" * 1_500_000)
    (folder / f"other.bin.{os.getpid()}.tmp").write_bytes(b"\0")  # a live process's (this one's): its writer's
    with pytest.raises(SystemExit) as e:
        load_split("ptbmix", "train")
    assert str(e.value.code).endswith(f"rebuild it with `python prepare.py ptb --from {ptb_dir} --out ptbmix`")
    capsys.readouterr()
    prepare.prepare("ptb", src=str(ptb_dir), out="ptbmix")
    assert f"note: removed 1 temporary file of a stopped prepare from {folder} (1.5 MB)\n" in capsys.readouterr().out
    assert set(os.listdir(folder)) == {"meta.json", "train.bin", "val.bin", "test.bin", f"other.bin.{os.getpid()}.tmp"}
    assert load_split("ptbmix", "train").tolist() == [3, 2, 1, 0, 2, 4, 0]


def test_a_mistyped_dataset_name_gets_the_nearest_prepared_or_known_one(data_dir, tmp_path):
    (tmp_path / "a.txt").write_text("hello world\n" * 5)
    prepare.prepare("text", inputs=[str(tmp_path / "a.txt")], tokenizer="char", out="mine")
    for name, close, how in (("mien", "mine", "prepared there"),
                             ("wikitext-2", "wikitext2", "made by `python prepare.py wikitext2`")):
        with pytest.raises(SystemExit) as e:
            load_meta(name)
        assert e.value.code == (f"data: dataset '{name}' is not prepared in {data_dir}: did you mean '{close}' "
                                f"({how})? Else run `python prepare.py text --input FILE... --out {name}`")


def test_check_vocab_says_which_tokens_differ():
    def refusal(ours, theirs, tokenizer="char"):
        with pytest.raises(SystemExit) as e:
            prepare.check_vocab({"tokenizer": tokenizer, "vocab_size": len(ours), "vocab": ours},
                                {"tokenizer": tokenizer, "vocab_size": len(theirs), "vocab": theirs}, "ck.pt", "x")
        return e.value.code
    fix = ": train on the same dataset, or start fresh with init_from='scratch'"
    assert refusal(list("\n !abcde"), list("\n !abcdé")) == (
        "checkpoint: ck.pt was trained on a char vocabulary of 8, but dataset 'x' has a char vocabulary of 8 ('e' only "
        "in the checkpoint's; 'é' only in the dataset's)" + fix)
    ours, theirs = ["<eos>", "<unk>", *"abcdefg"], ["<eos>", "<unk>", *"hijklmn", "a"]  # 7 words, then 6 and 1 more
    assert refusal(ours, theirs, "word") == (
        "checkpoint: ck.pt was trained on a word vocabulary of 9, but dataset 'x' has a word vocabulary of 10 ('b', "
        "'c', 'd', 'e', 'f' and 1 more only in the checkpoint's; 'h', 'i', 'j', 'k', 'l' and 2 more only in the "
        "dataset's)" + fix)
    assert refusal(["<eos>", "<unk>", "a", "b"], ["<eos>", "<unk>", "b", "a"], "word").endswith(
        "word vocabulary of 4 (the same words with other ids)" + fix)

# -----------------------------------------------------------------------------
# command line: a mistake is one line on stderr, never a traceback


def run(*args):
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return subprocess.run([sys.executable, *args], cwd=repo, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args, message", [
    (["nosuch"], "prepare: unknown dataset 'nosuch'"),
    (["ptb", "--shards", "x"], "prepare: argument --shards: invalid int value: 'x'"),
    (["text", "--input", "BAD", "--out", "never_written"], "bad.jsonl line 2 is not valid JSON"),
])
def test_cli_mistakes_are_one_line(tmp_path, args, message):
    bad = write_jsonl(tmp_path / "bad.jsonl", ['{"text": "ok"}', "{oops"])
    result = run("prepare.py", *[bad if a == "BAD" else a for a in args])
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and message in result.stderr and "Traceback" not in result.stderr


def test_import_is_light():
    result = run("-c", "import sys, prepare; print(sorted({'torch', 'tiktoken'} & set(sys.modules)))")
    assert result.stdout == "[]\n"
