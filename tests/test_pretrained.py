"""
Published weights: the safetensors reader, GPT.from_pretrained on Hugging Face hub layouts (checked against a NumPy
forward pass written for that layout), hub downloads from a loopback server, and GPT-1's BPE.

$ python -m pytest -q tests/test_pretrained.py
"""

import hashlib
import json
import math
import os
import struct
import sys
from dataclasses import asdict

import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import prepare  # noqa: E402
from data import sources  # noqa: E402
from test_prepare import server  # noqa: E402,F401 (a loopback HTTP server fixture)
from test_model import gelu, layer_norm, softmax  # noqa: E402
from scripts import run_script, script_error  # noqa: E402
from train_gpt import GPT, GPTConfig, read_safetensors  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")

# -----------------------------------------------------------------------------
# an independent safetensors writer: 8-byte little-endian header length, JSON header, raw little-endian data


def safetensors_bytes(arrays):
    """arrays: {name: (dtype, float array)}; BF16 keeps the top 16 bits of each float32 (truncation)."""
    header, chunks, at = {}, [], 0
    for name, (dtype, a) in arrays.items():
        a = np.asarray(a, dtype=np.float32)
        raw = {"F32": a.astype("<f4").tobytes(), "F16": a.astype("<f2").tobytes(),
               "BF16": (a.view("<u4") >> 16).astype("<u2").tobytes()}[dtype]
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [at, at + len(raw)]}
        chunks.append(raw)
        at += len(raw)
    text = json.dumps({"__metadata__": {"format": "pt"}, **header}).encode()
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def test_safetensors_round_trip_each_dtype(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 5)).astype(np.float32)
    path = tmp_path / "t.safetensors"
    path.write_bytes(safetensors_bytes({"f32": ("F32", a), "f16": ("F16", a), "bf16": ("BF16", a),
                                        "scalar": ("F32", np.float32(2.5)), "empty": ("F16", np.zeros((0, 4)))}))
    t = read_safetensors(str(path))
    assert t["f32"].dtype == torch.float32 and np.array_equal(t["f32"].numpy(), a)
    assert t["f16"].dtype == torch.float16 and np.array_equal(t["f16"].numpy(), a.astype(np.float16))
    truncated = (a.view(np.uint32) & 0xFFFF0000).view(np.float32)  # what BF16 keeps of a float32
    assert t["bf16"].dtype == torch.bfloat16 and np.array_equal(t["bf16"].float().numpy(), truncated)
    assert t["scalar"].shape == () and t["scalar"].item() == 2.5 and t["empty"].shape == (0, 4)


def corrupt(data, how):
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])

    def rewrite(h):
        text = json.dumps(h).encode()
        return struct.pack("<Q", len(text)) + text + data[8 + n:]
    if how == "truncated":
        return data[:-5]
    if how == "short":
        return data[:6]
    if how == "header_past_end":
        return struct.pack("<Q", len(data)) + data[8:]
    if how == "not_json":
        return data[:8] + b"\xff" * n + data[8 + n:]
    if how == "not_object":
        return rewrite([1, 2])
    if how == "dtype":
        return rewrite({**header, "w": {**header["w"], "dtype": "F64"}})
    if how == "outside":
        return rewrite({**header, "w": {**header["w"], "data_offsets": [8, 8 + 10 ** 6]}})
    if how == "wrong_size":
        return rewrite({**header, "w": {**header["w"], "shape": [2, 3]}})
    raise ValueError(how)


@pytest.mark.parametrize("how, message", [
    ("truncated", "wrong size"), ("short", "truncated or not a safetensors file"),
    ("header_past_end", "truncated or not a safetensors file"), ("not_json", "corrupted header"),
    ("not_object", "corrupted header"), ("dtype", "stores w as F64: only F32, F16 and BF16"),
    ("outside", "outside"), ("wrong_size", "wrong size"),
])
def test_malformed_safetensors_are_rejected(tmp_path, how, message):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(corrupt(safetensors_bytes({"w": ("F32", np.ones((4, 4)))}), how))
    with pytest.raises(SystemExit, match=message) as e:
        read_safetensors(str(path))
    assert "\n" not in str(e.value.code)


