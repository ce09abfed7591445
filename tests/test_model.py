"""
Tests of the GPT in train_gpt.py against an independent NumPy reference and a set of invariants.

$ python -m pytest -q tests/test_model.py     # CPU, a few seconds
"""

import glob
import math
import os
import sys
from dataclasses import asdict

import numpy as np
import pytest
import torch

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, REPO)
import train_gpt  # noqa: E402
from prepare import configure, load_checkpoint, save_checkpoint, setting_defaults  # noqa: E402
from train_gpt import GPT, GPTConfig, KVCache, attention_mask, model_from_checkpoint, sample_token  # noqa: E402

# -----------------------------------------------------------------------------
# reference: a GPT forward pass in float64 NumPy, one sequence at a time, written from the papers (picoGPT-style)


def layer_norm(x, g, b, eps=1e-5):  # Ba et al. 2016; x (T, C), g and b (C,)
    mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)  # biased variance, as in the paper
    return g * (x - mu) / np.sqrt(var + eps) + (0 if b is None else b)


def gelu(x, approximate):  # Hendrycks & Gimpel 2016: x * Phi(x), or its tanh approximation used by GPT-1/2's code
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def linear(x, w, b):  # torch stores w as (out, in)
    return x @ w.T + (0 if b is None else b)


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def band_mask(T, window):  # (T, T): query i sees key j iff j <= i, and also i - window < j when banded
    return np.array([[j <= i and (window == 0 or j > i - window) for j in range(T)] for i in range(T)])


