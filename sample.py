"""
Sample text from a trained GPT or AWD-LSTM, streamed to stdout as it is generated; notes and speed go to stderr.

$ python sample.py --out_dir=out-shakespeare-char --start="ROMEO:" --num_samples=3 --max_new_tokens=500
$ python sample.py --start=FILE:prompt.txt --temperature=0 --max_new_tokens=100   # greedy, prompt from a file
$ python sample.py my_sampling.py --top_p=0.95 --seed=7   # a file assigning these settings, then overrides
$ python sample.py --init_from=gpt2 --start="Hello, I'm a language model,"   # OpenAI's published weights

An empty prompt starts from <|endoftext|> for GPT-2's BPE, a line break for GPT-1's; for char and word vocabularies
it starts from the newline token, or from token 0 when there is none (for word vocabularies token 0 is <eos>, the
line break); stderr says which. Words a word-level vocabulary lacks are read as <unk>, and named on stderr.
The checkpoint's model_type says which model it holds: "gpt" (train_gpt.py), whose prompt is cropped to its
block_size, or "awd_lstm" (train_lstm.py), which reads a prompt of any length and carries its hidden state. A
backward AWD-LSTM (ULMFiT §3.4, it reads text right to left) is refused: it cannot continue a prompt.
"""

import os
import sys
import time
from functools import partial

import torch

import train_gpt
import train_lstm
from prepare import check_settings, configure, get_tokenizer, precision
from train_gpt import sample_token

BUILDERS = {"gpt": train_gpt.model_from_checkpoint, "awd_lstm": train_lstm.model_from_checkpoint}  # by model_type


def load_model(init_from):
    """(model, kind, meta, description) for published weights (train_gpt.is_published) or one of our checkpoints: a
    .pt file, or a run folder read by train_gpt.checkpoint_path (best.pt, else latest.pt). The model is in eval mode
    on the CPU; model.backwards says whether it reads text right to left (a ULMFiT backward LM, §3.4). sample.py and
    eval.py both load through here."""
    if train_gpt.is_published(init_from):
        model = train_gpt.GPT.from_pretrained(init_from)
        model.backwards = False
        return model.eval(), "gpt", model.meta, f"{init_from} (published weights)"
    path = train_gpt.checkpoint_path(init_from)
    if not os.path.exists(path):
        raise SystemExit(f"checkpoint: {path} does not exist: give a run folder, a .pt file or published weights "
                         f"({', '.join(train_gpt.PRETRAINED)}), or train a model there first")
    ckpt = train_gpt.load_checkpoint(path, model_type=None)  # any model type; onto the CPU, then the device once
    kind = ckpt.get("model_type", "gpt")  # checkpoints from before train_lstm.py have none: GPTs
    if kind not in BUILDERS:
        raise SystemExit(f"checkpoint: {path} holds a model of type '{kind}', not a language model: give a "
                         "train_gpt.py or train_lstm.py checkpoint (or finetune.py's lm.pt)")
    model = BUILDERS[kind](ckpt).eval()  # for the LSTM, eval() also turns off all its dropouts, weight drop included
    model.backwards = bool(ckpt.get("backwards", False))  # absent in forward models' checkpoints
    described = path
    if "iter_num" in ckpt and "best_val_loss" in ckpt:
        described += f" (iter {ckpt['iter_num']}, best val loss {ckpt['best_val_loss']:.4f})"
    return model, kind, ckpt["meta"], described


def stream_piece(decode, tokens, printed):
    """The text of tokens after its first `printed` characters, ready to print. A BPE token can end part-way
    through a multi-byte UTF-8 character, which decodes to U+FFFD until its last bytes arrive, so a trailing
    U+FFFD is held back (the final flush of each sample prints any that never complete)."""
    return decode(tokens).rstrip("\ufffd")[printed:]


@torch.no_grad()
def lstm_generate(model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None):
    """GPT.generate for an AWD-LSTM (in eval mode): yield (B, 1) tensors of new tokens one at a time, continuing
    idx (B, T). The prompt runs once from a fresh hidden state, then each token is fed alone with the state carried
    forward: the same cost per token however long the text, and no context window to crop."""
    logits, hidden, _, _ = model(idx, model.init_hidden(idx.size(0)))  # logits (B, T, V)
    for i in range(max_new_tokens):
        next_token = sample_token(logits[:, -1, :], temperature, top_k, top_p, generator)  # (B, 1)
        yield next_token
        if i == max_new_tokens - 1:  # no forward pass for logits nobody will use
            return
        logits, hidden, _, _ = model(next_token, hidden)


