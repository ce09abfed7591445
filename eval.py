"""
Evaluate a language model the way the GPT-2 and GPT-3 papers did: zero-shot perplexity and bits per byte,
LAMBADA, multiple-choice completion, and few-shot classification in the prompt. Any checkpoint of ours (GPT or
AWD-LSTM) or OpenAI's published weights; a table at the end and every number in a JSON file.

$ python eval.py --init_from=out-gpt-wt2 --dataset=wikitext2_gpt2            # perplexity and bpb on test
$ python eval.py --init_from=gpt2 --lambada=download                          # GPT-2 §3.3
$ python eval.py --init_from=gpt2 --choices=copa.jsonl                        # {"context", "choices", "label"}
$ python eval.py --init_from=out-gpt-wt2 --task=sst2 --shots="(0, 1, 4)"       # GPT-3 §2: in-context learning

Scoring is the papers' (GPT-2 §3, GPT-3 §2.4): the log-likelihood of a continuation given its context, summed
over its tokens. A GPT reads at most block_size tokens, so a long context loses its beginning; an LSTM carries
its hidden state through any length. A backward AWD-LSTM (ULMFiT §3.4: it reads text right to left) gets
perplexity and bits per byte over the reversed token stream, and nothing that scores a continuation.
"""

import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

import train_gpt
from prepare import (DATA_DIR, Progress, check_settings, check_vocab, configure, download, get_tokenizer, jsonl,
                     load_meta, load_split, load_task, precision, read_records, utf8)
from sample import load_model

LAMBADA_URL = "https://openaipublic.blob.core.windows.net/gpt-2/data/lambada_test.jsonl"  # GPT-2's own copy
LAMBADA_SHA256 = "4aa8d02cd17c719165fc8a7887fddd641f43fcafa4b1c806ca8abc31fabdb226"  # as lm-evaluation-harness pins it

# -----------------------------------------------------------------------------
# the model's last-layer states and its output layer, apart, so only the positions scored pay for logits


def hidden_states(model, kind, idx):
    """The last layer's states (B, T, C) at every position of idx (B, T); an LSTM starts from a zero state."""
    if kind == "gpt":
        return model.encode(idx)  # after the final LayerNorm
    return model.encode(idx, model.init_hidden(idx.size(0)))[2]  # (hidden, raw_output, output): the decoder's input


def logits_at(model, kind, h):
    """Logits (..., V) of last-layer states h (..., C)."""
    return model.logits(h) if kind == "gpt" else model.decoder(h)


@torch.no_grad()
def score(model, kind, pairs, block_size, batch_size, device, ctx, what="scoring"):
    """For each (context, continuation) of token ids: the log-probability of each continuation token given all
    before it, and whether it was the greedy choice. A GPT sees the last block_size tokens before each one.
    Rows of similar length share a batch (less padding); the output layer and softmax over the vocabulary run only
    at the positions that predict a continuation token, a few of each row's (GPT-2's 50,257 logits per position
    are most of a small model's cost). A long run shows its progress, as `what`."""
    rows = []
    for context, continuation in pairs:
        full = (context + continuation)[-(block_size + 1):] if block_size else context + continuation
        n = min(len(continuation), len(full) - 1)  # a token with nothing before it has no prediction to score
        rows.append((full[:-1], full[len(full) - n:]))  # the input, and the targets of its last n positions
    out = [None] * len(rows)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]))
    progress = Progress(len(rows), what)
    for b in range(0, len(order), batch_size):
        batch = order[b:b + batch_size]
        width = max(len(rows[i][0]) for i in batch)
        # right padding: attention (and an LSTM) is causal, so it never changes the positions before it
        idx = torch.tensor([rows[i][0] + [0] * (width - len(rows[i][0])) for i in batch], device=device)
        at_row = torch.tensor([r for r, i in enumerate(batch) for _ in rows[i][1]], device=device)
        at_pos = torch.tensor([len(rows[i][0]) - len(rows[i][1]) + j for i in batch for j in range(len(rows[i][1]))],
                              device=device)
        target = torch.tensor([t for i in batch for t in rows[i][1]], device=device)  # (N,)
        with ctx:
            h = hidden_states(model, kind, idx)  # (B, T, C)
            logits = logits_at(model, kind, h[at_row, at_pos])  # (N, V): the scored positions only
        logp = F.log_softmax(logits.float(), dim=-1)
        picked = logp.gather(1, target[:, None])[:, 0].cpu().numpy()
        right = (logp.argmax(-1) == target).cpu().numpy()
        sizes = [len(rows[i][1]) for i in batch]
        for i, end, size in zip(batch, np.cumsum(sizes), sizes):  # back to each pair, in the order given
            out[i] = (picked[end - size:end], bool(right[end - size:end].all()))
        progress.update(len(batch))
    progress.done()
    return out

