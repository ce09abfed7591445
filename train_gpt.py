"""
One GPT, with switches for the three papers, and its training loop.

$ python train_gpt.py                                 # small char-level GPT on the bundled Shakespeare, CPU or GPU
$ python train_gpt.py config/gpt2.py --batch_size=8   # a config file, then overrides
$ torchrun --standalone --nproc_per_node=8 train_gpt.py config/gpt2.py

GPT-1 (Radford et al. 2018): post-LN blocks, learned positions, GELU, 512 context (prenorm=False).
GPT-2 (Radford et al. 2019, §2.3): LayerNorm moved to each block's input, a final LayerNorm, and residual
projections initialised with std 0.02/sqrt(2*n_layer) (prenorm=True).
GPT-3 (Brown et al. 2020, §2.1): GPT-2 with "alternating dense and locally banded sparse attention patterns"
(attn_window > 0 makes every odd layer attend to the last attn_window tokens only).
"""

import math
import os
import signal
import sys
import time
import json
import subprocess
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F

# -----------------------------------------------------------------------------
# model


@dataclass
class GPTConfig:
    block_size: int = 1024  # context length: learned positions exist for this many tokens
    vocab_size: int = 50257  # GPT-2's BPE: 50,000 merges + 256 bytes + <|endoftext|>
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True  # biases in Linear and LayerNorm, as in the published GPT-1/2 weights
    prenorm: bool = True  # False: GPT-1's post-LN blocks, no final LayerNorm, plain 0.02 init
    attn_window: int = 0  # >0: odd layers are locally banded, each token sees itself and the window-1 before it


class CausalSelfAttention(nn.Module):
    def __init__(self, config, window):
        super().__init__()
        assert config.n_embd % config.n_head == 0, "n_embd must be a multiple of n_head"
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v in one matmul
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.window = window  # 0: dense causal attention

    def forward(self, x, cache=None):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        start = 0
        if cache is not None:  # generation: append this step's keys/values, attend over everything so far
            start, k, v = cache.update(k, v)
        mask = None
        if self.window or start:  # banded, or queries that start part-way into the keys: an explicit mask
            mask = attention_mask(start, T, k.size(2), self.window, x.device)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None,
                                           dropout_p=self.attn_dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # re-assemble the heads side by side
        return self.resid_dropout(self.c_proj(y))


def attention_mask(start, T, L, window, device):
    """(T, L) bool, True where query start+i may attend to key j: causal, and within the band when window > 0."""
    q = torch.arange(start, start + T, device=device)[:, None]
    k = torch.arange(L, device=device)[None, :]
    allowed = k <= q
    if window:
        allowed &= q - k < window
    return allowed


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)  # 4x width: GPT-1 §4.1
        self.gelu = nn.GELU(approximate="tanh")  # the tanh form the OpenAI code (and weights) use
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config, window):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config, window)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)
        self.prenorm = config.prenorm

    def forward(self, x, cache=None):
        if self.prenorm:  # GPT-2 §2.3: normalise each sub-block's input, keep the residual path clean
            x = x + self.attn(self.ln_1(x), cache)
            return x + self.mlp(self.ln_2(x))
        x = self.ln_1(x + self.attn(x, cache))  # GPT-1 / the original Transformer: normalise after the add
        return self.ln_2(x + self.mlp(x))


