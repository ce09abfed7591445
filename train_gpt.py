"""
One GPT, with switches for the three papers, and its training loop.

$ python train_gpt.py                                 # small char-level GPT on the bundled Shakespeare, CPU or GPU
$ python train_gpt.py config/gpt2.py --batch_size=8   # a config file, then overrides
$ torchrun --standalone --nproc_per_node=8 train_gpt.py config/gpt2.py
$ python train_gpt.py --out_dir=out-gpt2 --export=hf-gpt2   # for transformers and lm-eval (docs/evaluation.md)

GPT-1 (Radford et al. 2018): post-LN blocks, learned positions, GELU, 512 context (prenorm=False).
GPT-2 (Radford et al. 2019, §2.3): LayerNorm moved to each block's input, a final LayerNorm, and residual
projections initialised with std 0.02/sqrt(2*n_layer) (prenorm=True).
GPT-3 (Brown et al. 2020, §2.1): GPT-2 with "alternating dense and locally banded sparse attention patterns"
(attn_window > 0 makes every odd layer attend to the last attn_window tokens only).
"""

import math
import os
import shutil
import signal
import sys
import threading
import time
import json
from dataclasses import dataclass, asdict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint
from torch.nn.parallel import DistributedDataParallel as DDP

from prepare import link_checkpoint, load_checkpoint, save_checkpoint, to_cpu

try:  # FlexAttention (torch >= 2.5) runs GPT-3's banded layers on a GPU; older torch uses the masked SDPA
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
except ImportError:
    create_block_mask = flex_attention = None
BAND_MASKS = {}  # (T, window, device) -> BlockMask, built once per shape
try:  # parameters sharded by FSDP2 are DTensors (torch >= 2.4)
    from torch.distributed.tensor import DTensor, distribute_tensor
except ImportError:
    from torch.distributed._tensor import DTensor, distribute_tensor

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
    gelu: str = "none"  # "tanh": the approximation OpenAI's GPT-1/2 code used, needed to match their weights exactly


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

    def forward(self, x, cache=None, band=None):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        start = 0
        if cache is not None:  # generation: append this step's keys/values, attend over everything so far
            start, k, v = cache.update(k, v)
        if band is not None:  # FlexAttention computes only the key blocks inside the band (see use_flex)
            y = flex_attention(q, k, v, block_mask=band)
        else:
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


@torch.compiler.disable  # built eagerly, once per length: a compiled forward takes it as an input
def band_block_mask(T, window, device):
    """FlexAttention's BlockMask for a banded layer: causal, each query seeing itself and the window-1 before it.
    Key blocks (128 tokens) wholly outside the band are skipped: at T=2048, W=256 about 3 of each row's 16."""
    key = (T, window, str(device))
    if key not in BAND_MASKS:
        BAND_MASKS[key] = create_block_mask(lambda b, h, q, k: (k <= q) & (q - k < window), None, None, T, T,
                                            device=device)
    return BAND_MASKS[key]


def use_flex(device):
    """FlexAttention for banded layers where it pays: on a GPU under torch.compile, which fuses it into one kernel
    (eager it materialises the scores, and on a CPU it has no backward). Elsewhere the masked SDPA, its reference.
    compiled() asks once, for the whole model or for its blocks alone, and sets GPT.flex."""
    return flex_attention is not None and device.type == "cuda"


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)  # 4x width: GPT-1 §4.1
        self.gelu = nn.GELU(approximate=config.gelu)  # the exact form is about 2x cheaper on a CPU
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

    def forward(self, x, cache=None, band=None):
        if self.prenorm:  # GPT-2 §2.3: normalise each sub-block's input, keep the residual path clean
            x = x + self.attn(self.ln_1(x), cache, band)
            return x + self.mlp(self.ln_2(x))
        x = self.ln_1(x + self.attn(x, cache, band))  # GPT-1 / the original Transformer: normalise after the add
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
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)  # its weight, used by logits()
        self.transformer.wte.weight = self.lm_head.weight  # tied input and output embeddings, as in GPT-1/2
        self.checkpointing = False  # activation checkpointing per block, a training setting (train_gpt.py)
        self.flex = False  # banded layers in FlexAttention, set where the model is compiled on a GPU (compiled())
        self.init_weights()

    def to_empty(self, *, device, recurse=True):
        """nn.Module.to_empty, keeping the input and output embeddings tied: it makes new tensors for every
        parameter, so the two names would otherwise hold two tensors (FSDP keeps them tied itself)."""
        super().to_empty(device=device, recurse=recurse)
        self.lm_head.weight = self.transformer.wte.weight
        return self

    @torch.no_grad()
    def init_weights(self):
        """GPT-1 §4.1: "a simple weight initialization of N(0, 0.02) was sufficient" for every matrix, zero biases,
        unit LayerNorm gains; GPT-2 §2.3: residual projections scaled by 1/sqrt(N), N = 2 residual adds per layer.
        One draw per parameter, in order. A parameter sharded by FSDP is drawn whole and this process keeps its
        shard, so a seed gives the same model on any number of processes. (On the meta device: nothing happens.)"""
        for name, p in self.named_parameters():  # the tied embedding once
            full = torch.empty(p.shape, device=p.device)
            if name.endswith(".bias"):
                full.zero_()
            elif ".ln_" in name or "ln_f." in name:
                full.fill_(1.0)
            else:
                residual = self.config.prenorm and name.endswith("c_proj.weight")
                full.normal_(0.0, 0.02 / math.sqrt(2 * self.config.n_layer) if residual else 0.02)
            if isinstance(p, DTensor):
                full = distribute_tensor(full, p.device_mesh, p.placements, src_data_rank=None)  # no communication
            p.copy_(full)

    @classmethod
    def from_pretrained(cls, name_or_dir, dropout=0.0):
        """OpenAI's published GPT-1/GPT-2 weights by name (PRETRAINED, downloaded from the Hugging Face hub once) or
        from a local folder holding the hub's config.json and model.safetensors. model.meta describes the tokenizer
        as a prepared dataset's meta.json does, so sample.py and finetune.py can encode text for it."""
        if os.path.isdir(name_or_dir):
            paths = [os.path.join(name_or_dir, f) for f in ("config.json", "model.safetensors")]
        elif name_or_dir in PRETRAINED:
            from prepare import hub_file  # the download code lives with the other downloads
            paths = [hub_file(PRETRAINED[name_or_dir], f) for f in ("config.json", "model.safetensors")]
        else:
            raise SystemExit(f"pretrained: '{name_or_dir}' is neither a folder nor a published model: use one of "
                             f"{', '.join(PRETRAINED)}, or a folder with config.json and model.safetensors")
        for path in paths:
            if not os.path.isfile(path):
                raise SystemExit(f"pretrained: {path} not found: a local model folder needs config.json and "
                                 "model.safetensors, in the Hugging Face hub's layout")
        config, kind, hf = hub_config(paths[0], dropout)
        model = cls(config)
        ours = model.state_dict()
        found = {}
        for key, tensor in read_safetensors(paths[1]).items():
            key = key.removeprefix("transformer.")  # GPT2LMHeadModel.save_pretrained adds it, the hub's files lack it
            if key == "lm_head.weight" or key.endswith((".attn.bias", ".attn.masked_bias")):
                continue  # the tied output embedding, and the causal-mask buffers of older files
            key = {"tokens_embed.weight": "wte.weight", "positions_embed.weight": "wpe.weight"}.get(key, key)
            if key.endswith(CONV1D):  # HF's Conv1D stores (in, out), nn.Linear (out, in)
                tensor = tensor.t()
            found["transformer." + key] = tensor
        wanted = {k for k in ours if k != "lm_head.weight"}
        if found.keys() != wanted:
            odd = sorted(wanted - found.keys())[:3] + sorted(found.keys() - wanted)[:3]
            raise SystemExit(f"pretrained: {paths[1]} does not match its config.json (missing or unexpected: "
                             f"{', '.join(odd)}): download it again")
        with torch.no_grad():
            for key, tensor in found.items():
                if tensor.shape != ours[key].shape:
                    raise SystemExit(f"pretrained: {key} in {paths[1]} has shape {tuple(tensor.shape)}, the config "
                                     f"needs {tuple(ours[key].shape)}: download it again")
                ours[key].copy_(tensor)  # into float32
        model.meta = ({"tokenizer": "gpt2", "vocab_size": config.vocab_size, "eot_token": 50256} if kind == "gpt2" else
                      {"tokenizer": "gpt1", "vocab_size": config.vocab_size,
                       "bpe": PRETRAINED.get(name_or_dir, name_or_dir)})
        if isinstance(hf.get("meta"), dict) and "tokenizer" in hf["meta"]:  # written by export_pretrained
            model.meta = hf["meta"]
        return model

    def num_params(self, non_embedding=True):
        """Parameter count; position embeddings excluded by default, token embeddings count once (they are tied)."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.transformer.wpe.weight.numel() if non_embedding else n

    def encode(self, idx, cache=None):
        """The final hidden states (B, T, C) of idx (B, T): everything but the output layer. With a KVCache, idx
        continues the tokens already cached."""
        B, T = idx.size()
        start = cache.length if cache is not None else 0
        if start + T > self.config.block_size:
            raise ValueError(f"sequence of {start + T} tokens is longer than the context, "
                             f"block_size={self.config.block_size}")
        pos = torch.arange(start, start + T, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))  # (B, T, C)
        band = None
        # FlexAttention has no attention dropout: a banded layer that needs dropout takes the masked SDPA
        if self.flex and self.config.attn_window and cache is None and not (self.training and self.config.dropout):
            band = band_block_mask(T, self.config.attn_window, idx.device)
        for block in self.transformer.h:
            layer_band = band if block.attn.window else None
            if self.checkpointing and self.training:  # keep only each block's input; recompute the rest in backward
                x = torch.utils.checkpoint.checkpoint(block, x, None, layer_band, use_reentrant=False)
            else:
                x = block(x, cache, layer_band)
        return self.transformer.ln_f(x)

    def logits(self, h):
        """Logits (..., vocab_size) of hidden states h (..., C). On a GPU the output matmul runs over the tied
        embedding padded with zero rows to a multiple of 64 (tensor-core tiles: nanoGPT pads 50,257 to 50,304 for
        the same reason); the padding is cut off again, so no logit, loss or sample ever sees it."""
        w, V = self.lm_head.weight, self.config.vocab_size
        if h.is_cuda and V % 64:
            return F.linear(h, F.pad(w, (0, 0, 0, -V % 64)))[..., :V]
        return F.linear(h, w)

    def forward(self, idx, targets=None, cache=None):
        x = self.encode(idx, cache)
        if targets is None:  # inference: only the last position's logits are needed
            return self.logits(x[:, [-1], :]), None
        logits = self.logits(x)  # (B, T, vocab)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)
        return logits, loss

    def configure_optimizers(self, weight_decay, learning_rate, betas, device_type):
        # decay matrices only (weights of Linear layers and embeddings); biases and LayerNorm gains are not decayed
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
                  {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
        fused = device_type in ("cuda", "mps")  # one kernel for the whole update (on mps from torch 2.4)
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
        for i in range(max_new_tokens):
            next_token = sample_token(logits[:, -1, :], temperature, top_k, top_p, generator)
            yield next_token
            if i == max_new_tokens - 1:  # no forward pass for logits nobody will use
                return
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
# (plain ones by prepare.py's save_checkpoint and load_checkpoint; sharded ones here)


def shard(model, dtype):
    """FSDP2 over the processes of a torchrun job: one unit per block, then the rest (embeddings, final LayerNorm);
    compute in dtype, fp32 master weights and gradient reduction. Parameters, gradients and Adam's state are sharded."""
    try:
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
    except ImportError:
        raise SystemExit(f"config: fsdp needs torch >= 2.6 (fully_shard); this is {torch.__version__}") from None
    mp = MixedPrecisionPolicy(param_dtype=getattr(torch, dtype), reduce_dtype=torch.float32)
    for block in model.transformer.h:
        fully_shard(block, mp_policy=mp)
    fully_shard(model, mp_policy=mp)