def test_a_pickle_is_never_executed(tmp_path):
    marker = tmp_path / "executed"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))
    path = tmp_path / "model.safetensors"
    torch.save({"w": Exploit()}, path)  # a pickle inside torch's zip: opening it would create marker
    with pytest.raises(SystemExit, match="not a safetensors file|corrupted header"):
        read_safetensors(str(path))
    assert not marker.exists()

# -----------------------------------------------------------------------------
# HF layouts: random tiny GPT-2 (pre-LN) and GPT-1 (post-LN), both with the tanh GELU (GPT-2's "gelu_new"; GPT-1's
# "afn": "gelu", which modeling_openai maps to gelu_new), in Conv1D (in, out) shapes


V, P, C, L, H = 40, 16, 24, 2, 3  # vocab, positions, width, layers, heads


def hf_weights(kind, seed=0):
    rng = np.random.default_rng(seed)
    w = lambda *shape: (0.3 * rng.standard_normal(shape)).astype(np.float32)  # noqa: E731
    gain = lambda: (1 + 0.2 * rng.standard_normal(C)).astype(np.float32)  # noqa: E731
    tok, pos = ("wte", "wpe") if kind == "gpt2" else ("tokens_embed", "positions_embed")
    W = {f"{tok}.weight": w(V, C), f"{pos}.weight": w(P, C)}
    for i in range(L):
        h = f"h.{i}."
        W.update({h + "ln_1.weight": gain(), h + "ln_1.bias": w(C), h + "attn.c_attn.weight": w(C, 3 * C),
                  h + "attn.c_attn.bias": w(3 * C), h + "attn.c_proj.weight": w(C, C), h + "attn.c_proj.bias": w(C),
                  h + "ln_2.weight": gain(), h + "ln_2.bias": w(C), h + "mlp.c_fc.weight": w(C, 4 * C),
                  h + "mlp.c_fc.bias": w(4 * C), h + "mlp.c_proj.weight": w(4 * C, C), h + "mlp.c_proj.bias": w(C)})
    if kind == "gpt2":
        W.update({"ln_f.weight": gain(), "ln_f.bias": w(C)})
    return W


def hf_config(kind):
    if kind == "gpt2":
        return {"model_type": "gpt2", "activation_function": "gelu_new", "n_positions": P, "n_ctx": P,
                "vocab_size": V, "n_embd": C, "n_layer": L, "n_head": H, "layer_norm_epsilon": 1e-5}
    return {"model_type": "openai-gpt", "afn": "gelu", "n_positions": P, "n_ctx": P, "vocab_size": V, "n_embd": C,
            "n_layer": L, "n_head": H, "layer_norm_epsilon": 1e-5}


