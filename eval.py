"""
Evaluate a language model the way the GPT-2 and GPT-3 papers did: zero-shot perplexity and bits per byte,
LAMBADA, multiple-choice completion (GPT-3 §3's benchmarks, zero- and few-shot), and few-shot classification in the
prompt. Any checkpoint of ours (GPT or AWD-LSTM) or OpenAI's published weights; a table at the end and every number
in a JSON file.

$ python eval.py --init_from=out-gpt-wt2 --dataset=wikitext2_gpt2            # perplexity and bpb on test
$ python eval.py --init_from=gpt2 --lambada=download                          # GPT-2 §3.3
$ python eval.py --init_from=gpt2 --choices=copa.jsonl                        # {"context", "choices", "label"}
$ python eval.py --init_from=out-gpt-wt2 --task=sst2 --shots="(0, 1, 4)"       # GPT-3 §2: in-context learning
$ python eval.py --init_from=gpt2 --task=hellaswag --shots="(0,)"              # after `python prepare.py hellaswag`

Scoring is the papers' (GPT-2 §3, GPT-3 §2.4): the log-likelihood of a continuation given its context, summed
over its tokens. A GPT reads at most block_size tokens, so a long context loses its beginning; an LSTM carries
its hidden state through any length. A backward AWD-LSTM (ULMFiT §3.4: it reads text right to left) gets
perplexity and bits per byte over the reversed token stream, and nothing that scores a continuation.

Multiple choice (--choices, or --task with a multiple_choice task: copa, hellaswag, piqa, arc_easy, arc_challenge,
winogrande, storycloze) reports acc (the highest total log-likelihood), acc_norm (per character of the choice, as
lm-evaluation-harness normalises) and acc_per_token (per token, as GPT-3 §2.4); k > 0 puts k solved train examples
before each one. Every accuracy stands beside its standard error (`_stderr`, as lm-eval computes it). Each run is
appended to the JSON file's "evaluations": an earlier one is never overwritten.
"""

import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

import train_gpt
from prepare import (DATA_DIR, Progress, check_settings, check_vocab, configure, default_device, download,
                     get_tokenizer, jsonl, load_meta, load_split, load_task, precision, read_records, utf8)
from sample import load_model

LAMBADA_URL = "https://openaipublic.blob.core.windows.net/gpt-2/data/lambada_test.jsonl"  # GPT-2's own copy
LAMBADA_SHA256 = "4aa8d02cd17c719165fc8a7887fddd641f43fcafa4b1c806ca8abc31fabdb226"  # as lm-evaluation-harness pins it

# -----------------------------------------------------------------------------
# the model's last-layer states and its output layer, apart, so only the positions scored pay for logits


def hidden_states(model, model_type, idx):
    """The last layer's states (B, T, C) at every position of idx (B, T); an LSTM starts from a zero state."""
    if model_type == "gpt":
        return model.encode(idx)  # after the final LayerNorm
    return model.encode(idx, model.init_hidden(idx.size(0)))[2]  # (hidden, raw_output, output): the decoder's input


def logits_at(model, model_type, h):
    """Logits (..., V) of last-layer states h (..., C)."""
    return model.logits(h) if model_type == "gpt" else model.decoder(h)


@torch.no_grad()
def score(model, model_type, pairs, block_size, batch_size, device, ctx, what="scoring"):
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
            h = hidden_states(model, model_type, idx)  # (B, T, C)
            logits = logits_at(model, model_type, h[at_row, at_pos])  # (N, V): the scored positions only
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
def perplexity(model, model_type, tokens, block_size, stride, batch_size, device, ctx, what="perplexity"):
    """(total negative log-likelihood in nats, tokens scored) over a token stream, every token after the first
    predicted once: a GPT through sliding windows, an LSTM in one pass with its state carried. A long run shows its
    progress in tokens, as `what`."""
    nll, count = 0.0, 0
    progress = Progress(len(tokens) - 1, what)
    if model_type == "awd_lstm":
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


def choice_contexts(record):
    """The context each choice is read after: the record's one context, or a context per choice (Winogrande)."""
    return record.get("contexts") or [record["context"]] * len(record["choices"])