def attention(x, w_attn, b_attn, w_proj, b_proj, n_head, mask):  # Vaswani et al. 2017 §3.2; x (T, C)
    T, C = x.shape
    q, k, v = np.split(linear(x, w_attn, b_attn), 3, axis=-1)  # 3 x (T, C)
    q, k, v = (t.reshape(T, n_head, C // n_head).transpose(1, 0, 2) for t in (q, k, v))  # (nh, T, hs)
    scores = q @ k.transpose(0, 2, 1) / math.sqrt(C // n_head)  # (nh, T, T)
    y = softmax(np.where(mask, scores, -np.inf)) @ v  # (nh, T, hs)
    return linear(y.transpose(1, 0, 2).reshape(T, C), w_proj, b_proj)  # heads side by side, (T, C)


def reference_logits(W, idx, cfg):  # W: state_dict as float64 arrays; idx (T,) -> logits (T, V)
    p = lambda name: (W[name + ".weight"], W.get(name + ".bias"))  # noqa: E731
    x = W["transformer.wte.weight"][idx] + W["transformer.wpe.weight"][:len(idx)]  # (T, C)
    for i in range(cfg.n_layer):
        h = f"transformer.h.{i}."
        mask = band_mask(len(idx), cfg.attn_window if i % 2 == 1 else 0)  # GPT-3 §2.1: odd layers banded
        attn = lambda z: attention(z, *p(h + "attn.c_attn"), *p(h + "attn.c_proj"), cfg.n_head, mask)  # noqa: E731
        mlp = lambda z: linear(gelu(linear(z, *p(h + "mlp.c_fc")), cfg.gelu), *p(h + "mlp.c_proj"))  # noqa: E731
        if cfg.prenorm:  # GPT-2 §2.3: LayerNorm at each sub-block's input
            x = x + attn(layer_norm(x, *p(h + "ln_1")))
            x = x + mlp(layer_norm(x, *p(h + "ln_2")))
        else:  # GPT-1: LayerNorm after each residual add
            x = layer_norm(x + attn(x), *p(h + "ln_1"))
            x = layer_norm(x + mlp(x), *p(h + "ln_2"))
    if cfg.prenorm:
        x = layer_norm(x, *p("transformer.ln_f"))  # GPT-2 §2.3: a final LayerNorm
    return x @ W["transformer.wte.weight"].T  # output projection tied to the token embedding, (T, V)


# -----------------------------------------------------------------------------
# helpers


def small_config(**kw):
    return GPTConfig(**{**dict(block_size=16, vocab_size=50, n_layer=2, n_head=4, n_embd=32), **kw})


def random_model(cfg, seed=0):
    """A float64 GPT in eval mode with every parameter random, so biases and LayerNorm gains matter and
    attention is far from uniform (the 0.02 init would make a wrong mask hard to see)."""
    torch.manual_seed(seed)
    model = GPT(cfg).double().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(1 + 0.2 * torch.randn_like(p) if ".ln_" in name and name.endswith("weight")
                    else 0.3 * torch.randn_like(p))
    return model


def full_logits(model, idx):  # (B, T, V) at every position: passing targets makes forward return them all
    with torch.no_grad():
        return model(idx, targets=idx.new_zeros(idx.shape))[0]


def numpy_weights(model):
    return {k: v.double().numpy() for k, v in model.state_dict().items()}


def greedy_recompute(model, idx, n):  # the slow, obviously right way: a full forward for every new token
    for _ in range(n):
        idx = torch.cat((idx, full_logits(model, idx)[:, -1].argmax(-1, keepdim=True)), dim=1)
    return idx


def generated(model, idx, n, **kw):  # generate yields (B, 1) tensors; collect them into (B, n)
    return torch.cat(list(model.generate(idx, n, **kw)), dim=1)


# -----------------------------------------------------------------------------
# 1. the forward pass equals the NumPy reference


@pytest.mark.parametrize("layout", [
    dict(),  # GPT-2: pre-LN, final LayerNorm
    dict(gelu="tanh"),  # GPT-2 as OpenAI's code computes it
    dict(prenorm=False, gelu="tanh"),  # GPT-1: post-LN, no final LayerNorm
    dict(attn_window=4, n_layer=4, gelu="tanh"),  # GPT-3: alternating dense and banded layers
    dict(bias=False),
    dict(bias=False, prenorm=False),
])
def test_forward_matches_numpy_reference(layout):
    cfg = small_config(**layout)
    model = random_model(cfg)
    idx = torch.randint(cfg.vocab_size, (2, cfg.block_size))
    ours = full_logits(model, idx).numpy()
    W = numpy_weights(model)
    for b in range(idx.size(0)):
        np.testing.assert_allclose(ours[b], reference_logits(W, idx[b].numpy(), cfg), rtol=1e-9, atol=1e-9)


def test_forward_float32_matches_reference():
    cfg = small_config(attn_window=3)
    model = random_model(cfg)
    W = numpy_weights(model)
    idx = torch.randint(cfg.vocab_size, (1, cfg.block_size))
    ours = full_logits(model.float(), idx)[0].numpy()
    np.testing.assert_allclose(ours, reference_logits(W, idx[0].numpy(), cfg), rtol=1e-4, atol=1e-5)


# -----------------------------------------------------------------------------
# 2. causality and 3. the band


@pytest.mark.parametrize("layout", [dict(), dict(prenorm=False), dict(attn_window=3, n_layer=4)])
def test_future_tokens_do_not_change_past_logits(layout):
    cfg = small_config(**layout)
    model = random_model(cfg)
    idx = torch.randint(cfg.vocab_size, (2, cfg.block_size))
    for t in (0, 5, cfg.block_size - 2):
        other = idx.clone()
        shift = 1 + torch.randint(cfg.vocab_size - 1, other[:, t + 1:].shape)  # every later token really changes
        other[:, t + 1:] = (other[:, t + 1:] + shift) % cfg.vocab_size
        a, b = full_logits(model, idx), full_logits(model, other)
        torch.testing.assert_close(a[:, :t + 1], b[:, :t + 1], rtol=0, atol=1e-10)
        assert not torch.allclose(a[:, t + 1:], b[:, t + 1:])  # the change reached the model at all


@pytest.mark.parametrize("start, T, L", [(0, 9, 9), (5, 1, 6), (3, 4, 7), (0, 1, 1)])
@pytest.mark.parametrize("window", [0, 1, 3, 20])
def test_attention_mask_brute_force(start, T, L, window):
    expected = torch.tensor([[k <= start + i and (window == 0 or start + i - k < window) for k in range(L)]
                             for i in range(T)])
    assert torch.equal(attention_mask(start, T, L, window, "cpu"), expected)


@pytest.mark.parametrize("window", [1, 2, 5])
def test_banded_layer_matches_reference_and_differs_from_dense(window):
    cfg = small_config(attn_window=window)  # layer 0 dense, layer 1 banded
    banded = random_model(cfg)
    idx = torch.randint(cfg.vocab_size, (1, cfg.block_size))
    ours = full_logits(banded, idx)
    np.testing.assert_allclose(ours[0].numpy(), reference_logits(numpy_weights(banded), idx[0].numpy(), cfg),
                               rtol=1e-9, atol=1e-9)
    # the same weights, all layers dense: positions before the window fills agree, the rest must not
    dense = GPT(small_config(attn_window=0)).double().eval()
    dense.load_state_dict(banded.state_dict())
    other = full_logits(dense, idx)
    torch.testing.assert_close(ours[:, :window], other[:, :window], rtol=0, atol=1e-10)
    for t in range(window, cfg.block_size):
        assert not torch.allclose(ours[:, t], other[:, t]), f"position {t} ignores the band"


def test_banded_layer_sees_exactly_its_window():
    # with layer 0's attention output zeroed, nothing mixes positions except banded layer 1, so position t
    # depends on tokens t-window+1 .. t and on no other
    window, t = 4, 10
    cfg = small_config(attn_window=window)
    model = random_model(cfg)
    with torch.no_grad():
        model.transformer.h[0].attn.c_proj.weight.zero_()
        model.transformer.h[0].attn.c_proj.bias.zero_()
    idx = torch.randint(cfg.vocab_size, (1, cfg.block_size))
    base = full_logits(model, idx)[0, t]
    for j in range(t + 1):
        other = idx.clone()
        other[0, j] = (other[0, j] + 1) % cfg.vocab_size
        changed = not torch.allclose(full_logits(model, other)[0, t], base, rtol=0, atol=1e-10)
        assert changed == (t - window < j), f"token {j} {'changed' if changed else 'did not change'} position {t}"


# -----------------------------------------------------------------------------
# 4. KV cache and generation


@pytest.mark.parametrize("layout", [dict(), dict(prenorm=False), dict(attn_window=3, n_layer=4)])
def test_cached_forward_matches_full_forward(layout):
    cfg = small_config(**layout)
    model = random_model(cfg)
    idx = torch.randint(cfg.vocab_size, (2, cfg.block_size))
    full = full_logits(model, idx)
    cache, end = KVCache(cfg), 0
    with torch.no_grad():
        for chunk in (5, 1, 3, 1, 6):  # chunks of several tokens after the first exercise the offset mask
            logits, loss = model(idx[:, end:end + chunk], cache=cache)
            end += chunk
            assert loss is None and logits.shape == (2, 1, cfg.vocab_size)  # only the last position's logits
            torch.testing.assert_close(logits[:, 0], full[:, end - 1], rtol=1e-9, atol=1e-9)
        assert cache.length == cfg.block_size
        with pytest.raises(ValueError):
            model(idx[:, :1], cache=cache)  # the cache is full


@pytest.mark.parametrize("layout", [dict(), dict(prenorm=False), dict(attn_window=3, n_layer=4)])
def test_greedy_generate_matches_recomputing(layout):
    cfg = small_config(**layout)
    model = random_model(cfg)
    prompt = torch.randint(cfg.vocab_size, (2, 3))
    n = cfg.block_size - prompt.size(1) + 1  # the last token is predicted from a full context
    expected = greedy_recompute(model, prompt, n)[:, prompt.size(1):]
    assert torch.equal(generated(model, prompt, n, temperature=0), expected)


def test_generate_beyond_block_size():
    cfg = small_config(block_size=8, attn_window=3)
    model = random_model(cfg)
    for prompt_len in (3, 8, 12):  # short, exactly full, and longer than the context
        prompt = torch.randint(cfg.vocab_size, (2, prompt_len))
        out = generated(model, prompt, 30, temperature=0)
        assert out.shape == (2, 30) and out.min() >= 0 and out.max() < cfg.vocab_size
        # until the context fills, generation is exact
        n = cfg.block_size - min(prompt_len, cfg.block_size) + 1
        window = prompt[:, -cfg.block_size:]
        assert torch.equal(out[:, :n], greedy_recompute(model, window, n)[:, window.size(1):])
    g = torch.Generator().manual_seed(0)
    out = generated(model.float(), prompt, 30, temperature=0.8, top_k=10, generator=g)
    assert out.shape == (2, 30)


def test_forward_longer_than_block_size_raises():
    model = GPT(small_config(block_size=8))
    with pytest.raises(ValueError, match="block_size=8"):
        model(torch.zeros(1, 9, dtype=torch.long))


# -----------------------------------------------------------------------------
# 5. loss at init and 6. learning


@pytest.mark.parametrize("vocab_size", [65, 1000])
@pytest.mark.parametrize("prenorm", [True, False])
def test_loss_at_init_is_ln_vocab(vocab_size, prenorm):
    # with N(0, 0.02) weights the logits are nearly equal, so the loss is ~ln(V); measured 0.003..0.026 above it
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=64, vocab_size=vocab_size, n_layer=2, n_head=4, n_embd=64, prenorm=prenorm))
    x, y = torch.randint(vocab_size, (8, 64)), torch.randint(vocab_size, (8, 64))
    with torch.no_grad():
        _, loss = model(x, y)
    assert abs(loss.item() - math.log(vocab_size)) < 0.05


@pytest.mark.parametrize("prenorm", [True, False])
def test_overfits_one_batch(prenorm):
    # random targets, 4 x 16 tokens: from ln(32) = 3.47 to a measured 0.0006..0.0011 after 100 steps (10 seeds)
    torch.manual_seed(0)
    cfg = GPTConfig(block_size=16, vocab_size=32, n_layer=2, n_head=2, n_embd=32, dropout=0.0, prenorm=prenorm)
    model = GPT(cfg)
    x, y = torch.randint(32, (4, 16)), torch.randint(32, (4, 16))
    x[:, 0] = torch.arange(4)  # distinct first tokens: position 0 sees only its own token, so no two rows may clash
    optimizer = model.configure_optimizers(0.0, 1e-2, (0.9, 0.95), "cpu")
    for _ in range(100):
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        assert model(x, y)[1].item() < 0.01


def test_loss_accepts_sliced_targets():
    torch.manual_seed(0)
    model = GPT(small_config())
    batch = torch.randint(50, (2, 17))
    x, y = batch[:, :-1], batch[:, 1:]  # inputs and next-token targets from one window: y is a strided view
    assert torch.equal(model(x, y)[1], model(x, y.contiguous())[1])


# -----------------------------------------------------------------------------
# 7. sample_token


def test_sample_greedy_and_top1_are_argmax():
    torch.manual_seed(0)
    logits = torch.randn(64, 100)
    argmax = logits.argmax(-1, keepdim=True)
    assert torch.equal(sample_token(logits, temperature=0), argmax)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(sample_token(logits, temperature=1.0, top_k=1, generator=g), argmax)
    assert torch.equal(sample_token(logits, temperature=5.0, top_k=1, generator=g), argmax)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_temperature_scales_the_logits(temperature):
    # sampling at temperature T draws from softmax(logits / T); 4 sigma at n=8000 is < 0.023
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
    g = torch.Generator().manual_seed(0)
    draws = sample_token(logits.expand(8000, -1), temperature=temperature, generator=g).flatten()
    freq = torch.bincount(draws, minlength=4).float() / draws.numel()
    torch.testing.assert_close(freq, (logits[0] / temperature).softmax(-1), rtol=0, atol=0.023)


def test_top_k_support_is_the_k_largest():
    torch.manual_seed(0)
    logits = torch.randn(1, 20)
    g = torch.Generator().manual_seed(0)
    draws = sample_token(logits.expand(5000, -1), temperature=2.0, top_k=5, generator=g)
    assert set(draws.flatten().tolist()) == set(logits.topk(5).indices.flatten().tolist())


@pytest.mark.parametrize("top_p, support", [(0.3, [0]), (0.7, [0, 1]), (0.85, [0, 1, 2]), (0.99, [0, 1, 2, 3])])
def test_top_p_keeps_the_smallest_set_reaching_p(top_p, support):
    # Holtzman et al. 2019: cumulative 0.5, 0.8, 0.95, 1.0; p values sit away from those sums, where float
    # rounding decides (at p = 0.8 the set {0, 1} reaches p exactly)
    probs = torch.tensor([0.15, 0.5, 0.05, 0.3])  # shuffled, so sorting is exercised
    order = torch.tensor([1, 3, 0, 2])  # tokens by decreasing probability
    g = torch.Generator().manual_seed(0)
    draws = sample_token(probs.log().expand(4000, -1), temperature=1.0, top_p=top_p, generator=g).flatten()
    assert set(draws.tolist()) == set(order[support].tolist())
    # within the kept set, frequencies follow the renormalised probabilities (4 sigma at n=4000 is < 0.032)
    kept = probs[order[support]]
    freq = torch.stack([(draws == t).float().mean() for t in order[support]])
    torch.testing.assert_close(freq, kept / kept.sum(), rtol=0, atol=0.032)


# -----------------------------------------------------------------------------
# 8. names and init, 9. dropout, 11. optimizer groups


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("prenorm", [True, False])
def test_parameter_names_and_shapes_follow_openai(bias, prenorm):
    # the names and (out, in) shapes of the published GPT-2 checkpoints, so importing them is one loop
    C, V, n_layer = 32, 50, 2
    model = GPT(small_config(bias=bias, prenorm=prenorm, n_layer=n_layer, n_embd=C, vocab_size=V))
    expected = {"transformer.wte.weight": (V, C), "transformer.wpe.weight": (16, C), "lm_head.weight": (V, C)}
    layer = {"ln_1": [(C,), (C,)], "attn.c_attn": [(3 * C, C), (3 * C,)], "attn.c_proj": [(C, C), (C,)],
             "ln_2": [(C,), (C,)], "mlp.c_fc": [(4 * C, C), (4 * C,)], "mlp.c_proj": [(C, 4 * C), (C,)]}
    modules = {f"transformer.h.{i}.{name}": shapes for i in range(n_layer) for name, shapes in layer.items()}
    if prenorm:
        modules["transformer.ln_f"] = [(C,), (C,)]
    for name, (weight, b) in modules.items():
        expected[name + ".weight"] = weight
        if bias:
            expected[name + ".bias"] = b
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == expected


@pytest.mark.parametrize("prenorm", [True, False])
def test_init(prenorm):
    n_layer = 4
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=64, vocab_size=1000, n_layer=n_layer, n_head=4, n_embd=256, prenorm=prenorm))
    # GPT-2 §2.3: residual projections scaled by 1/sqrt(2 * n_layer); GPT-1 §4.1: N(0, 0.02) everywhere
    proj_std = 0.02 / math.sqrt(2 * n_layer) if prenorm else 0.02
    for name, p in model.named_parameters():  # 65k to 262k samples each: the std estimate is within ~1%
        if name.endswith("c_proj.weight"):
            assert abs(p.std().item() / proj_std - 1) < 0.03, name
        elif name.endswith(("c_attn.weight", "c_fc.weight", "wte.weight", "wpe.weight")):
            assert abs(p.std().item() / 0.02 - 1) < 0.03, name
        elif name.endswith("bias"):
            assert torch.all(p == 0), name
        elif ".ln_" in name:
            assert torch.all(p == 1), name
    assert model.lm_head.weight is model.transformer.wte.weight
    assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()
    assert ("ln_f.weight" in dict(model.transformer.named_parameters())) == prenorm  # GPT-1 has no final LayerNorm