def sharded_state(model, optimizer):
    """The model's and optimizer's state as torch.distributed.checkpoint saves and loads it: each process's shards.
    (Before the first step Adam has no state, and get_state_dict would take a step to make it: call it after.)"""
    from torch.distributed.checkpoint.state_dict import get_state_dict
    return dict(zip(("model", "optim"), get_state_dict(model, optimizer)))


def sharded_dir(out_dir, name):
    """Where a sharded run keeps checkpoint `name` (best, latest): torch.distributed.checkpoint's folder of shards
    (model and optimizer) and train.pt (step, config, data position, every process's RNG), written last: a folder
    holding train.pt is complete."""
    return os.path.join(out_dir, f"{name}_sharded")


def newest_sharded(folder):
    """The newest complete copy of the sharded checkpoint `folder` (sharded_dir's), or None. save_sharded writes
    folder.tmp, then swaps it in by two renames, folder -> folder.old and folder.tmp -> folder: whenever a kill
    strikes, one of the three is complete, and a complete .tmp is newer than folder, which is newer than .old."""
    return next((d for d in (folder + ".tmp", folder, folder + ".old")
                 if os.path.exists(os.path.join(d, "train.pt"))), None)


def kill_point(point, folder, iter_num):
    """A test hook: process 0 kills itself (SIGKILL) where TRAIN_GPT_KILL names this point, folder and step, e.g.
    "renamed latest_sharded.old 4" (tests/test_train.py kills saves part-way, then resumes)."""
    if os.environ.get("TRAIN_GPT_KILL") == f"{point} {os.path.basename(folder)} {iter_num}":
        os.kill(os.getpid(), signal.SIGKILL)


def discard_sharded(folder, iter_num):
    """Delete a sharded checkpoint folder, train.pt first: a kill part-way leaves it incomplete, so newest_sharded
    passes it over and the next save deletes the rest."""
    if os.path.exists(os.path.join(folder, "train.pt")):
        os.remove(os.path.join(folder, "train.pt"))
    kill_point("discarding", folder, iter_num)
    shutil.rmtree(folder)