def choice_pairs(records, encode):
    """One (context, " choice") pair per choice of each record, in order."""
    return [(encode(c), encode(" " + x)) for r in records for c, x in zip(choice_contexts(r), r["choices"])]


def pick(scores, records):
    """The choice each metric picks for each record (the first of a tie, as numpy's and lm-eval's argmax):
    acc: the highest total log-likelihood of the choice's tokens;
    acc_norm: the highest per character of the choice, as lm-evaluation-harness normalises (len() of the choice's
    text, without the space before it: a byte for ASCII text; lm-eval's `completion_len`);
    acc_per_token: the highest mean per token, as GPT-3 §2.4 normalises ("the per-token likelihood")."""
    picked, at = {"acc": [], "acc_norm": [], "acc_per_token": []}, 0
    for r in records:
        logp = [s for s, _ in scores[at:at + len(r["choices"])]]
        at += len(r["choices"])
        total = np.array([s.sum() for s in logp])
        picked["acc"].append(total.argmax())
        picked["acc_norm"].append((total / np.array([len(c) for c in r["choices"]])).argmax())
        picked["acc_per_token"].append(np.array([s.mean() for s in logp]).argmax())
    return {name: np.array(p) for name, p in picked.items()}


def accuracy(name, right):
    """{name: the share right, name_stderr: its standard error}. The standard error is lm-eval's for a mean
    (mean_stderr: the sample standard deviation over sqrt(n)); of 0/1 outcomes that is sqrt(p(1-p)/(n-1)), the
    binomial sqrt(p(1-p)/n) with n-1 for n. One example has none (null)."""
    n, p = len(right), float(np.mean(right))
    return {name: p, f"{name}_stderr": math.sqrt(p * (1 - p) / (n - 1)) if n > 1 else None}


def choice_metrics(scores, records):
    """acc, acc_norm and acc_per_token (see pick), each with its standard error."""
    labels = np.array([r["label"] for r in records])
    return {k: v for name, chosen in pick(scores, records).items() for k, v in accuracy(name, chosen == labels).items()}


def check_template(template):
    if "{text}" not in template or not template.endswith("{label}"):
        raise SystemExit(f"eval: template {template!r} needs a {{text}} slot and must end with {{label}}, such as "
                         "'{text}\\nSentiment: {label}'")


def draw(train, k, seed, i, same):
    """The k train examples shown with the record at position i: a generator seeded with (seed, i) shuffles the
    train split, and any example that is the record itself (same(example)) is passed over."""
    rng = np.random.default_rng([seed, i])
    return [train[j] for j in rng.permutation(len(train)) if not same(train[j])][:k]


def fewshot_prompts(records, train, k, template, words, seed):
    """(demonstrations, query) for each record: k train examples drawn by draw (never one with the record's own
    text), each written with the template and its label word, and the record written up to its label. The label
    word is scored after a space, so the query does not end in one."""
    prompts = []
    for i, r in enumerate(records):
        pool = draw(train, k, seed, i, lambda t: t["text"] == r["text"])
        demos = [template.format(text=t["text"], label=words[t["label"]]) for t in pool]
        prompts.append((demos, template.format(text=r["text"], label="").rstrip(" ")))
    return prompts


def fit(demos, queries, extra, block_size, encode):
    """(token ids of each query's prompt, the demonstrations kept): the demonstrations, then the query, a blank line
    apart (GPT-3 §2's format); while a prompt and the extra tokens scored after it overflow block_size, the first
    demonstration is dropped. block_size 0 (an LSTM has no window): all are kept."""
    while True:
        ids = {q: encode("\n\n".join(demos + [q])) for q in dict.fromkeys(queries)}  # choices may share a context
        if not (block_size and demos and max(len(ids[q]) + e for q, e in zip(queries, extra)) > block_size):
            return [ids[q] for q in queries], demos
        demos = demos[1:]


def solved(record):
    """A multiple-choice example as a demonstration: the answer's context, a space, the answer (GPT-3 §2)."""
    return f"{choice_contexts(record)[record['label']]} {record['choices'][record['label']]}"


def choice_prompts(records, train, k, seed):
    """(demonstrations, record) for each record: k solved train examples drawn by draw, as few-shot classification
    draws them (never one with the record's own contexts and choices)."""
    def key(r):
        return choice_contexts(r), r["choices"]
    return [([solved(t) for t in draw(train, k, seed, i, lambda t: key(t) == key(r))], r)
            for i, r in enumerate(records)]

