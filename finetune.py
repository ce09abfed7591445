"""
Transfer learning: fine-tune a pretrained language model on a labelled task. The checkpoint says which recipe:

ULMFiT (Howard & Ruder 2018) on train_lstm.py's AWD-LSTM: target-task LM fine-tuning (§3.2), then a classifier
with concat pooling, gradual unfreezing, discriminative learning rates and slanted triangular schedules (§3.3).
$ python prepare.py wikitext103 --max_vocab 60000 && python train_lstm.py config/ulmfit_wt103.py  # pretrain
$ python prepare.py trec --from ../shared/data/trec                                                 # the task
$ python finetune.py config/ulmfit_trec.py                                    # LM fine-tuning, then classifier
$ python finetune.py config/ulmfit_trec.py --gradual_unfreezing=False         # one of the paper's ablations
$ python finetune.py config/ulmfit_trec.py --init_from=resume  # after Ctrl-C, SIGTERM or a kill: from latest.pt
$ echo "Who wrote Hamlet ?" | python finetune.py --mode=predict --out_dir=out-ulmfit-trec
Switches for its ablations (§5): pretrained=False, lm_epochs=0, discriminative=False, schedule='constant' or
'cosine', gradual_unfreezing=False, n_train=100 (low-shot), clf_ar_tar=False (no AR/TAR in the classifier).

Bidirectional ULMFiT (§3.4: a forward and a backward LM, a classifier fine-tuned from each independently, their
predictions averaged). A backward LM (train_lstm.py --backwards=True) as init_from makes a backward run: every
document is read right to left, in LM fine-tuning and in the classifier, and lm.pt and classifier.pt say so.
`ensemble` names another run's out_dir: its classifier's class probabilities are averaged with this one's, in
the final evaluation (which reports this model, the other and the two averaged) and in predict mode.
config/ulmfit_backward.py, after a task's config, sets init_from, out_dir and ensemble for the backward run:
$ python train_lstm.py config/ulmfit_wt103.py --backwards=True --out_dir=out-ulmfit-wt103-bwd     # backward LM
$ python finetune.py config/ulmfit_trec.py                                            # the forward classifier
$ python finetune.py config/ulmfit_trec.py config/ulmfit_backward.py        # the backward one, then the average
$ echo "Who wrote Hamlet ?" | python finetune.py --mode=predict --out_dir=out-ulmfit-trec-bwd --ensemble=out-ulmfit-trec

GPT-1 (Radford et al. 2018) on train_gpt.py's GPT: each task type's input transformation (§3.3) into one model
with a linear head, trained on the task loss plus 0.5 x the LM loss (eq. 5; lm_coef=0 is §5's ablation).
$ python prepare.py rte --from ../shared/data/rte && python finetune.py config/gpt1_rte.py

A run in progress keeps out_dir/latest.pt: the stage's model (the LM in LM fine-tuning, then the classifier), its
optimizer, both generators and the position in the stage, saved every save_interval minutes, at the end of LM
fine-tuning and of the last epoch, and at Ctrl-C or SIGTERM, after which --init_from=resume with the same settings
continues the run bit-exactly. A finished run holds lm.pt (ULMFiT), classifier.pt and log.jsonl.

Each script says the same thing the same way: --init_from=MODEL (a run folder, a .pt file or published weights)
starts from that model, in sample.py, eval.py and here; --init_from=resume continues the run in out_dir, here as in
train_gpt.py and train_lstm.py (the model it started from is in its latest.pt's settings). --resume=True, the old
spelling, still works for one release, with a note.
"""

import dataclasses
import json
import math
import os
import re
import sys
import time
from collections import Counter
from functools import partial

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from prepare import (EOS, FIELDS, UNK, Interrupt, Progress, get_tokenizer, load_checkpoint, load_task,
                     lock_out_dir, log_json, nan_message, read_csv_records, read_records, save_checkpoint,
                     start_banner, timing, to_cpu, utf8)
from train_gpt import GPT, GPTConfig, checkpoint_path, is_published, model_from_checkpoint
from train_lstm import (AWDLSTM, LSTMConfig, activation_regularization, bptt_length, locked_dropout, perplexity,
                        stlr, temporal_activation_regularization)

# -----------------------------------------------------------------------------
# text to token ids with a word vocabulary


def words(line, known):
    """The words of one line. A whitespace-separated token the vocabulary knows is kept whole, so pre-tokenised
    text (WikiText's "@-@", SST's "n't") keeps its tokens; any other is split into word characters, apostrophe
    suffixes and single punctuation marks ("movie." -> "movie", "."; "it's" -> "it", "'s"), as WikiText is."""
    out = []
    for token in line.split():
        out.extend([token] if token in known else re.findall(r"'?\w+|[^\w\s]", token))
    return out


def numericalize(text, stoi):
    """A document as token ids: <eos> first (pretraining put one before every line), lines joined by <eos>."""
    unk = stoi[UNK]
    ids = [stoi[EOS]]
    for i, line in enumerate(text.split("\n")):
        if i:
            ids.append(stoi[EOS])
        ids.extend(stoi.get(w, unk) for w in words(line, stoi))
    return ids


def document_ids(text, stoi, backwards=False):
    """A document as the LM reads it: numericalized, and for a backward LM (ULMFiT §3.4) in reverse token order, so
    that it ends with the <eos> that opens it, as fastai's backward models read a document."""
    ids = numericalize(text, stoi)
    return ids[::-1] if backwards else ids


def numericalize_all(texts, stoi, backwards, what):
    """document_ids of each text, showing progress under the name `what` (IMDb's 100k reviews take a while)."""
    progress, ids = Progress(len(texts), what), []
    for text in texts:
        ids.append(document_ids(text, stoi, backwards))
        progress.update()
    progress.done()
    return ids


def lm_corpus(splits, which):
    """The texts of target LM fine-tuning (§3.2), never their labels: 'train', the training split's and the
    unlabelled ones; 'all', every split's, held-out ones included, as fastai fine-tunes its IMDb LM on all 100k
    reviews (the LM sees the test texts, never a label)."""
    names = ["train", "unsup"] + ([s for s in splits if s not in ("train", "unsup")] if which == "all" else [])
    return [r["text"] for name in names for r in splits.get(name, [])]


def build_vocab(texts, known, max_vocab, min_freq):
    """A task's own vocabulary: <eos>, <unk>, then its words seen at least min_freq times, most frequent first."""
    counts = Counter(w for text in texts for line in text.split("\n") for w in words(line, known))
    ranked = [w for w, n in counts.most_common() if n >= min_freq and w not in (EOS, UNK)]
    return [EOS, UNK] + ranked[:max_vocab - 2]


def transfer_embedding(weight, bias, old_vocab, new_vocab):
    """Rows of the (tied) embedding and decoder bias for a new vocabulary: a word the pretrained model knows keeps
    its row, a new word starts at the mean of all rows (ULMFiT's released code; fastai does the same)."""
    old = {w: i for i, w in enumerate(old_vocab)}
    rows = torch.tensor([old.get(w, -1) for w in new_vocab])
    known = rows >= 0
    new_weight = weight.mean(0, keepdim=True).repeat(len(new_vocab), 1)
    new_bias = bias.mean().repeat(len(new_vocab))
    new_weight[known], new_bias[known] = weight[rows[known]], bias[rows[known]]
    return new_weight, new_bias


@dataclasses.dataclass
class TaskLM:
    """ULMFiT's LM for one task (task_lm): the AWD-LSTM, its model_args, its vocabulary and whether it reads right to
    left (§3.4). Target LM fine-tuning trains it, lm.pt holds it, the classifier is built on its encoder."""
    model: AWDLSTM
    model_args: dict
    vocab: list
    backwards: bool


def task_lm(base_ckpt, texts, which, pretrained, max_vocab, min_freq, dropouts, backwards):
    """The AWD-LSTM to fine-tune, as a TaskLM: base_ckpt's with the fine-tuning dropouts and the vocabulary `which`
    names: 'pretrained', the LM's, or 'task', the words of texts (build_vocab; each known word keeps its row,
    transfer_embedding); or with pretrained=False the same architecture freshly initialised, the task's words then
    split as if no LM existed."""
    old_vocab = base_ckpt["meta"]["vocab"]
    vocab = old_vocab if which == "pretrained" else build_vocab(texts, set(old_vocab) if pretrained else set(),
                                                                max_vocab, min_freq)
    model_args = {**base_ckpt["model_args"], "vocab_size": len(vocab), **dropouts}
    model = AWDLSTM(LSTMConfig(**model_args))
    if pretrained:
        state = base_ckpt["model"]
        if vocab != old_vocab:
            state["encoder.weight"], state["decoder.bias"] = transfer_embedding(
                state["encoder.weight"], state["decoder.bias"], old_vocab, vocab)
            state["decoder.weight"] = state["encoder.weight"]
        model.load_state_dict(state)
    return TaskLM(model, model_args, vocab, backwards)


def ulmfit_examples(labelled, lm, task):
    """Each labelled split's documents as the classifier reads them ([ids] each, reversed for a backward LM), after a
    line saying how much of the train split the LM's vocabulary covers."""
    stoi = {w: i for i, w in enumerate(lm.vocab)}
    examples = {split: [[ids] for ids in numericalize_all([r["text"] for r in records], stoi, lm.backwards,
                                                          f"numericalising {task} {split}")]
                for split, records in labelled.items()}
    unk = sum(ex[0].count(stoi[UNK]) for ex in examples["train"]) / sum(len(ex[0]) for ex in examples["train"])
    print(f"vocabulary: {len(lm.vocab):,} words; {unk:.1%} of the labelled train tokens are {UNK}")
    return examples

# -----------------------------------------------------------------------------
# ULMFiT's classifier (§3.3)


