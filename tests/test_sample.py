"""sample.py end to end on a tiny random GPT and AWD-LSTM, run in-process (runpy) so torch is imported once."""

import os
import runpy
import shutil
import subprocess
import sys
from dataclasses import asdict

import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from prepare import get_tokenizer, load_checkpoint, save_checkpoint  # noqa: E402
from sample import load_model, stream_piece  # noqa: E402
from train_gpt import GPT, GPTConfig  # noqa: E402
from train_lstm import AWDLSTM, LSTMConfig  # noqa: E402

SAMPLE = os.path.join(REPO, "sample.py")
VOCAB = sorted(set("\n !',.:;?abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"))
SEPARATOR = "\n---------------\n"


def tiny_gpt(vocab_size):
    """A random GPT with weights scaled up from the 0.02 init, so its logits are far from uniform and greedy
    decoding has no near-ties that KV-cache and full-recompute rounding could break differently."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=32, vocab_size=vocab_size, n_layer=2, n_head=2, n_embd=32))
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.3)
    return model.eval()


def save(path, model, meta):
    save_checkpoint(path, dict(model=model.state_dict(), model_args=asdict(model.config), meta=meta, config={},
                               iter_num=0, best_val_loss=1.0, model_type="gpt"))


@pytest.fixture(scope="module")
def char_run(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("out-char")
    model = tiny_gpt(len(VOCAB))
    meta = {"tokenizer": "char", "vocab_size": len(VOCAB), "vocab": VOCAB, "dtype": "uint16"}
    save(out_dir / "best.pt", model, meta)
    return str(out_dir), model


def run_sample(monkeypatch, capsys, *args):
    """Run sample.py as __main__ with these arguments; return (list of samples, stderr)."""
    monkeypatch.setattr(sys, "argv", [SAMPLE, *args])
    runpy.run_path(SAMPLE, run_name="__main__")
    out, err = capsys.readouterr()
    assert out.endswith(SEPARATOR)
    return out[:-len(SEPARATOR)].split(SEPARATOR), err


def greedy_reference(model, tokens, n):
    """n argmax steps, recomputing the whole sequence each step: no KV cache, no generate()."""
    tokens = list(tokens)
    with torch.no_grad():
        for _ in range(n):
            logits, _ = model(torch.tensor([tokens]))
            tokens.append(int(logits[0, -1].argmax()))
    return tokens


def chars(tokens):
    return "".join(VOCAB[t] for t in tokens)


@pytest.mark.parametrize("run", ["char_run", "lstm_run"])  # a GPT and an AWD-LSTM checkpoint
def test_seed_decides_the_samples(run, request, monkeypatch, capsys):
    out_dir, _ = request.getfixturevalue(run)
    args = [f"--init_from={out_dir}", "--start=ROMEO:", "--num_samples=2", "--max_new_tokens=40", "--top_k=20",
            "--top_p=0.95"]
    first, _ = run_sample(monkeypatch, capsys, *args, "--seed=1")
    again, _ = run_sample(monkeypatch, capsys, *args, "--seed=1")
    other, _ = run_sample(monkeypatch, capsys, *args, "--seed=2")
    assert first == again
    assert first != other
    assert first[0] != first[1]  # one generator runs through all samples


def test_greedy_matches_full_recompute(char_run, monkeypatch, capsys):
    out_dir, model = char_run
    prompt = "ROMEO:"
    samples, _ = run_sample(monkeypatch, capsys, f"--init_from={out_dir}", f"--start={prompt}", "--temperature=0",
                            "--num_samples=2", "--max_new_tokens=20")
    # prompt + 20 tokens stay inside block_size=32, where generate() never re-encodes a shortened window
    expected = chars(greedy_reference(model, [VOCAB.index(c) for c in prompt], 20))
    assert samples == [expected, expected]


@pytest.mark.parametrize("run", ["char_run", "lstm_run"])
def test_one_character_per_token(run, request, monkeypatch, capsys):
    out_dir, _ = request.getfixturevalue(run)
    # 50 new tokens overrun the GPT's block_size=32, so generation goes on past a refill of the KV cache
    samples, err = run_sample(monkeypatch, capsys, f"--init_from={out_dir}", "--start=ab", "--num_samples=3",
                              "--max_new_tokens=50")
    assert [len(s) for s in samples] == [2 + 50] * 3
    assert all(s.startswith("ab") for s in samples)
    assert err.count("tokens/s") == 3


def test_empty_prompt_starts_from_newline(char_run, monkeypatch, capsys):
    out_dir, model = char_run
    samples, err = run_sample(monkeypatch, capsys, f"--init_from={out_dir}", "--start=", "--temperature=0",
                              "--num_samples=1", "--max_new_tokens=10")
    assert samples == [chars(greedy_reference(model, [VOCAB.index("\n")], 10)[1:])]  # the stand-in is not printed
    assert "sample: empty prompt: starting from a line break\n" in err  # said, on stderr


WORDS = ["<eos>", "<unk>", "the", "cat", "sat", "on", "a", "mat"]  # as prepare.py's word vocabularies: <eos> first


@pytest.fixture(scope="module")
def word_run(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("out-word")
    model = tiny_gpt(len(WORDS))
    save(out_dir / "best.pt", model, {"tokenizer": "word", "vocab_size": len(WORDS), "vocab": WORDS,
                                      "dtype": "uint16"})
    return str(out_dir), model


def test_word_prompt_names_its_unknown_words(word_run, monkeypatch, capsys):
    out_dir, model = word_run
    samples, err = run_sample(monkeypatch, capsys, f"--init_from={out_dir}", "--start=the dog sat on the rug dog",
                              "--temperature=0", "--num_samples=1", "--max_new_tokens=5")
    notes = [line for line in err.splitlines() if "<unk>" in line]
    assert notes == ["sample: not in the vocabulary, read as <unk>: 'dog', 'rug'"]  # each once, in order
    prompt = [WORDS.index(w) for w in "the <unk> sat on the <unk> <unk>".split()]
    assert samples == [" ".join(WORDS[i] for i in greedy_reference(model, prompt, 5))]  # then it samples
    _, err = run_sample(monkeypatch, capsys, f"--init_from={out_dir}", "--start=the cat", "--num_samples=1",
                        "--max_new_tokens=2")
    assert "<unk>" not in err  # nothing to say


def test_word_empty_prompt_starts_from_eos(word_run, monkeypatch, capsys):
    out_dir, model = word_run
    samples, err = run_sample(monkeypatch, capsys, f"--init_from={out_dir}", "--start=", "--temperature=0",
                              "--num_samples=1", "--max_new_tokens=4")
    assert "sample: empty prompt: starting from token 0, <eos>" in err
    _, decode = get_tokenizer({"tokenizer": "word", "vocab": WORDS})
    assert samples == [decode(greedy_reference(model, [0], 4))[1:]]  # the stand-in, a line break, is not printed


def test_prompt_from_file(char_run, monkeypatch, capsys, tmp_path):
    out_dir, _ = char_run
    prompt = "To be, or not to be:\nthat is the question."
    (tmp_path / "prompt.txt").write_text(prompt)
    args = [f"--init_from={out_dir}", "--num_samples=1", "--max_new_tokens=5"]
    from_file, _ = run_sample(monkeypatch, capsys, *args, f"--start=FILE:{tmp_path / 'prompt.txt'}")
    inline, _ = run_sample(monkeypatch, capsys, *args, f"--start={prompt}")
    assert from_file == inline
    with pytest.raises(SystemExit, match="prompt file .* does not exist"):
        run_sample(monkeypatch, capsys, *args, f"--start=FILE:{tmp_path / 'missing.txt'}")


def test_prompt_file_faults_one_line(char_run, monkeypatch, capsys, tmp_path):
    out_dir, _ = char_run
    (tmp_path / "latin1.txt").write_bytes("caf\u00e9 au lait".encode("latin-1"))
    args = [f"--init_from={out_dir}", "--num_samples=1", "--max_new_tokens=5"]
    with pytest.raises(SystemExit) as e:
        run_sample(monkeypatch, capsys, *args, f"--start=FILE:{tmp_path / 'latin1.txt'}")
    assert str(e.value.code) == (f"sample: prompt file {tmp_path / 'latin1.txt'} is not UTF-8 text (byte 3): "
                                 f"convert it, e.g. iconv -f latin1 -t utf-8 {tmp_path / 'latin1.txt'}")
    with pytest.raises(SystemExit) as e:
        run_sample(monkeypatch, capsys, *args, f"--start=FILE:{tmp_path}")
    assert str(e.value.code) == f"sample: prompt file {tmp_path} is a folder: give the file that holds the prompt"


def test_long_prompt_keeps_its_end(char_run, monkeypatch, capsys):
    out_dir, _ = char_run
    prompt = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"  # 40 characters, block_size is 32
    samples, err = run_sample(monkeypatch, capsys, f"--init_from={out_dir}", f"--start={prompt}", "--num_samples=1",
                              "--max_new_tokens=5")
    assert "the prompt is 40 tokens, longer than block_size=32; keeping its last 32" in err
    assert samples[0].startswith(prompt[-32:]) and len(samples[0]) == 32 + 5


def test_best_falls_back_to_latest(char_run, monkeypatch, capsys, tmp_path):
    out_dir, _ = char_run
    shutil.copy(os.path.join(out_dir, "best.pt"), tmp_path / "latest.pt")
    args = ["--num_samples=1", "--max_new_tokens=8", "--start=ab"]
    fallback, err = run_sample(monkeypatch, capsys, f"--init_from={tmp_path}", *args)
    assert str(tmp_path / "latest.pt") in err
    by_path, _ = run_sample(monkeypatch, capsys, f"--init_from={os.path.join(out_dir, 'best.pt')}", *args)
    assert fallback == by_path


def test_missing_run_folder(monkeypatch, capsys, tmp_path):
    with pytest.raises(SystemExit, match=r"^checkpoint: .*latest\.pt does not exist"):
        run_sample(monkeypatch, capsys, f"--init_from={tmp_path / 'nowhere'}")


def test_old_spellings_still_work_for_one_release_with_a_note(char_run, monkeypatch, capsys, tmp_path):
    """--out_dir=DIR, --ckpt=latest|FILE and --init_from=resume, sample.py's old spellings, read the model the new
    --init_from names, and say so on stderr."""
    out_dir, _ = char_run
    shutil.copy(os.path.join(out_dir, "best.pt"), tmp_path / "latest.pt")
    args = ["--num_samples=1", "--max_new_tokens=8", "--start=ab"]
    for old, new in [([f"--out_dir={out_dir}"], out_dir),
                     ([f"--out_dir={tmp_path}", "--ckpt=latest"], str(tmp_path / "latest.pt")),
                     ([f"--ckpt={tmp_path / 'latest.pt'}"], str(tmp_path / "latest.pt")),
                     ([f"--out_dir={out_dir}", "--init_from=resume"], out_dir)]:
        expected, err = run_sample(monkeypatch, capsys, f"--init_from={new}", *args)
        assert "old spelling" not in err
        samples, err = run_sample(monkeypatch, capsys, *old, *args)
        assert samples == expected
        assert (f"note: --out_dir, --ckpt and --init_from=resume are sample.py's old spellings, gone in the next "
                f"release: this is --init_from={new}\n") in err


@pytest.mark.parametrize("arg, message", [
    ("--max_new_tokens=0", r"^config: max_new_tokens=0 must be > 0$"),
    ("--num_samples=-2", r"^config: num_samples=-2 must be > 0$"),
    ("--temperature=-0.5", r"^config: temperature=-0.5 must be >= 0$"),
    ("--top_k=0", r"^config: top_k=0 must be a whole number >= 1, or None \(off\)$"),
    ("--top_k=2.5", r"^config: top_k=2.5 must be a whole number >= 1"),
    ("--top_p=0", r"^config: top_p=0 must be in \(0, 1\], or None \(off\)$"),
    ("--top_p=1.5", r"^config: top_p=1.5 must be in \(0, 1\]"),
    ("--dtype=float8", r"^config: dtype='float8' must be one of auto, float32, bfloat16, float16$"),
    ("--temprature=1.0", "unknown key 'temprature'.*did you mean temperature"),
    ("--stop=", r"^config: stop='' must be a non-empty string or a tuple of them, or None \(off\): --stop=END"),
    ("--stop=('END', '')", r"^config: stop=\('END', ''\) must be a non-empty string or a tuple of them"),
    ("--stop=42", r"^config: stop=42 must be a non-empty string or a tuple of them"),
])
def test_bad_settings(char_run, monkeypatch, capsys, arg, message):
    out_dir, _ = char_run
    with pytest.raises(SystemExit, match=message):
        run_sample(monkeypatch, capsys, f"--init_from={out_dir}", arg)
    assert capsys.readouterr().err == ""  # refused before the checkpoint is read


def test_every_bad_setting_at_once(char_run, monkeypatch, capsys):
    out_dir, _ = char_run
    with pytest.raises(SystemExit) as e:
        run_sample(monkeypatch, capsys, f"--init_from={out_dir}", "--temperature=-1", "--top_p=2")
    assert str(e.value.code).splitlines() == ["config: temperature=-1.0 must be >= 0",
                                              "config: top_p=2 must be in (0, 1], or None (off)"]


def test_unknown_characters_one_line(char_run):
    # a real process: what a user sees is the stderr of the script, with no traceback
    out_dir, _ = char_run
    result = subprocess.run([sys.executable, SAMPLE, f"--init_from={out_dir}", "--start=héllo"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr  # the checkpoint line, then the error
    assert lines[1].startswith("sample: the prompt has characters outside the model's vocabulary: ")
    assert "é" in lines[1]
    assert result.stdout == ""


def stream(decode, tokens):
    """What sample.py prints for tokens arriving one at a time: the pieces, then the final flush."""
    pieces, printed = [], 0
    for n in range(1, len(tokens) + 1):
        piece, stopped = stream_piece(decode, tokens[:n], printed)
        assert not stopped
        pieces.append(piece)
        printed += len(piece)
    return pieces, decode(tokens)[printed:]


def test_stream_holds_back_split_characters():
    text = "é😀a"
    decode = lambda tokens: bytes(tokens).decode("utf-8", errors="replace")  # one token per byte, like BPE's bytes
    pieces, rest = stream(decode, list(text.encode("utf-8")))
    assert pieces == ["", "é", "", "", "", "😀", "a"]
    assert rest == ""
    # bytes that never complete a character are printed at the end, as the replacement character
    pieces, rest = stream(decode, list(b"a\xf0\x9f"))
    assert "".join(pieces) == "a" and rest == "\ufffd"


def test_stream_with_gpt2_bpe():
    tiktoken = pytest.importorskip("tiktoken")
    try:
        enc = tiktoken.get_encoding("gpt2")
    except Exception as e:  # no network and no TIKTOKEN_CACHE_DIR with the BPE files
        pytest.skip(f"gpt2 BPE unavailable: {e}")
    text = "the 😀 and ü 🦙!"
    tokens = enc.encode(text)
    assert any("\ufffd" in enc.decode([t]) for t in tokens)  # some token really ends inside a character
    pieces, rest = stream(enc.decode, tokens)
    assert "".join(pieces) == text and rest == ""
    assert not any("\ufffd" in p for p in pieces)


def test_gpt2_checkpoint_greedy(monkeypatch, capsys, tmp_path):
    tiktoken = pytest.importorskip("tiktoken")
    try:
        enc = tiktoken.get_encoding("gpt2")
    except Exception as e:
        pytest.skip(f"gpt2 BPE unavailable: {e}")
    model = tiny_gpt(enc.n_vocab)
    save(tmp_path / "best.pt", model, {"tokenizer": "gpt2", "vocab_size": enc.n_vocab, "eot_token": enc.eot_token,
                                        "dtype": "uint16"})
    args = [f"--init_from={tmp_path}", "--temperature=0", "--num_samples=1", "--max_new_tokens=20"]
    # an empty prompt starts from <|endoftext|>, which is not printed
    samples, err = run_sample(monkeypatch, capsys, *args, "--start=")
    assert samples == [enc.decode(greedy_reference(model, [enc.eot_token], 20)[1:])]
    assert "sample: empty prompt: starting from <|endoftext|>\n" in err
    samples, _ = run_sample(monkeypatch, capsys, *args, "--start=Hello")
    assert samples == [enc.decode(greedy_reference(model, enc.encode("Hello"), 20))]


# -----------------------------------------------------------------------------
# where a sample ends: the end-of-text token, stop strings


def scripted(monkeypatch, capsys, tokens, seen):
    """Make GPT.generate yield these tokens; with a list seen, append to it what stdout received (and the test's
    capsys no longer holds) before each token is asked for."""
    def generate(self, idx, max_new_tokens, *args):
        for t in tokens[:max_new_tokens]:
            if seen is not None:
                seen.append(capsys.readouterr().out)
            yield torch.tensor([[t]])
    monkeypatch.setattr(GPT, "generate", generate)


def test_stream_holds_back_only_what_could_begin_a_stop_string():
    text = "ab! THE EXIT THE END z"
    decode = "".join  # one character per token
    pieces, printed = [], 0
    for n in range(1, len(text) + 1):
        piece, stopped = stream_piece(decode, list(text[:n]), printed, 0, ("THE END", "!!"))
        pieces.append(piece)
        printed += len(piece)
        if stopped:
            break
    # by hand: "!" waits for a second "!", "THE E" for "ND", "T" for "HE END"; then "THE END" is found at "D"
    assert pieces == ["a", "b", "", "! ", "", "", "", "", "", "THE EX", "I", "", "T ", "", "", "", "", "", "", ""]
    assert stopped and "".join(pieces) == "ab! THE EXIT "
    # a stop string in the prompt (the first `begin` characters) does not count
    assert stream_piece(decode, list("THE END: ok THE END"), 0, 8, ("THE END",)) == ("THE END: ok ", True)


def test_stop_string_ends_the_sample(char_run, monkeypatch, capsys):
    """The real model, greedy: the sample ends where a string taken from its own text first appears."""
    out_dir, model = char_run
    prompt = "ROMEO:"
    new = chars(greedy_reference(model, [VOCAB.index(c) for c in prompt], 24))[len(prompt):]
    stop = new[8:10]  # first found at or before 8, so the sample ends early
    samples, err = run_sample(monkeypatch, capsys, f"--init_from={out_dir}", f"--start={prompt}", "--temperature=0",
                              "--num_samples=2", "--max_new_tokens=24", f"--stop={stop!r}")
    assert samples == [prompt + new[:new.find(stop)]] * 2
    assert err.count("stopped at a stop string") == 2


def test_stop_strings_stream(char_run, monkeypatch, capsys):
    out_dir, _ = char_run
    seen = []
    scripted(monkeypatch, capsys, [VOCAB.index(c) for c in "ab! THE EXIT THE END z"], seen)
    samples, err = run_sample(monkeypatch, capsys, f"--init_from={out_dir}", "--start=THE END", "--num_samples=1",
                              "--max_new_tokens=50", "--stop=('THE END', '!!')")
    # what had been printed before each token was asked for (the prompt's own "THE END" is no stop)
    assert "".join(seen) + samples[0] == "THE ENDab! THE EXIT "
    assert seen == ["", "THE ENDa", "b", "", "! ", "", "", "", "", "", "THE EX", "I", "", "T ", "", "", "", "", "", ""]
    assert "sample 1/1: 20 tokens in " in err  # the 21st token is never asked for


def test_end_of_text_ends_a_gpt2_sample(monkeypatch, capsys, tmp_path):
    tiktoken = pytest.importorskip("tiktoken")
    try:
        enc = tiktoken.get_encoding("gpt2")
    except Exception as e:
        pytest.skip(f"gpt2 BPE unavailable: {e}")
    save(tmp_path / "best.pt", tiny_gpt(enc.n_vocab), {"tokenizer": "gpt2", "vocab_size": enc.n_vocab,
                                                       "eot_token": enc.eot_token, "dtype": "uint16"})
    scripted(monkeypatch, capsys, enc.encode(" world.") + [enc.eot_token] + enc.encode(" More"), None)
    args = [f"--init_from={tmp_path}", "--start=Hello", "--num_samples=1", "--max_new_tokens=50"]
    samples, err = run_sample(monkeypatch, capsys, *args)
    assert samples == ["Hello world."] and "stopped at <|endoftext|>" in err
    samples, err = run_sample(monkeypatch, capsys, *args, "--stop_at_eot=False")  # nanoGPT's way: on through it
    assert samples == ["Hello world.<|endoftext|> More"] and "stopped" not in err


# -----------------------------------------------------------------------------
# AWD-LSTM checkpoints: the same script, dispatched on the checkpoint's model_type


def tiny_lstm(vocab_size):
    """A random AWD-LSTM with its matrices scaled up from the init, so its logits are far from uniform, and a
    forget-gate bias of 3 (gates i, f, g, o in nn.LSTM's bias), so it remembers the start of a long prompt: with
    PyTorch's init its greedy text forgets anything over ~10 characters back. Its dropouts keep their non-zero
    defaults: sample.py must switch them off with eval()."""
    torch.manual_seed(0)
    model = AWDLSTM(LSTMConfig(vocab_size=vocab_size, emb_size=16, hidden_size=32, n_layers=2))
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.3)
        for rnn in model.rnns:
            rnn.bias_ih_l0[rnn.hidden_size:2 * rnn.hidden_size] = 3.0
    return model.eval()


@pytest.fixture(scope="module")
def lstm_run(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("out-lstm")
    model = tiny_lstm(len(VOCAB))
    meta = {"tokenizer": "char", "vocab_size": len(VOCAB), "vocab": VOCAB, "dtype": "uint16"}
    save_checkpoint(str(out_dir / "best.pt"), dict(
        model=model.state_dict(), model_args=asdict(model.config), meta=meta, config={}, iter_num=3,
        best_val_loss=2.0, model_type="awd_lstm"))
    return str(out_dir), model


def lstm_greedy_reference(model, tokens, n):
    """n argmax steps by hand: the prompt through a fresh hidden state, then each new token with the state carried."""
    tokens = list(tokens)
    with torch.no_grad():
        logits, hidden, _, _ = model(torch.tensor([tokens]), model.init_hidden(1))
        for _ in range(n):
            tokens.append(int(logits[0, -1].argmax()))
            logits, hidden, _, _ = model(torch.tensor([tokens[-1:]]), hidden)
    return tokens


def test_lstm_greedy_matches_reference(lstm_run, monkeypatch, capsys):
    out_dir, model = lstm_run
    prompt = "ROMEO:"
    samples, err = run_sample(monkeypatch, capsys, f"--init_from={out_dir}", f"--start={prompt}", "--temperature=0",
                              "--num_samples=2", "--max_new_tokens=30")
    expected = chars(lstm_greedy_reference(model, [VOCAB.index(c) for c in prompt], 30))
    assert samples == [expected, expected]
    assert "(iter 3, best val loss 2.0000)" in err


def test_lstm_long_prompt_is_not_cropped(lstm_run, monkeypatch, capsys):
    out_dir, model = lstm_run
    prompt = "To be, or not to be: that is the question. Whether 'tis nobler in the mind to suffer"  # 85 characters
    samples, err = run_sample(monkeypatch, capsys, f"--init_from={out_dir}", f"--start={prompt}", "--temperature=0",
                              "--num_samples=1", "--max_new_tokens=10")
    assert "block_size" not in err and "keeping its last" not in err
    # the continuation is conditioned on the whole prompt, which this model tells from its last 80 characters
    tokens = [VOCAB.index(c) for c in prompt]
    expected = lstm_greedy_reference(model, tokens, 10)
    assert expected[-10:] != lstm_greedy_reference(model, tokens[-80:], 10)[-10:]
    assert samples == [chars(expected)]


def test_unknown_model_type_one_line(lstm_run, monkeypatch, capsys, tmp_path):
    out_dir, _ = lstm_run
    ckpt = torch.load(os.path.join(out_dir, "best.pt"), weights_only=True)
    path = str(tmp_path / "other.pt")
    save_checkpoint(path, {**ckpt, "model_type": "something_else"})
    with pytest.raises(SystemExit) as e:
        run_sample(monkeypatch, capsys, f"--init_from={path}", "--max_new_tokens=5")
    message = str(e.value)
    assert "\n" not in message and path in message and "'something_else'" in message, message
    assert capsys.readouterr().out == ""


def test_gpt_loader_still_rejects_lstm(lstm_run):
    path = os.path.join(lstm_run[0], "best.pt")
    with pytest.raises(SystemExit, match="holds a awd_lstm model, not a GPT"):
        load_checkpoint(path)
    assert load_checkpoint(path, model_type=None)["model_type"] == "awd_lstm"  # what sample.py asks for
    assert load_checkpoint(path, model_type="awd_lstm")["model_type"] == "awd_lstm"  # the fixture: a real LSTM one


def test_backward_lstm_is_refused_one_line(lstm_run, monkeypatch, capsys, tmp_path):
    """A backward AWD-LSTM (ULMFiT §3.4, checkpoint key backwards) would write a prompt's past: refused."""
    ckpt = torch.load(os.path.join(lstm_run[0], "best.pt"), weights_only=True)
    save_checkpoint(str(tmp_path / "best.pt"), {**ckpt, "backwards": True})
    with pytest.raises(SystemExit) as e:
        run_sample(monkeypatch, capsys, f"--init_from={tmp_path}", "--max_new_tokens=5")
    message = str(e.value)
    assert "\n" not in message and message.startswith(f"sample: {tmp_path / 'best.pt'}")
    assert "is a backward language model (it reads text right to left): " in message
    assert capsys.readouterr().out == ""


def test_load_model_reads_a_run_folder_by_one_rule(char_run, lstm_run, tmp_path):
    """A folder is its best.pt, else its latest.pt; a file is itself; the model_type comes from the checkpoint; the
    file read is returned (eval.py writes eval.json beside it)."""
    shutil.copy(os.path.join(lstm_run[0], "best.pt"), tmp_path / "latest.pt")
    model, model_type, meta, path, described = load_model(str(tmp_path))
    assert model_type == "awd_lstm" and not model.training and model.backwards is False
    assert path == str(tmp_path / "latest.pt")
    assert described == f"{tmp_path / 'latest.pt'} (iter 3, best val loss 2.0000)" and meta["vocab"] == VOCAB
    shutil.copy(os.path.join(char_run[0], "best.pt"), tmp_path / "best.pt")
    assert load_model(str(tmp_path))[1] == "gpt"  # best.pt first
    assert load_model(str(tmp_path / "latest.pt"))[1] == "awd_lstm"
    with pytest.raises(SystemExit, match=r"^checkpoint: .*missing\.pt does not exist: give a run folder"):
        load_model(str(tmp_path / "missing.pt"))