# -----------------------------------------------------------------------------
# the JSON file: every run appended, none overwritten


def evaluations(out):
    """The evaluations already in out ([] when it is new): eval.json holds {"evaluations": [one per run, oldest
    first]}; a file from before (one run, {"results": ...}) is its first. A file of anything else is refused, never
    overwritten."""
    if not os.path.exists(out):
        return []
    try:
        with open(out, "rb") as f:
            report = json.loads(f.read())
    except ValueError:  # not JSON, or not text at all
        report = None
    except OSError as e:
        raise SystemExit(f"eval: {out} cannot be read ({e.strerror}): give another --out") from None
    if isinstance(report, dict) and isinstance(report.get("evaluations"), list):
        return report["evaluations"]
    if isinstance(report, dict) and isinstance(report.get("results"), list):
        return [report]
    raise SystemExit(f"eval: {out} is not eval.py's JSON (no \"evaluations\" list), so a run cannot be added to it: "
                     "give another --out, or move that file away")


def append_evaluation(out, evaluation):
    """Add one run's evaluation to out, read again just before (another run may have added one meanwhile), written to
    a temporary file and renamed: an interrupted write leaves the old file whole. Returns how many out holds."""
    runs = evaluations(out) + [evaluation]
    tmp = f"{out}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump({"evaluations": runs}, f, indent=1)
    os.replace(tmp, out)
    return len(runs)

# -----------------------------------------------------------------------------
# the first LLMs side by side: training runs read from their own log.jsonl, their test split scored here


def paper(model_type, model_args):
    """The paper a checkpoint's architecture is: the AWD-LSTM, or GPT-1/2/3 by the two switches GPTConfig has."""
    if model_type == "awd_lstm":
        return "AWD-LSTM (2017)"
    if not model_args["prenorm"]:
        return "GPT-1 (2018)"
    return "GPT-3 (2020)" if model_args["attn_window"] else "GPT-2 (2019)"


def parameter_counts(model, model_type):
    """(non-embedding, total) parameters: the total counts a tied table once; non-embedding leaves out the token
    table and a GPT's position table (Kaplan et al. 2020's count)."""
    total = sum(p.numel() for p in model.parameters())
    tables = [model.transformer.wte, model.transformer.wpe] if model_type == "gpt" else [model.encoder]
    return total - sum(t.weight.numel() for t in tables), total


def read_run(run):
    """A training run as compare_runs needs it: its header (config), its evaluations in order, each with tokens and
    training seconds (evaluation excluded), and its checkpoint's model. One line naming the run if it is missing,
    unfinished, or resumed (a resumed run's log starts its training clock again)."""
    log = os.path.join(run, "log.jsonl")
    if not os.path.isdir(run):
        raise SystemExit(f"compare: {run}: no such run folder")
    if not os.path.isfile(log):
        raise SystemExit(f"compare: {run} has no log.jsonl: give the out_dir of a train_gpt.py or train_lstm.py run")
    records = []
    with open(log) as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # the last line of a process killed mid-write
                continue
    headers = [r for r in records if "config" in r]
    if not headers:
        raise SystemExit(f"compare: {log} has no config record: not a train_gpt.py or train_lstm.py log")
    if len(headers) > 1 or headers[0].get("resumed_from") is not None:
        raise SystemExit(f"compare: {run} was resumed, and each resume starts its training clock again: compare "
                         "runs trained in one go")
    evals = [r for r in records if "val_loss" in r and "train_seconds" in r and "tokens" in r]
    path = train_gpt.checkpoint_path(run)
    if not evals or not os.path.exists(path):
        raise SystemExit(f"compare: {run} is unfinished: it has no evaluation with tokens and training time yet "
                         "(or no checkpoint): let it reach one, or train it again")
    model, model_type, meta, _, _ = load_model(run)
    return {"run": run, "config": headers[0]["config"], "evals": evals, "model": model, "model_type": model_type,
            "meta": meta}