class PoolingClassifier(nn.Module):
    """The LM's encoder, concat pooling of its last layer's states, then two blocks of BatchNorm, dropout and
    linear (50 hidden units, ReLU between) whose output the softmax turns into class probabilities."""

    def __init__(self, encoder, n_classes, hidden=50, dropout=(0.4, 0.1), bptt=70, max_len=1400):
        super().__init__()
        self.encoder = encoder  # an AWDLSTM; its decoder goes unused
        self.bptt, self.max_len = bptt, max_len
        e = 3 * encoder.config.emb_size
        self.head = nn.Sequential(nn.BatchNorm1d(e), nn.Dropout(dropout[0]), nn.Linear(e, hidden), nn.ReLU(),
                                  nn.BatchNorm1d(hidden), nn.Dropout(dropout[1]), nn.Linear(hidden, n_classes))

    def chunks(self, sizes, L):
        """BPT3C's plan for a batch of documents sizes tokens long (a list), padded to L: (start, end, cut, kept) per
        chunk. Chunks are bptt long, and split where a document's kept part (its last max_len tokens) begins, cut
        then saying that row's state is detached there; kept: whether any document keeps gradients in the chunk
        (if none does, it runs without them). Without gradients, as in evaluation, there is nothing to cut."""
        cuts = {n - self.max_len for n in sizes if n > self.max_len} if torch.is_grad_enabled() else set()
        bounds = sorted(set(range(0, L, self.bptt)) | cuts | {L})
        return [(start, end, start in cuts, any(n - self.max_len < end and start < n for n in sizes))
                for start, end in zip(bounds, bounds[1:])]

    def features(self, idx, lengths):
        """Concat pooling [h_T, maxpool(H), meanpool(H)] (B, 3E) of right-padded documents idx (B, L), whose real
        lengths are `lengths` (B,), and the means AR and TAR scale (the LM's regularisers, kept for the classifier
        as in fastai's RNNRegularizer and ULMFiT's train_clas.py): of the squared dropped output at the positions
        that keep gradients, and of the squared change of the raw output between such neighbours.
        BPT3C (§3.3): the batch is read in chunks (see chunks) with the hidden state carried, and only each
        document's last max_len tokens keep gradients, counted from its own end (fastai pads at the front for
        this), so memory stays bounded (by max_len plus the spread of lengths in a batch, which length_batches
        keeps small) however long a document is, while pooling still sees all of it. Padding comes after each
        document, so the (causal) LSTM's states at real tokens never see it, and pooling masks it."""
        B, L = idx.shape
        E = self.encoder.config.emb_size
        pos = torch.arange(L, device=idx.device)[None, :]
        mask = pos < lengths[:, None]  # (B, L): real tokens
        keep = mask & (pos >= lengths[:, None] - self.max_len)  # (B, L): real tokens that keep gradients
        hidden = self.encoder.init_hidden(B)
        last = idx.new_zeros(B, E, dtype=torch.float)
        maxes = torch.full((B, E), float("-inf"), device=idx.device)
        sums = idx.new_zeros(B, E, dtype=torch.float)
        ar_sum, tar_sum, previous = 0.0, 0.0, None  # previous: the last chunk's final states, TAR's neighbours
        for start, end, cut, kept in self.chunks(lengths.tolist(), L):  # the plan is made on the CPU
            if cut:  # the rows whose kept part begins here: no gradient flows back past it
                rows = (lengths - self.max_len == start)[None, :, None]
                hidden = [(torch.where(rows, h.detach(), h), torch.where(rows, c.detach(), c)) for h, c in hidden]
            with torch.set_grad_enabled(torch.is_grad_enabled() and kept):  # the sums below keep their graphs
                hidden, raw_output, output = self.encoder.encode(idx[:, start:end], hidden)
            k = keep[:, start:end, None]  # (B, T, 1)
            raw = torch.where(k, raw_output.float(), raw_output.float().detach())  # (B, T, E), pooled before
            # output dropout, which the head applies; before a row's kept part it passes no gradient
            m = mask[:, start:end, None]
            sums = sums + (raw * m).sum(1)
            maxes = torch.maximum(maxes, raw.masked_fill(~m, float("-inf")).amax(1))
            at = (lengths - 1 - start).clamp(0, end - start - 1)  # each row's last real token, if in here
            here = ((lengths - 1 >= start) & (lengths - 1 < end))[:, None]
            last = torch.where(here, raw[torch.arange(B), at], last)
            if kept:  # AR over kept positions; TAR over kept neighbours, the previous chunk's last one included
                ar_sum = ar_sum + (output.float().pow(2) * k).sum()
                seq, lo = (raw, 0) if start == 0 else (torch.cat([previous, raw], 1), start - 1)
                pairs = keep[:, lo + 1:end] & keep[:, lo:end - 1]  # (B, T or T-1): both neighbours kept
                tar_sum = tar_sum + ((seq[:, 1:] - seq[:, :-1]).pow(2) * pairs[..., None]).sum()
            previous = raw[:, -1:]
        n_pairs = (keep[:, 1:] & keep[:, :-1]).sum()
        ar = ar_sum / (keep.sum() * E)
        tar = tar_sum / (n_pairs * E).clamp(min=1)  # no pair when every document is one token long
        return torch.cat([last, maxes, sums / lengths[:, None]], dim=1), ar, tar

    def forward(self, idx, lengths, with_reg=False):
        """Logits (B, n_classes); with_reg, also the means AR and TAR scale (see features)."""
        features, ar, tar = self.features(idx, lengths)
        logits = self.head(features)
        return (logits, ar, tar) if with_reg else logits


def lm_groups(model):
    """The LM's layer groups, lowest first: each LSTM layer, then the tied embedding/decoder, which is the input
    and the output layer at once; as fastai's split, it is fine-tuned at the highest rate."""
    return [list(rnn.parameters()) for rnn in model.rnns] + [[model.encoder.weight, model.decoder.bias]]


def classifier_groups(clf):
    """The classifier's layer groups, lowest first: embedding, each LSTM layer, the head (the unused decoder bias
    is in none, so it is never trained)."""
    enc = clf.encoder
    return [[enc.encoder.weight]] + [list(rnn.parameters()) for rnn in enc.rnns] + [list(clf.head.parameters())]

# -----------------------------------------------------------------------------
# optimisation, for both recipes: discriminative lrs, schedules, gradual unfreezing (ULMFiT §3.2-3.3; GPT-1 §4.1)


def discriminative_lrs(lr, n_groups, factor):
    """Discriminative fine-tuning (§3.2, eq. 2 and the 2.6 of "Discriminative fine-tuning"): the top group gets lr,
    each group below it the rate of the group above divided by factor. factor=1 switches it off."""
    return [lr / factor ** (n_groups - 1 - k) for k in range(n_groups)]


def unfreezing_stages(epochs, n_groups, gradual):
    """Gradual unfreezing (§3.3): [(trainable top groups, epochs)]: the top group alone for the first epoch, one
    more group each epoch after, every group once all are unfrozen. Without it: all groups for all epochs."""
    if not gradual:
        return [(n_groups, epochs)]
    stages = [(k, 1) for k in range(1, min(n_groups, epochs + 1))]
    return stages + [(n_groups, epochs - len(stages))] if epochs > len(stages) else stages


def schedule_lr(name, it, total, lr_max, cut_frac, ratio):
    """The top group's lr at step it of total: STLR (ULMFiT §3.2, eq. 3); linear warmup over cut_frac of the steps
    then linear decay to zero (GPT-1 §4.1, warmup 0.2%); constant; or a cosine decay to zero."""
    if name == "stlr":
        return stlr(it, total, lr_max, cut_frac, ratio)
    if name == "linear":  # OpenAI's warmup_linear (finetune-transformer-lm, opt.py), x = t/T:
        x = it / total  # (s * x/warmup + (1 - s)) * (1 - x), s = x <= warmup: the decay is 1 - x from the start
        return lr_max * (x / cut_frac if x <= cut_frac and cut_frac else 1.0) * max(0.0, 1 - x)
    if name == "cosine":
        return lr_max * 0.5 * (1 + math.cos(math.pi * it / total))
    return lr_max


def make_optimizer(groups, lr_factor, betas, weight_decay):
    """AdamW with one param group per layer group, each remembering its discriminative factor (see set_lr)."""
    factors = discriminative_lrs(1.0, len(groups), lr_factor)
    return torch.optim.AdamW([{"params": g, "factor": f} for g, f in zip(groups, factors)], betas=betas,
                             weight_decay=weight_decay)


def set_lr(optimizer, lr):
    """lr for the top group; each group below gets its share (§3.2)."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group["factor"]


def optimizer_step(optimizer, loss, params, lr, clip, scaler):
    """One step at lr for the top group (set_lr): loss's gradients (scaled, for float16), clipped to a total norm of
    clip (0: none)."""
    set_lr(optimizer, lr)
    scaler.scale(loss).backward()
    if clip:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(params, clip)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)


def freeze(groups, n_trainable):
    """Train only the top n_trainable groups. Frozen parameters get no gradient, so AdamW skips them entirely:
    no update and no weight decay."""
    for k, group in enumerate(groups):
        for p in group:
            p.requires_grad_(k >= len(groups) - n_trainable)


SORTISH_BATCHES = 50  # batches per length-sorted chunk (fastai's SortishSampler): little padding, order still random


def length_batches(lengths, batch_size, rng=None):
    """Batches of indices of similar lengths, so little is padding. With rng (training), a shuffled order is cut
    into chunks of SORTISH_BATCHES batches, each sorted by length, and the batches shuffled (fastai's
    SortishSampler); without (evaluation), all sorted, longest first."""
    lengths = np.asarray(lengths)
    if rng is None:
        order = np.argsort(-lengths, kind="stable")
    else:
        order = rng.permutation(len(lengths))
        chunk = SORTISH_BATCHES * batch_size
        order = np.concatenate([sorted(order[i:i + chunk], key=lambda j: -lengths[j])
                                for i in range(0, len(order), chunk)])
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches

# -----------------------------------------------------------------------------
# ULMFiT's target LM fine-tuning (§3.2)


@torch.no_grad()
def lm_eval_loss(model, data, bptt, ctx):
    """The LM's mean next-token loss on data (B, N), read left to right in bptt windows with the state carried."""
    model.eval()
    hidden, loss_sum = model.init_hidden(data.size(0)), 0.0
    for i in range(0, data.size(1) - 1, bptt):
        with ctx:
            logits, hidden, _, _ = model(data[:, i:i + bptt], hidden)
            y = data[:, i + 1:i + 1 + bptt]
            loss_sum += F.cross_entropy(logits[:, :y.size(1)].float().flatten(0, 1), y.flatten(),
                                        reduction="sum").item()
    model.train()
    return loss_sum / (data.numel() - data.size(0))