class KVCache:
    """Keys and values of every layer for the tokens generated so far, so each new token costs O(T), not O(T^2)."""

    def __init__(self, config):
        self.n_layer, self.block_size = config.n_layer, config.block_size
        self.kv = None  # allocated at the first update, in the dtype autocast gives k and v
        self.length = 0  # tokens already in the cache
        self.layer = 0  # which layer the next update() belongs to

    def update(self, k, v):
        """Store k, v (B, nh, T, hs) of the current layer; return where they start and all keys/values so far."""
        if self.kv is None:
            B, nh, _, hs = k.shape
            self.kv = k.new_zeros((self.n_layer, 2, B, nh, self.block_size, hs))
        start, end = self.length, self.length + k.size(2)
        self.kv[self.layer, 0, :, :, start:end] = k
        self.kv[self.layer, 1, :, :, start:end] = v
        k, v = self.kv[self.layer, 0, :, :, :end], self.kv[self.layer, 1, :, :, :end]
        self.layer += 1
        if self.layer == self.n_layer:  # the last layer has seen these tokens
            self.layer, self.length = 0, end
        return start, k, v


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        # GPT-3 §2.1: layers alternate dense and locally banded attention; we start dense
        windows = [config.attn_window if i % 2 else 0 for i in range(config.n_layer)]
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),  # learned positions (GPT-1 §4.1)
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config, w) for w in windows]),
            ln_f=nn.LayerNorm(config.n_embd, bias=config.bias) if config.prenorm else nn.Identity(),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # tied input and output embeddings, as in GPT-1/2
        self.apply(self._init_weights)
        if config.prenorm:  # GPT-2 §2.3: scale residual projections by 1/sqrt(N), N = 2 residual adds per layer
            for name, p in self.named_parameters():
                if name.endswith("c_proj.weight"):
                    nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def _init_weights(self, module):
        # GPT-1 §4.1: "a simple weight initialization of N(0, 0.02) was sufficient"
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_params(self, non_embedding=True):
        """Parameter count; position embeddings excluded by default, token embeddings count once (they are tied)."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.transformer.wpe.weight.numel() if non_embedding else n

    def forward(self, idx, targets=None, cache=None):
        B, T = idx.size()
        start = cache.length if cache is not None else 0
        if start + T > self.config.block_size:
            raise ValueError(f"sequence of {start + T} tokens is longer than the context, block_size={self.config.block_size}")
        pos = torch.arange(start, start + T, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))  # (B, T, C)
        for block in self.transformer.h:
            x = block(x, cache)
        x = self.transformer.ln_f(x)
        if targets is None:  # inference: only the last position's logits are needed
            return self.lm_head(x[:, [-1], :]), None
        logits = self.lm_head(x)  # (B, T, vocab)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        return logits, loss

    def configure_optimizers(self, weight_decay, learning_rate, betas, device_type):
        # decay matrices only (weights of Linear layers and embeddings); biases and LayerNorm gains are not decayed
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
                  {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
        fused = device_type == "cuda"  # one kernel for the whole update
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas, fused=fused)

    def flops_per_token(self, T):
        """Training FLOPs per token: 6N for the matmuls (PaLM appendix B) plus 6*2*T_eff*C per layer for attention,
        where a banded layer attends to at most attn_window keys."""
        cfg = self.config
        attention = sum(12 * cfg.n_embd * (min(b.attn.window, T) if b.attn.window else T) for b in self.transformer.h)
        return 6 * self.num_params() + attention

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None):
        """Yield (B, 1) tensors of new tokens one at a time, continuing idx (B, T), using a KV cache.
        When the context fills, the last half of it is re-encoded into a fresh cache (one prefill), so the
        cost per token stays O(T) instead of re-encoding the full window for every token."""
        cfg = self.config
        idx = idx[:, -cfg.block_size:]
        cache = KVCache(cfg)
        logits, _ = self(idx, cache=cache)
        for _ in range(max_new_tokens):
            next_token = sample_token(logits[:, -1, :], temperature, top_k, top_p, generator)
            yield next_token
            idx = torch.cat((idx, next_token), dim=1)[:, -cfg.block_size:]
            if cache.length == cfg.block_size:  # full: restart from the most recent half of the window
                idx = idx[:, -(cfg.block_size // 2):]
                cache = KVCache(cfg)
                logits, _ = self(idx, cache=cache)
            else:
                logits, _ = self(next_token, cache=cache)


def sample_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    """One token per row of logits (B, V): greedy at temperature 0, else from the top-k / nucleus (top-p) set."""
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits.float() / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, [-1]]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:  # Holtzman et al. 2019: the smallest set whose probability reaches top_p
        sorted_logits, order = torch.sort(logits, descending=True)
        cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        drop = cum - sorted_logits.softmax(dim=-1) >= top_p  # mass before this token already reaches top_p
        logits = logits.masked_fill(drop.scatter(1, order, drop), float("-inf"))
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator)

# -----------------------------------------------------------------------------
# checkpoints: self-describing dicts of tensors and plain values, written atomically, read with weights_only=True


def save_checkpoint(path, ckpt):
    """Write to a temporary file beside path, then rename: a crash mid-write never leaves a half checkpoint."""
    tmp = f"{path}.tmp{os.getpid()}"
    torch.save(ckpt, tmp)
    os.replace(tmp, path)


def load_checkpoint(path, device="cpu"):
    if not os.path.exists(path):
        raise SystemExit(f"checkpoint: {path} does not exist (train one with train_gpt.py, or check --out_dir)")
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)  # never unpickles arbitrary objects
    except Exception as e:
        raise SystemExit(f"checkpoint: {path} is truncated or corrupted ({type(e).__name__}: {str(e).splitlines()[0][:120]}); "
                         "use another checkpoint or retrain")
    if not isinstance(ckpt, dict) or "model_args" not in ckpt:
        raise SystemExit(f"checkpoint: {path} was not written by train_gpt.py")
    if ckpt.get("model_type", "gpt") != "gpt":
        raise SystemExit(f"checkpoint: {path} holds a {ckpt['model_type']} model, not a GPT")
    return ckpt


def model_from_checkpoint(ckpt):
    model = GPT(GPTConfig(**ckpt["model_args"]))
    model.load_state_dict(ckpt["model"])
    return model
