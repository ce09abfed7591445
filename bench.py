"""
The speed of one training step of any config here, as nanoGPT's bench.py measures it: random tokens (no dataset),
compile and warmup steps excluded, then ms/step, tokens/s, MFU and peak GPU memory.

$ python bench.py config/gpt2.py --batch_size=12 --bias=False --gelu=none   # nanoGPT's bench.py model and batch
$ python bench.py config/gpt3_small.py --batch_size=8                      # banded layers (FlexAttention)
$ python bench.py config/gpt3_small.py --batch_size=8 --attn_window=0      # the same, all layers dense
$ python bench.py config/awd_lstm_ptb.py --model_kind=lstm                       # an AWD-LSTM config
$ python bench.py --sizes=True --gpus=8                                    # GPT-3's sizes: parameters, memory per GPU

Settings are train_gpt.py's (or train_lstm.py's with --model_kind=lstm), so any of their config files works; those
that do not shape a step (data, schedule, out_dir...) are ignored. One step is one micro-batch: batch_size x
block_size tokens (x bptt for the LSTM).
"""

import glob
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

from prepare import REPO_DIR, check_settings, configure, precision, setting_defaults
from train_gpt import GPT, GPTConfig, compiled, peak_flops

# -----------------------------------------------------------------------------
# memory per GPU of a sharded GPT, for the size table


def memory_per_gpu(n_params, cfg, micro_batch, gpus, checkpointing, sharded):
    """GiB per GPU of a GPT trained in bf16 with fp32 master weights, micro_batch sequences of cfg.block_size per
    GPU. States: fp32 weights, gradients and Adam's two moments, 16 bytes per parameter, whole on every GPU (DDP)
    or sharded over `gpus` (FSDP), which then also gathers two blocks' bf16 weights (the one computing, the next).
    Activations per layer (Korthikanti et al. 2022, Table 2, with flash attention: no T^2 term): 34 x T x C bytes
    per sequence, or only the block's 2-byte input under checkpointing, plus one block recomputed. Logits: bf16
    and the fp32 copy the loss takes, 6 bytes per vocabulary entry per token."""
    T, C, L = cfg.block_size, cfg.n_embd, cfg.n_layer
    tokens = micro_batch * T
    states = 16 * n_params / (gpus if sharded else 1)
    gathered = 2 * 2 * 12 * C * C if sharded else 0
    per_layer = 34 * tokens * C
    activations = (2 * tokens * C * L + per_layer) if checkpointing else per_layer * L
    logits = 6 * tokens * cfg.vocab_size
    gib = 2 ** 30  # as torch.cuda.max_memory_allocated reports, so estimates and measurements compare
    return {"states": states / gib, "gathered": gathered / gib, "activations": (activations + logits) / gib,
            "total": (states + gathered + activations + logits) / gib}


def gpt3_sizes(gpus):
    """One row per config/gpt3_*.py, smallest first: its model built on the meta device (nothing allocated), the
    parameter count, and the memory per GPU at its own batch_size, fsdp and activation_checkpointing."""
    rows = []
    for path in sorted(glob.glob(os.path.join(REPO_DIR, "config", "gpt3_*.py"))):
        cfg = configure(setting_defaults(os.path.join(REPO_DIR, "train_gpt.py")), [path])
        with torch.device("meta"):
            model = GPT(GPTConfig(block_size=cfg["block_size"], vocab_size=50257, n_layer=cfg["n_layer"],
                                  n_head=cfg["n_head"], n_embd=cfg["n_embd"], attn_window=cfg["attn_window"]))
        n = model.num_params(non_embedding=False)
        mem = memory_per_gpu(n, model.config, cfg["batch_size"], gpus, cfg["activation_checkpointing"], cfg["fsdp"])
        rows.append((os.path.basename(path), n, cfg, mem))
    return sorted(rows, key=lambda row: row[1])


# -----------------------------------------------------------------------------
# one training step of a GPT, or of an AWD-LSTM