def hf_reference_logits(W, kind, idx):
    """Logits (T, V) computed from the HF-named arrays the way transformers' GPT2Model / OpenAIGPTModel do."""
    W = {k: v.astype(np.float64) for k, v in W.items()}
    conv1d = lambda x, name: x @ W[name + ".weight"] + W[name + ".bias"]  # noqa: E731 (Conv1D: x @ (in, out))
    ln = lambda x, name: layer_norm(x, W[name + ".weight"], W[name + ".bias"])  # noqa: E731
    T = len(idx)
    tok, pos = ("wte", "wpe") if kind == "gpt2" else ("tokens_embed", "positions_embed")
    x = W[f"{tok}.weight"][idx] + W[f"{pos}.weight"][:T]
    causal = np.tril(np.ones((T, T), dtype=bool))

    def attn(z, h):
        q, k, v = (t.reshape(T, H, C // H).transpose(1, 0, 2) for t in np.split(conv1d(z, h + "attn.c_attn"), 3, -1))
        y = softmax(np.where(causal, q @ k.transpose(0, 2, 1) / math.sqrt(C // H), -np.inf)) @ v
        return conv1d(y.transpose(1, 0, 2).reshape(T, C), h + "attn.c_proj")

    def mlp(z, h):
        return conv1d(gelu(conv1d(z, h + "mlp.c_fc"), "tanh"), h + "mlp.c_proj")  # MLP inputs of order 1 here
    for i in range(L):
        h = f"h.{i}."
        if kind == "gpt2":
            x = x + attn(ln(x, h + "ln_1"), h)
            x = x + mlp(ln(x, h + "ln_2"), h)
        else:  # OpenAIGPT's Block: n = ln_1(x + attn(x)); ln_2(n + mlp(n))
            x = ln(x + attn(x, h), h + "ln_1")
            x = ln(x + mlp(x, h), h + "ln_2")
    if kind == "gpt2":
        x = ln(x, "ln_f")
    return x @ W[f"{tok}.weight"].T


def write_model(folder, kind, W, prefixed, dtype="F32"):
    """config.json and model.safetensors as the hub has them (prefixed=False, with GPT-2's old attn.bias mask
    buffers) or as save_pretrained writes them today (transformer. prefix and the tied lm_head.weight)."""
    os.makedirs(folder, exist_ok=True)
    arrays = {("transformer." if prefixed else "") + k: (dtype, v) for k, v in W.items()}
    if prefixed:
        arrays["lm_head.weight"] = (dtype, W["wte.weight" if kind == "gpt2" else "tokens_embed.weight"])
    elif kind == "gpt2":
        arrays.update({f"h.{i}.attn.bias": (dtype, np.tril(np.ones((1, 1, P, P)))) for i in range(L)})
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(hf_config(kind), f)
    with open(os.path.join(folder, "model.safetensors"), "wb") as f:
        f.write(safetensors_bytes(arrays))
    return str(folder)


@pytest.mark.parametrize("kind", ["gpt2", "openai-gpt"])
@pytest.mark.parametrize("prefixed", [False, True])
def test_from_pretrained_matches_numpy_reference(tmp_path, kind, prefixed):
    W = hf_weights(kind)
    model = GPT.from_pretrained(write_model(tmp_path / "m", kind, W, prefixed)).eval()
    assert model.config.prenorm == (kind == "gpt2") and model.config.gelu == "tanh"
    idx = np.random.default_rng(1).integers(V, size=P)
    with torch.no_grad():
        ours = model(torch.tensor(idx)[None], targets=torch.zeros(1, P, dtype=torch.long))[0][0].double().numpy()
    ref = hf_reference_logits(W, kind, idx)
    assert np.abs(ours - ref).max() < 1e-4 * np.abs(ref).max()


def test_from_pretrained_reads_half_precision_files(tmp_path):
    W = hf_weights("gpt2")
    model = GPT.from_pretrained(write_model(tmp_path / "m", "gpt2", W, False, dtype="BF16"))
    assert model.transformer.wte.weight.dtype == torch.float32  # loaded into float32 parameters
    got = model.transformer.h[0].mlp.c_fc.weight.detach().numpy()  # (out, in): the transpose of HF's (in, out)
    want = (W["h.0.mlp.c_fc.weight"].view(np.uint32) & 0xFFFF0000).view(np.float32).T
    assert np.array_equal(got, want)


def test_from_pretrained_mistakes(tmp_path):
    with pytest.raises(SystemExit, match="neither a folder nor a published model: use one of openai-gpt, gpt2"):
        GPT.from_pretrained("gpt5")
    with pytest.raises(SystemExit, match="config.json not found"):
        GPT.from_pretrained(str(tmp_path))
    folder = write_model(tmp_path / "m", "gpt2", hf_weights("gpt2"), False)
    (tmp_path / "m" / "config.json").write_text(json.dumps({**hf_config("gpt2"), "model_type": "bert"}))
    with pytest.raises(SystemExit, match="describes a 'bert' model"):
        GPT.from_pretrained(folder)
    (tmp_path / "m" / "config.json").write_text(json.dumps({**hf_config("gpt2"), "n_layer": 3}))
    with pytest.raises(SystemExit, match="does not match its config.json .*h.2"):
        GPT.from_pretrained(folder)
    (tmp_path / "m" / "config.json").write_text(json.dumps({**hf_config("gpt2"), "n_embd": 30, "n_head": 3}))
    with pytest.raises(SystemExit, match="has shape"):
        GPT.from_pretrained(folder)

# -----------------------------------------------------------------------------
# hub downloads against a loopback server


def test_hub_download_is_checked_and_cached(tmp_path, server, monkeypatch):
    monkeypatch.setattr(prepare, "DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(prepare, "HUB_URL", server.url + "/{}/resolve/main/{}")
    folder = write_model(tmp_path / "m", "openai-gpt", hf_weights("openai-gpt"), True)
    for name in ("config.json", "model.safetensors"):
        data = open(os.path.join(folder, name), "rb").read()
        server.files[f"/openai-community/openai-gpt/resolve/main/{name}"] = data
    weights = server.files["/openai-community/openai-gpt/resolve/main/model.safetensors"]
    server.headers["/openai-community/openai-gpt/resolve/main/model.safetensors"] = {
        "X-Linked-Etag": '"' + hashlib.sha256(weights).hexdigest() + '"', "X-Linked-Size": str(len(weights))}
    model = GPT.from_pretrained("openai-gpt")
    assert model.meta == {"tokenizer": "gpt1", "vocab_size": V, "bpe": "openai-community/openai-gpt"}
    cached = tmp_path / "data" / "hub" / "openai-community--openai-gpt"
    assert sorted(os.listdir(cached)) == ["config.json", "model.safetensors"]
    requests_made = len(server.log)
    GPT.from_pretrained("openai-gpt")
    assert len(server.log) == requests_made  # read from the cache

    os.remove(cached / "model.safetensors")  # a download that does not match the hub's sha256 is deleted
    server.files["/openai-community/openai-gpt/resolve/main/model.safetensors"] = weights[:-1] + b"x"
    with pytest.raises(SystemExit, match="does not match its published sha256"):
        GPT.from_pretrained("openai-gpt")
    assert sorted(os.listdir(cached)) == ["config.json"]

# -----------------------------------------------------------------------------
# GPT-1's BPE: known encodings, computed with the bpe() of OpenAI's finetune-transformer-lm (text_utils.py) on the
# published encoder_bpe_40000.json / vocab_40000.bpe, with spaCy's word split written out by hand. The fixture holds
# the merges those words use (in their published order) and the ids of the symbols they end in.

GPT1_KNOWN = {
    "Hello world!": [3570, 1276, 267],
    "The quick brown fox jumps over the lazy dog.": [481, 2279, 2507, 8573, 11670, 715, 481, 8447, 2585, 239],
    "I don't think so, said the 3.5-year-old...": [249, 587, 538, 825, 620, 240, 603, 481, 19243, 284, 260, 1803,
                                                   260, 1122, 749],
    "Naïve café —\nnew line": [24213, 13550, 260, 40477, 783, 1584],
}


@pytest.mark.parametrize("text", GPT1_KNOWN)
def test_gpt1_bpe_known_encodings(text):
    encode, decode = prepare.get_tokenizer({"tokenizer": "gpt1", "bpe": os.path.join(FIXTURES, "gpt1_bpe")})
    assert encode(text) == GPT1_KNOWN[text]
    assert decode(encode("Hello world!")) == "hello world ! "  # lower-cased words, each followed by a space


def test_gpt1_bpe_unknown_symbols_are_unk():
    encode, _ = prepare.get_tokenizer({"tokenizer": "gpt1", "bpe": os.path.join(FIXTURES, "gpt1_bpe")})
    assert encode("hello ☃") == [3570, 0]  # as OpenAI's code: encoder.get(symbol, 0), and 0 is <unk>

# -----------------------------------------------------------------------------
# published weights through the scripts: a tiny GPT-1-layout folder with the BPE fixture, as the hub lays it out


@pytest.fixture
def gpt1_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(prepare, "DATA_DIR", str(tmp_path / "data"))
    rng = np.random.default_rng(0)
    V, C = 40478, 8
    W = {"tokens_embed.weight": 0.3 * rng.standard_normal((V, C)),
         "positions_embed.weight": rng.standard_normal((32, C))}
    for name, shape in (("attn.c_attn", (C, 3 * C)), ("attn.c_proj", (C, C)), ("mlp.c_fc", (C, 4 * C)),
                        ("mlp.c_proj", (4 * C, C))):
        W[f"h.0.{name}.weight"], W[f"h.0.{name}.bias"] = 0.3 * rng.standard_normal(shape), np.zeros(shape[1])
    for ln in ("ln_1", "ln_2"):
        W[f"h.0.{ln}.weight"], W[f"h.0.{ln}.bias"] = np.ones(C), np.zeros(C)
    folder = tmp_path / "tiny-openai-gpt"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({**hf_config("openai-gpt"), "vocab_size": V, "n_embd": C,
                                                    "n_layer": 1, "n_head": 2, "n_positions": 32}))
    (folder / "model.safetensors").write_bytes(safetensors_bytes({k: ("F32", v) for k, v in W.items()}))
    for name in ("vocab.json", "merges.txt"):
        (folder / name).write_bytes(open(os.path.join(FIXTURES, "gpt1_bpe", name), "rb").read())
    return folder


def test_published_weights_in_sample_finetune_and_train(gpt1_folder, capsys):
    from scripts import run_script
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    assert run_script(os.path.join(repo, "sample.py"), [f"--init_from={gpt1_folder}", "--start=Hello world!",
                                                        "--num_samples=1", "--max_new_tokens=3", "--device=cpu"]) == 0
    assert capsys.readouterr().out.startswith("hello world ! ")  # the prompt, as GPT-1's BPE reads it back

    # GPT-1's recipe on an entailment task written with words the BPE fixture knows
    texts = list(GPT1_KNOWN)
    records = [{"premise": texts[i % 4], "hypothesis": texts[(i * 3) % 4], "label": ["yes", "no"][i % 2]}
               for i in range(16)]
    train = gpt1_folder.parent / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in records))
    val = gpt1_folder.parent / "val.jsonl"
    val.write_text("".join(json.dumps(r) + "\n" for r in records[:4]))
    prepare.prepare("task", inputs=[str(train), str(val)], out="pairs", task_type="entailment")
    out = gpt1_folder.parent / "ft"
    assert run_script(os.path.join(repo, "finetune.py"), [
        f"--init_from={gpt1_folder}", "--task=pairs", f"--out_dir={out}", "--lm_epochs=0", "--epochs=1",
        "--batch_size=8", "--device=cpu", "--schedule=linear", "--discriminative=False",
        "--gradual_unfreezing=False"]) == 0
    ckpt = torch.load(out / "classifier.pt", weights_only=True)
    assert ckpt["meta"] == {"tokenizer": "gpt1", "vocab_size": 40478, "bpe": str(gpt1_folder)}
    assert ckpt["model_args"]["vocab_size"] == 40478 + 3  # start, delimiter, extract

    # continued pretraining: text tokenized with GPT-1's BPE, a shorter context, then a resume that needs no
    # architecture settings (they come from the published config, stored in the checkpoint)
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(sources, "GPT1_HUB", str(gpt1_folder))
    (gpt1_folder.parent / "text.txt").write_text(" ".join(texts * 20))
    prepare.prepare("text", inputs=[str(gpt1_folder.parent / "text.txt")], tokenizer="gpt1", out="books")
    monkeypatch.undo()
    args = ["--dataset=books", "--block_size=16", "--batch_size=2", "--eval_iters=1", "--eval_interval=2",
            "--sample_tokens=0", "--device=cpu", f"--out_dir={gpt1_folder.parent / 'cont'}"]
    assert run_script(os.path.join(repo, "train_gpt.py"), [*args, f"--init_from={gpt1_folder}", "--max_iters=2"]) == 0
    ckpt = torch.load(gpt1_folder.parent / "cont" / "latest.pt", weights_only=True)
    assert ckpt["pretrained"] == str(gpt1_folder) and ckpt["model_args"]["prenorm"] is False
    assert ckpt["model"]["transformer.wpe.weight"].shape == (16, 8)  # the first 16 of 32 positions
    assert run_script(os.path.join(repo, "train_gpt.py"), [*args, "--init_from=resume", "--max_iters=4"]) == 0


@pytest.mark.parametrize("kind", ["gpt2", "openai-gpt"])
def test_logits_match_transformers_where_installed(tmp_path, kind):
    # the same cross-check against transformers itself, where it is installed (it is no requirement of ours): a
    # randomly initialised GPT2LMHeadModel / OpenAIGPTLMHeadModel, weights large enough that the MLP's inputs are
    # of order 1 (where the exact and the tanh GELU differ by ~1e-3), saved with save_pretrained and loaded here
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    if kind == "gpt2":
        hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(
            vocab_size=V, n_positions=P, n_embd=C, n_layer=L, n_head=H, initializer_range=0.3))
    else:
        hf = transformers.OpenAIGPTLMHeadModel(transformers.OpenAIGPTConfig(
            vocab_size=V, n_positions=P, n_embd=C, n_layer=L, n_head=H, initializer_range=0.3))
    hf.eval().save_pretrained(tmp_path, safe_serialization=True)
    ours = GPT.from_pretrained(str(tmp_path)).eval()
    idx = torch.randint(V, (2, P))
    with torch.no_grad():
        expected = hf(idx).logits
        got = ours.logits(ours.encode(idx))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)

# -----------------------------------------------------------------------------
# export: train_gpt.py --export=DIR writes our checkpoint in the hub's layout


def read_safetensors_by_hand(path):
    """A reader of its own (not train_gpt's): {name: float32 array}, and the header's start of data."""
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    assert header.pop("__metadata__") == {"format": "pt"}  # transformers refuses a file without it
    body = data[8 + n:]
    arrays, end = {}, 0
    for name, entry in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        assert entry["dtype"] == "F32" and entry["data_offsets"][0] == end  # packed, in order, nothing between
        begin, end = entry["data_offsets"]
        arrays[name] = np.frombuffer(body[begin:end], dtype="<f4").reshape(entry["shape"])
    assert end == len(body)
    return arrays, 8 + n


def exportable(tmp_path, prenorm=True, bias=True, gelu="tanh", attn_window=0):
    """A run folder whose best.pt holds a random GPT of the reference's sizes (weights of order 1 where the two GELUs
    differ), on a char vocabulary."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=P, vocab_size=V, n_layer=L, n_head=H, n_embd=C, bias=bias, prenorm=prenorm,
                          gelu=gelu, attn_window=attn_window)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.3) if p.dim() == 2 else p.uniform_(0.8, 1.2)
    meta = {"tokenizer": "char", "vocab_size": V, "vocab": [chr(65 + i) for i in range(V)], "dtype": "uint16"}
    run = tmp_path / "run"
    run.mkdir(parents=True)
    torch.save(dict(model=model.state_dict(), model_args=asdict(model.config), meta=meta, config={}, iter_num=5,
                    best_val_loss=1.0, model_type="gpt"), run / "best.pt")
    return str(run), model, meta


TRAIN_GPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "train_gpt.py")


@pytest.mark.parametrize("kind, bias, gelu", [("gpt2", True, "tanh"), ("gpt2", False, "none"),
                                              ("openai-gpt", True, "tanh"), ("openai-gpt", False, "tanh")])
def test_export_then_from_pretrained_gives_the_same_logits(tmp_path, kind, bias, gelu):
    run, model, meta = exportable(tmp_path, prenorm=kind == "gpt2", bias=bias, gelu=gelu)
    out = tmp_path / "hf"
    assert run_script(TRAIN_GPT, [f"--out_dir={run}", f"--export={out}"]) == 0
    assert sorted(os.listdir(out)) == ["config.json", "model.safetensors"]
    idx = torch.tensor(np.random.default_rng(1).integers(V, size=(2, P)))
    loaded = GPT.from_pretrained(str(out)).eval()
    with torch.no_grad():
        ours = model.logits(model.encode(idx))
        assert torch.equal(loaded.logits(loaded.encode(idx)), ours)
    assert loaded.meta == meta  # the char vocabulary travels in config.json
    # the file as an independent reader sees it: the hub's names, Conv1D's (in, out), the tied output matrix once
    W, data_start = read_safetensors_by_hand(out / "model.safetensors")
    assert data_start % 8 == 0
    tok = "wte" if kind == "gpt2" else "tokens_embed"
    assert "lm_head.weight" not in W and not any(k.startswith("transformer.") for k in W)
    assert np.array_equal(W[f"{tok}.weight"], model.transformer.wte.weight.detach().numpy())
    assert np.array_equal(W["h.1.mlp.c_fc.weight"], model.transformer.h[1].mlp.c_fc.weight.detach().numpy().T)
    if not bias:  # transformers' blocks always have biases: zeros are the same function
        assert not W["h.0.attn.c_attn.bias"].any() and W["h.0.attn.c_attn.bias"].shape == (3 * C,)
    if gelu == "tanh":  # the NumPy forward pass written for the hub's layout above
        ref = hf_reference_logits(W, kind, idx[0].numpy())
        assert np.abs(ours[0].double().numpy() - ref).max() < 1e-4 * np.abs(ref).max()
    config = json.load(open(out / "config.json"))
    assert config["model_type"] == kind and config["n_positions"] == P and config["vocab_size"] == V
    assert (config.get("activation_function"), config.get("afn")) == (
        ({"tanh": "gelu_new", "none": "gelu"}[gelu], None) if kind == "gpt2" else (None, "gelu"))


@pytest.mark.parametrize("kind, gelu", [("gpt2", "tanh"), ("gpt2", "none"), ("openai-gpt", "tanh")])
def test_exported_logits_match_transformers_where_installed(tmp_path, kind, gelu):
    transformers = pytest.importorskip("transformers")
    run, model, _ = exportable(tmp_path, prenorm=kind == "gpt2", gelu=gelu)
    assert run_script(TRAIN_GPT, [f"--out_dir={run}", f"--export={tmp_path / 'hf'}"]) == 0
    cls = transformers.GPT2LMHeadModel if kind == "gpt2" else transformers.OpenAIGPTLMHeadModel
    hf = cls.from_pretrained(str(tmp_path / "hf")).eval()
    idx = torch.randint(V, (2, P))
    with torch.no_grad():
        torch.testing.assert_close(hf(idx).logits, model.logits(model.encode(idx)), rtol=1e-5, atol=1e-5)


def test_export_refusals_leave_everything_as_it_was(tmp_path):
    run, _, _ = exportable(tmp_path)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    assert script_error(TRAIN_GPT, [f"--out_dir={run}", f"--export={busy}"]) == (
        f"export: {busy} holds 1 file(s): give a new or empty folder (nothing is ever overwritten)")
    assert os.listdir(busy) == ["notes.txt"] and (busy / "notes.txt").read_text() == "mine"
    out = tmp_path / "hf"
    assert run_script(TRAIN_GPT, [f"--out_dir={run}", f"--export={out}"]) == 0
    before = {name: (out / name).read_bytes() for name in os.listdir(out)}
    assert "holds 2 file(s)" in script_error(TRAIN_GPT, [f"--out_dir={run}", f"--export={out}"])  # not even ours
    assert {name: (out / name).read_bytes() for name in os.listdir(out)} == before
    banded, _, _ = exportable(tmp_path / "b", attn_window=4)
    message = script_error(TRAIN_GPT, [f"--out_dir={banded}", f"--export={tmp_path / 'b' / 'hf'}"])
    assert message.startswith("export: this GPT-3 model has locally banded layers (attn_window=4)")
    post_ln_exact, _, _ = exportable(tmp_path / "g", prenorm=False, gelu="none")
    message = script_error(TRAIN_GPT, [f"--out_dir={post_ln_exact}", f"--export={tmp_path / 'g' / 'hf'}"])
    assert message.startswith("export: a post-LN (GPT-1) model with the exact GELU has no openai-gpt layout")
    assert not os.path.exists(tmp_path / "b" / "hf") and not os.path.exists(tmp_path / "g" / "hf")