def test_dropout_only_in_train_mode():
    torch.manual_seed(0)
    model = GPT(small_config(dropout=0.2))
    idx = torch.randint(50, (2, 16))
    model.train()
    assert not torch.equal(model(idx, idx)[0], model(idx, idx)[0])
    model.eval()
    assert torch.equal(model(idx, idx)[0], model(idx, idx)[0])


def test_optimizer_decays_exactly_the_matrices():
    model = GPT(small_config(attn_window=2))
    optimizer = model.configure_optimizers(0.1, 1e-3, (0.9, 0.95), "cpu")
    decay, no_decay = optimizer.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    named = dict(model.named_parameters())  # the tied embedding appears once
    matrices = {id(p) for n, p in named.items() if n.endswith("weight") and ".ln_" not in n}  # Linear, Embedding
    assert {id(p) for p in decay["params"]} == matrices
    assert {id(p) for p in no_decay["params"]} == {id(p) for p in named.values()} - matrices
    assert len(decay["params"]) + len(no_decay["params"]) == len(named)
    assert all(p.dim() >= 2 for p in decay["params"]) and all(p.dim() < 2 for p in no_decay["params"])


# -----------------------------------------------------------------------------
# 10. checkpoints


def make_checkpoint(tmp_path, **kw):
    torch.manual_seed(0)
    model = GPT(small_config(attn_window=3)).eval()
    path = str(tmp_path / "ckpt.pt")
    save_checkpoint(path, {"model": model.state_dict(), "model_args": asdict(model.config), **kw})
    return model, path