def same_data(runs):
    """The dataset all runs trained on, or one line naming the first run that trained on another (another
    dataset, or another tokenizer, vocabulary or text under the same name): bits per byte compare tokenizers, but
    never a test set with another."""
    first = runs[0]

    def data(r):
        m = r["meta"]
        return (r["config"]["dataset"], m["tokenizer"], m["vocab_size"], m.get("vocab"),
                {split: s.get("bytes") for split, s in m["splits"].items()})
    for r in runs[1:]:
        if data(r) != data(first):
            raise SystemExit(f"compare: {r['run']} was trained on '{r['config']['dataset']}' ({r['meta']['tokenizer']}"
                             f" tokenizer, {r['meta']['vocab_size']} tokens), {first['run']} on "
                             f"'{first['config']['dataset']}' ({first['meta']['tokenizer']}, "
                             f"{first['meta']['vocab_size']}): compare runs trained on one dataset, one tokenizer")
    return first["config"]["dataset"]


def val_bpb(loss, meta):
    """Bits per byte of the val split from a mean loss per token in nats: as train_lstm.py's report() computes it."""
    s = meta["splits"]["val"]
    return loss / math.log(2) * s["tokens"] / s["bytes"]


def compare_runs(names, split, stride, batch_size, device, dtype):
    """One row per run, in the order given: parameters, tokens seen, training seconds and tokens/s at its last
    evaluation, best val bpb (a GPT's from estimate_loss's batches, an LSTM's from its exact passes, as each logged
    them), and the split's bpb of its checkpoint scored here by perplexity(), the same for every run; with each
    run's val bpb curve against training seconds and tokens."""
    runs = [read_run(name) for name in names]
    dataset = same_data(runs)
    data_meta = load_meta(dataset)
    if split not in data_meta["splits"] or not data_meta["splits"][split].get("bytes"):
        raise SystemExit(f"compare: dataset '{dataset}' has no {split} split with a byte count: choose --split from "
                         f"{', '.join(data_meta['splits'])}")
    tokens = load_split(dataset, split, data_meta)
    _, dtype, ctx = precision(device, dtype)
    rows = []
    for r in runs:
        model, model_type = r["model"].to(device), r["model_type"]
        block = model.config.block_size if model_type == "gpt" else 0
        nll, _ = perplexity(model, model_type, tokens, block, stride or max(1, block // 2), batch_size, device, ctx,
                            f"{r['run']} {split}")
        non_embedding, total = parameter_counts(model, model_type)
        last = r["evals"][-1]
        curve = [(e["train_seconds"], e["tokens"], val_bpb(e["val_loss"], r["meta"])) for e in r["evals"]]
        rows.append({"run": r["run"], "model": paper(model_type, vars(model.config)), "non_embedding": non_embedding,
                     "parameters": total, "tokens": last["tokens"], "train_seconds": last["train_seconds"],
                     "tok_s": last["tokens"] / last["train_seconds"] if last["train_seconds"] else None,
                     "best_val_bpb": min(bpb for _, _, bpb in curve), "test_bpb": nll / math.log(2) / data_meta[
                         "splits"][split]["bytes"], "curve": curve})
        r["model"] = model = None  # free it before the next one
    return dataset, rows


def compare_table(rows, split):
    """The rows as a Markdown table."""
    lines = [f"| run | model | non-embedding parameters | parameters | tokens seen | training s | tokens/s | "
             f"best val bpb | {split} bpb |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        tok_s = f"{r['tok_s']:,.0f}" if r["tok_s"] else "-"
        lines.append(f"| {r['run']} | {r['model']} | {r['non_embedding']:,} | {r['parameters']:,} | {r['tokens']:,} "
                     f"| {r['train_seconds']:.0f} | {tok_s} | {r['best_val_bpb']:.4f} | {r['test_bpb']:.4f} |")
    return "\n".join(lines)


def compare_figure(rows, dataset, png_path):
    """Val bpb against training seconds and against tokens, one curve per run labelled by its paper (and its folder
    where two runs share one), from each run's first evaluation after a step (the untrained model's would flatten
    the rest), drawn as prepare.plot_losses draws: matplotlib's Agg renderer, no pyplot. None without matplotlib."""
    try:
        from matplotlib import figure
    except ImportError:
        return None
    models = [r["model"] for r in rows]
    fig = figure.Figure(figsize=(10, 4))
    fig.subplots_adjust(left=0.07, right=0.99, bottom=0.13, top=0.9, wspace=0.05)
    axes = fig.subplots(1, 2, sharey=True)
    for r in rows:
        label = r["model"] if models.count(r["model"]) == 1 else f"{r['model']}: {os.path.basename(r['run'])}"
        seconds, tokens, bpb = zip(*[point for point in r["curve"] if point[1]])
        axes[0].plot(seconds, bpb, "o-", label=label, linewidth=1, markersize=3)
        axes[1].plot(tokens, bpb, "o-", label=label, linewidth=1, markersize=3)
    axes[0].set_xlabel("training seconds (evaluation excluded)")
    axes[1].set_xlabel("tokens seen")
    axes[0].set_ylabel("val bits per byte")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle(f"{dataset}: validation bits per byte")
    tmp = f"{png_path}.tmp{os.getpid()}"
    fig.savefig(tmp, format="png", dpi=80)  # 800 x 320 pixels: a few tens of KB
    os.replace(tmp, png_path)
    return png_path


def compare_main(names, split, stride, batch_size, device, dtype, out):
    """eval.py --compare=RUN,RUN,...: the table on stdout and in a .md file beside out, the figure in out."""
    png = out or "compare.png"
    if not png.endswith(".png"):
        raise SystemExit(f"compare: out={out!r} must name the figure, a .png file (the table goes beside it, .md)")
    if not os.access(os.path.dirname(os.path.abspath(png)), os.W_OK):  # known before the work
        raise SystemExit(f"compare: out={out!r} is in a folder that is missing or not writable: give another --out")
    dataset, rows = compare_runs(names, split, stride, batch_size, device, dtype)
    table = compare_table(rows, split)
    print(f"\n{dataset}, {split} split scored by eval.py's perplexity(); val bpb as each run logged it "
          "(a GPT's: estimate_loss batches; an LSTM's: exact passes)\n" + table)
    with open(png[:-len(".png")] + ".md", "w") as f:
        f.write(table + "\n")
    if compare_figure(rows, dataset, png):
        print(f"wrote {png} and {png[:-len('.png')]}.md")
    else:
        print(f"wrote {png[:-len('.png')]}.md; no figure: matplotlib is not installed (pip install matplotlib)")

# -----------------------------------------------------------------------------
# command line

if __name__ == "__main__":
    _before = set(globals())
    # the model
    init_from = "out-shakespeare-char"  # a train_gpt.py/train_lstm.py out_dir or .pt, or published weights (gpt2...)
    # what to evaluate: any of these four
    dataset = ""  # perplexity and bits per byte on this prepared dataset ("": skip)
    lambada = ""  # "download", or the path of a local lambada_test.jsonl ("": skip)
    choices = ""  # a JSONL file of {"context" (or "contexts", one per choice), "choices", "label"} ("": skip)
    task = ""  # a prepared classification or multiple_choice task, for zero- and few-shot prompts ("": skip)
    compare = ""  # RUN,RUN,...: training runs side by side instead: a table, and the figure in out (compare.png)
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
    out = ""  # the JSON file each run is appended to ("": eval.json beside the checkpoint, or in the current folder)
    device = default_device()  # 'cuda' if available, else 'mps' (Apple silicon), else 'cpu'
    dtype = "auto"  # bfloat16 on a GPU that has it, else float16 on GPU; float32 on CPU
    config = configure({k: v for k, v in globals().items() if k not in _before and not k.startswith("_")})
    globals().update(config)
    check_settings(config, {
        "block_size": "nonneg", "stride": "nonneg", "max_examples": "nonneg", "batch_size": "positive",
        "shots": (lambda v: len(v) > 0 and all(type(k) is int and k >= 0 for k in v),
                  "whole numbers >= 0, such as (0, 1, 4)"),
        "dtype": ("auto", "float32", "bfloat16", "float16")})
    if compare:  # the first LLMs side by side (compare_main, above) instead of scoring one model
        raise SystemExit(compare_main(compare.split(","), split, stride, batch_size, device, dtype, out))
    if not (dataset or lambada or choices or task):
        raise SystemExit("eval: nothing to evaluate: give --dataset, --lambada, --choices or --task")
    if task:
        template = template.replace("\\n", "\n")
        check_template(template)

    _, dtype, ctx = precision(device, dtype)

    model, model_type, meta, source, described = load_model(init_from)  # source: its file, or the weights' name
    if model.backwards and (lambada or choices or task):
        raise SystemExit(f"eval: {source} is a backward language model (it reads text right to left): LAMBADA, "
                         "multiple choice and few-shot prompts score what follows a context, so they need a forward "
                         "one; a backward model takes --dataset (perplexity and bits per byte) only")
    default_dir = os.path.dirname(source) if os.path.isfile(source) else "."  # published weights: here
    out = out or os.path.join(default_dir, "eval.json")
    if os.path.isdir(out) or not os.access(os.path.dirname(os.path.abspath(out)), os.W_OK):  # known before the work
        raise SystemExit(f"config: out={out!r} cannot be written (a folder, or in a folder that is missing or not "
                         "writable): give another --out")
    evaluations(out)  # a file this run cannot be added to: refused now, before the work
    model.to(device)
    encode, _ = get_tokenizer(meta)
    if model_type == "gpt":
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
    print(f"eval: {described} | {model_type}{' (backward)' if model.backwards else ''}, {params / 1e6:.2f}M "
          f"parameters | {meta['tokenizer']} tokenizer | {device} {dtype}"
          + (f" | block_size {block_size}, stride {stride}" if model_type == "gpt" else ""))
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
        nll, n = perplexity(model, model_type, tokens, block_size, stride, batch_size, device, ctx,
                            f"{dataset} {split}")
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
        texts = []
        with open(path, "rb") as f:
            for n, r in jsonl(path, utf8(f.read(), path)):
                if not isinstance(r.get("text"), str) or " " not in r["text"].strip():
                    raise SystemExit(f"eval: {path} line {n} needs {{\"text\": passage}}, a passage with a final "
                                     "word after a space: LAMBADA's format")
                texts.append(r["text"])
        if not texts:
            raise SystemExit(f"eval: {path} holds no passages: LAMBADA's format is one {{\"text\": passage}} a line")
        texts = subsample(texts)
        scores = score(model, model_type, lambada_pairs(texts, lambda t: encoded(t, path)), block_size, batch_size,
                       device, ctx, "lambada")
        nll = -sum(s.sum() for s, _ in scores)
        results.append({"eval": "lambada", "examples": len(texts), **accuracy("acc", [ok for _, ok in scores]),
                        "ppl": math.exp(nll / len(texts))})  # per word, as GPT-2 reports it

    # multiple choice (GPT-3 §2.4: HellaSwag, StoryCloze, COPA, PIQA are scored this way)
    if choices:
        records = subsample(read_records(choices, True, "multiple_choice"))
        if not records:
            raise SystemExit(f"eval: {choices} holds no examples: one {{\"context\", \"choices\", \"label\"}} a line")
        scores = score(model, model_type, choice_pairs(records, lambda t: encoded(t, choices)), block_size, batch_size,
                       device, ctx, os.path.basename(choices))
        results.append({"eval": os.path.basename(choices), "examples": len(records),
                        **choice_metrics(scores, records)})

    # few-shot prompts (GPT-3 §2): k solved train examples, then the example, whose label words (classification) or
    # choices (multiple choice) are scored after it
    if task:
        info, splits = load_task(task)
        if info["type"] not in ("classification", "multiple_choice"):
            raise SystemExit(f"eval: task '{task}' is a {info['type']} task; prompts here read one text and a label "
                             "word, or a context and its choices: use a classification or multiple_choice task")
        # multiple choice: the labelled test split where there is one (ARC, StoryCloze), else val, as lm-eval picks;
        # classification: val, else test
        order = ("test", "val") if info["type"] == "multiple_choice" else ("val", "test")
        eval_split = next((name for name in order if splits.get(name)), None)
        if eval_split is None:
            raise SystemExit(f"eval: task '{task}' has no {' or '.join(order)} examples to evaluate: prepare it with "
                             "one")
        records = subsample(splits[eval_split])
        note = "note: k={} does not fit in block_size={} for {} of {} prompts: they hold as many demonstrations as fit"

    if task and info["type"] == "multiple_choice":
        for k in shots:
            pairs, used, first = [], [], ""
            progress = Progress(len(records), f"{task} k={k}: prompts")
            for demos, r in choice_prompts(records, splits["train"], k, seed):
                continuations = [encoded(" " + c, f"{task} choice") for c in r["choices"]]
                ids, demos = fit(demos, choice_contexts(r), list(map(len, continuations)), block_size,
                                 lambda t: encoded(t, f"{task} prompt"))
                used.append(len(demos))
                first = first or "\n\n".join(demos + choice_contexts(r)[:1])  # kept in the JSON: what the model read
                pairs += list(zip(ids, continuations))
                progress.update()
            progress.done()
            if min(used) < k:
                print(note.format(k, block_size, sum(u < k for u in used), len(used)) + f" (mean {np.mean(used):.1f})")
            scores = score(model, model_type, pairs, block_size, batch_size, device, ctx, f"{task} k={k}: scoring")
            results.append({"eval": f"{task} {eval_split} k={k}", "examples": len(records),
                            **choice_metrics(scores, records), "shots_used": float(np.mean(used)),
                            "first_prompt": first})

    if task and info["type"] == "classification":
        labels = info["labels"]
        words = label_words or {label: label for label in labels}
        if set(words) != set(labels):
            raise SystemExit(f"eval: label_words must give a word for each label of {task}: {', '.join(labels)}")
        word_ids = {label: encoded(" " + str(words[label]).strip(), "label_words") for label in labels}
        if not all(str(w).strip() for w in words.values()) or not all(word_ids.values()):
            raise SystemExit(f"eval: a label word tokenizes to nothing ({words}): give each label a word")
        if len(set(map(tuple, word_ids.values()))) < len(labels):
            raise SystemExit(f"eval: two labels share a label word ({words}): give each label its own word")
        targets = np.array([labels.index(r["label"]) for r in records])
        for k in shots:
            prompts = fewshot_prompts(records, splits["train"], k, template, words, seed)
            pairs, used, first, longest = [], [], "", max(len(w) for w in word_ids.values())
            progress = Progress(len(prompts), f"{task} k={k}: prompts")
            for demos, query in prompts:
                (ids,), demos = fit(demos, [query], [longest], block_size, lambda t: encoded(t, f"{task} prompt"))
                used.append(len(demos))
                first = first or "\n\n".join(demos + [query])  # kept in the JSON: what the model read
                pairs += [(ids, word_ids[label]) for label in labels]
                progress.update()
            progress.done()
            if min(used) < k:
                print(note.format(k, block_size, sum(u < k for u in used), len(used)) + f" (mean {np.mean(used):.1f})")
            scores = score(model, model_type, pairs, block_size, batch_size, device, ctx, f"{task} k={k}: scoring")
            chosen = np.array([s.sum() for s, _ in scores]).reshape(-1, len(labels)).argmax(1)
            results.append({"eval": f"{task} {eval_split} k={k}", "examples": len(records),
                            **accuracy("acc", chosen == targets), "shots_used": float(np.mean(used)),
                            "chance": float(np.bincount(targets).max() / len(targets)),  # the majority label's share
                            "most_picked": float(np.bincount(chosen).max() / len(chosen)),  # 1: one label, always
                            "first_prompt": first})

    # the table (each accuracy ± its standard error), then the run appended to the JSON file
    print(f"\n{'eval':<28} {'examples/tokens':>15}  metrics")
    for r in results:
        size = r.get("examples", r.get("tokens"))
        shown = [k for k, v in r.items() if isinstance(v, float) and not k.endswith("_stderr")]
        errors = {k: f" ± {r[k + '_stderr']:.4f}" if r.get(k + "_stderr") is not None else "" for k in shown}
        metrics = "  ".join(f"{k} {r[k]:.4f}{errors[k]}" for k in shown)
        print(f"{r['eval']:<28} {size:>15,}  {metrics}")
    n = append_evaluation(out, {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "model": described, "model_type": model_type,
        "backwards": model.backwards, "parameters": params, "meta": {k: v for k, v in meta.items() if k != "vocab"},
        "config": config, "seconds": time.time() - t0, "results": results})
    print(f"wrote {out}: this run is evaluation {n} of the file ({time.time() - t0:.0f} s)")
