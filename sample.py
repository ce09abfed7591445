"""
Sample text from a trained GPT or AWD-LSTM, streamed to stdout as it is generated; notes and speed go to stderr.

$ python sample.py --out_dir=out-shakespeare-char --start="ROMEO:" --num_samples=3 --max_new_tokens=500
$ python sample.py --start=FILE:prompt.txt --temperature=0 --max_new_tokens=100   # greedy, prompt from a file
$ python sample.py my_sampling.py --top_p=0.95 --seed=7   # a file assigning these settings, then overrides
$ python sample.py --init_from=gpt2 --start="Hello, I'm a language model,"   # OpenAI's published weights

An empty prompt starts from <|endoftext|> for GPT-2's BPE, a line break for GPT-1's; for char and word vocabularies
it starts from the newline token, or from token 0 when there is none (for word vocabularies token 0 is <eos>, the
line break).
The checkpoint's model_type says which model it holds: "gpt" (train_gpt.py), whose prompt is cropped to its
block_size, or "awd_lstm" (train_lstm.py), which reads a prompt of any length and carries its hidden state.
"""

import os
import sys
import time
from functools import partial

import torch

import train_gpt
import train_lstm
from prepare import configure, get_tokenizer, precision
from train_gpt import load_checkpoint, sample_token


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
    init_from = "resume"  # 'resume': the checkpoint above; or published weights: openai-gpt, gpt2, gpt2-medium,
    # gpt2-large, gpt2-xl (downloaded once from the Hugging Face hub), or a folder with config.json, model.safetensors
    start = "\n"  # the prompt, or "FILE:path" to read it from a file
    num_samples = 10
    max_new_tokens = 500  # per sample
    temperature = 0.8  # <1 sharpens the distribution, >1 flattens it; 0 is greedy
    top_k = None  # sample from the k most likely tokens only (None: off)
    top_p = None  # nucleus sampling (Holtzman et al. 2019): the smallest set holding this much mass (None: off)
    seed = 1337  # the same seed gives the same text on the same device
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = "auto"  # bfloat16 where supported, else float16 on GPU; float32 on CPU
    compile = False  # pays for itself only on long samples: it compiles prefill, one-token and refill shapes
    config = configure({k: v for k, v in globals().items() if k not in _before and not k.startswith("_")})
    globals().update(config)
    if max_new_tokens <= 0:
        raise SystemExit(f"sample: max_new_tokens must be at least 1, got {max_new_tokens}")
    if num_samples <= 0:
        raise SystemExit(f"sample: num_samples must be at least 1, got {num_samples}")
    if temperature < 0:
        raise SystemExit(f"sample: temperature must be >= 0 (0 is greedy), got {temperature}")
    if top_k is not None and not (type(top_k) is int and top_k >= 1):
        raise SystemExit(f"sample: top_k must be an integer >= 1, or None for off; got {top_k!r}")
    if top_p is not None and not (type(top_p) in (int, float) and 0 < top_p <= 1):
        raise SystemExit(f"sample: top_p must be in (0, 1], or None for off; got {top_p!r}")

    # device and precision, as in train_gpt.py
    device_type, dtype, ctx = precision(device, dtype)

    # load the checkpoint and its model, or the published weights
    if init_from != "resume":
        model, model_type = train_gpt.GPT.from_pretrained(init_from), "gpt"
        meta = model.meta  # the tokenizer it was trained with
        print(f"sample: {init_from} (published weights)", file=sys.stderr)
    else:
        path = os.path.join(out_dir, f"{ckpt}.pt") if ckpt in ("best", "latest") else ckpt
        if ckpt == "best" and not os.path.exists(path):  # a run too short to evaluate leaves only latest.pt
            path = os.path.join(out_dir, "latest.pt")
        checkpoint = load_checkpoint(path, model_type=None)  # any model type; onto the CPU, then the device once
        model_type = checkpoint.get("model_type", "gpt")  # checkpoints from before train_lstm.py have none: GPTs
        builders = {"gpt": train_gpt.model_from_checkpoint, "awd_lstm": train_lstm.model_from_checkpoint}
        if model_type not in builders:
            raise SystemExit(f"sample: {path} holds a model of type '{model_type}'; sample.py knows gpt and awd_lstm")
        model, meta = builders[model_type](checkpoint), checkpoint["meta"]
        print(f"sample: {path} (iter {checkpoint['iter_num']}, best val loss {checkpoint['best_val_loss']:.4f})",
              file=sys.stderr)
    model.to(device)
    model.eval()  # for the LSTM this also turns off all its dropouts, weight drop included
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
    stand_in = not tokens
    if stand_in:  # the model needs at least one token to condition on
        if meta["tokenizer"] == "gpt2":
            tokens = [meta["eot_token"]]  # the document boundary GPT-2 was trained with
        elif meta["tokenizer"] == "gpt1":
            tokens = encode("\n")  # GPT-1 has no document token: a line break
        else:  # a line break; word vocabularies have no "\n" but start with <eos>, their line break
            tokens = [meta["vocab"].index("\n") if "\n" in meta["vocab"] else 0]
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