def lm_rows(lm, texts, batch_size, device):
    """The texts as lm reads them (document_ids), one stream cut into batch_size contiguous rows, (B, N): row b is the
    b-th slice of the text, as pretraining batchifies it; and the stream's length in tokens."""
    docs = numericalize_all(texts, {w: i for i, w in enumerate(lm.vocab)}, lm.backwards, "numericalising the LM's text")
    stream = torch.tensor([i for ids in docs for i in ids], device=device)
    n_cols = len(stream) // batch_size
    if n_cols < 3:  # each row needs two inputs, as TAR does, and a target after them
        raise SystemExit(f"data: the task's training text ({len(stream)} tokens) is too short for "
                         f"lm_batch_size={batch_size}")
    return stream[:n_cols * batch_size].view(batch_size, n_cols), len(stream)


def lm_loss(model, window, hidden, alpha, beta, ctx):
    """One BPTT window's loss, window (B, T + 1) holding the inputs and, shifted by one, the targets: cross-entropy
    plus AR (alpha) on the dropped output and TAR (beta) on the raw one; and the state it leaves. The state comes in
    detached: truncated BPTT keeps it, not its graph."""
    hidden = [(h.detach(), c.detach()) for h, c in hidden]
    with ctx:
        logits, hidden, raw_output, output = model(window[:, :-1], hidden)
        loss = (F.cross_entropy(logits.float().flatten(0, 1), window[:, 1:].flatten())
                + activation_regularization(output.float(), alpha)
                + temporal_activation_regularization(raw_output.float(), beta))
    return loss, hidden


def lm_checkpoint(lm, config, iter_num, eval_loss):
    """lm.pt: the fine-tuned LM as an ordinary train_lstm.py checkpoint, so sample.py and eval.py read it (a backward
    one as they read a backward LM); best_val_loss is the latest, as LM fine-tuning selects none."""
    return dict(model=lm.model.state_dict(), model_args=lm.model_args, model_type="awd_lstm", config=config,
                meta={"dataset": config["task"], "tokenizer": "word", "vocab_size": len(lm.vocab), "vocab": lm.vocab,
                      "splits": {}},
                iter_num=iter_num, best_val_loss=eval_loss, backwards=lm.backwards)


def fine_tune_lm(lm, texts, eval_split, eval_docs, optimizer, run, start=None):
    """Target task LM fine-tuning (ULMFiT §3.2) with the run's settings, as pretraining: texts, the task's documents,
    in lm_batch_size rows (lm_rows) read in variable-length BPTT windows, the state carried; the loss plus AR and TAR;
    the schedule's lr (peak lm_lr) scaled by each window's length. The loss on eval_docs (ids), the eval_split's, is
    printed and logged before training and after each epoch. start: latest.pt's position (a resumed run) or None. The
    loop's state, plain variables, is packed into latest.pt at each safe point; at the end lm.pt, then latest.pt."""
    s, model = run.config, lm.model
    epochs, bptt = s["lm_epochs"], s["bptt"]
    data, n_tokens = lm_rows(lm, texts, s["lm_batch_size"], run.device)  # (B, N)
    eval_data = torch.tensor([i for ids in eval_docs for i in ids], device=run.device)[None]  # (1, M): one stream
    total_steps = epochs * math.ceil((data.size(1) - 1) / bptt)  # windows vary in length: the schedule ends about there
    end = data.size(1) - 2  # windows start before this, so each has 2 inputs at least, as TAR needs
    print(f"LM fine-tuning: {n_tokens:,} tokens, {epochs} epochs", end="")
    if start is None:
        eval_loss = lm_eval_loss(model, eval_data, bptt, run.ctx)
        print(f"; {eval_split} loss before {eval_loss:.4f}", end="")
        run.log({"stage": "lm", "epoch": 0, f"{eval_split}_loss": eval_loss})
        start = dict(epoch=1, pos=0, iter_num=0, hidden=None, eval_loss=eval_loss)
    print(flush=True)
    epoch, pos, iter_num, hidden, eval_loss = (start[k] for k in ("epoch", "pos", "iter_num", "hidden", "eval_loss"))

    def checkpoint():  # latest.pt at a safe point: lm.pt's content, and the loop's state packed now
        position = dict(epoch=epoch, pos=pos, iter_num=iter_num, hidden=hidden, eval_loss=eval_loss)
        return {**lm_checkpoint(lm, s, iter_num, eval_loss), **run.state("lm", position, optimizer)}

    t_start, first = time.time(), (epoch - 1) * end + pos  # for the ETA: where this run began, in tokens per row
    while epoch <= epochs:
        hidden = model.init_hidden(data.size(0)) if hidden is None else hidden
        progress = Progress(end - pos, f"LM epoch {epoch}")  # in tokens per row
        while pos < end:
            seq_len = min(bptt_length(bptt, run.rng), data.size(1) - 1 - pos)
            lr = schedule_lr(s["schedule"], min(iter_num, total_steps), total_steps, s["lm_lr"], s["cut_frac"],
                             s["stlr_ratio"]) * seq_len / bptt  # AWD-LSTM's per-window scaling
            loss, hidden = lm_loss(model, data[:, pos:pos + seq_len + 1], hidden, s["alpha"], s["beta"], run.ctx)
            run.step(optimizer, loss, model.parameters(), lr, f"in LM fine-tuning epoch {epoch}, step {iter_num + 1}",
                     lm=True)
            pos, iter_num = pos + seq_len, iter_num + 1
            progress.update(seq_len)
            if pos < end:
                run.safe_point(checkpoint, f"in LM fine-tuning epoch {epoch}, step {iter_num}")
        progress.done()
        eval_loss = lm_eval_loss(model, eval_data, bptt, run.ctx)
        ppl = perplexity(eval_loss)
        print(f"LM epoch {epoch} | train loss {loss.item():.4f} | {eval_split} loss {eval_loss:.4f} | ppl "
              f"{ppl:.1f} | " + timing(time.time() - t_start, epoch * end - first,
                                                       epochs * end - first), flush=True)
        run.log({"stage": "lm", "epoch": epoch, "loss": loss.item(), f"{eval_split}_loss": eval_loss})
        epoch, pos, hidden = epoch + 1, 0, None
        if epoch <= epochs:
            run.safe_point(checkpoint, f"in LM fine-tuning epoch {epoch}, step {iter_num}")
    run.save(os.path.join(run.out_dir, "lm.pt"), lm_checkpoint(lm, s, iter_num, eval_loss))
    run.safe_point(checkpoint, "after LM fine-tuning", force=True)

# -----------------------------------------------------------------------------
# GPT-1's task fine-tuning (Radford et al. 2018, §3.3): one pretrained model, inputs rewritten per task type


def fit_pair(a, b, budget):
    """Truncate two token lists to budget tokens in all, one token at a time from the end of the longer (as BERT's
    pair truncation): both keep their beginnings, and neither is cut while the other is longer."""
    a, b = list(a), list(b)
    while len(a) + len(b) > budget:
        (a if len(a) >= len(b) else b).pop()
    return a, b


def transform(record, task_type, encode, special, block_size):
    """GPT-1's input transformations (§3.3, Figure 1): the token sequences of one example, each
    [start] ... [extract] and at most block_size long. special = (start, delim, extract) ids.
    classification: [start] text [extract]; entailment: [start] premise [delim] hypothesis [extract];
    similarity/regression: both orders of the pair; multiple choice: [start] context [delim] choice_k [extract] for
    each k. Too long: a text loses its end; a pair loses tokens from the end of its longer part; a multiple-choice
    context loses its beginning (the end leads into the answers), the same amount for every choice."""
    s, d, e = special
    if task_type == "classification":
        return [[s] + encode(record["text"])[:block_size - 2] + [e]]  # 2: start and extract
    if task_type == "multiple_choice":
        context, choices = encode(record["context"]), [encode(c) for c in record["choices"]]
        room = block_size - 3 - max(map(len, choices))  # 3: start, delimiter and extract
        if room < 1:
            raise ValueError(f"a choice of {max(map(len, choices))} tokens leaves no room for the context in "
                             f"block_size={block_size}")
        context = context[-room:] if len(context) > room else context
        return [[s] + context + [d] + c + [e] for c in choices]
    first, second = FIELDS[task_type]
    a, b = fit_pair(encode(record[first]), encode(record[second]), block_size - 3)
    if task_type == "entailment":
        return [[s] + a + [d] + b + [e]]
    return [[s] + a + [d] + b + [e], [s] + b + [d] + a + [e]]  # similarity has no natural order (§3.3)


def add_tokens(gpt, n, dropout):
    """The GPT with n new token embeddings (N(0, 0.02), §4.1's init) after its vocabulary: start, delimiter, extract
    (the output layer is tied, so the LM predicts them too), and the fine-tuning dropout."""
    config = dataclasses.replace(gpt.config, vocab_size=gpt.config.vocab_size + n, dropout=dropout)
    bigger = GPT(config)
    state = gpt.state_dict()
    wte = state["transformer.wte.weight"]
    state["transformer.wte.weight"] = state["lm_head.weight"] = torch.cat([wte, torch.randn(n, wte.size(1)) * 0.02])
    bigger.load_state_dict(state)
    return bigger