def test_checkpoint_round_trip(tmp_path):
    model, path = make_checkpoint(tmp_path, iter_num=7)
    assert os.listdir(tmp_path) == ["ckpt.pt"]  # written atomically: no temporary file left behind
    ckpt = load_checkpoint(path)
    loaded = model_from_checkpoint(ckpt).eval()
    assert ckpt["iter_num"] == 7 and loaded.config == model.config
    assert loaded.lm_head.weight is loaded.transformer.wte.weight  # still tied after load_state_dict
    idx = torch.randint(50, (2, 16))
    assert torch.equal(full_logits(loaded, idx), full_logits(model, idx))


def assert_one_line_exit(path, match):
    with pytest.raises(SystemExit) as e:
        load_checkpoint(path)
    message = str(e.value)
    assert path in message and "\n" not in message and match in message, message


@pytest.mark.parametrize("damage", ["truncated", "garbage", "first byte"])
def test_corrupt_checkpoint_exits_with_one_line(tmp_path, damage):
    _, path = make_checkpoint(tmp_path)
    data = open(path, "rb").read()
    data = {"truncated": data[:len(data) // 2], "garbage": b"not a checkpoint\n" * 20, "first byte": data[:1]}[damage]
    open(path, "wb").write(data)
    assert_one_line_exit(path, "truncated or corrupted")


def test_empty_checkpoint_exits_with_one_line(tmp_path):
    path = str(tmp_path / "empty.pt")  # e.g. a copy that ran out of disk space
    open(path, "wb").close()
    assert_one_line_exit(path, "truncated or corrupted")


def test_missing_or_foreign_checkpoint_exits(tmp_path):
    assert_one_line_exit(str(tmp_path / "nope.pt"), "does not exist")
    _, path = make_checkpoint(tmp_path, model_type="lstm")
    assert_one_line_exit(path, "lstm")
    save_checkpoint(path, {"weights": torch.zeros(3)})  # a valid torch file, but not one of ours
    assert_one_line_exit(path, "not written by this project's training scripts")


# -----------------------------------------------------------------------------
# 12. the padded output matmul, FlexAttention for banded layers


def test_padded_output_matmul_is_invisible():
    # logits() pads the tied embedding to a multiple of 64 rows on a GPU; called on padded rows directly here, the
    # logits, the loss and the greedy and sampled tokens must be those of the real vocabulary
    torch.manual_seed(0)
    model = GPT(small_config(vocab_size=50)).eval()  # 50 -> 64 rows
    idx = torch.randint(50, (2, 16))
    h = model.encode(idx)
    padded = torch.nn.functional.linear(h, torch.nn.functional.pad(model.lm_head.weight, (0, 0, 0, 14)))
    assert padded.shape[-1] == 64 and torch.all(padded[..., 50:] == 0)  # the zero rows give zero logits...
    torch.testing.assert_close(padded[..., :50], model.logits(h), rtol=0, atol=1e-6)  # ...and are cut off
    logits, loss = model(idx, idx)
    assert logits.shape[-1] == 50
    expected = torch.nn.functional.cross_entropy(padded[..., :50].reshape(-1, 50), idx.reshape(-1))
    torch.testing.assert_close(loss, expected)
    # a zero logit would be sampled now and then if the pad were kept: never from the real vocabulary's logits
    gen = torch.Generator().manual_seed(0)
    flat = model.logits(h).reshape(-1, 50).repeat(50, 1) * 0  # uniform over the 50 real tokens
    assert int(sample_token(flat, generator=gen).max()) < 50


def test_sampling_never_emits_a_pad_id():
    torch.manual_seed(0)
    model = GPT(small_config(vocab_size=50)).eval()
    out = torch.cat(list(model.generate(torch.zeros((4, 1), dtype=torch.long), 200, temperature=2.0)), dim=1)
    assert int(out.max()) < 50 and int(out.min()) >= 0


@pytest.mark.skipif(train_gpt.flex_attention is None, reason="FlexAttention needs torch >= 2.5")
@pytest.mark.parametrize("T", [40, 200])
def test_flex_attention_forward_equals_masked_reference(T):
    # on a CPU FlexAttention runs forward only (no backward): compare its forward with the masked SDPA path
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=256, vocab_size=50, n_layer=4, n_head=2, n_embd=32, attn_window=16)).eval()
    idx = torch.randint(50, (2, T))
    with torch.no_grad():
        reference = model.encode(idx)
        assert not train_gpt.BAND_MASKS or all(k[0] != T for k in train_gpt.BAND_MASKS)  # it was not used
        model.flex = True  # as compiled() sets it on a GPU
        flex = model.encode(idx)
    assert (T, 16, "cpu") in train_gpt.BAND_MASKS  # and now it was
    torch.testing.assert_close(flex, reference, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(train_gpt.flex_attention is None, reason="FlexAttention needs torch >= 2.5")
@pytest.mark.parametrize("per_block", [False, True])
def test_compiled_chooses_flex_attention_for_whole_model_and_per_block_compile(per_block, monkeypatch):
    # FSDP and activation checkpointing compile each block alone, so GPT.encode is never traced and cannot ask the
    # compiler: compiled() decides, for the model's device. On a CPU it keeps the masked SDPA, the reference
    torch.manual_seed(0)
    cfg = GPTConfig(block_size=64, vocab_size=50, n_layer=4, n_head=2, n_embd=32, attn_window=8)
    model = GPT(cfg).eval()
    train_gpt.compiled(model, "default", per_block)
    assert model.flex is False
    # on a GPU (the device check stubbed): the banded layers get FlexAttention's block mask, however compiled
    monkeypatch.setattr(train_gpt, "BAND_MASKS", {})
    monkeypatch.setattr(train_gpt, "use_flex", lambda device: True)
    model = GPT(cfg).eval()
    reference = GPT(cfg).eval()
    reference.load_state_dict(model.state_dict())
    train_gpt.compiled(model, "default", per_block)
    assert model.flex is True and reference.flex is False
    idx = torch.randint(50, (2, 48))
    with torch.no_grad(), torch.compiler.set_stance("force_eager"):  # the compiled blocks run eager: no CPU compile
        banded = model.encode(idx)
        assert list(train_gpt.BAND_MASKS) == [(48, 8, "cpu")]
        torch.testing.assert_close(banded, reference.encode(idx), rtol=1e-5, atol=1e-5)
    dropped = GPT(GPTConfig(**{**asdict(cfg), "dropout": 0.1}))  # training with attention dropout, which
    train_gpt.compiled(dropped, "default", per_block)  # FlexAttention lacks: the masked SDPA
    train_gpt.BAND_MASKS.clear()
    with torch.compiler.set_stance("force_eager"):
        dropped.encode(idx)
    assert dropped.flex is True and not train_gpt.BAND_MASKS


@pytest.mark.skipif(not torch.cuda.is_available() or train_gpt.flex_attention is None,
                    reason="FlexAttention's backward needs a GPU (run on one: python -m pytest tests -k gpu)")
@pytest.mark.parametrize("per_block", [False, True])
def test_flex_attention_forward_and_backward_equal_reference_on_gpu(per_block, monkeypatch):
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=1024, vocab_size=512, n_layer=4, n_head=4, n_embd=128, attn_window=256)).cuda()
    idx = torch.randint(512, (2, 1024), device="cuda")
    _, loss = model(idx, idx)  # eager: the masked SDPA reference
    loss.backward()
    reference = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    monkeypatch.setattr(train_gpt, "BAND_MASKS", {})
    model.checkpointing = per_block  # compiled a block at a time, as under activation checkpointing or FSDP
    compiled = train_gpt.compiled(model, "default", per_block)
    _, flex_loss = compiled(idx, idx)  # compiled on a GPU: FlexAttention in the banded layers
    flex_loss.backward()
    assert (1024, 256, "cuda:0") in train_gpt.BAND_MASKS
    torch.testing.assert_close(flex_loss, loss, rtol=1e-4, atol=1e-4)
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, reference[n], rtol=1e-3, atol=1e-4, msg=n)