# -----------------------------------------------------------------------------
# perplexity and bits per byte of a prepared split


def windows(n, block_size, stride):
    """(start, end, first) for a GPT reading tokens[start:end] and counting its predictions of tokens first..end
    (targets tokens[start+1:end+1]). Every token after the first is counted exactly once, and each after the first
    window has at least block_size - stride tokens of context; stride = block_size is plain non-overlapping chunks."""
    out, start, counted = [], 0, 0  # counted: the last target already scored
    while counted < n - 1:
        end = min(start + block_size, n - 1)
        out.append((start, end, counted + 1))
        counted, start = end, start + stride
    return out


@torch.no_grad()
def perplexity(model, kind, tokens, block_size, stride, batch_size, device, ctx, what="perplexity"):
    """(total negative log-likelihood in nats, tokens scored) over a token stream, every token after the first
    predicted once: a GPT through sliding windows, an LSTM in one pass with its state carried. A long run shows its
    progress in tokens, as `what`."""
    nll, count = 0.0, 0
    progress = Progress(len(tokens) - 1, what)
    if kind == "awd_lstm":
        chunk = 256  # tokens per call; the state carries over, so this trades memory for speed only
        hidden = model.init_hidden(1)
        for s in range(0, len(tokens) - 1, chunk):
            x = torch.from_numpy(tokens[s:s + chunk + 1].astype(np.int64)).to(device)[None]  # + the last target
            with ctx:
                logits, hidden = model(x[:, :-1], hidden)[:2]  # every position is counted: all its logits
            nll += F.cross_entropy(logits[0].float(), x[0, 1:], reduction="sum").item()
            count += x.size(1) - 1
            progress.update(x.size(1) - 1)
        progress.done()
        return nll, count
    spans = windows(len(tokens), block_size, stride)
    for b in range(0, len(spans), batch_size):
        batch = spans[b:b + batch_size]
        width = max(e - s for s, e, _ in batch)
        x = torch.zeros((len(batch), width), dtype=torch.long)
        y = torch.full((len(batch), width), -1, dtype=torch.long)  # -1: not counted in this window
        for i, (s, e, first) in enumerate(batch):
            x[i, :e - s] = torch.from_numpy(tokens[s:e].astype(np.int64))
            y[i, first - s - 1:e - s] = torch.from_numpy(tokens[first:e + 1].astype(np.int64))
        x, y = x.to(device), y.to(device)
        counted = y >= 0  # after the first window, the last stride positions: only they need logits
        with ctx:
            logits = model.logits(model.encode(x)[counted])  # (N, V)
        nll += F.cross_entropy(logits.float(), y[counted], reduction="sum").item()
        count += counted.sum().item()
        progress.update(counted.sum().item())
    progress.done()
    return nll, count

# -----------------------------------------------------------------------------
# LAMBADA, multiple choice, few-shot classification


def lambada_pairs(texts, encode):
    """(context, final word) token ids: the word is the text after its last space, scored with that space."""
    pairs = []
    for text in texts:
        context, _, word = text.strip().rpartition(" ")
        pairs.append((encode(context), encode(" " + word)))
    return pairs


def choice_pairs(records, encode):
    """One (context, " choice") pair per choice of each record, in order."""
    return [(encode(r["context"]), encode(" " + c)) for r in records for c in r["choices"]]


def pick(scores, n_choices):
    """(summed, length-normalised) choices per example: the highest total log-likelihood, and the highest mean per
    token (GPT-3 §2.4 normalises by the number of tokens)."""
    total = np.array([s.sum() for s, _ in scores]).reshape(-1, n_choices)
    mean = np.array([s.mean() for s, _ in scores]).reshape(-1, n_choices)
    return total.argmax(1), mean.argmax(1)