class GPTTaskModel(nn.Module):
    """The pretrained GPT and a linear head on the final state at each sequence's extract token, after dropout
    (§3.3, §4.1); similarity adds the two orders' states, multiple choice scores each choice with the same head."""

    def __init__(self, gpt, task_type, n_out, dropout=0.1):
        super().__init__()
        self.gpt, self.task_type, self.dropout = gpt, task_type, dropout
        self.head = nn.Linear(gpt.config.n_embd, n_out)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def forward(self, idx, lengths, with_lm=False):
        """idx (B, n, L): n right-padded sequences per example, lengths (B, n). Returns the task output, (B, n_out),
        or (B, n) choice scores for multiple choice; with_lm, also the auxiliary LM loss (§3.3, L1 in eq. 5):
        next-token cross-entropy over every real token after [start], averaged over each sequence, then over the
        batch's sequences, as OpenAI's train.py does (so a short sequence weighs as much as a long one)."""
        B, n, L = idx.shape
        idx, lengths = idx.view(B * n, L), lengths.view(-1)
        h = self.gpt.encode(idx)  # (B*n, L, C); causal, so no state at a real token has seen the padding
        last = h[torch.arange(B * n, device=idx.device), lengths - 1].view(B, n, -1)
        if self.task_type in ("similarity", "regression"):
            last = last.sum(1, keepdim=True)  # the two orders' final states, added (§3.3)
        # one dropout mask per example, shared by its choices (OpenAI's train.py: noise shape [B, 1, C])
        out = self.head(locked_dropout(last, self.dropout, self.training))  # (B, n or 1, n_out)
        out = out.squeeze(-1) if self.task_type == "multiple_choice" else out[:, 0]
        if not with_lm:
            return out
        logits = self.gpt.logits(h[:, :-1]).float()  # (B*n, L-1, V)
        real = torch.arange(1, L, device=idx.device) < lengths[:, None]  # (B*n, L-1): targets that are real tokens
        losses = F.cross_entropy(logits.flatten(0, 1), idx[:, 1:].flatten(), reduction="none").view(B * n, L - 1)
        return out, ((losses * real).sum(1) / real.sum(1)).mean()


def gpt_groups(model):
    """Layer groups, lowest first, for discriminative lrs or gradual unfreezing on a GPT (off in GPT-1's recipe):
    the embeddings, each block, then the final LayerNorm with the task head."""
    t = model.gpt.transformer
    return ([[t.wte.weight, t.wpe.weight]] + [list(block.parameters()) for block in t.h]
            + [list(t.ln_f.parameters()) + list(model.head.parameters())])


def gpt1_classifier(init_from, base_ckpt, block_size, pretrained, gpt_dropout, clf_dropout, task_type, labels):
    """GPT-1's model for a task (§3.3, §4.1): the pretrained GPT (base_ckpt's, or init_from's published weights when
    it is None) with three new tokens after its vocabulary (start, delimiter, extract) and the fine-tuning dropout,
    or with pretrained=False the same architecture freshly initialised, and a linear head. Returns (the model,
    encode_example: a record's token sequences, extra: what its checkpoint holds besides the weights)."""
    gpt = GPT.from_pretrained(init_from) if base_ckpt is None else model_from_checkpoint(base_ckpt)
    meta = gpt.meta if base_ckpt is None else base_ckpt["meta"]
    block_size = block_size or gpt.config.block_size
    if block_size > gpt.config.block_size:
        raise SystemExit(f"config: block_size={block_size} is longer than the model's context "
                         f"({gpt.config.block_size})")
    encode, _ = get_tokenizer(meta)
    V = gpt.config.vocab_size
    special = (V, V + 1, V + 2)  # start, delimiter, extract: the ids after the pretrained vocabulary
    gpt = add_tokens(gpt, len(special), gpt_dropout)
    if not pretrained:
        gpt = GPT(gpt.config)
    n_out = 1 if task_type in ("regression", "multiple_choice") else len(labels)
    extra = dict(model_type="gpt_classifier", model_args=dataclasses.asdict(gpt.config), n_out=n_out, special=special,
                 meta=meta, block_size=block_size)
    encode_example = partial(transform, task_type=task_type, encode=encode, special=special, block_size=block_size)
    return GPTTaskModel(gpt, task_type, n_out, clf_dropout), encode_example, extra


def gpt1_examples(labelled, encode_example, task, block_size):
    """Each labelled split's examples as GPT-1's token sequences, after a line on their number and lengths."""
    examples = {split: encode_records(records, encode_example, f"data: {task} {split}", f"tokenising {task} {split}")
                for split, records in labelled.items()}
    lengths = [len(s) for ex in examples["train"] for s in ex]
    print(f"inputs: {len(examples['train'][0])} sequence(s) per example, {np.mean(lengths):.0f} tokens on average, "
          f"longest {max(lengths)} (block_size {block_size})")
    return examples


def collate_sequences(examples, device):
    """Examples of n sequences each as right-padded (B, n, L) ids and their lengths (B, n)."""
    L = max(len(s) for ex in examples for s in ex)
    idx = torch.zeros(len(examples), len(examples[0]), L, dtype=torch.long)
    lengths = torch.zeros(len(examples), len(examples[0]), dtype=torch.long)
    for i, ex in enumerate(examples):
        for j, s in enumerate(ex):
            idx[i, j, :len(s)], lengths[i, j] = torch.tensor(s), len(s)
    return idx.to(device), lengths.to(device)

# -----------------------------------------------------------------------------
# classifiers of both recipes: checkpoints, inputs, decisions, metrics

CLASSIFIERS = {"ulmfit_classifier": "awd_lstm", "gpt_classifier": "gpt"}  # a checkpoint's model_type: its base's


@dataclasses.dataclass
class Recipe:
    """What each recipe's setup hands the shared task loop: the classifier, its layer groups (lowest first, for
    discriminative lrs and gradual unfreezing), each labelled split's examples as it reads them (lists of token
    sequences), and extra: what classifier.pt holds for the recipe besides the weights (classifier_checkpoint)."""
    clf: nn.Module
    groups: list
    examples: dict
    extra: dict


def classifier_from_checkpoint(ckpt):
    """A finetune.py classifier from its checkpoint: (classifier, model_type of its base model, task type,
    encode_example), where encode_example(record) gives the token sequences the classifier reads, made with the
    vocabulary and direction (ULMFiT) or tokenizer, special tokens and block_size (GPT-1) its training saved."""
    model_type = CLASSIFIERS[ckpt["model_type"]]
    task_type = ckpt.get("task_type", "classification")  # classifiers from before GPT-1's recipe name none
    if model_type == "awd_lstm":
        clf = PoolingClassifier(AWDLSTM(LSTMConfig(**ckpt["model_args"])), len(ckpt["labels"]), **ckpt["head_args"])
        stoi = {w: i for i, w in enumerate(ckpt["vocab"])}
        backwards = ckpt.get("backwards", False)  # absent in forward classifiers' checkpoints

        def encode_example(record):
            return [document_ids(record["text"], stoi, backwards)]
    else:
        clf = GPTTaskModel(GPT(GPTConfig(**ckpt["model_args"])), task_type, ckpt["n_out"])
        encode, _ = get_tokenizer(ckpt["meta"])
        special = ckpt["special"]
        block_size = ckpt.get("block_size", clf.gpt.config.block_size)  # older checkpoints: the model's context

        def encode_example(record):
            return transform(record, task_type, encode, special, block_size)
    clf.load_state_dict(ckpt["model"])
    return clf, model_type, task_type, encode_example


def classifier_checkpoint(clf, labels, task_type, config, extra):
    """classifier.pt: the weights, the task's labels and type, the settings, and extra: what classifier_from_checkpoint
    needs for the recipe (model_type, model_args, and a vocabulary or tokenizer)."""
    return dict(model=clf.state_dict(), labels=labels, task_type=task_type, config=config, **extra)


def load_classifier(folder, device):
    """The checkpoint of the classifier a finetune.py run saved in folder, checked to be one."""
    path = os.path.join(folder, "classifier.pt")
    ckpt = load_checkpoint(path, device, model_type=None)
    if ckpt.get("model_type") not in CLASSIFIERS:
        raise SystemExit(f"{path} holds a {ckpt.get('model_type', 'gpt')} model, not a finetune.py classifier: "
                         "point --out_dir (or --ensemble) at a finetune.py run")
    return ckpt


def ensemble_partner(folder, task_type, labels, device):
    """The checkpoint of the classifier in folder, checked to be one whose outputs can be averaged with this one's: of
    the same task type and the same labels, in the same order, since the probabilities are indexed by them. Their
    vocabularies, tokenizers, directions and even recipes may differ: each reads the raw text its own way
    (classifier_outputs)."""
    other = load_classifier(folder, device)
    other_type = other.get("task_type", "classification")
    if other_type != task_type or other["labels"] != labels:
        raise SystemExit(f"ensemble: {folder} is a {other_type} classifier with labels {other['labels']}, this one a "
                         f"{task_type} classifier with labels {labels}: average classifiers of the same task")
    return other


def classifier_outputs(ckpt, records, batch_size, device, ctx, where):
    """A saved classifier's outputs (class or choice probabilities, or scores for regression) on raw records, each
    encoded as that classifier reads text."""
    clf, model_type, task_type, encode_example = classifier_from_checkpoint(ckpt)
    examples = encode_records(records, encode_example, where)
    return predict(clf.to(device), model_type, task_type, examples, batch_size, device, ctx)