# -----------------------------------------------------------------------------
# 13. every config builds; GPT-3's sizes are Table 2.1's

CONFIGS = sorted(glob.glob(os.path.join(REPO, "config", "*.py")))
SCRIPTS = {name: setting_defaults(os.path.join(REPO, f"{name}.py"))
           for name in ("train_gpt", "train_lstm", "finetune", "eval")}


# read after one of the four compare_*.py recipes: equal tokens, and the GPU budget
OVERLAYS = {"compare_tokens.py": ["train_gpt", "train_lstm"], "compare_gpu.py": ["train_gpt", "train_lstm"]}


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_every_config_builds_on_the_meta_device(path):
    fits = {}  # the scripts whose settings accept this file
    for name, defaults in SCRIPTS.items():
        try:
            fits[name] = configure(defaults, [path])
        except SystemExit:
            pass
    if os.path.basename(path) in OVERLAYS:  # a file read after a recipe of either training script
        assert sorted(fits) == OVERLAYS[os.path.basename(path)], f"{path} fits {sorted(fits)}"
        return
    assert len(fits) == 1, f"{path} fits {sorted(fits)}"
    (script, cfg), = fits.items()
    if script != "train_gpt":
        return
    assert cfg["n_embd"] % cfg["n_head"] == 0 and 0 <= cfg["attn_window"] <= cfg["block_size"]
    with torch.device("meta"):  # nothing is allocated, however large
        model = GPT(GPTConfig(block_size=cfg["block_size"], vocab_size=65 if "char" in cfg["dataset"] else 50257,
                              n_layer=cfg["n_layer"], n_head=cfg["n_head"], n_embd=cfg["n_embd"],
                              attn_window=cfg["attn_window"]))
    assert all(p.is_meta for p in model.parameters())