def load_sharded(folder, model, optimizer):
    """Resume a sharded run from folder (newest_sharded's): every process reads its shards. dcp.load returns once
    every process has read them, so a save that follows never deletes what another process is still reading."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import set_state_dict
    state = sharded_state(model, optimizer)
    dcp.load(state, checkpoint_id=folder)
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])


def save_sharded(folder, state, train, rank):
    """Write a sharded run's checkpoint (every process calls this): the model and optimizer shards with
    torch.distributed.checkpoint, then train.pt (process 0). Written into folder.tmp and swapped in by two renames
    (see newest_sharded): a kill at any instant leaves one complete checkpoint to resume, and what else it leaves
    (a partial .tmp, an older copy) is deleted by the next save, which keeps the newest complete copy as folder."""
    import torch.distributed as dist
    import torch.distributed.checkpoint as dcp
    tmp, old, step = folder + ".tmp", folder + ".old", train["iter_num"]
    if rank == 0:
        newest = newest_sharded(folder)
        for leftover in (tmp, folder, old):
            if leftover != newest and os.path.isdir(leftover):
                discard_sharded(leftover, step)
        if newest not in (None, folder):  # a save killed between its two renames
            os.replace(newest, folder)
    dist.barrier()
    os.makedirs(tmp, exist_ok=True)
    dcp.save(state, checkpoint_id=tmp)  # returns once every process's shards are written
    if rank == 0:
        kill_point("written", tmp, step)
        save_checkpoint(os.path.join(tmp, "train.pt"), train)  # last, and atomically: the mark of a whole checkpoint
        if os.path.isdir(folder):
            os.replace(folder, old)
            kill_point("renamed", old, step)
        os.replace(tmp, folder)
        if os.path.isdir(old):
            discard_sharded(old, step)
    dist.barrier()


class PlainRun:
    """A run whose every process holds the whole model (one process, or DDP): process 0 keeps out_dir/latest.pt and
    best.pt, a second name for the same file. A save copies the state to the CPU and a thread writes it while
    training goes on; wait() joins that thread, and a write that failed stops the run there in its one line (a
    thread that raises, SystemExit included, would only print a traceback)."""

    def __init__(self, out_dir, master, ddp, device_ids):
        self.out_dir, self.master, self.ddp, self.device_ids = out_dir, master, ddp, device_ids
        self.latest, self.best = os.path.join(out_dir, "latest.pt"), os.path.join(out_dir, "best.pt")
        self.found = self.latest  # the checkpoint a resume reads
        self.writer, self.failed = None, []

    def shard(self, model):
        pass  # every process keeps the whole model

    def load_weights(self, model, weights):
        model.load_state_dict(weights)

    def wrap(self, model):
        return DDP(model, device_ids=self.device_ids) if self.ddp else model

    def load(self):
        """The checkpoint a resume continues, weights included, on the CPU (the RNG states must stay CPU tensors).
        A run killed between writing latest.pt and linking it as best.pt gets its link now."""
        if not os.path.exists(self.latest) and newest_sharded(sharded_dir(self.out_dir, "latest")):
            raise SystemExit(f"resume: {self.out_dir} holds a sharded checkpoint: resume it under torchrun with "
                             "--fsdp=True")
        ckpt = load_checkpoint(self.latest)
        if "optimizer" not in ckpt:
            raise SystemExit(f"resume: {self.latest} holds weights only (consolidated from a sharded run): "
                             "resume the sharded run from latest_sharded/ with --fsdp=True under torchrun")
        if self.master and ckpt.get("val_loss") == ckpt["best_val_loss"] and not (
                os.path.exists(self.best) and os.path.samefile(self.latest, self.best)):
            link_checkpoint(self.latest, self.best)
        return ckpt

    def restore(self, ckpt, model, optimizer, scaler):
        optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt["scaler"]:  # empty when the run that saved it did not use float16
            scaler.load_state_dict(ckpt["scaler"])

    def save(self, train, model, optimizer, scaler, improved):
        """latest.pt, and best.pt when improved, written by a thread from a CPU copy (process 0 alone)."""
        if not self.master:
            return
        self.wait()  # one write at a time: the previous one is on disk (or stops the run) first
        snapshot = to_cpu(dict(model=model.state_dict(), optimizer=optimizer.state_dict(),
                               scaler=scaler.state_dict(), **train))

        def write():
            try:
                save_checkpoint(self.latest, snapshot)
                if improved:
                    link_checkpoint(self.latest, self.best)
            except BaseException as e:  # for wait() to raise in the loop
                self.failed.append(e)
        self.writer = threading.Thread(target=write)
        self.writer.start()

    def wait(self):
        """Until the last save is on disk; a save that failed raises its error here."""
        if self.writer is not None:
            self.writer.join()
            self.writer = None
        if self.failed:
            raise self.failed.pop()


class ShardedRun:
    """A run sharded by FSDP2 over the processes of a torchrun job (shard): every process writes its shards of
    out_dir/latest_sharded/ and best_sharded/ with torch.distributed.checkpoint (save_sharded), which returns once
    they are on disk, so wait() has nothing to wait for."""

    def __init__(self, out_dir, rank, dtype):
        self.out_dir, self.rank, self.dtype = out_dir, rank, dtype
        self.latest, self.best = sharded_dir(out_dir, "latest"), sharded_dir(out_dir, "best")
        self.found = None  # the newest complete copy of latest_sharded, which a resume reads (load)

    def shard(self, model):
        shard(model, self.dtype)

    def load_weights(self, model, weights):  # every process holds them whole and keeps its shards
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict
        set_model_state_dict(model, weights, options=StateDictOptions(full_state_dict=True))

    def wrap(self, model):
        return model  # FSDP2 wrapped the model where it sharded it

    def load(self):
        """The step, config, data position and RNG of the newest complete save; the shards are read by restore()."""
        self.found = newest_sharded(self.latest)  # even a save cut short leaves one
        if self.found is None:
            raise SystemExit(f"resume: {self.out_dir} holds no sharded checkpoint (latest_sharded/): a sharded run "
                             "resumes only its own; continue a single-process run without fsdp")
        return torch.load(os.path.join(self.found, "train.pt"), weights_only=True)

    def restore(self, ckpt, model, optimizer, scaler):
        load_sharded(self.found, model, optimizer)

    def save(self, train, model, optimizer, scaler, improved):
        if optimizer.state:  # nothing to resume before the first step (see sharded_state)
            state = sharded_state(model, optimizer)
            # best first: a kill between the two leaves latest_sharded the older, whose resumed run saves best again
            for folder in (self.best, self.latest) if improved else (self.latest,):
                save_sharded(folder, state, train, self.rank)

    def wait(self):
        pass


def holds_run(out_dir):
    """The checkpoint of a run already in out_dir (latest.pt, or a sharded run's newest save), or None."""
    latest = os.path.join(out_dir, "latest.pt")
    return latest if os.path.exists(latest) else newest_sharded(sharded_dir(out_dir, "latest"))


def resumed_model_args(ckpt, model_args, tokens_per_iter, path):
    """The model a resume continues: the checkpoint's architecture, which these settings must repeat (a run that
    began from published weights keeps theirs); only dropout and a shorter block_size may change. A different batch
    is refused, not rescaled: max_iters, warmup_iters and lr_decay_iters count steps of the run's batch, so a new one
    would silently stretch the run and shift its schedule. batch_size traded for gradient_accumulation_steps keeps
    every step's tokens (and the data order): that is allowed."""
    pretrained, model_args = ckpt.get("pretrained"), dict(model_args)
    for k, v in ckpt["model_args"].items():
        if k == "block_size" and model_args[k] > v:
            raise SystemExit(f"config: block_size={model_args[k]} is larger than the model's context ({v}): "
                             f"use block_size<={v}")
        if pretrained and k not in ("dropout", "block_size"):
            model_args[k] = v
        elif k != "dropout" and model_args[k] != v:
            raise SystemExit(f"resume: {path} has {k}={v} but the config says {model_args[k]}: "
                             "use the settings of the run you resume (its config is stored in the checkpoint)")
    was = {k: ckpt["config"][k] for k in ("gradient_accumulation_steps", "batch_size", "block_size")}
    if math.prod(was.values()) != tokens_per_iter:
        raise SystemExit(f"resume: {path} was trained with {math.prod(was.values()):,} tokens per step ("
                         + " x ".join(f"{k}={v}" for k, v in was.items()) + f"), the config gives "
                         f"{tokens_per_iter:,}: resume with the run's batch (or the same product of the three)")
    return model_args


def published_start(init_from, dropout, block_size):
    """A run from published weights: their architecture (model_args but block_size, which may be shorter), their
    weights with the first block_size positions, and their tokenizer's meta."""
    published = GPT.from_pretrained(init_from, dropout)
    if block_size > published.config.block_size:
        raise SystemExit(f"config: block_size={block_size} is larger than {init_from}'s context "
                         f"({published.config.block_size}): use block_size<={published.config.block_size}")
    weights = published.state_dict()
    weights["transformer.wpe.weight"] = weights["transformer.wpe.weight"][:block_size]  # the first positions
    return {k: v for k, v in asdict(published.config).items() if k != "block_size"}, weights, published.meta


def process_rng(device):
    """This process's dropout RNG: the CPU generator's state, and the GPU's where it runs on one."""
    state = {"cpu": torch.get_rng_state()}
    if torch.device(device).type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_process_rng(saved, rank, world_size, device):
    """Continue this process's dropout RNG from saved (process_rng's, one per process of the saving run); False
    when that run had another number of processes, and so no stream of this process to continue."""
    if len(saved) != world_size:
        return False
    torch.set_rng_state(saved[rank]["cpu"])
    if torch.device(device).type == "cuda" and "cuda" in saved[rank]:
        torch.cuda.set_rng_state(saved[rank]["cuda"], device)
    return True


def compiled(model, mode, per_block):
    """What training calls: torch.compile of the whole model, or of each block alone (per_block) where FSDP or
    activation checkpointing wrap whole blocks; identical blocks share one compiled graph. Either way the banded
    layers take FlexAttention where it pays (use_flex), decided here for the model's device."""
    model.flex = use_flex(next(model.parameters()).device)
    if not per_block:
        return torch.compile(model, mode=mode)
    for block in model.transformer.h:
        block.compile(mode=mode)
    return model


def checkpoint_path(init_from):
    """The checkpoint a run folder stands for: best.pt, or latest.pt when the run never evaluated; a file is itself.
    sample.py, eval.py and finetune.py all read a folder by this one rule."""
    if not os.path.isdir(init_from):
        return init_from
    best, latest = (os.path.join(init_from, f"{name}.pt") for name in ("best", "latest"))
    if not os.path.exists(best) and not os.path.exists(latest) and newest_sharded(sharded_dir(init_from, "latest")):
        raise SystemExit(f"checkpoint: {init_from} holds a sharded (FSDP) checkpoint: turn it into best.pt and "
                         f"latest.pt with `python train_gpt.py --out_dir={init_from} --consolidate=True`")
    return best if os.path.exists(best) else latest


def consolidate_checkpoints(out_dir):
    """Turn out_dir's sharded checkpoints into plain best.pt and latest.pt holding the whole model (no optimizer:
    they are for sample.py, eval.py and finetune.py; the sharded run itself resumes from its shards). One process
    reads every shard, so the model must fit in this machine's memory (4 bytes per parameter)."""
    import torch.distributed.checkpoint as dcp
    done = []
    for name in ("best", "latest"):
        folder = newest_sharded(sharded_dir(out_dir, name))
        if folder is None:
            continue
        train = torch.load(os.path.join(folder, "train.pt"), weights_only=True)
        model = GPT(GPTConfig(**train["model_args"]))
        state = model.state_dict()
        saved = dcp.FileSystemReader(folder).read_metadata().state_dict_metadata
        wanted = {k: v for k, v in state.items() if f"model.{k}" in saved}  # the tied lm_head may be saved once
        dcp.load({"model": wanted}, checkpoint_id=folder)  # no process group: one process reads every shard
        model.load_state_dict({**state, **wanted})
        path = os.path.join(out_dir, f"{name}.pt")
        save_checkpoint(path, dict(model=model.state_dict(), model_type="gpt", consolidated=True,
                                   **{k: train[k] for k in ("model_args", "iter_num", "best_val_loss", "config",
                                                            "meta", "pretrained")}))
        done.append(path)
    if not done:
        raise SystemExit(f"consolidate: {out_dir} holds no sharded checkpoint (best_sharded/ or latest_sharded/)")
    return done


def model_from_checkpoint(ckpt):
    model = GPT(GPTConfig(**ckpt["model_args"]))
    model.load_state_dict(ckpt["model"])
    return model


# published weights: the Hugging Face hub's copies of OpenAI's GPT-1 and GPT-2 releases

PRETRAINED = {"openai-gpt": "openai-community/openai-gpt", "gpt2": "openai-community/gpt2",
              "gpt2-medium": "openai-community/gpt2-medium", "gpt2-large": "openai-community/gpt2-large",
              "gpt2-xl": "openai-community/gpt2-xl"}
CONV1D = ("c_attn.weight", "c_proj.weight", "c_fc.weight")  # the weights HF keeps in Conv1D's (in, out) layout
SAFETENSORS_DTYPES = {"F32": (np.float32, torch.float32), "F16": (np.float16, torch.float16),
                      "BF16": (np.int16, torch.bfloat16)}  # numpy has no bfloat16: read its bits, then view them


def hub_config(path, dropout):
    """The GPTConfig a hub config.json describes (GPT-2's or GPT-1's, as transformers writes them), the model_type
    it names ("gpt2", "openai-gpt"), and the whole JSON object."""
    try:
        with open(path) as f:
            hf = json.load(f)
    except (ValueError, UnicodeDecodeError):
        raise SystemExit(f"pretrained: {path} is not valid JSON: download it again") from None
    kind = hf.get("model_type") if isinstance(hf, dict) else None
    if kind not in ("gpt2", "openai-gpt"):
        raise SystemExit(f"pretrained: {path} describes a '{kind}' model: only gpt2 and openai-gpt load here")
    # GPT-2's config names transformers' activation: "gelu_new" is the tanh form of OpenAI's code, "gelu" the exact
    # erf. GPT-1's "afn": "gelu" is the tanh form too: modeling_openai maps it to gelu_new, as OpenAI's TF code
    # computed it (finetune-transformer-lm's gelu: 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))))
    act = hf.get("activation_function", "gelu_new") if kind == "gpt2" else hf.get("afn", "gelu")
    names = {"gelu": "none", "gelu_new": "tanh", "gelu_pytorch_tanh": "tanh"} if kind == "gpt2" else \
        {"gelu": "tanh", "gelu_new": "tanh"}
    gelu = names.get(act)
    if gelu is None or hf.get("layer_norm_epsilon", 1e-5) != 1e-5:
        raise SystemExit(f"pretrained: {path} asks for activation '{act}' and LayerNorm eps "
                         f"{hf.get('layer_norm_epsilon', 1e-5)}: this GPT has gelu/gelu_new and eps 1e-5 only")
    config = GPTConfig(block_size=hf["n_positions"], vocab_size=hf["vocab_size"], n_layer=hf["n_layer"],
                       n_head=hf["n_head"], n_embd=hf["n_embd"], dropout=dropout, bias=True, prenorm=kind == "gpt2",
                       gelu=gelu)
    return config, kind, hf


def is_published(init_from):
    """Whether init_from names OpenAI's weights (PRETRAINED) or a folder in the hub's layout, not one of our runs."""
    return init_from in PRETRAINED or os.path.isfile(os.path.join(init_from, "model.safetensors"))


def read_safetensors(path):
    """{name: tensor} from a .safetensors file: 8 bytes of little-endian header length, a JSON header naming each
    tensor's dtype, shape and [begin, end) byte offsets into the data that follows. Plain arrays, never a pickle;
    every offset is checked against the file before any byte is read."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        start = f.read(8)
        n = int.from_bytes(start, "little") if len(start) == 8 else -1
        if not 2 <= n <= size - 8:
            raise SystemExit(f"safetensors: {path} is truncated or not a safetensors file (header length {n}, file "
                             f"{size} bytes): download it again")
        try:
            header = json.loads(f.read(n))
        except (ValueError, UnicodeDecodeError):
            header = None
    if not isinstance(header, dict):
        raise SystemExit(f"safetensors: {path} has a corrupted header (not a JSON object): download it again")
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n) if size > 8 + n else np.zeros(0, np.uint8)
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype, shape, offsets = (entry.get(k) for k in ("dtype", "shape", "data_offsets")) if isinstance(
            entry, dict) else (None, None, None)
        if dtype not in SAFETENSORS_DTYPES:
            raise SystemExit(f"safetensors: {path} stores {name} as {dtype}: only F32, F16 and BF16 are read")
        np_dtype, pt_dtype = SAFETENSORS_DTYPES[dtype]
        ok = (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape) and isinstance(offsets, list)
              and len(offsets) == 2 and all(type(o) is int for o in offsets)
              and 0 <= offsets[0] <= offsets[1] <= len(data)
              and offsets[1] - offsets[0] == math.prod(shape) * np.dtype(np_dtype).itemsize)
        if not ok:
            raise SystemExit(f"safetensors: {path} gives {name} offsets {offsets} for shape {shape} {dtype}, outside "
                             f"its {len(data)} data bytes or the wrong size: the file is corrupted, download it again")
        array = np.frombuffer(data[offsets[0]:offsets[1]], dtype=np.dtype(np_dtype).newbyteorder("<"))
        tensors[name] = torch.from_numpy(array.astype(np_dtype)).view(pt_dtype).reshape(shape)  # astype: a copy
    return tensors


def write_safetensors(path, tensors):
    """read_safetensors' inverse for {name: F32/F16/BF16 tensor}: the header first (each tensor's place follows from
    the sizes before it, padded with spaces so the data starts 8-byte aligned, as safetensors' own writer does),
    then each tensor's little-endian bytes in turn; written beside path and renamed, never half a file."""
    codes = {pt_dtype: code for code, (_, pt_dtype) in SAFETENSORS_DTYPES.items()}
    header, offset = {"__metadata__": {"format": "pt"}}, 0  # transformers refuses a file without its format
    for name, t in tensors.items():
        size = t.numel() * t.element_size()
        header[name] = {"dtype": codes[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + size]}
        offset += size
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(len(head).to_bytes(8, "little") + head)
        for t in tensors.values():
            np_dtype = SAFETENSORS_DTYPES[codes[t.dtype]][0]
            t = t.detach().cpu().contiguous()
            f.write((t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().astype(
                np.dtype(np_dtype).newbyteorder("<")).tobytes())
    os.replace(tmp, path)


def export_pretrained(ckpt, folder):
    """Write a GPT checkpoint's model into folder in the Hugging Face hub's layout, which from_pretrained reads and
    transformers loads as GPT2LMHeadModel (pre-LN) or OpenAIGPTLMHeadModel (post-LN, GPT-1's names): config.json,
    then model.safetensors with the Conv1D weights as (in, out) and the tied output embedding stored once, as wte.
    A model without biases gets zero ones (the same function: transformers' blocks always have them). config.json
    also keeps the checkpoint's meta, so from_pretrained knows a char or word vocabulary. Returns the paths."""
    cfg = GPTConfig(**ckpt["model_args"])
    if cfg.attn_window:
        raise SystemExit(f"export: this GPT-3 model has locally banded layers (attn_window={cfg.attn_window}), "
                         "which transformers' gpt2 and openai-gpt lack (GPT-Neo's local attention is another model): "
                         "only dense models export; nothing was written")
    if not cfg.prenorm and cfg.gelu != "tanh":
        raise SystemExit("export: a post-LN (GPT-1) model with the exact GELU has no openai-gpt layout: transformers' "
                         "openai-gpt computes the tanh form; train with gelu='tanh' (config/gpt1.py); nothing written")
    if os.path.exists(folder) and (not os.path.isdir(folder) or os.listdir(folder)):
        what = "is a file" if not os.path.isdir(folder) else f"holds {len(os.listdir(folder))} file(s)"
        raise SystemExit(f"export: {folder} {what}: give a new or empty folder (nothing is ever overwritten)")
    tensors = {}
    for key, t in model_from_checkpoint(ckpt).state_dict().items():  # transformer.*, then lm_head
        if key == "lm_head.weight":
            continue  # the same matrix as wte: transformers ties them on load (tie_word_embeddings)
        key = key.removeprefix("transformer.")  # the hub's files have no prefix
        embedding = key in ("wte.weight", "wpe.weight")
        if not cfg.prenorm:
            key = {"wte.weight": "tokens_embed.weight", "wpe.weight": "positions_embed.weight"}.get(key, key)
        tensors[key] = t.t().contiguous() if key.endswith(CONV1D) else t  # nn.Linear's (out, in) to Conv1D's
        if not cfg.bias and not embedding:
            tensors[key.removesuffix("weight") + "bias"] = torch.zeros(tensors[key].shape[-1], dtype=t.dtype)
    hf = {"vocab_size": cfg.vocab_size, "n_positions": cfg.block_size, "n_embd": cfg.n_embd, "n_layer": cfg.n_layer,
          "n_head": cfg.n_head, "layer_norm_epsilon": 1e-5, "resid_pdrop": cfg.dropout, "embd_pdrop": cfg.dropout,
          "attn_pdrop": cfg.dropout, "tie_word_embeddings": True, "meta": ckpt["meta"]}
    if cfg.prenorm:  # transformers' names: "gelu" is the exact erf GELU, "gelu_new" OpenAI's tanh form
        hf.update(model_type="gpt2", architectures=["GPT2LMHeadModel"], n_ctx=cfg.block_size,
                  activation_function="gelu_new" if cfg.gelu == "tanh" else "gelu")
        if ckpt["meta"].get("tokenizer") == "gpt2":
            hf.update(bos_token_id=ckpt["meta"]["eot_token"], eos_token_id=ckpt["meta"]["eot_token"])
    else:  # modeling_openai's afn "gelu" is the tanh form, as OpenAI's code computed it
        hf.update(model_type="openai-gpt", architectures=["OpenAIGPTLMHeadModel"], afn="gelu")
    os.makedirs(folder, exist_ok=True)
    paths = [os.path.join(folder, name) for name in ("config.json", "model.safetensors")]
    with open(paths[0] + f".tmp{os.getpid()}", "w") as f:
        json.dump(hf, f, indent=2)
    os.replace(paths[0] + f".tmp{os.getpid()}", paths[0])
    write_safetensors(paths[1], tensors)  # last: a folder with model.safetensors is a model (is_published)
    return paths


# peak dense bf16 tensor-core FLOP/s by GPU name, for MFU (datasheets; sparsity excluded)
PEAK_FLOPS = [("H100 PCIe", 756e12), ("H100", 989e12), ("H200", 989e12), ("GH200", 989e12), ("A100", 312e12),
              ("L40S", 362e12), ("L4", 121e12), ("A10", 125e12), ("4090", 165e12), ("3090", 71e12),
              ("V100", 125e12), ("T4", 65e12)]


def peak_flops(device):
    if not torch.cuda.is_available() or not str(device).startswith("cuda"):
        return None
    name = torch.cuda.get_device_name(device)
    return next((flops for key, flops in PEAK_FLOPS if key in name), None)

# -----------------------------------------------------------------------------
# training

SAMPLE_TEMPERATURE, SAMPLE_TOP_K = 0.8, 200  # the end-of-training sample: a little sharper than the model's own
# distribution, the tail of unlikely tokens cut off (nanoGPT's sample.py defaults)

if __name__ == "__main__":
    import torch.distributed as dist

    from prepare import (Interrupt, check_settings, check_vocab, configure, default_device, get_tokenizer, load_meta,
                         load_split, lock_out_dir, log_json, nan_message, plot_losses, precision, start_banner, timing)

    # default settings: a small character-level GPT on the bundled Shakespeare, about 85 s on two CPU cores
    # (config/shakespeare_char_cpu.py says why these values)
    _before = set(globals())
    # I/O
    out_dir = "out-shakespeare-char"
    eval_interval = 500  # steps between evaluations and checkpoints
    log_interval = 10  # steps between log lines; the only times the CPU waits for the GPU
    eval_iters = 20  # batches per split in each estimate_loss()
    eval_only = False
    init_from = "scratch"  # 'scratch', 'resume' (out_dir's run), published weights (gpt2...) or a hub folder
    sample_tokens = 300  # tokens sampled from the model at the end of training (0: none)
    wandb_log = False  # needs `pip install wandb`
    wandb_project = "origins"
    wandb_run_name = "gpt"
    # data
    dataset = "shakespeare_char"
    gradient_accumulation_steps = 1  # total over all processes: DDP divides it by the world size
    batch_size = 12
    block_size = 64
    batch_ramp_start = 0  # GPT-3's batch ramp (Appendix B): tokens in the first step (0: no ramp), growing
    batch_ramp_tokens = 0  # linearly to the full batch over this many tokens, in whole micro-batches
    # model
    n_layer = 4
    n_head = 4
    n_embd = 128
    dropout = 0.0  # a model this small, trained this briefly, does not overfit
    bias = True
    prenorm = True  # GPT-2/3 pre-LN; False for GPT-1's post-LN
    attn_window = 0  # >0: GPT-3's alternating dense and locally banded layers
    gelu = "none"  # exact GELU; "tanh" for the approximation of OpenAI's code
    # optimizer: AdamW with warmup and cosine decay; the schedule counts full-batch steps of tokens (see ramp)
    learning_rate = 3e-3  # a model this small tolerates a large step
    max_iters = 1800  # training ends after max_iters full batches of tokens (exactly max_iters steps without a ramp)
    max_seconds = 0  # or after this much training time, evaluation excluded (0: no limit), for equal-time comparisons
    weight_decay = 0.1
    beta1 = 0.9
    beta2 = 0.99  # few tokens per step: a shorter second-moment memory than GPT-3's 0.95
    grad_clip = 1.0  # clip the global gradient norm to this (0: off)
    decay_lr = True
    warmup_iters = 100
    lr_decay_iters = 1800  # ~= max_iters, per Chinchilla
    min_lr = 3e-4  # ~= learning_rate / 10, per Chinchilla
    # system
    device = default_device()  # 'cuda' if available, else 'mps' (Apple silicon), else 'cpu'; or 'cuda:1' and so on
    dtype = "auto"  # bfloat16 where supported, else float16 with a GradScaler on GPU; float32 on CPU
    compile = torch.cuda.is_available()  # on CUDA only: on a CPU compile time outweighs the gain; mps runs eagerly
    compile_mode = "default"  # or 'reduce-overhead' (CUDA graphs: small models, GPU only) or 'max-autotune'
    fsdp = False  # under torchrun: shard parameters, gradients and optimizer state over the processes (FSDP2)
    activation_checkpointing = False  # keep only each block's input, recompute the rest in backward
    consolidate = False  # turn out_dir's sharded checkpoints into plain best.pt and latest.pt, then exit
    export = ""  # a folder: write out_dir's model there in the Hugging Face hub's layout (transformers), then exit
    seed = 1337
    config = configure({k: v for k, v in globals().items() if k not in _before and not k.startswith("_")})
    globals().update(config)

    # settings that cannot work: all of them at once, one line each, before anything is written (published weights
    # bring their own architecture)
    check_settings(config, {
        "eval_interval": "positive", "log_interval": "positive", "eval_iters": "positive", "sample_tokens": "nonneg",
        "init_from": (lambda v: v in ("scratch", "resume") or is_published(v), f"'scratch', 'resume', one of "
                      f"{', '.join(PRETRAINED)} or a folder with config.json and model.safetensors"),
        "gradient_accumulation_steps": "positive", "batch_size": "positive", "block_size": "positive",
        "batch_ramp_start": "nonneg",
        "batch_ramp_tokens": (lambda v: v >= 0 and bool(v) == bool(batch_ramp_start),
                              f"> 0 with batch_ramp_start={batch_ramp_start} > 0, or 0 with it 0 (no ramp)"),
        "n_layer": "positive", "n_head": "positive",
        "n_embd": (lambda v: v > 0 and (n_head <= 0 or v % n_head == 0), f"a multiple of n_head={n_head}: each head "
                   "gets n_embd / n_head dimensions"),
        "dropout": "prob", "gelu": ("none", "tanh"),
        "attn_window": (lambda v: 0 <= v <= block_size, f"0 (dense) to block_size={block_size}"),
        "learning_rate": "nonneg", "max_iters": "nonneg", "weight_decay": "nonneg", "beta1": "prob", "beta2": "prob",
        "grad_clip": "nonneg", "warmup_iters": "nonneg", "lr_decay_iters": "nonneg", "min_lr": "nonneg",
        "dtype": ("auto", "float32", "bfloat16", "float16"), "max_seconds": "nonneg",
        "compile_mode": ("default", "reduce-overhead", "max-autotune")})
    if wandb_log:
        try:
            import wandb
        except ImportError:
            raise SystemExit("config: wandb_log=True but wandb is not installed: pip install wandb, or drop wandb_log")
    if consolidate:  # it rewrites best.pt and latest.pt: never under a live run
        if os.path.isdir(out_dir):
            lock_out_dir(out_dir)
        for path in consolidate_checkpoints(out_dir):
            print(f"wrote {path}")
        sys.exit(0)
    if export:  # only reads out_dir's checkpoint (best.pt, else latest.pt), which a live run replaces by a rename
        for path in export_pretrained(load_checkpoint(checkpoint_path(out_dir)), export):
            print(f"wrote {path}")
        sys.exit(0)

    # processes: one, or one per GPU under torchrun; a sharded run or a plain one, decided here for the whole run
    ddp = int(os.environ.get("RANK", -1)) != -1
    if ddp:
        rank, local_rank, world_size = (int(os.environ[k]) for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE"))
        if device.startswith("cuda"):
            device = f"cuda:{local_rank}"
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
        if gradient_accumulation_steps % world_size:
            raise SystemExit(f"config: gradient_accumulation_steps={gradient_accumulation_steps} must be a multiple "
                             f"of the {world_size} processes (it counts micro-steps over all of them)")
        if max_seconds:  # each process keeps its own clock: they could disagree on the step that ends the run
            raise SystemExit("config: max_seconds works in a single process: under torchrun give max_iters instead")
    else:
        rank, local_rank, world_size = 0, 0, 1
    master = rank == 0
    if fsdp and world_size == 1:
        print("note: fsdp=True shards over the processes of a torchrun job; with one process it has no effect")
        fsdp = False

    # device and precision
    device_type, dtype, ctx = precision(device, dtype)
    if fsdp and dtype == "float16":
        raise SystemExit("config: fsdp trains in bfloat16 or float32 (float16 needs a sharded GradScaler): "
                         "use dtype=bfloat16")
    if compile_mode != "default" and device_type != "cuda":
        print(f"note: compile_mode={compile_mode} needs a GPU; compiling with the default mode on {device_type}")
        compile_mode = "default"
    scaler = torch.amp.GradScaler(device_type, enabled=dtype == "float16")  # fp16 gradients underflow unscaled
    torch.backends.cuda.matmul.allow_tf32 = True  # TF32 for any float32 matmuls left on the GPU
    torch.backends.cudnn.allow_tf32 = True
    run = (ShardedRun(out_dir, rank, dtype) if fsdp else
           PlainRun(out_dir, master, ddp, [local_rank] if device_type == "cuda" else None))

    # the schedule, counted in tokens: max_iters and the lr's warmup and decay count full batches of tokens, which
    # GPT-3's batch ramp (Appendix B) reaches in whole micro-steps of every process
    micro_tokens = batch_size * block_size * world_size  # one micro-step of every process
    tokens_per_iter = gradient_accumulation_steps * batch_size * block_size
    max_tokens = max_iters * tokens_per_iter
    if batch_ramp_start and (batch_ramp_start % micro_tokens or batch_ramp_start >= tokens_per_iter):
        raise SystemExit(f"config: batch_ramp_start={batch_ramp_start:,} tokens must be a whole number of micro-steps "
                         f"of {micro_tokens:,} tokens (batch_size x block_size x {world_size} processes) and less "
                         f"than the full batch ({tokens_per_iter:,}): change batch_ramp_start or batch_size")

    def get_lr(progress):
        """The lr at `progress` full-batch steps of tokens: linear warmup, then cosine decay to min_lr."""
        if progress < warmup_iters:
            return learning_rate * (progress + 1) / (warmup_iters + 1)
        if progress >= lr_decay_iters:
            return min_lr
        ratio = (progress - warmup_iters) / (lr_decay_iters - warmup_iters)
        return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (learning_rate - min_lr)

    def next_step(tokens_seen):
        """(micro-steps over all processes, lr) of the step after tokens_seen tokens. GPT-3 Appendix B: "we also
        gradually increase the batch size linearly from a small value (32k tokens) to the full value over the first
        4-12 billion tokens", here rounded down to whole micro-steps of every process."""
        lr = get_lr(tokens_seen / tokens_per_iter) if decay_lr else learning_rate
        if not batch_ramp_tokens or tokens_seen >= batch_ramp_tokens:
            return gradient_accumulation_steps, lr
        tokens = batch_ramp_start + (tokens_per_iter - batch_ramp_start) * tokens_seen / batch_ramp_tokens
        return int(tokens // micro_tokens) * world_size, lr

    # data: random windows; the window starts come from one generator shared by all processes, so each step
    # sees the same global batch however many processes split it, and its state is the data position on resume
    meta = load_meta(dataset)
    train_data, val_data = load_split(dataset, "train", meta), load_split(dataset, "val", meta)
    if min(len(train_data), len(val_data)) <= block_size:
        raise SystemExit(f"data: the splits of '{dataset}' ({len(train_data)} and {len(val_data)} tokens) must be "
                         f"longer than block_size={block_size}: lower block_size or add data")
    data_gen = torch.Generator().manual_seed(seed)
    offsets = np.arange(block_size + 1)

    def get_batch(data, starts):
        """Inputs and targets (B, block_size) at the given window starts: one gather for both, then one copy to
        the device, asynchronous on a GPU so the next batch travels while this step computes."""
        xy = torch.from_numpy(data[starts.numpy()[:, None] + offsets].astype(np.int64))
        if device_type == "cuda":
            xy = xy.pin_memory().to(device, non_blocking=True)
        else:
            xy = xy.to(device)
        return xy[:, :-1], xy[:, 1:]

    # one run per out_dir: the first process holds out_dir/.lock until it ends, however it ends
    if master:
        lock_out_dir(out_dir)
    log_path = os.path.join(out_dir, "log.jsonl")

    def make_model(model_args, weights=None):
        """The model on the device, made on the meta device (no time or memory spent on weights about to be
        replaced) and materialised once, sharded in a sharded run: from weights, or initialised from the seed."""
        with torch.device("meta"):
            model = GPT(GPTConfig(**model_args))
        run.shard(model)
        model.to_empty(device=device)
        torch.manual_seed(seed)  # the same initial weights in every process
        if weights is None:
            model.init_weights()
        else:
            run.load_weights(model, weights)
        return model

    def start_fresh():
        """A new run in out_dir: never over an earlier run's checkpoints; a log without one (a run that never got
        going) is removed. Evaluating (eval_only) writes nothing, so it goes anywhere."""
        found = holds_run(out_dir)
        if found and not eval_only:
            raise SystemExit(f"{out_dir} already holds a run ({found}): continue it with --init_from=resume, "
                             f"or choose another --out_dir, or delete {out_dir}")
        if master and not eval_only and os.path.exists(log_path):
            os.remove(log_path)

    # model: one chain per start mode, each ending in the model
    model_args = dict(block_size=block_size, vocab_size=meta["vocab_size"], n_layer=n_layer, n_head=n_head,
                      n_embd=n_embd, dropout=dropout, bias=bias, prenorm=prenorm, attn_window=attn_window,
                      gelu=gelu)
    iter_num, tokens_seen, best_val_loss, ckpt = 0, 0, float("inf"), None
    pretrained = None  # the published weights a run began from
    if init_from == "scratch":
        start_fresh()
        model = make_model(model_args)
    elif init_from == "resume":
        ckpt = run.load()
        check_vocab(ckpt["meta"], meta, run.latest, dataset)
        model_args = resumed_model_args(ckpt, model_args, tokens_per_iter, run.latest)
        pretrained = ckpt.get("pretrained")  # its architecture came from those weights, not from these settings
        iter_num, best_val_loss = ckpt["iter_num"], ckpt["best_val_loss"]
        tokens_seen = ckpt.get("tokens_seen", iter_num * tokens_per_iter)
        if tokens_seen >= max_tokens and not eval_only:  # nothing to train: nothing to rewrite
            if master:
                print(f"resume: {run.latest} holds a finished run (step {iter_num} of max_iters={max_iters}, best "
                      f"val loss {best_val_loss:.4f}): nothing to do; raise --max_iters to train it further")
            if ddp:
                dist.destroy_process_group()
            sys.exit(0)
        model = make_model(model_args, ckpt.pop("model", None))  # a sharded run's are read with the optimizer's
    else:  # published weights: their architecture replaces the settings above
        start_fresh()
        architecture, weights, published_meta = published_start(init_from, dropout, block_size)
        check_vocab(published_meta, meta, init_from, dataset)
        model_args, pretrained = {**model_args, **architecture}, init_from
        model = make_model(model_args, weights)
        weights = None  # free the memory
    model.checkpointing = activation_checkpointing

    # optimizer, and a resumed run's state: the optimizer's, the data position and every process's dropout RNG
    optimizer = model.configure_optimizers(weight_decay, learning_rate, (beta1, beta2), device_type)
    if ckpt is not None:
        run.restore(ckpt, model, optimizer, scaler)
        data_gen.set_state(ckpt["rng"]["data"])
        saved = ckpt["rng"].get("processes", [])
        if not restore_process_rng(saved, rank, world_size, device):  # the data order continues exactly, the
            torch.manual_seed(seed + rank + iter_num)  # dropout masks cannot: not the streams of step 0 again
            if master:
                print(f"note: {run.found} holds the dropout RNG of {len(saved)} process(es), this run has "
                      f"{world_size}: dropout masks start afresh (the data order is exact)")
    elif rank:
        torch.manual_seed(seed + rank)  # each process its own dropout stream; process 0 continues the init's
    ckpt = None  # free the memory
    raw_model = model  # checkpoints hold the raw model: no _orig_mod. or module. prefixes to strip
    if compile:
        model = compiled(model, compile_mode, per_block=fsdp or activation_checkpointing)
    model = run.wrap(model)  # DDP's gradient all-reduce in a plain run of several processes

    @torch.no_grad()
    def estimate_loss():
        """Mean loss over eval_iters random batches per split; the same batches every time, so evaluations compare.
        Averaged over the processes, as at log lines: all of them see the same numbers, a NaN in any one included,
        so none stops on it while the others wait in the next collective."""
        model.eval()
        gen = torch.Generator().manual_seed(seed + 1)
        means = []
        for data in (train_data, val_data):
            losses = torch.zeros(eval_iters, device=device)  # read once at the end: no wait per batch
            for k in range(eval_iters):
                x, y = get_batch(data, torch.randint(len(data) - block_size, (batch_size,), generator=gen))
                with ctx:
                    losses[k] = model(x, y)[1]
            means.append(losses.mean())
        means = torch.stack(means)
        if ddp:
            dist.all_reduce(means)
            means /= world_size
        model.train()
        return dict(zip(("train", "val"), means.tolist()))

    def save(improved, val_loss=None, wait=False):
        """latest.pt (or latest_sharded/), and best.pt when the validation loss improved, holding everything an exact
        resume needs and the val_loss it was saved at (None between evaluations), by which a resume knows latest.pt
        is the best state. With wait, return once it is on disk. A failed write stops the run in its one line."""
        processes = [None] * world_size if master else None  # each process's dropout RNG, for process 0 to write
        if ddp:
            dist.gather_object(process_rng(device), processes)
        else:
            processes[0] = process_rng(device)
        train = dict(model_args=model_args, iter_num=iter_num, tokens_seen=tokens_seen, best_val_loss=best_val_loss,
                     val_loss=val_loss, config=config, meta=meta, rng={"data": data_gen.get_state(),
                     "processes": processes}, model_type="gpt", pretrained=pretrained)
        try:
            run.save(train, raw_model, optimizer, scaler, improved)
            if wait:
                run.wait()
        except BaseException:  # this write or the one before it failed: the signal handlers go back first
            interrupt.restore()
            raise

    def stop_on_nan(value, what):
        interrupt.restore()
        run.wait()  # the message names only what is on disk
        raise SystemExit(nan_message(f"{what} is {value} at step {iter_num}", run.latest, dtype, grad_clip, 1.0))

    # a schedule longer than the run may be meant (a shortened run), but it is never silent
    if decay_lr and master and max_iters and not eval_only:
        last_lr = get_lr(max_iters - 1)  # the lr of the run's last step
        if warmup_iters >= max_iters:
            print(f"note: warmup_iters={warmup_iters} outlasts the run (max_iters={max_iters}): the lr peaks at "
                  f"{last_lr:.2e}, not learning_rate={learning_rate:g}; lower warmup_iters to reach it")
        elif lr_decay_iters > max_iters:
            print(f"note: lr_decay_iters={lr_decay_iters} outlasts the run (max_iters={max_iters}): the lr ends at "
                  f"{last_lr:.2e}, not min_lr={min_lr:g}; set lr_decay_iters={max_iters} to decay fully")

    # logging: readable lines on stdout, one JSON object per line in out_dir/log.jsonl
    peak = peak_flops(device)
    if master:
        start_banner("train_gpt.py", device, dtype, config, f"{world_size} process(es){' sharded' if fsdp else ''} | "
                     f"{raw_model.num_params() / 1e6:.2f}M parameters | {tokens_per_iter:,} tokens per step", log_path,
                     iter_num if init_from == "resume" else None,
                     f"resumed from step {iter_num} ({tokens_seen:,} tokens) of {run.found}", world_size=world_size)
    if wandb_log and master:
        wandb.init(project=wandb_project, name=wandb_run_name, config=config)

    # Ctrl-C or SIGTERM (a scheduler's stop): finish the current step, save, exit 130 or 143; a second one quits at once
    interrupt = Interrupt("saving a checkpoint after this step" if master else "")

    # the loop: until max_iters full batches of tokens, evaluating at 0, every eval_interval steps and at the end.
    # The CPU runs ahead of the GPU, queueing work: it waits only at log lines and evaluations, where the loss,
    # a NaN and a Ctrl-C (in any process) are read, and it draws the next batch while the GPU computes this one.
    t_log, iters_since_log, tokens_since_log = time.time(), 0, 0
    t_start, train_seconds, tokens_start = time.time(), 0.0, tokens_seen  # for the ETA: this run's training alone
    loss_sum = torch.zeros((), device=device)  # the summed step losses since the last log line
    while True:
        done = tokens_seen >= max_tokens or 0 < max_seconds <= train_seconds  # the time is counted at log lines
        if iter_num % eval_interval == 0 or done or eval_only:
            losses = estimate_loss()
            if not math.isfinite(losses["val"]):
                stop_on_nan(losses["val"], "the validation loss")
            if master:
                print(f"step {iter_num}/{max_iters} | train loss {losses['train']:.4f} | val loss {losses['val']:.4f}")
                log_json(log_path, {"iter": iter_num, "tokens": tokens_seen, "train_loss": losses["train"],
                                    "val_loss": losses["val"], "train_seconds": train_seconds})
                plot_losses(log_path, os.path.join(out_dir, "loss.png"))  # needs matplotlib
                if wandb_log:
                    wandb.log({"iter": iter_num, "train/loss": losses["train"], "val/loss": losses["val"]})
            if iters_since_log:  # a NaN since the last log line, in any process: never saved
                unlogged = loss_sum.clone()  # loss_sum itself is reduced at the next log line
                if ddp:
                    dist.all_reduce(unlogged)
                if not math.isfinite(unlogged.item()):
                    stop_on_nan(unlogged.item(), "the loss")
            if not eval_only:
                improved = losses["val"] < best_val_loss
                best_val_loss = min(best_val_loss, losses["val"])
                save(improved, losses["val"])
            t_log = time.time()  # evaluation time is not training throughput
        if done or eval_only:
            break

        # one optimizer step over n_micro micro-batches (the batch ramp's), each process taking its share
        n_micro, lr = next_step(tokens_seen)
        local_steps = n_micro // world_size
        for group in optimizer.param_groups:
            group["lr"] = lr
        starts = torch.randint(len(train_data) - block_size, (n_micro * batch_size,),
                               generator=data_gen).view(local_steps, world_size, batch_size)
        x, y = get_batch(train_data, starts[0, rank])
        for micro_step in range(local_steps):
            if isinstance(model, DDP):  # all-reduce the gradients once, on the last micro-step
                model.require_backward_grad_sync = micro_step == local_steps - 1
            with ctx:
                _, loss = model(x, y)
                loss = loss / local_steps
            if micro_step + 1 < local_steps:  # the next micro-batch travels while this one computes
                x, y = get_batch(train_data, starts[micro_step + 1, rank])
            scaler.scale(loss).backward()
            loss_sum += loss.detach()
        if grad_clip != 0.0:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        iter_num += 1
        iters_since_log += 1
        tokens_seen += n_micro * batch_size * block_size
        tokens_since_log += n_micro * batch_size * block_size

        # every log_interval steps: the mean loss since the last line over all processes, NaN, Ctrl-C and SIGTERM
        if iter_num % log_interval == 0 or tokens_seen >= max_tokens or (interrupt.pressed and not ddp):
            status = torch.stack([loss_sum.float() / iters_since_log,
                                  torch.tensor(float(interrupt.pressed), device=device)])
            if ddp:
                dist.all_reduce(status)
                status[0] /= world_size
            lossf, stop = status[0].item(), status[1].item() > 0
            if not math.isfinite(lossf):
                stop_on_nan(lossf, "the loss")
            train_seconds += time.time() - t_log
            if master:
                dt = (time.time() - t_log) / iters_since_log
                tok_s = tokens_since_log / (time.time() - t_log)
                mfu = raw_model.flops_per_token(block_size) * tok_s / (peak * world_size) if peak else None  # per GPU
                elapsed = time.time() - t_start
                when = timing(elapsed, tokens_seen - tokens_start, max_tokens - tokens_start, train_seconds)
                print(f"step {iter_num}/{max_iters} | loss {lossf:.4f} | lr {lr:.2e} | {dt * 1000:.0f} ms | "
                      f"{tok_s / 1000:.1f}k tok/s" + (f" | mfu {mfu * 100:.1f}%" if mfu else "") + f" | {when}",
                      flush=True)
                log_json(log_path, {"iter": iter_num, "tokens": tokens_seen, "loss": lossf, "lr": lr,
                                    "ms": dt * 1000, "tok_s": tok_s, "mfu": mfu, "elapsed": elapsed})
                if wandb_log:
                    wandb.log({"iter": iter_num, "train/loss_step": lossf, "lr": lr, "mfu": mfu})
            t_log, iters_since_log, tokens_since_log = time.time(), 0, 0
            loss_sum.zero_()
            if stop:
                save(False, wait=True)  # "saved" only once it is complete and renamed
                if ddp:
                    dist.destroy_process_group()
                interrupt.exit(f"interrupted at step {iter_num}: saved {run.latest}; continue with --init_from=resume"
                               if master else "")

    interrupt.restore()
    run.wait()

    # a sample from the trained model (every process of a sharded run takes part: its weights are spread over them)
    if (master or fsdp) and sample_tokens > 0 and not eval_only:
        decode = get_tokenizer(meta)[1]
        start = meta.get("eot_token", 0)  # GPT-2's document boundary; in char and word vocabularies 0 is a line break
        raw_model.eval()
        idx = torch.tensor([[start]], dtype=torch.long, device=device)
        generator = torch.Generator(device=device).manual_seed(seed)  # sample.py's default seed: the same text
        with ctx:
            tokens = torch.cat(list(raw_model.generate(idx, sample_tokens, temperature=SAMPLE_TEMPERATURE,
                                                       top_k=SAMPLE_TOP_K, generator=generator)), dim=1)
        if master:
            print("sample:\n" + decode(tokens[0].tolist()))
    if ddp:  # every process leaves the group together: none tears its connections down while another samples
        dist.barrier()
        dist.destroy_process_group()