def encode_records(records, encode_example, where, what=None):
    """encode_example(record) for each record; one too long for the model (ValueError) is a one-line error. With
    what, a long task (IMDb's 100k texts) shows its progress under that name."""
    examples, progress = [], Progress(len(records), what) if what else None
    for number, record in enumerate(records, 1):
        try:
            examples.append(encode_example(record))
        except ValueError as e:
            raise SystemExit(f"{where} example {number}: {e}") from None
        if progress:
            progress.update()
    if progress:
        progress.done()
    return examples


def model_inputs(model_type, batch, device):
    """A batch of examples (each a list of token sequences: one for the LSTM) as the classifier's arguments."""
    idx, lengths = collate_sequences(batch, device)
    return (idx[:, 0], lengths[:, 0]) if model_type == "awd_lstm" else (idx, lengths)


def decisions(outputs, task_type):
    """Each example's class (or choice) index from its probabilities, or its score for regression."""
    return outputs.tolist() if task_type == "regression" else outputs.argmax(-1).tolist()


@torch.no_grad()
def predict(clf, model_type, task_type, examples, batch_size, device, ctx, what=None):
    """Each example's class (or choice) probabilities, or its score for regression, in input order. With what, a long
    pass shows its progress under that name (never in predict mode, whose output is the labels)."""
    clf.eval()
    outputs, progress = [None] * len(examples), Progress(len(examples), what) if what else None
    for b in length_batches([max(map(len, ex)) for ex in examples], batch_size):
        with ctx:
            out = clf(*model_inputs(model_type, [examples[i] for i in b], device)).float().cpu()
        out = out[:, 0] if task_type == "regression" else F.softmax(out, dim=-1)
        for i, o in zip(b, out):
            outputs[i] = o
        if progress:
            progress.update(len(b))
    if progress:
        progress.done()
    return torch.stack(outputs)


def task_loss(task_type, out, y):
    """Cross-entropy over the classes (or choices); squared error for regression's one output."""
    if task_type == "regression":
        return F.mse_loss(out.float()[:, 0], torch.tensor(y, device=out.device, dtype=torch.float))
    return F.cross_entropy(out.float(), torch.tensor(y, device=out.device))


def training_loss(clf, model_type, task_type, batch, y, device, lm_coef=0.0, alpha=0.0, beta=0.0):
    """A batch's loss, and its parts to log ({name: value}) or None: the task loss, plus for a GPT lm_coef times the
    LM loss on the same sequences (GPT-1 eq. 5: L3 = L2 + lambda * L1), for an AWD-LSTM alpha times AR and beta
    times TAR on its encoder (as fastai's RNNRegularizer and ULMFiT's train_clas.py)."""
    inputs = model_inputs(model_type, batch, device)
    if model_type == "gpt" and lm_coef:
        out, lm_loss = clf(*inputs, with_lm=True)
        task_part = task_loss(task_type, out, y)
        return task_part + lm_coef * lm_loss, {"task_loss": task_part.item(), "lm_loss": lm_loss.item()}
    if model_type == "awd_lstm" and (alpha or beta):
        out, ar, tar = clf(*inputs, with_reg=True)
        task_part, reg = task_loss(task_type, out, y), alpha * ar + beta * tar
        return task_part + reg, {"task_loss": task_part.item(), "ar_tar": reg.item()}
    return task_loss(task_type, clf(*inputs), y), None


def read_new_records(path, task_type):
    """The examples predict mode labels, in the formats `prepare.py task` reads: records with the task's fields from
    a .jsonl file; for classification also a .csv file whose header row names a text column (the others, a label
    among them, are ignored), or one text per line of any other file or of stdin (path -)."""
    if os.path.isdir(path):
        raise SystemExit(f"predict: {path} is a folder: give a .txt, .csv or .jsonl file, or - for stdin")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".jsonl":
        return read_records(path, labelled=False, task_type=task_type)
    if task_type != "classification":
        raise SystemExit(f"predict: a {task_type} model reads .jsonl records with fields "
                         f"{', '.join(FIELDS[task_type])}; plain lines and CSV are only for classification")
    if path != "-" and not os.path.isfile(path):
        raise SystemExit(f"predict: no such file: {path} (give a .txt, .csv or .jsonl file, or - for stdin)")
    with open(0 if path == "-" else path, "rb") as f:
        text = utf8(f.read(), "standard input" if path == "-" else path).removeprefix("\ufeff")
    if ext != ".csv":
        return [{"text": line} for line in text.split("\n") if line.strip()]
    return read_csv_records(text, path, False, "predict")  # the header row names the columns: it is never labelled


def prediction_line(record, output, decision, task_type, labels):
    """Predict mode's line for one example: its label and probability (the choice's index for multiple choice, the
    score alone for regression), then its fields, tab-separated."""
    shown = "\t".join(record[k] if isinstance(record[k], str) else json.dumps(record[k]) for k in FIELDS[task_type])
    if task_type == "regression":
        return f"{decision:.3f}\t{shown}"
    answer = decision if task_type == "multiple_choice" else labels[decision]
    return f"{answer}\t{float(output.max()):.3f}\t{shown}"


def label_new_examples(out_dir, ensemble, path, batch_size, device, ctx):
    """Predict mode: one line per example read from path (see read_new_records), labelled by out_dir's classifier,
    or by the average of its probabilities and those of the classifier in ensemble (§3.4)."""
    members = [load_classifier(out_dir, device)]
    task_type, labels = members[0].get("task_type", "classification"), members[0]["labels"]
    if ensemble:
        members.append(ensemble_partner(ensemble, task_type, labels, device))
    new_records = read_new_records(path, task_type)
    if not new_records:
        given = "stdin" if path == "-" else path
        raise SystemExit(f"predict: nothing to label: {given} holds no examples; give one text per line on stdin "
                         f"(echo \"Who wrote Hamlet ?\" | python finetune.py --mode=predict --out_dir={out_dir}) or a "
                         ".txt, .csv or .jsonl file with --input=FILE")
    outputs = sum(classifier_outputs(ckpt, new_records, batch_size, device, ctx, "predict:")
                  for ckpt in members) / len(members)
    for record, output, decision in zip(new_records, outputs, decisions(outputs, task_type)):
        print(prediction_line(record, output, decision, task_type, labels))


POSITIVE = ("1", "equivalent", "paraphrase")  # the class F1 is reported for, in similarity tasks (MRPC)


def ranks(x):
    """Ranks from 0, ties sharing their average rank (for Spearman's correlation)."""
    order = np.argsort(x, kind="stable")
    r = np.empty(len(x))
    r[order] = np.arange(len(x))
    _, tie, counts = np.unique(x, return_inverse=True, return_counts=True)
    return (np.bincount(tie, r) / counts)[tie]


def task_metrics(task_type, predictions, targets, labels):
    """Accuracy; plus F1 of the positive class for similarity (MRPC); Pearson and Spearman for regression (STS-B)."""
    p, t = np.asarray(predictions, dtype=float), np.asarray(targets, dtype=float)
    if task_type == "regression":
        return {"pearson": float(np.corrcoef(p, t)[0, 1]), "spearman": float(np.corrcoef(ranks(p), ranks(t))[0, 1])}
    results = {"accuracy": float(np.mean(p == t))}
    if task_type == "similarity":
        positive = next((i for i, label in enumerate(labels) if label in POSITIVE), len(labels) - 1)
        tp, fp, fn = (np.sum((p == positive) & (t == positive)), np.sum((p == positive) & (t != positive)),
                      np.sum((p != positive) & (t == positive)))
        results["f1"] = float(2 * tp / (2 * tp + fp + fn)) if tp else 0.0
    return results


def final_report(task_type, labels, targets, named_outputs):
    """The final numbers: for each (key prefix, name, {split: outputs}) in named_outputs (this classifier; with an
    ensemble, the other one and the two's probabilities averaged), each held-out split's metrics (with the error,
    1 - accuracy, the papers' number), one line per model. Returns them all as one dict for the log."""
    final = {}
    for prefix, name, outputs in named_outputs:
        results = {}
        for split, outs in outputs.items():
            for metric, value in task_metrics(task_type, decisions(outs, task_type), targets[split], labels).items():
                results[f"{split}_{metric}"] = value
                if metric == "accuracy":
                    results[f"{split}_error"] = 1 - value
        print((f"{name}: " if len(named_outputs) > 1 else "") + " | ".join(f"{k} {v:.4f}" for k, v in results.items()))
        final.update({prefix + k: v for k, v in results.items()})
    return final


def final_evaluation(clf, model_type, task_type, labels, labelled, examples, targets, name, partner, batch_size, device,
                     ctx, interrupt):
    """The final model, called name, on every labelled held-out split (no selection on test: the last epoch is
    reported); with partner, an ensemble's (out_dir, classifier checkpoint), the other classifier too (it reads the
    raw records its own way) and the two's probabilities averaged (§3.4). Printed by final_report, and returned as
    one dict for the log. A signal now ends the run after the current pass (interrupt: the training's handler)."""
    interrupt.restore()
    interrupt = Interrupt("stopping after this pass of the final evaluation")

    def stop():
        if interrupt.pressed:
            interrupt.exit("interrupted in the final evaluation: the trained classifier is saved; evaluate it with "
                           "the same settings and --init_from=resume")

    held_out = [split for split in ("val", "test") if split in examples]
    outputs, other = {}, {}
    for split in held_out:
        outputs[split] = predict(clf, model_type, task_type, examples[split], batch_size, device, ctx, f"final {split}")
        stop()
        if partner:
            other[split] = classifier_outputs(partner[1], labelled[split], batch_size, device, ctx,
                                              f"ensemble: {split}")
            stop()
    interrupt.restore()
    named = [("", name, outputs)]
    if not partner:
        return final_report(task_type, labels, targets, named)
    named += [("partner_", f"{'backward' if partner[1].get('backwards') else 'forward'} ({partner[0]})", other),
              ("ensemble_", "ensemble (probabilities averaged)", {s: (outputs[s] + other[s]) / 2 for s in held_out})]
    return {"ensemble": partner[0], **final_report(task_type, labels, targets, named)}