def gpt_step(cfg, device, ctx):
    """(step function, tokens per step, FLOPs per token, model) for train_gpt.py's model and optimizer."""
    with torch.device("meta"):
        model = GPT(GPTConfig(block_size=cfg["block_size"], vocab_size=cfg["vocab_size"], n_layer=cfg["n_layer"],
                              n_head=cfg["n_head"], n_embd=cfg["n_embd"], dropout=cfg["dropout"], bias=cfg["bias"],
                              prenorm=cfg["prenorm"], attn_window=cfg["attn_window"], gelu=cfg["gelu"]))
    model.to_empty(device=device)
    model.init_weights()
    model.checkpointing = cfg["activation_checkpointing"]
    optimizer = model.configure_optimizers(cfg["weight_decay"], cfg["learning_rate"], (cfg["beta1"], cfg["beta2"]),
                                           device.split(":")[0])
    run = compiled(model, cfg["compile_mode"], cfg["activation_checkpointing"]) if cfg["compile"] else model
    B, T = cfg["batch_size"], cfg["block_size"]
    x, y = (torch.randint(cfg["vocab_size"], (B, T), device=device) for _ in range(2))

    def step():
        with ctx:
            _, loss = run(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"] or math.inf)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss
    return step, B * T, model.flops_per_token(T), model


def lstm_step(cfg, device, ctx):
    """(step function, tokens per step, FLOPs per token, model) for train_lstm.py's model, loss and optimizer."""
    from train_lstm import AWDLSTM, LSTMConfig, activation_regularization, temporal_activation_regularization
    model = AWDLSTM(LSTMConfig(vocab_size=cfg["vocab_size"], emb_size=cfg["emb_size"], hidden_size=cfg["hidden_size"],
                               n_layers=cfg["n_layers"], dropout_emb=cfg["dropout_emb"], dropout_in=cfg["dropout_in"],
                               dropout_hidden=cfg["dropout_hidden"], dropout_out=cfg["dropout_out"],
                               weight_drop=cfg["weight_drop"])).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg["learning_rate"], weight_decay=cfg["weight_decay"])

    def head_loss(output, targets):  # compiled as train_lstm.py compiles it: the decoder and the loss
        logits = model.decoder(output)
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1))
    if cfg["compile"]:
        head_loss = torch.compile(head_loss)
    B, T = cfg["batch_size"], cfg["bptt"]
    x, y = (torch.randint(cfg["vocab_size"], (B, T), device=device) for _ in range(2))
    hidden = model.init_hidden(B)

    def step():
        with ctx:
            _, raw_output, output = model.encode(x, hidden)
            loss = (head_loss(output, y) + activation_regularization(output.float(), cfg["alpha"])
                    + temporal_activation_regularization(raw_output.float(), cfg["beta"]))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"] or math.inf)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss
    return step, B * T, 6 * model.num_params(), model  # 6N: the LSTMs' and the decoder's matmuls, forward and back


# -----------------------------------------------------------------------------