# Brown et al. 2020, Table 2.1: "n_params", given to two or three significant figures
TABLE_2_1 = {"gpt3_small.py": 125e6, "gpt3_medium.py": 350e6, "gpt3_large.py": 760e6, "gpt3_xl.py": 1.3e9,
             "gpt3_2.7b.py": 2.7e9, "gpt3_6.7b.py": 6.7e9, "gpt3_13b.py": 13.0e9, "gpt3_175b.py": 175.0e9}


@pytest.mark.parametrize("name", TABLE_2_1)
def test_gpt3_parameter_counts_match_table_2_1(name):
    cfg = configure(SCRIPTS["train_gpt"], [os.path.join(REPO, "config", name)])
    with torch.device("meta"):
        model = GPT(GPTConfig(block_size=2048, vocab_size=50257, n_layer=cfg["n_layer"], n_head=cfg["n_head"],
                              n_embd=cfg["n_embd"]))
    n = model.num_params(non_embedding=False)
    # within the paper's rounding: 350M is 356M with our 50,257-token embedding, 2.7B is 2.65B
    assert abs(n / TABLE_2_1[name] - 1) < 0.025, f"{name}: {n:,}"
    assert cfg["block_size"] == 2048 and cfg["n_embd"] // cfg["n_head"] in (64, 80, 96, 128)  # Table 2.1's d_head