# -----------------------------------------------------------------------------
# runs: the task's data, the pretrained model that picks the recipe, out_dir's checkpoints, what a run needs to continue


def task_data(task, n_train, rng):
    """A prepared task, for training: (task type, labels, splits, labelled splits, eval split, targets). The labelled
    splits are all but 'unsup', train cut to n_train examples drawn with rng (0: all of them); the eval split, which
    each epoch reports, is val, else test; targets are each labelled split's class or choice indices, or scores."""
    info, splits = load_task(task)
    task_type, labels = info["type"], info.get("labels")
    every = [r for records in splits.values() for r in records]
    if task_type == "multiple_choice" and (len({len(r["choices"]) for r in every}) > 1 or any("contexts" in r
                                                                                             for r in every)):
        raise SystemExit(f"finetune: {task} has a context per choice (Winogrande) or examples with different numbers "
                         "of choices (ARC), and GPT-1's head reads one context and a fixed number: score it with "
                         f"eval.py --task={task}")
    train_records = splits["train"]
    if n_train:
        if n_train > len(train_records):
            raise SystemExit(f"config: n_train={n_train} but {task} has {len(train_records)} training examples")
        train_records = [train_records[i] for i in sorted(rng.choice(len(train_records), n_train, replace=False))]
    labelled = {**{k: v for k, v in splits.items() if k != "unsup"}, "train": train_records}
    eval_split = "val" if "val" in labelled else "test"
    if eval_split not in labelled:
        raise SystemExit(f"data: task '{task}' has only a train split: prepare it with a val (or test) file to "
                         "measure the classifier on")
    targets = {split: [labels.index(r["label"]) if labels else r["label"] for r in records]  # class, choice or score
               for split, records in labelled.items()}
    return task_type, labels, splits, labelled, eval_split, targets


def pretrained_base(init_from, task, task_type, lm_epochs):
    """(model_type, base checkpoint, whether it is a backward LM) for init_from, checked before anything is written:
    the model's type picks the recipe, ULMFiT's for an AWD-LSTM ("awd_lstm"), GPT-1's for a GPT ("gpt": a
    train_gpt.py checkpoint, or published weights, for which the checkpoint is None)."""
    if is_published(init_from):  # OpenAI's GPT-1/GPT-2 weights
        return "gpt", None, False
    path = checkpoint_path(init_from)  # a run folder: its best.pt, else its latest.pt
    ckpt = load_checkpoint(path, "cpu", model_type=None)
    model_type = ckpt.get("model_type", "gpt")
    if model_type == "awd_lstm":
        if task_type != "classification":
            raise SystemExit(f"finetune: ULMFiT's classifier reads one text; {task} is a {task_type} task: "
                             "fine-tune a GPT (init_from a train_gpt.py checkpoint) for it")
        if ckpt["meta"]["tokenizer"] != "word" or ckpt["meta"]["vocab"][:2] != [EOS, UNK]:
            raise SystemExit(f"finetune: {path} was trained on a {ckpt['meta']['tokenizer']} vocabulary; ULMFiT "
                             "reads words: pretrain on word-level data (prepare.py's word tokenizer)")
    elif model_type != "gpt":
        raise SystemExit(f"finetune: {path} holds a {model_type} model; init_from takes a language model: a "
                         "train_lstm.py or train_gpt.py checkpoint or out_dir")
    elif lm_epochs:
        raise SystemExit("finetune: lm_epochs is ULMFiT's LM fine-tuning stage; GPT-1 trains the LM loss alongside "
                         "the task instead (lm_coef): set lm_epochs=0, or continue pretraining with train_gpt.py")
    return model_type, ckpt, model_type == "awd_lstm" and ckpt.get("backwards", False)  # backward: reads right to left


# settings a resumed run may change: they say where and how often to save, not what is computed; init_from is
# 'resume' itself (the model the run started from is in latest.pt's settings)
RESUME_FREE = ("out_dir", "init_from", "resume", "save_interval")


def start_run(out_dir, resume, config):
    """Lock out_dir for this run (a folder a live run holds is refused, naming it) and return latest.pt's checkpoint
    for a resumed run (init_from=resume), refused unless written with the same settings, or None for a new run, which
    never overwrites an earlier run's: a folder holding an unfinished run (latest.pt), a classifier or a fine-tuned
    LM is refused. Each refusal is one line saying what to do instead. A new run removes a log without a checkpoint
    (a run that never got going)."""
    latest, clf, lm = (os.path.join(out_dir, name) for name in ("latest.pt", "classifier.pt", "lm.pt"))
    if resume and not os.path.isdir(out_dir):
        raise SystemExit(f"resume: there is no {out_dir} to continue: start the run with --init_from=MODEL, the "
                         "model to fine-tune")
    lock_out_dir(out_dir)
    if resume:
        if not os.path.exists(latest):
            why = f"its run is finished ({clf}): label examples with --mode=predict" if os.path.exists(clf) else (
                "its run never saved one: start it again with --init_from=MODEL, the model to fine-tune")
            raise SystemExit(f"resume: {out_dir} holds no latest.pt to continue from; {why}")
        ckpt = load_checkpoint(latest, "cpu", model_type=None)
        for key, value in config.items():
            if key not in RESUME_FREE and ckpt["config"].get(key) != value:
                raise SystemExit(f"resume: {latest} was written with {key}={ckpt['config'].get(key)!r}, but the "
                                 f"settings say {value!r}: resume with the settings of the run you continue")
        return ckpt
    if os.path.exists(latest):
        raise SystemExit(f"{out_dir} holds an unfinished run ({latest}): continue it with --init_from=resume, or "
                         f"choose another --out_dir, or delete {out_dir}")
    if os.path.exists(clf):
        raise SystemExit(f"{out_dir} already holds a classifier ({clf}): choose another --out_dir, delete it, "
                         f"or label examples with it: --mode=predict")
    if os.path.exists(lm):
        raise SystemExit(f"{out_dir} already holds a fine-tuned LM ({lm}): train a classifier from it with "
                         f"--init_from={lm} --lm_epochs=0 --out_dir=NEW, or choose another --out_dir, or delete it")
    if os.path.exists(os.path.join(out_dir, "log.jsonl")):
        os.remove(os.path.join(out_dir, "log.jsonl"))
    return None


def resumed_from(ckpt):
    """Where a resumed run continues, as the line it prints says."""
    p, epochs = ckpt["position"], ckpt["config"]["lm_epochs" if ckpt["stage"] == "lm" else "epochs"]
    if ckpt["stage"] == "lm":
        return ("the end of LM fine-tuning" if p["epoch"] > epochs else
                f"LM fine-tuning epoch {p['epoch']}, token {p['pos']:,} of each row (step {p['iter_num']})" if p["pos"]
                else f"the start of LM fine-tuning epoch {p['epoch']}")
    return ("the end of training, before the final evaluation" if p["epoch"] > epochs else
            f"classifier epoch {p['epoch']}, batch {p['batch_pos']} of {len(p['batches'])}" if p["batches"]
            else f"the start of classifier epoch {p['epoch']}")