if __name__ == "__main__":
    _before = set(globals())
    model_kind = "gpt"  # 'gpt' (train_gpt.py's settings and config files) or 'lstm' (train_lstm.py's)
    warmup = 10  # steps run first and not timed: compilation, autotuning, allocator warmup
    steps = 30  # timed steps
    sizes = False  # print GPT-3's sizes (parameters, memory per GPU) instead of timing a step
    gpus = 8  # the GPU count the size table assumes
    vocab_size = 0  # tokens in the vocabulary (0: GPT-2's 50,257 for a GPT, PTB's 10,000 for an LSTM)
    _own = {k: v for k, v in globals().items() if k not in _before and not k.startswith("_")}
    _kind = next((a.partition("=")[2] for a in sys.argv[1:] if a.startswith("--model_kind=")), "gpt")
    if _kind not in ("gpt", "lstm"):
        raise SystemExit(f"config: model_kind={_kind!r} must be one of gpt, lstm")
    _script = os.path.join(REPO_DIR, f"train_{_kind}.py")
    config = configure({**setting_defaults(_script), **_own}, scripts=[os.path.abspath(__file__), _script])
    globals().update(config)
    # the settings that shape a step, as the training scripts check them (a GPT's or an LSTM's, whichever is here)
    _rules = {"warmup": "nonneg", "steps": "positive", "gpus": "positive", "vocab_size": "nonneg",
              "batch_size": "positive", "block_size": "positive", "bptt": "positive", "n_layer": "positive",
              "n_head": "positive", "n_embd": "positive", "emb_size": "positive", "hidden_size": "positive",
              "n_layers": "positive", "dropout": "prob", "dropout_emb": "prob", "dropout_in": "prob",
              "dropout_hidden": "prob", "dropout_out": "prob", "weight_drop": "prob", "learning_rate": "nonneg",
              "dtype": ("auto", "float32", "bfloat16", "float16"),
              "compile_mode": ("default", "reduce-overhead", "max-autotune")}
    check_settings(config, {k: rule for k, rule in _rules.items() if k in config})

    if sizes:
        print(f"GPT-3 (Table 2.1) on {gpus} GPUs as each config trains it (fsdp: sharded; else a whole copy per GPU), "
              "bf16 with fp32 master weights, the config's batch_size per GPU; GiB per GPU, estimated")
        print(f"{'config':<16} {'parameters':>15} {'layers':>6} {'d_model':>7} {'heads':>5} {'fsdp':>5} {'ckpt':>5} "
              f"{'batch':>5} {'states':>7} {'acts':>6} {'total':>6}")
        for name, n, cfg, mem in gpt3_sizes(gpus):
            print(f"{name:<16} {n:>15,} {cfg['n_layer']:>6} {cfg['n_embd']:>7} {cfg['n_head']:>5} "
                  f"{str(cfg['fsdp']):>5} "
                  f"{str(cfg['activation_checkpointing']):>5} {cfg['batch_size']:>5} {mem['states']:>7.1f} "
                  f"{mem['activations']:>6.1f} {mem['total']:>6.1f}")
        sys.exit(0)

    config["vocab_size"] = vocab_size or (50257 if model_kind == "gpt" else 10000)
    device_type, dtype, ctx = precision(device, dtype)
    if device_type != "cuda" and config.get("compile_mode", "default") != "default":
        print(f"note: compile_mode={config['compile_mode']} needs a GPU; compiling with the default mode")
        config["compile_mode"] = "default"
    torch.manual_seed(seed)
    torch.backends.cuda.matmul.allow_tf32 = True
    step, tokens_per_step, flops_per_token, model = (gpt_step if model_kind == "gpt" else lstm_step)(config, device,
                                                                                                   ctx)
    params = sum(p.numel() for p in model.parameters())
    print(f"bench: {model_kind}, {params / 1e6:.1f}M parameters | {tokens_per_step:,} tokens per step | {device} "
          f"{dtype} | compile {compile} ({config.get('compile_mode', 'default')}) | torch {torch.__version__}")

    sync = torch.cuda.synchronize if device_type == "cuda" else (lambda: None)
    t0 = time.time()
    for _ in range(warmup):
        step()
    sync()
    print(f"warmup: {warmup} steps in {time.time() - t0:.1f} s (compilation included)")
    if device_type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.time()
    for _ in range(steps):
        loss = step()
    loss = loss.item()  # waits for the last step: the timing covers all of them
    dt = (time.time() - t0) / steps
    tok_s = tokens_per_step / dt
    peak = peak_flops(device)
    mfu = flops_per_token * tok_s / peak if peak else None
    memory = torch.cuda.max_memory_allocated() / 2**30 if device_type == "cuda" else None
    print(f"{dt * 1000:.2f} ms/step | {tok_s / 1000:.1f}k tok/s" + (f" | mfu {mfu * 100:.1f}%" if mfu else "")
          + (f" | peak memory {memory:.2f} GiB" if memory is not None else "") + f" | loss {loss:.3f}")
