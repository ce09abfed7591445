"""
Sample text from a trained GPT or AWD-LSTM, streamed to stdout as it is generated; notes and speed go to stderr.

$ python sample.py --init_from=out-shakespeare-char --start="ROMEO:" --num_samples=3 --max_new_tokens=500
$ python sample.py --start=FILE:prompt.txt --temperature=0 --max_new_tokens=100   # greedy, prompt from a file
$ python sample.py my_sampling.py --top_p=0.95 --seed=7   # a file assigning these settings, then overrides
$ python sample.py --init_from=gpt2 --start="Hello, I'm a language model,"   # OpenAI's published weights
$ python sample.py --start="ROMEO:" --stop="'\n\n'"   # each sample ends at its first blank line

--init_from names the model, as in eval.py and finetune.py: a run folder (its best.pt, else latest.pt), a .pt file,
or published weights. (--init_from=resume means "continue the run in out_dir" in the scripts that train.) The old
spellings --out_dir=DIR and --ckpt=latest|FILE still work for one release, with a note.

A sample ends after max_new_tokens, at the tokenizer's end-of-text token (GPT-2's <|endoftext|>, not printed; as
transformers' generate stops at its eos; --stop_at_eot=False goes on, as nanoGPT does), or once its new text holds a
stop string (--stop: a string, or a tuple of them, read as Python literals like every setting; not printed).

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
from prepare import check_settings, configure, default_device, get_tokenizer, load_checkpoint, precision
from train_gpt import sample_token

BUILDERS = {"gpt": train_gpt.model_from_checkpoint, "awd_lstm": train_lstm.model_from_checkpoint}  # by model_type


def load_model(init_from):
    """(model, model_type, meta, path, description) for published weights (train_gpt.is_published; path is their
    name) or one of our checkpoints: a .pt file, or a run folder read by train_gpt.checkpoint_path (best.pt, else
    latest.pt). The model is in eval mode on the CPU; model.backwards says whether it reads text right to left (a
    ULMFiT backward LM, §3.4). sample.py and eval.py both load through here."""
    if train_gpt.is_published(init_from):
        model = train_gpt.GPT.from_pretrained(init_from)
        model.backwards = False
        return model.eval(), "gpt", model.meta, init_from, f"{init_from} (published weights)"
    path = train_gpt.checkpoint_path(init_from)
    if not os.path.exists(path):
        path = path if path.endswith(".pt") else os.path.join(path, "latest.pt")  # a missing run: the file runs write
        raise SystemExit(f"checkpoint: {path} does not exist: give a run folder, a .pt file or published weights "
                         f"({', '.join(train_gpt.PRETRAINED)}), or train a model there first")
    ckpt = load_checkpoint(path, model_type=None)  # any model type; onto the CPU, then the device once
    model_type = ckpt.get("model_type", "gpt")  # checkpoints from before train_lstm.py have none: GPTs
    if model_type not in BUILDERS:
        raise SystemExit(f"checkpoint: {path} holds a model of type '{model_type}', not a language model: give a "
                         "train_gpt.py or train_lstm.py checkpoint (or finetune.py's lm.pt)")
    model = BUILDERS[model_type](ckpt).eval()  # for the LSTM, eval() also turns off its dropouts, weight drop too
    model.backwards = bool(ckpt.get("backwards", False))  # absent in forward models' checkpoints
    described = path
    if "iter_num" in ckpt and "best_val_loss" in ckpt:
        described += f" (iter {ckpt['iter_num']}, best val loss {ckpt['best_val_loss']:.4f})"
    return model, model_type, ckpt["meta"], path, described


def stream_piece(decode, tokens, printed, begin=0, stops=()):
    """(piece, stopped): the text of tokens after its first `printed` characters, ready to print, and whether the
    text after its first `begin` characters (the prompt) holds a stop string; the piece then ends where the first
    stop string begins, which is never printed. A BPE token can end part-way through a multi-byte UTF-8 character,
    which decodes to U+FFFD until its last bytes arrive, so a trailing U+FFFD is held back (the final flush of each
    sample prints any that never complete); so is the longest tail that could still begin a stop string, and no
    more, so the text still streams."""
    text = decode(tokens).rstrip("\ufffd")
    new = text[begin:]
    hits = [i for i in (new.find(s) for s in stops) if i >= 0]
    if hits:
        return text[printed:begin + min(hits)], True
    held = max((n for s in stops for n in range(1, len(s)) if new.endswith(s[:n])), default=0)
    return text[printed:len(text) - held], False


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
    init_from = "out-shakespeare-char"  # a run folder (best.pt, else latest.pt), a .pt file, or gpt2, openai-gpt...
    start = "\n"  # the prompt, or "FILE:path" to read it from a file
    num_samples = 3  # with max_new_tokens, small enough that the quick start's model samples in seconds on a CPU
    max_new_tokens = 200  # per sample
    temperature = 0.8  # <1 sharpens the distribution, >1 flattens it; 0 is greedy
    top_k = None  # sample from the k most likely tokens only (None: off)
    top_p = None  # nucleus sampling (Holtzman et al. 2019): the smallest set holding this much mass (None: off)
    stop_at_eot = True  # end a sample at the tokenizer's end-of-text token (GPT-2's <|endoftext|>); False: go on
    stop = None  # end a sample once its text holds this string (not printed); several: --stop="('\n\n', 'END')"
    seed = 1337  # the same seed gives the same text on the same device
    device = default_device()  # 'cuda' if available, else 'mps' (Apple silicon), else 'cpu'
    dtype = "auto"  # bfloat16 where supported, else float16 on GPU; float32 on CPU
    compile = False  # pays for itself only on long samples: it compiles prefill, one-token and refill shapes
    # old spellings, kept for one release (a note names the --init_from each stands for)
    out_dir = ""  # old spelling of --init_from=DIR
    ckpt = ""  # old spelling: 'best' is --init_from=DIR, 'latest' --init_from=DIR/latest.pt, a file --init_from=FILE
    config = configure({k: v for k, v in globals().items() if k not in _before and not k.startswith("_")})
    globals().update(config)
    check_settings(config, {
        "num_samples": "positive", "max_new_tokens": "positive", "temperature": "nonneg",
        "top_k": (lambda v: v is None or type(v) is int and v >= 1, "a whole number >= 1, or None (off)"),
        "top_p": (lambda v: v is None or type(v) in (int, float) and 0 < v <= 1, "in (0, 1], or None (off)"),
        "stop": (lambda v: v is None or all(type(s) is str and s for s in ((v,) if type(v) is str else v)),
                 "a non-empty string or a tuple of them, or None (off): --stop=END, --stop=\"('\\n\\n', 'THE END')\""),
        "dtype": ("auto", "float32", "bfloat16", "float16")})

    # device and precision, as in train_gpt.py
    device_type, dtype, ctx = precision(device, dtype)

    # the model: a run, a checkpoint or published weights; the old spellings name a run and its checkpoint
    if out_dir or ckpt or init_from == "resume":
        run = out_dir or (init_from if init_from != "resume" else "out-shakespeare-char")  # the old out_dir default
        init_from = {"": run, "best": run, "latest": os.path.join(run, "latest.pt")}.get(ckpt, ckpt)
        print(f"note: --out_dir, --ckpt and --init_from=resume are sample.py's old spellings, gone in the next "
              f"release: this is --init_from={init_from}", file=sys.stderr)
    model, model_type, meta, _, described = load_model(init_from)
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
        if os.path.isdir(prompt_path):
            raise SystemExit(f"sample: prompt file {prompt_path} is a folder: give the file that holds the prompt")
        if not os.path.isfile(prompt_path):
            raise SystemExit(f"sample: prompt file {prompt_path} does not exist")
        with open(prompt_path, "rb") as f:
            data = f.read()
        try:
            start = data.decode("utf-8")
        except UnicodeDecodeError as e:  # latin-1 or another legacy encoding: one line, not a traceback
            raise SystemExit(f"sample: prompt file {prompt_path} is not UTF-8 text (byte {e.start:,}): convert it, "
                             f"e.g. iconv -f latin1 -t utf-8 {prompt_path}") from None
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

    # where a sample ends: the end-of-text token (only GPT-2's BPE has one) and the stop strings, searched for in the
    # new text only (a prompt may hold one)
    eot = meta.get("eot_token") if stop_at_eot else None
    stops = (stop,) if isinstance(stop, str) else tuple(stop or ())
    begin = len(decode(tokens))

    # generate: one sample at a time, each streamed as it is produced
    generator = torch.Generator(device=device).manual_seed(seed)
    generate = model.generate if model_type == "gpt" else partial(lstm_generate, model)  # same arguments, same yield
    with ctx:
        for k in range(num_samples):
            t0 = time.perf_counter()
            seq, printed, n, stopped, why = list(tokens), skip, 0, False, ""
            for next_token in generate(idx, max_new_tokens, temperature, top_k, top_p, generator):
                n += 1
                if next_token.item() == eot:  # not printed: the sample is over
                    why = ", stopped at <|endoftext|>"
                    break
                seq.append(next_token.item())
                piece, stopped = stream_piece(decode, seq, printed, begin, stops)
                print(piece, end="", flush=True)
                printed += len(piece)
                if stopped:
                    why = ", stopped at a stop string"
                    break
            print("" if stopped else decode(seq)[printed:], flush=True)  # anything still held back, then a newline
            print("---------------", flush=True)
            dt = time.perf_counter() - t0
            print(f"sample {k + 1}/{num_samples}: {n} tokens in {dt:.2f}s, {n / dt:.1f} tokens/s{why}", file=sys.stderr)