class Run:
    """What both stages of a run share, each calling it the same way: the settings (config), device, dtype, precision
    and numpy generator; out_dir's log; the optimizer step; and the safe points, where the run may stop and later
    continue bit-exactly: after each step that leaves its epoch unfinished and after each evaluation. There latest.pt
    is written every save_interval minutes (0: never on a clock), when asked (force), and after Ctrl-C or SIGTERM (a
    scheduler's stop), caught from the run's start: the current step finishes, latest.pt is saved and the run exits
    130 or 143 saying how to continue; a second signal quits at once."""

    def __init__(self, config, device, dtype, ctx, scaler, rng, wandb=None):
        self.config, self.device, self.dtype, self.ctx, self.scaler = config, device, dtype, ctx, scaler
        self.rng, self.wandb = rng, wandb
        self.out_dir, self.interval = config["out_dir"], config["save_interval"]
        self.latest, self.log_path = os.path.join(self.out_dir, "latest.pt"), os.path.join(self.out_dir, "log.jsonl")
        self.interrupt = Interrupt("saving latest.pt after this step")
        self.saved = time.time()

    def log(self, record):
        """One line of out_dir/log.jsonl (log_json); with wandb, a stage record's numbers too, as stage/key (lm/loss,
        classifier/loss, final/test_accuracy...): both stages log a loss, which plain keys would mix up."""
        log_json(self.log_path, record)
        if self.wandb and "stage" in record:
            self.wandb.log({f"{record['stage']}/{k}": v for k, v in record.items() if isinstance(v, (int, float))})

    def step(self, optimizer, loss, params, lr, where, lm=False):
        """optimizer_step with this run's GradScaler, clipped by grad_clip (lm: by lm_grad_clip, LM fine-tuning's). A
        NaN or infinite loss stops the run without saving (where: the step's place), in one line, the signal handlers
        put back, with the advice that fits the run (nan_message) in the names of the stage's settings."""
        clip = self.config["lm_grad_clip" if lm else "grad_clip"]
        if not math.isfinite(loss.item()):
            self.interrupt.restore()
            names = ("lm_lr", "lm_grad_clip") if lm else ("learning_rate", "grad_clip")  # LM fine-tuning's own
            raise SystemExit(nan_message(f"the loss is {loss.item()} {where}", self.latest, self.dtype, clip,
                                         0.3 if lm else 25.0, *names))  # clipping off: it offers the default
        optimizer_step(optimizer, loss, params, lr, clip, self.scaler)

    def safe_point(self, checkpoint, where, force=False):
        """A safe point: latest.pt if it is due. checkpoint(): the dict to save, built only when it is (the stage's
        lm.pt or classifier.pt content plus state()); where: the run's place, for the lines it prints."""
        due = self.interval and time.time() - self.saved >= 60 * self.interval
        if not (force or due or self.interrupt.pressed):
            return
        self.save(self.latest, checkpoint())
        self.saved = time.time()
        if self.interrupt.pressed:
            self.interrupt.exit(f"interrupted {where}: saved {self.latest}; continue with the same settings and "
                                "--init_from=resume")
        print(f"saved {self.latest} ({where})", flush=True)

    def save(self, path, ckpt):
        """save_checkpoint: whole or not at all; a write that fails stops the run in one line, the handlers put back."""
        try:
            save_checkpoint(path, ckpt)
        except SystemExit:
            self.interrupt.restore()
            raise

    def state(self, stage, position, optimizer):
        """What latest.pt adds to a stage's checkpoint so that the run continues from it bit-exactly: the stage ('lm'
        or 'classifier'), the optimizer, the GradScaler, both generators (torch's: dropout masks and initialisations;
        numpy's: BPTT lengths and batch orders) and the loop's position in the stage."""
        rngs = {"torch": torch.get_rng_state(), "numpy": json.dumps(self.rng.bit_generator.state)}
        if self.device.startswith("cuda"):
            rngs["cuda"] = torch.cuda.get_rng_state(self.device)
        return dict(stage=stage, optimizer=optimizer.state_dict(), scaler=self.scaler.state_dict(), rng=rngs,
                    position=to_cpu(position))

    def restore(self, ckpt, model, optimizer):
        """Put back what state() saved (and the model's weights); returns the position, its tensors on the device."""
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.rng.bit_generator.state = json.loads(ckpt["rng"]["numpy"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        if self.device.startswith("cuda") and "cuda" in ckpt["rng"]:
            torch.cuda.set_rng_state(ckpt["rng"]["cuda"], self.device)
        position = ckpt["position"]
        if position.get("hidden") is not None:
            position["hidden"] = [(h.to(self.device), c.to(self.device)) for h, c in position["hidden"]]
        return position

# -----------------------------------------------------------------------------


if __name__ == "__main__":
    from prepare import check_settings, configure, default_device, precision

    # default settings: ULMFiT's (§4), fine-tuning its WikiText-103 LM on TREC-6; config/gpt1_*.py hold GPT-1's
    _before = set(globals())
    # both recipes: I/O
    out_dir = "out-ulmfit-trec"
    mode = "train"  # 'train', or 'predict': label the examples in `input` with out_dir/classifier.pt
    input = "-"  # predict: a .jsonl file with the task's fields, a .csv with a text column, one text a line, - stdin
    ensemble = ""  # another run's out_dir, same task: its probabilities are averaged with this one's (§3.4)
    init_from = "out-ulmfit-wt103"  # the pretrained LM: an out_dir, a .pt, gpt2...; 'resume' continues out_dir's run
    pretrained = True  # False: the same architecture, freshly initialised (the paper's "no pretraining" ablation)
    resume = False  # continue out_dir's unfinished run from its latest.pt: the old --init_from=resume, for one release
    save_interval = 10.0  # minutes between saves of latest.pt (0: only at each stage's end, Ctrl-C and SIGTERM)
    wandb_log = False  # each log.jsonl record's numbers to Weights & Biases too (lm/loss...); `pip install wandb`
    wandb_project = "origins"
    wandb_run_name = "finetune"
    # both recipes: data
    task = "trec"  # prepared by prepare.py into data/TASK/{train,test,...}.jsonl and task.json
    n_train = 0  # labelled training examples drawn at random (0: all), for the low-shot experiment (ULMFiT §5)
    # both recipes: the task training: epochs, lr and batch are ULMFiT's (§4); GPT-1's are 3, 6.25e-5 and 32 (§4.1)
    epochs = 50  # (ULMFiT §4 footnote: 50 epochs is a good default)
    learning_rate = 0.01  # peak lr of the top group
    batch_size = 64
    # both recipes: the optimisation tricks and their ablation switches (ULMFiT §3.2, §3.3, §5)
    discriminative = True
    lr_factor = 2.6  # each lower group's lr is the one above divided by this (§3.2)
    schedule = "stlr"  # 'stlr', 'linear' (GPT-1: warmup over cut_frac, then 1 - t/T), 'constant' or 'cosine'
    cut_frac = 0.1  # STLR's rising fraction (§3.2); GPT-1's warmup is 0.002
    stlr_ratio = 32
    gradual_unfreezing = True
    beta1 = 0.7  # Adam (ULMFiT §4; GPT-1 used 0.9, 0.999)
    beta2 = 0.99
    weight_decay = 0.01  # decoupled (AdamW) as fastai and GPT-1 (w=0.01); here on biases and norms too, for brevity
    grad_clip = 25.0  # the task stage's total-norm clip: fastai's train_clas.py (the paper gives none); GPT-1: 1
    # both recipes: system
    device = default_device()  # 'cuda' if available, else 'mps' (Apple silicon), else 'cpu'
    dtype = "auto"  # bfloat16 where supported, else float16 with a GradScaler on GPU; float32 on CPU
    seed = 1337
    # ULMFiT: the vocabulary
    vocab = "pretrained"  # LSTM: 'pretrained', the LM's words; 'task', the task's, new ones start at the mean row
    max_vocab = 60000  # vocab='task': the most frequent words (ULMFiT's cap) seen at least min_freq times
    min_freq = 2
    # ULMFiT: dropouts for fine-tuning (§4), replacing the pretrained checkpoint's
    dropout_emb = 0.05  # embedding dropout: whole words
    dropout_in = 0.4  # on the input embedding layer
    dropout_hidden = 0.3  # between the RNN layers
    dropout_out = 0.4  # on the last layer's output
    weight_drop = 0.5  # DropConnect on the hidden-to-hidden weights
    # ULMFiT: target LM fine-tuning (§3.2), on the task's text, labelled or not
    lm_epochs = 15  # 0 switches it off (§4 footnote: 15 epochs for TREC-6 without overfitting)
    lm_texts = "train"  # 'train': the training and unlabelled texts; 'all': every split's, never their labels
    lm_lr = 4e-3  # peak lr (§4)
    lm_batch_size = 64
    lm_grad_clip = 0.3  # total-norm clip: fastai's finetune_lm.py (the paper gives none), near AWD-LSTM's 0.25
    alpha = 2.0  # AR and TAR, as in pretraining
    beta = 1.0
    # ULMFiT: the classifier (§3.3)
    bptt = 70  # BPT3C chunk length, and the LM fine-tuning window
    max_len = 1400  # BPT3C: only the last max_len tokens of a document keep gradients (fastai: 20 windows of 70)
    head_hidden = 50
    head_dropout = (0.4, 0.1)  # the two head blocks (fastai's defaults: the first is the LM's output dropout)
    clf_ar_tar = True  # AR and TAR (alpha, beta) on the classifier's encoder too, as fastai's RNNRegularizer
    # GPT-1: fine-tuning (§3.3, §4.1)
    lm_coef = 0.5  # lambda: weight of the auxiliary LM loss (0 switches it off, §5's ablation)
    clf_dropout = 0.1  # before the linear head, one mask per example shared by its choices (OpenAI's train.py)
    gpt_dropout = 0.1  # residual, embedding and attention dropout inside the GPT while fine-tuning
    block_size = 0  # longest input sequence (0: the model's context)
    config = configure({k: v for k, v in globals().items() if k not in _before and not k.startswith("_")})
    globals().update(config)

    # settings that cannot work: all of them at once, one line each, before anything is read or written
    check_settings(config, {
        "mode": ("train", "predict"), "save_interval": "nonneg", "n_train": "nonneg", "epochs": "nonneg",
        "learning_rate": "nonneg", "batch_size": "positive", "lr_factor": "positive",
        "schedule": ("stlr", "linear", "constant", "cosine"),
        "cut_frac": (lambda v: 0 <= v < 1 and (v > 0 or schedule != "stlr"),
                     "in [0, 1), a fraction of the steps (> 0 for schedule='stlr')"),
        "stlr_ratio": (lambda v: v >= 1, ">= 1 (the peak lr over the lowest)"), "beta1": "prob", "beta2": "prob",
        "weight_decay": "nonneg", "grad_clip": "nonneg", "dtype": ("auto", "float32", "bfloat16", "float16"),
        "vocab": ("pretrained", "task"), "max_vocab": (lambda v: v > 2, "> 2 (<eos> and <unk> come first)"),
        "min_freq": "positive", "dropout_emb": "prob", "dropout_in": "prob", "dropout_hidden": "prob",
        "dropout_out": "prob", "weight_drop": "prob", "lm_epochs": "nonneg", "lm_texts": ("train", "all"),
        "lm_lr": "nonneg", "lm_batch_size": "positive", "lm_grad_clip": "nonneg", "alpha": "nonneg", "beta": "nonneg",
        "bptt": "positive", "max_len": "positive", "head_hidden": "positive",
        "head_dropout": (lambda v: len(v) == 2 and all(0 <= p < 1 for p in v),
                         "two probabilities in [0, 1), one per head block"),
        "lm_coef": "nonneg", "clf_dropout": "prob", "gpt_dropout": "prob", "block_size": "nonneg"})

    # device and precision, as in the training scripts. No torch.compile: Dynamo cannot trace nn.LSTM, and a
    # fine-tuning run is too short for compiling the GPT to pay back its minutes
    device_type, dtype, ctx = precision(device, dtype)
    scaler = torch.amp.GradScaler(device_type, enabled=dtype == "float16")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)  # n_train's draw, BPTT lengths, batch orders

    # predict: label new examples with a trained classifier, or the average of two (ensemble); writes nothing
    if mode == "predict":
        label_new_examples(out_dir, ensemble, input, batch_size, device, ctx)
        sys.exit(0)

    if wandb_log:
        try:
            import wandb
        except ImportError:
            raise SystemExit("config: wandb_log=True but wandb is not installed: pip install wandb, or drop wandb_log")

    # data: the task's splits, with n_train labelled examples drawn for training; an ensemble's other classifier
    task_type, labels, splits, labelled, eval_split, targets = task_data(task, n_train, rng)
    partner = ensemble_partner(ensemble, task_type, labels, "cpu") if ensemble else None  # checked before training

    # the pretrained model's type picks the recipe (both checked here, before anything is written); then out_dir,
    # locked for this run: a new run, or the unfinished one to continue from latest.pt, at its stage. A resumed run
    # locks and reads out_dir first: latest.pt's settings name the model it started from
    if resume:
        print("note: --resume=True is finetune.py's old spelling of --init_from=resume, gone in the next release")
        init_from = "resume"
    ckpt = start_run(out_dir, True, config) if init_from == "resume" else None
    if ckpt:
        init_from = config["init_from"] = ckpt["config"]["init_from"]
    model_type, base_ckpt, backwards = pretrained_base(init_from, task, task_type, lm_epochs)
    if not ckpt:
        start_run(out_dir, False, config)
    stage = ckpt["stage"] if ckpt else "lm" if model_type == "awd_lstm" and lm_epochs else "classifier"

    # the run's log, optimizer step, generators and safe points, the same for both stages (Run). From here Ctrl-C or
    # SIGTERM finishes the current step, saves latest.pt and exits; latest.pt is saved every save_interval minutes
    # too, and at the end of each stage
    run = Run(config, device, dtype, ctx, scaler, rng, wandb if wandb_log else None)
    resumed = resumed_from(ckpt) if ckpt else None
    start_banner("finetune.py", device, dtype, config, f"task {task} ({task_type}): {len(labelled['train']):,} "
                 f"labelled train examples | init_from {init_from}" + (" (backward LM)" if backwards else "")
                 + ("" if pretrained else " (architecture only: not pretrained)"), run.log_path, resumed,
                 f"resumed from {resumed} of {run.latest}")
    if wandb_log:
        wandb.init(project=wandb_project, name=wandb_run_name, config=config)
    factor = lr_factor if discriminative else 1.0  # between layer groups' lrs (§3.2); 1: one lr for all

    # the recipe the pretrained model's type picks; each branch ends in the value the shared loop takes (Recipe)
    if model_type == "awd_lstm":
        # ULMFiT: the task's LM; target LM fine-tuning (§3.2) unless the run is past it; the classifier on its
        # encoder (§3.3). A backward LM (§3.4) reads every document right to left throughout
        lm_docs = lm_corpus(splits, lm_texts)  # all the training text, labelled or not (or every split's)
        lm = task_lm(base_ckpt, lm_docs, vocab, pretrained, max_vocab, min_freq, dict(
            dropout_emb=dropout_emb, dropout_in=dropout_in, dropout_hidden=dropout_hidden, dropout_out=dropout_out,
            weight_drop=weight_drop), backwards)
        lm.model, base_ckpt = lm.model.to(device), None  # the model holds the weights now
        examples = ulmfit_examples(labelled, lm, task)
        if stage == "lm":  # saved as lm.pt, then latest.pt at the classifier's start
            lm_optimizer = make_optimizer(lm_groups(lm.model), factor, (beta1, beta2), weight_decay)
            fine_tune_lm(lm, lm_docs, eval_split, [ex[0] for ex in examples[eval_split]], lm_optimizer, run,
                         run.restore(ckpt, lm.model, lm_optimizer) if ckpt else None)
        head_args = dict(hidden=head_hidden, dropout=head_dropout, bptt=bptt, max_len=max_len)
        clf = PoolingClassifier(lm.model, len(labels), **head_args).to(device)
        recipe = Recipe(clf, classifier_groups(clf), examples, dict(
            model_type="ulmfit_classifier", model_args=lm.model_args, vocab=lm.vocab, backwards=lm.backwards,
            head_args=head_args))
    else:
        # GPT-1: the pretrained GPT with three new tokens and a linear head; each example as token sequences (§3.3)
        clf, encode_example, extra = gpt1_classifier(init_from, base_ckpt, block_size, pretrained, gpt_dropout,
                                                     clf_dropout, task_type, labels)
        clf, base_ckpt = clf.to(device), None  # the model holds the weights now
        recipe = Recipe(clf, gpt_groups(clf), gpt1_examples(labelled, encode_example, task, extra["block_size"]), extra)

    # the shared loop: task fine-tuning of recipe.clf, epoch by epoch in gradual unfreezing's stages (ULMFiT), each
    # stage its own schedule cycle, as fastai does. plan[e - 1]: epoch e's trainable groups, its stage's steps,
    # whether it opens it
    optimizer = make_optimizer(recipe.groups, factor, (beta1, beta2), weight_decay)
    all_params = [p for g in recipe.groups for p in g]
    steps_per_epoch = math.ceil(len(labelled["train"]) / batch_size)
    plan = [(n, k * steps_per_epoch, i == 0)
            for n, k in unfreezing_stages(epochs, len(recipe.groups), gradual_unfreezing) for i in range(k)]
    example_lengths = [max(map(len, ex)) for ex in recipe.examples["train"]]
    # the loop's state, plain variables from a new run's start or latest.pt's, packed into latest.pt at each safe
    # point: the epoch, its batch order (None until it is drawn), how many of its batches are done, the step in the
    # stage's schedule, and the epoch's losses so far
    start = run.restore(ckpt, recipe.clf, optimizer) if stage == "classifier" and ckpt else dict(
        epoch=1, batches=None, batch_pos=0, stage_step=0, losses=[], parts=[])
    epoch, batches, batch_pos, stage_step, losses, parts = (
        start[k] for k in ("epoch", "batches", "batch_pos", "stage_step", "losses", "parts"))

    def checkpoint():  # latest.pt at a safe point: classifier.pt's content, and the loop's state packed now
        position = dict(epoch=epoch, batches=batches, batch_pos=batch_pos, stage_step=stage_step, losses=losses,
                        parts=parts)
        return {**classifier_checkpoint(recipe.clf, labels, task_type, config, recipe.extra),
                **run.state("classifier", position, optimizer)}

    t_start, first = time.time(), (epoch - 1) * steps_per_epoch + batch_pos  # for the ETA: where this run began
    while epoch <= len(plan):
        n_trainable, stage_steps, opens = plan[epoch - 1]
        freeze(recipe.groups, n_trainable)
        if batches is None:  # the epoch's start: its batch order (a resumed run continues with latest.pt's)
            batches = [b.tolist() for b in length_batches(example_lengths, batch_size, rng)]
            batch_pos, losses, parts, stage_step = 0, [], [], 0 if opens else stage_step
        recipe.clf.train()
        progress = Progress(len(batches) - batch_pos, f"epoch {epoch}")  # in batches
        while batch_pos < len(batches):
            b, batch_pos = batches[batch_pos], batch_pos + 1
            progress.update()
            if len(b) == 1 and model_type == "awd_lstm":  # BatchNorm cannot normalise a batch of one
                continue
            lr = schedule_lr(schedule, stage_step, stage_steps, learning_rate, cut_frac, stlr_ratio)
            with ctx:
                loss, loss_parts = training_loss(
                    recipe.clf, model_type, task_type, [recipe.examples["train"][i] for i in b],
                    [targets["train"][i] for i in b], device, lm_coef=lm_coef, alpha=alpha if clf_ar_tar else 0,
                    beta=beta if clf_ar_tar else 0)
            run.step(optimizer, loss, all_params, lr, f"in epoch {epoch}, batch {batch_pos} of {len(batches)}")
            losses.append(loss.item())
            if loss_parts:
                parts.append(loss_parts)
            stage_step += 1
            if batch_pos < len(batches):
                run.safe_point(checkpoint, f"in epoch {epoch}, batch {batch_pos} of {len(batches)}")
        progress.done()
        outputs = predict(recipe.clf, model_type, task_type, recipe.examples[eval_split], batch_size, device, ctx,
                          eval_split)
        results = {f"{eval_split}_{k}": v for k, v in task_metrics(task_type, decisions(outputs, task_type),
                                                                   targets[eval_split], labels).items()}
        if parts:  # the task loss apart from GPT-1's auxiliary LM loss or ULMFiT's AR and TAR, to see what they do
            results = {**{k: float(np.mean([p[k] for p in parts])) for k in parts[0]}, **results}
        print(f"epoch {epoch} | {n_trainable}/{len(recipe.groups)} groups trainable | train loss "
              f"{np.mean(losses):.4f} | " + " | ".join(f"{k.replace('_', ' ')} {v:.4f}" for k, v in results.items())
              + " | " + timing(time.time() - t_start, epoch * steps_per_epoch - first,
                               len(plan) * steps_per_epoch - first), flush=True)
        run.log({"stage": "classifier", "epoch": epoch, "groups": n_trainable, "loss": float(np.mean(losses)),
                 **results})
        epoch, batches = epoch + 1, None
        run.safe_point(checkpoint, f"after epoch {epoch - 1}", force=epoch > len(plan))  # the trained classifier, then

    # the final model on every labelled held-out split, and with an ensemble the other one and the two averaged. A
    # signal now stops the run after the current pass; latest.pt holds the trained classifier, for --init_from=resume
    clf_path = os.path.join(out_dir, "classifier.pt")
    run.save(clf_path, classifier_checkpoint(recipe.clf, labels, task_type, config, recipe.extra))
    final = final_evaluation(recipe.clf, model_type, task_type, labels, labelled, recipe.examples, targets,
                             f"{'backward' if backwards else 'forward'} ({out_dir})",
                             (ensemble, partner) if partner else None, batch_size, device, ctx, run.interrupt)
    run.log({"stage": "final", **final})
    if os.path.exists(run.latest):  # the run is finished: classifier.pt is what it made
        os.remove(run.latest)
    print(f"saved {clf_path}")