if __name__ == "__main__":
    # settings: these defaults, then config files and --key=value in order (prepare.configure)
    _before = set(globals())
    out_dir = "out-shakespeare-char"  # where train_gpt.py wrote best.pt and latest.pt (its default)
    ckpt = "best"  # 'best' (latest.pt when there is no best.pt), 'latest', or a path to a .pt file
    init_from = "resume"  # 'resume' (the checkpoint above), published weights (gpt2, openai-gpt...) or a hub folder
    start = "\n"  # the prompt, or "FILE:path" to read it from a file
    num_samples = 3  # with max_new_tokens, small enough that the quick start's model samples in seconds on a CPU
    max_new_tokens = 200  # per sample
    temperature = 0.8  # <1 sharpens the distribution, >1 flattens it; 0 is greedy
    top_k = None  # sample from the k most likely tokens only (None: off)
    top_p = None  # nucleus sampling (Holtzman et al. 2019): the smallest set holding this much mass (None: off)
    seed = 1337  # the same seed gives the same text on the same device
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = "auto"  # bfloat16 where supported, else float16 on GPU; float32 on CPU
    compile = False  # pays for itself only on long samples: it compiles prefill, one-token and refill shapes
    config = configure({k: v for k, v in globals().items() if k not in _before and not k.startswith("_")})
    globals().update(config)
    check_settings(config, {
        "num_samples": "positive", "max_new_tokens": "positive", "temperature": "nonneg",
        "top_k": (lambda v: v is None or type(v) is int and v >= 1, "a whole number >= 1, or None (off)"),
        "top_p": (lambda v: v is None or type(v) in (int, float) and 0 < v <= 1, "in (0, 1], or None (off)"),
        "dtype": ("auto", "float32", "bfloat16", "float16")})

    # device and precision, as in train_gpt.py
    device_type, dtype, ctx = precision(device, dtype)

    # the model: the checkpoint above, or the published weights
    if init_from != "resume":
        source = init_from
    elif ckpt == "best":  # the run folder, read by train_gpt.checkpoint_path: best.pt, else latest.pt
        # no such folder: the error names latest.pt, the checkpoint every run writes
        source = out_dir if os.path.isdir(out_dir) else os.path.join(out_dir, "latest.pt")
    else:
        source = os.path.join(out_dir, "latest.pt") if ckpt == "latest" else ckpt
    model, model_type, meta, described = load_model(source)
    if model.backwards:
        raise SystemExit(f"sample: {described} is a backward language model (it reads text right to left): it would "
                         "write a prompt's past, not its future; sample from the forward model of the pair")
    print(f"sample: {described}", file=sys.stderr)
    model.to(device)
    if compile:
        model.compile()  # model.__call__, which both generators go through; Dynamo breaks its graph at nn.LSTM
    block_size = model.config.block_size if model_type == "gpt" else None  # the LSTM has no context window

    # tokenizer: the one the model was trained with, described by the dataset's meta.json
    encode, decode = get_tokenizer(meta)

    # prompt
    if start.startswith("FILE:"):
        prompt_path = start[len("FILE:"):]
        if not os.path.isfile(prompt_path):
            raise SystemExit(f"sample: prompt file {prompt_path} does not exist")
        with open(prompt_path, encoding="utf-8") as f:
            start = f.read()
    try:
        tokens = encode(start)
    except ValueError as e:  # only the char tokenizer refuses text (it has no <unk>); its message ends with the list
        missing = str(e).partition(": ")[2] or e
        raise SystemExit(f"sample: the prompt has characters outside the model's vocabulary: {missing}")
    if meta["tokenizer"] == "word":  # a word-level vocabulary reads any word it lacks as <unk>: say which
        known = set(meta["vocab"])
        unknown = list(dict.fromkeys(w for w in start.split() if w not in known))  # each once, in order
        if unknown:  # the first ten are named, so the note stays one line
            more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
            print(f"sample: not in the vocabulary, read as <unk>: {', '.join(map(repr, unknown[:10]))}{more}",
                  file=sys.stderr)
    stand_in = not tokens
    if stand_in:  # the model needs at least one token to condition on: the documented default (see the docstring)
        if meta["tokenizer"] == "gpt2":
            tokens, named = [meta["eot_token"]], "<|endoftext|>"  # the document boundary GPT-2 was trained with
        elif meta["tokenizer"] == "gpt1":
            tokens, named = encode("\n"), "a line break"  # GPT-1 has no document token
        elif "\n" in meta["vocab"]:
            tokens, named = [meta["vocab"].index("\n")], "a line break"
        else:  # word vocabularies have no "\n" but start with <eos>, their line break
            tokens, named = [0], f"token 0, {meta['vocab'][0]}"
        print(f"sample: empty prompt: starting from {named}", file=sys.stderr)
    if block_size is not None and len(tokens) > block_size:
        print(f"sample: the prompt is {len(tokens)} tokens, longer than block_size={block_size}; "
              f"keeping its last {block_size}", file=sys.stderr)
        tokens = tokens[-block_size:]
    idx = torch.tensor([tokens], dtype=torch.long, device=device)  # (1, T)
    # a real prompt is printed as the model sees it (cropped); an empty prompt's stand-in token is not
    skip = len(decode(tokens)) if stand_in else 0

    # generate: one sample at a time, each streamed as it is produced
    generator = torch.Generator(device=device).manual_seed(seed)
    generate = model.generate if model_type == "gpt" else partial(lstm_generate, model)  # same arguments, same yield
    with ctx:
        for k in range(num_samples):
            t0 = time.perf_counter()
            seq, printed = list(tokens), skip
            for next_token in generate(idx, max_new_tokens, temperature, top_k, top_p, generator):
                seq.append(next_token.item())
                piece = stream_piece(decode, seq, printed)
                print(piece, end="", flush=True)
                printed += len(piece)
            print(decode(seq)[printed:], flush=True)  # anything still held back, then a newline
            print("---------------", flush=True)
            dt = time.perf_counter() - t0
            print(f"sample {k + 1}/{num_samples}: {max_new_tokens} tokens in {dt:.2f}s, "
                  f"{max_new_tokens / dt:.1f} tokens/s", file=sys.stderr)