def check_template(template):
    if "{text}" not in template or not template.endswith("{label}"):
        raise SystemExit(f"eval: template {template!r} needs a {{text}} slot and must end with {{label}}, such as "
                         "'{text}\\nSentiment: {label}'")


def fewshot_prompts(records, train, k, template, words, seed):
    """(demonstrations, query) for each record: k train examples drawn by a generator seeded with the record's
    position (never one with the record's own text), each written with the template and its label word, and the
    record written up to its label. The label word is scored after a space, so the query does not end in one."""
    prompts = []
    for i, r in enumerate(records):
        rng = np.random.default_rng([seed, i])
        pool = [j for j in rng.permutation(len(train)) if train[j]["text"] != r["text"]][:k]
        demos = [template.format(text=train[j]["text"], label=words[train[j]["label"]]) for j in pool]
        prompts.append((demos, template.format(text=r["text"], label="").rstrip(" ")))
    return prompts

# -----------------------------------------------------------------------------
# command line

if __name__ == "__main__":
    _before = set(globals())
    # the model
    init_from = "out-shakespeare-char"  # a train_gpt.py/train_lstm.py out_dir or .pt, or published weights (gpt2...)
    # what to evaluate: any of these four
    dataset = ""  # perplexity and bits per byte on this prepared dataset ("": skip)
    lambada = ""  # "download", or the path of a local lambada_test.jsonl ("": skip)
    choices = ""  # a JSONL file of {"context", "choices", "label"} ("": skip)
    task = ""  # a prepared classification task for few-shot prompts ("": skip)
    # how to score
    split = "test"  # the dataset's split to score
    block_size = 0  # 0: the GPT's context
    stride = 0  # sliding-window step for a GPT (0: block_size // 2, so each token has at least half a window)
    template = "{text}\nAnswer: {label}"  # a typed \n (two characters, as a shell passes it) is a line break
    label_words = None  # {label: word}; None: each label is its own word
    shots = (0, 1, 4)  # demonstrations per prompt; as many as fit in a GPT's context
    max_examples = 0  # evaluate on this many (seeded) examples of each task (0: all)
    batch_size = 16  # sequences scored at once
    seed = 1337  # which examples max_examples keeps, and which demonstrations each few-shot prompt draws
    # output and system
    out = ""  # the JSON file ("": eval.json beside the checkpoint, or in the current folder)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = "auto"  # bfloat16 on a GPU that has it, else float16 on GPU; float32 on CPU
    config = configure({k: v for k, v in globals().items() if k not in _before and not k.startswith("_")})
    globals().update(config)
    check_settings(config, {
        "block_size": "nonneg", "stride": "nonneg", "max_examples": "nonneg", "batch_size": "positive",
        "shots": (lambda v: len(v) > 0 and all(type(k) is int and k >= 0 for k in v),
                  "whole numbers >= 0, such as (0, 1, 4)"),
        "dtype": ("auto", "float32", "bfloat16", "float16")})
    if not (dataset or lambada or choices or task):
        raise SystemExit("eval: nothing to evaluate: give --dataset, --lambada, --choices or --task")
    if task:
        template = template.replace("\\n", "\n")
        check_template(template)

    _, dtype, ctx = precision(device, dtype)

    model, kind, meta, described = load_model(init_from)
    source = init_from if train_gpt.is_published(init_from) else train_gpt.checkpoint_path(init_from)  # its file
    if model.backwards and (lambada or choices or task):
        raise SystemExit(f"eval: {source} is a backward language model (it reads text right to left): LAMBADA, "
                         "multiple choice and few-shot prompts score what follows a context, so they need a forward "
                         "one; a backward model takes --dataset (perplexity and bits per byte) only")
    default_dir = os.path.dirname(source) if os.path.isfile(source) else "."  # published weights: here
    out = out or os.path.join(default_dir, "eval.json")
    if os.path.isdir(out) or not os.access(os.path.dirname(os.path.abspath(out)), os.W_OK):  # known before the work
        raise SystemExit(f"config: out={out!r} cannot be written (a folder, or in a folder that is missing or not "
                         "writable): give another --out")
    model.to(device)
    encode, _ = get_tokenizer(meta)
    if kind == "gpt":
        block_size = block_size or model.config.block_size
        if block_size > model.config.block_size:
            raise SystemExit(f"config: block_size={block_size} is longer than the model's context "
                             f"({model.config.block_size})")
        stride = stride or max(1, block_size // 2)
        if not 0 < stride <= block_size:
            raise SystemExit(f"config: stride must be 1 to block_size ({block_size}), not {stride}")
    else:
        block_size = 0  # the LSTM has no window
    params = sum(p.numel() for p in model.parameters())
    print(f"eval: {described} | {kind}{' (backward)' if model.backwards else ''}, {params / 1e6:.2f}M parameters | "
          f"{meta['tokenizer']} tokenizer | {device} {dtype}"
          + (f" | block_size {block_size}, stride {stride}" if kind == "gpt" else ""))
    rng = np.random.default_rng(seed)

    def subsample(records):
        if max_examples and len(records) > max_examples:
            return [records[i] for i in sorted(rng.choice(len(records), max_examples, replace=False))]
        return records

    def encoded(text, where):
        try:
            return encode(text)
        except ValueError as e:  # a char vocabulary cannot read characters it never saw
            raise SystemExit(f"eval: {where}: {e}: this model's vocabulary cannot read it") from None

    results, t0 = [], time.time()

    # perplexity and bits per byte: GPT-2 §3.1; bytes make different tokenizers comparable
    if dataset:
        data_meta = load_meta(dataset)
        try:
            check_vocab(meta, data_meta, source, dataset)
        except SystemExit as e:  # its advice is for training; here the text must be read with the model's tokenizer
            found = str(e.code).partition(": train on")[0]  # what differs, without the advice
            raise SystemExit(f"{found}: prepare the text with the model's tokenizer") from None
        if split not in data_meta["splits"]:
            raise SystemExit(f"eval: dataset '{dataset}' has no {split} split (it has "
                             f"{', '.join(data_meta['splits'])}): choose --split from those")
        tokens = load_split(dataset, split, data_meta)
        if model.backwards:  # it reads text right to left (ULMFiT §3.4): the same tokens, scored from the end
            tokens = tokens[::-1]
        nll, n = perplexity(model, kind, tokens, block_size, stride, batch_size, device, ctx, f"{dataset} {split}")
        n_bytes = (data_meta["splits"][split] or {}).get("bytes")
        name = f"{dataset} {split}" + (" (backward)" if model.backwards else "")
        row = {"eval": name, "tokens": n, "ppl": math.exp(nll / n), "loss": nll / n}
        if n_bytes:  # the text's bytes; the first token is never predicted, a sliver of the total
            row["bpb"] = nll / math.log(2) / n_bytes
        results.append(row)

    # LAMBADA (GPT-2 §3.3): the last word of a passage, all of its tokens right
    if lambada:
        path = lambada if lambada != "download" else download(
            LAMBADA_URL, os.path.join(DATA_DIR, "downloads", "lambada", "lambada_test.jsonl"), LAMBADA_SHA256)
        if not os.path.isfile(path):
            raise SystemExit(f"eval: --lambada={lambada}: no such file; give lambada_test.jsonl or 'download'")
        with open(path, "rb") as f:
            texts = [r.get("text") for _, r in jsonl(path, utf8(f.read(), path))]
        if not texts or not all(isinstance(t, str) and " " in t.strip() for t in texts):
            raise SystemExit(f"eval: {path} needs one {{\"text\": passage}} per line, each with a final word")
        texts = subsample(texts)
        scores = score(model, kind, lambada_pairs(texts, lambda t: encoded(t, path)), block_size, batch_size, device,
                       ctx, "lambada")
        nll = -sum(s.sum() for s, _ in scores)
        results.append({"eval": "lambada", "examples": len(texts), "acc": float(np.mean([ok for _, ok in scores])),
                        "ppl": math.exp(nll / len(texts))})  # per word, as GPT-2 reports it

    # multiple choice (GPT-3 §2.4: HellaSwag, StoryCloze, COPA, PIQA are scored this way)
    if choices:
        records = subsample(read_records(choices, True, "multiple_choice"))
        n_choices = len(records[0]["choices"])
        scores = score(model, kind, choice_pairs(records, lambda t: encoded(t, choices)), block_size, batch_size,
                       device, ctx, os.path.basename(choices))
        summed, normalised = pick(scores, n_choices)
        labels = np.array([r["label"] for r in records])
        results.append({"eval": os.path.basename(choices), "examples": len(records),
                        "acc": float((summed == labels).mean()), "acc_norm": float((normalised == labels).mean())})

    # few-shot classification (GPT-3 §2): k demonstrations, then the label word with the highest likelihood
    if task:
        info, splits = load_task(task)
        if info["type"] != "classification":
            raise SystemExit(f"eval: task '{task}' is a {info['type']} task; few-shot prompts here read one text "
                             "and a label word: use a classification task, or --choices for multiple choice")
        labels = info["labels"]
        words = label_words or {label: label for label in labels}
        if set(words) != set(labels):
            raise SystemExit(f"eval: label_words must give a word for each label of {task}: {', '.join(labels)}")
        word_ids = {label: encoded(" " + str(words[label]).strip(), "label_words") for label in labels}
        if not all(str(w).strip() for w in words.values()) or not all(word_ids.values()):
            raise SystemExit(f"eval: a label word tokenizes to nothing ({words}): give each label a word")
        if len(set(map(tuple, word_ids.values()))) < len(labels):
            raise SystemExit(f"eval: two labels share a label word ({words}): give each label its own word")
        eval_split = "val" if "val" in splits else "test"
        records = subsample(splits[eval_split])
        targets = np.array([labels.index(r["label"]) for r in records])
        for k in shots:
            prompts = fewshot_prompts(records, splits["train"], k, template, words, seed)
            pairs, used, first, longest = [], [], "", max(len(w) for w in word_ids.values())
            progress = Progress(len(prompts), f"{task} k={k}: prompts")
            for demos, query in prompts:
                ids = encoded("\n\n".join(demos + [query]), f"{task} prompt")
                while block_size and len(ids) + longest > block_size and demos:  # too long: drop the first one
                    demos = demos[1:]
                    ids = encoded("\n\n".join(demos + [query]), f"{task} prompt")
                used.append(len(demos))
                first = first or "\n\n".join(demos + [query])  # kept in the JSON: what the model read
                pairs += [(ids, word_ids[label]) for label in labels]
                progress.update()
            progress.done()
            if min(used) < k:
                print(f"note: k={k} does not fit in block_size={block_size} for {sum(u < k for u in used)} of "
                      f"{len(used)} prompts: they hold as many demonstrations as fit (mean {np.mean(used):.1f})")
            scores = score(model, kind, pairs, block_size, batch_size, device, ctx, f"{task} k={k}: scoring")
            chosen = np.array([s.sum() for s, _ in scores]).reshape(-1, len(labels)).argmax(1)
            results.append({"eval": f"{task} {eval_split} k={k}", "examples": len(records),
                            "acc": float((chosen == targets).mean()), "shots_used": float(np.mean(used)),
                            "chance": float(np.bincount(targets).max() / len(targets)),  # the majority label's share
                            "most_picked": float(np.bincount(chosen).max() / len(chosen)),  # 1: one label, always
                            "first_prompt": first})

    # the table, then every number with the model, data and settings
    print(f"\n{'eval':<28} {'examples/tokens':>15}  metrics")
    for r in results:
        size = r.get("examples", r.get("tokens"))
        metrics = "  ".join(f"{k} {v:.4f}" for k, v in r.items() if isinstance(v, float))
        print(f"{r['eval']:<28} {size:>15,}  {metrics}")
    with open(out, "w") as f:
        json.dump({"model": described, "model_type": kind, "backwards": model.backwards, "parameters": params,
                   "meta": {k: v for k, v in meta.items() if k != "vocab"}, "config": config,
                   "seconds": time.time() - t0, "results": results}, f, indent=1)
    print(f"wrote {out} ({time.time() - t0:.0f} s)")
