"""
Transfer learning: fine-tune a pretrained language model on a labelled task. The checkpoint says which recipe:

ULMFiT (Howard & Ruder 2018) on train_lstm.py's AWD-LSTM: target-task LM fine-tuning (§3.2), then a classifier
with concat pooling, gradual unfreezing, discriminative learning rates and slanted triangular schedules (§3.3).
$ python prepare.py wikitext103 --max_vocab 60000 && python train_lstm.py config/ulmfit_wt103.py  # pretrain
$ python prepare.py trec --from ../shared/data/trec                                                 # the task
$ python finetune.py config/ulmfit_trec.py                                    # LM fine-tuning, then classifier
$ python finetune.py config/ulmfit_trec.py --gradual_unfreezing=False         # one of the paper's ablations
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

from prepare import EOS, FIELDS, UNK, get_tokenizer, read_records, utf8
from train_gpt import GPT, GPTConfig, checkpoint_path, is_published, load_checkpoint, model_from_checkpoint
from train_lstm import (AWDLSTM, LSTMConfig, activation_regularization, bptt_length, locked_dropout, save_checkpoint,
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


def task_lm(base_ckpt, vocab, pretrained, dropouts):
    """The AWD-LSTM to fine-tune, as (model, model_args): base_ckpt's with the fine-tuning dropouts and the
    vocabulary `vocab` (the task's own moves the rows by transfer_embedding), or with pretrained=False the same
    architecture freshly initialised."""
    model_args = {**base_ckpt["model_args"], "vocab_size": len(vocab), **dropouts}
    model = AWDLSTM(LSTMConfig(**model_args))
    if pretrained:
        state, old_vocab = base_ckpt["model"], base_ckpt["meta"]["vocab"]
        if vocab != old_vocab:
            state["encoder.weight"], state["decoder.bias"] = transfer_embedding(
                state["encoder.weight"], state["decoder.bias"], old_vocab, vocab)
            state["decoder.weight"] = state["encoder.weight"]
        model.load_state_dict(state)
    return model, model_args

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

    def features(self, idx, lengths):
        """Concat pooling [h_T, maxpool(H), meanpool(H)] (B, 3E) of right-padded documents idx (B, L), whose real
        lengths are `lengths` (B,), and the means AR and TAR scale (the LM's regularisers, kept for the classifier
        as in fastai's RNNRegularizer and ULMFiT's train_clas.py): of the squared dropped output at the positions
        that keep gradients, and of the squared change of the raw output between such neighbours.
        BPT3C (§3.3): the batch is read in bptt-sized chunks with the hidden state carried, and only each
        document's last max_len tokens keep gradients, counted from its own end (fastai pads at the front for
        this), so memory stays bounded (by max_len plus the spread of lengths in a batch, which length_batches
        keeps small) however long a document is, while pooling still sees all of it. A chunk is split where a
        document's kept part begins, and that row's state is detached there; a chunk where no document keeps
        gradients runs without them. Padding comes after each document, so the (causal) LSTM's states at real
        tokens never see it, and pooling masks it."""
        B, L = idx.shape
        E = self.encoder.config.emb_size
        pos = torch.arange(L, device=idx.device)[None, :]
        mask = pos < lengths[:, None]  # (B, L): real tokens
        keep = mask & (pos >= lengths[:, None] - self.max_len)  # (B, L): real tokens that keep gradients
        sizes = lengths.tolist()  # the chunk plan is made on the CPU
        cuts = {n - self.max_len for n in sizes if n > self.max_len} if torch.is_grad_enabled() else set()  # where
        # a document's kept part begins (without gradients, as in evaluation, there is nothing to cut)
        bounds = sorted(set(range(0, L, self.bptt)) | cuts | {L})
        hidden = self.encoder.init_hidden(B)
        last = idx.new_zeros(B, E, dtype=torch.float)
        maxes = torch.full((B, E), float("-inf"), device=idx.device)
        sums = idx.new_zeros(B, E, dtype=torch.float)
        ar_sum = tar_sum = 0.0
        for start, end in zip(bounds, bounds[1:]):
            if start in cuts:  # the rows whose kept part begins here: no gradient flows back past it
                cut = (lengths - self.max_len == start)[None, :, None]
                hidden = [(torch.where(cut, h.detach(), h), torch.where(cut, c.detach(), c)) for h, c in hidden]
            kept = any(n - self.max_len < end and start < n for n in sizes)
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


def fine_tune_lm(model, stream, eval_stream, eval_split, *, epochs, batch_size, bptt, lr_at, alpha, beta, optimizer,
                 grad_clip, step, ctx, rng, ctrl_c, log_json):
    """Target task LM fine-tuning (ULMFiT §3.2), run as pretraining was: stream (N,), the task's text as ids, cut
    into batch_size contiguous rows read in variable-length BPTT windows with the state carried; the loss plus AR
    and TAR. Step i's lr is lr_at(i, total steps) scaled by its window's length; step(optimizer, loss, params, lr,
    grad_clip) applies it. The loss on eval_stream, the eval_split's text, is printed and logged before training
    and after each epoch. Returns (steps taken, the latest eval loss, interrupted): on Ctrl-C (ctrl_c.pressed) it
    stops after the current step and leaves saving to the caller."""
    n_cols = len(stream) // batch_size
    data = stream[:n_cols * batch_size].view(batch_size, n_cols)  # (B, N): row b is the b-th slice of the text
    eval_data = eval_stream[None]  # (1, M): one stream
    total_steps = epochs * math.ceil((n_cols - 1) / bptt)  # windows vary in length: the schedule ends about there
    eval_loss = lm_eval_loss(model, eval_data, bptt, ctx)
    print(f"LM fine-tuning: {len(stream):,} tokens, {epochs} epochs; {eval_split} loss before {eval_loss:.4f}")
    log_json({"stage": "lm", "epoch": 0, f"{eval_split}_loss": eval_loss})
    iter_num = 0
    for epoch in range(1, epochs + 1):
        hidden, pos, t0 = model.init_hidden(batch_size), 0, time.time()
        while pos < n_cols - 2:
            seq_len = min(bptt_length(bptt, rng), n_cols - 1 - pos)
            lr = lr_at(min(iter_num, total_steps), total_steps) * seq_len / bptt  # AWD-LSTM's per-window scaling
            hidden = [(h.detach(), c.detach()) for h, c in hidden]  # truncated BPTT: keep the state, not its graph
            with ctx:
                logits, hidden, raw_output, output = model(data[:, pos:pos + seq_len], hidden)
                y = data[:, pos + 1:pos + 1 + seq_len]
                loss = (F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
                        + activation_regularization(output.float(), alpha)
                        + temporal_activation_regularization(raw_output.float(), beta))
            step(optimizer, loss, model.parameters(), lr, grad_clip)
            pos, iter_num = pos + seq_len, iter_num + 1
            if ctrl_c.pressed:
                return iter_num, eval_loss, True
        eval_loss = lm_eval_loss(model, eval_data, bptt, ctx)
        print(f"LM epoch {epoch} | train loss {loss.item():.4f} | {eval_split} loss {eval_loss:.4f} | ppl "
              f"{math.exp(eval_loss):.1f} | {time.time() - t0:.1f} s")
        log_json({"stage": "lm", "epoch": epoch, "loss": loss.item(), f"{eval_split}_loss": eval_loss})
    return iter_num, eval_loss, False

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


def classifier_from_checkpoint(ckpt):
    """A finetune.py classifier from its checkpoint: (classifier, family of its base model, task type,
    encode_example), where encode_example(record) gives the token sequences the classifier reads, made with the
    vocabulary and direction (ULMFiT) or tokenizer, special tokens and block_size (GPT-1) its training saved."""
    family = CLASSIFIERS[ckpt["model_type"]]
    task_type = ckpt.get("task_type", "classification")  # classifiers from before GPT-1's recipe name none
    if family == "awd_lstm":
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
    return clf, family, task_type, encode_example


def load_classifier(folder, device):
    """The checkpoint of the classifier a finetune.py run saved in folder, checked to be one."""
    path = os.path.join(folder, "classifier.pt")
    ckpt = load_checkpoint(path, device, model_type=None)
    if ckpt.get("model_type") not in CLASSIFIERS:
        raise SystemExit(f"{path} holds a {ckpt.get('model_type', 'gpt')} model, not a finetune.py classifier: "
                         "point --out_dir (or --ensemble) at a finetune.py run")
    return ckpt


def check_ensemble(task_type, labels, other, path):
    """Two classifiers' outputs can be averaged when they answer the same question: the same task type and the
    same labels, in the same order, since the probabilities are indexed by them. Their vocabularies, tokenizers,
    directions and even recipes may differ: each reads the raw text its own way (classifier_outputs)."""
    other_type = other.get("task_type", "classification")
    if other_type != task_type or other["labels"] != labels:
        raise SystemExit(f"ensemble: {path} is a {other_type} classifier with labels {other['labels']}, this one a "
                         f"{task_type} classifier with labels {labels}: average classifiers of the same task")


def classifier_outputs(ckpt, records, batch_size, device, ctx, where):
    """A saved classifier's outputs (class or choice probabilities, or scores for regression) on raw records, each
    encoded as that classifier reads text."""
    clf, family, task_type, encode_example = classifier_from_checkpoint(ckpt)
    examples = encode_records(records, encode_example, where)
    return predict(clf.to(device), family, task_type, examples, batch_size, device, ctx)


def encode_records(records, encode_example, where):
    """encode_example(record) for each record; one too long for the model (ValueError) is a one-line error."""
    examples = []
    for number, record in enumerate(records, 1):
        try:
            examples.append(encode_example(record))
        except ValueError as e:
            raise SystemExit(f"{where} example {number}: {e}") from None
    return examples


def model_inputs(family, batch, device):
    """A batch of examples (each a list of token sequences: one for the LSTM) as the classifier's arguments."""
    idx, lengths = collate_sequences(batch, device)
    return (idx[:, 0], lengths[:, 0]) if family == "awd_lstm" else (idx, lengths)


def decisions(outputs, task_type):
    """Each example's class (or choice) index from its probabilities, or its score for regression."""
    return outputs.tolist() if task_type == "regression" else outputs.argmax(-1).tolist()


@torch.no_grad()
def predict(clf, family, task_type, examples, batch_size, device, ctx):
    """Each example's class (or choice) probabilities, or its score for regression, in input order."""
    clf.eval()
    outputs = [None] * len(examples)
    for b in length_batches([max(map(len, ex)) for ex in examples], batch_size):
        with ctx:
            out = clf(*model_inputs(family, [examples[i] for i in b], device)).float().cpu()
        out = out[:, 0] if task_type == "regression" else F.softmax(out, dim=-1)
        for i, o in zip(b, out):
            outputs[i] = o
    return torch.stack(outputs)


def task_loss(task_type, out, y):
    """Cross-entropy over the classes (or choices); squared error for regression's one output."""
    if task_type == "regression":
        return F.mse_loss(out.float()[:, 0], torch.tensor(y, device=out.device, dtype=torch.float))
    return F.cross_entropy(out.float(), torch.tensor(y, device=out.device))


def training_loss(clf, family, task_type, batch, y, device, lm_coef=0.0, alpha=0.0, beta=0.0):
    """A batch's loss, and its parts to log ({name: value}) or None: the task loss, plus for a GPT lm_coef times the
    LM loss on the same sequences (GPT-1 eq. 5: L3 = L2 + lambda * L1), for an AWD-LSTM alpha times AR and beta
    times TAR on its encoder (as fastai's RNNRegularizer and ULMFiT's train_clas.py)."""
    inputs = model_inputs(family, batch, device)
    if family == "gpt" and lm_coef:
        out, lm_loss = clf(*inputs, with_lm=True)
        task_part = task_loss(task_type, out, y)
        return task_part + lm_coef * lm_loss, {"task_loss": task_part.item(), "lm_loss": lm_loss.item()}
    if family == "awd_lstm" and (alpha or beta):
        out, ar, tar = clf(*inputs, with_reg=True)
        task_part, reg = task_loss(task_type, out, y), alpha * ar + beta * tar
        return task_part + reg, {"task_loss": task_part.item(), "ar_tar": reg.item()}
    return task_loss(task_type, clf(*inputs), y), None


def read_new_records(path, task_type):
    """The examples predict mode labels: records with the task's fields from a .jsonl file, or for classification
    one text per line of a text file or of stdin (path -)."""
    if path != "-" and path.endswith(".jsonl"):
        return read_records(path, labelled=False, task_type=task_type)
    if task_type != "classification":
        raise SystemExit(f"predict: a {task_type} model reads .jsonl records with fields "
                         f"{', '.join(FIELDS[task_type])}; plain lines are only for classification")
    if path != "-" and not os.path.isfile(path):
        raise SystemExit(f"predict: no such file: {path} (give a .txt or .jsonl file, or - for stdin)")
    with open(0 if path == "-" else path, "rb") as f:
        return [{"text": line} for line in utf8(f.read(), path).split("\n") if line.strip()]


def prediction_line(record, output, decision, task_type, labels):
    """Predict mode's line for one example: its label and probability (the choice's index for multiple choice, the
    score alone for regression), then its fields, tab-separated."""
    shown = "\t".join(record[k] if isinstance(record[k], str) else json.dumps(record[k]) for k in FIELDS[task_type])
    if task_type == "regression":
        return f"{decision:.3f}\t{shown}"
    answer = decision if task_type == "multiple_choice" else labels[decision]
    return f"{answer}\t{float(output.max()):.3f}\t{shown}"


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

# -----------------------------------------------------------------------------


if __name__ == "__main__":
    from prepare import CtrlC, code_version, configure, load_task, precision

    # default settings: ULMFiT's (§4 "Hyperparameters"), fine-tuning its WikiText-103 LM on TREC-6;
    # config/gpt1_*.py hold GPT-1's
    _before = set(globals())
    # both recipes: I/O
    out_dir = "out-ulmfit-trec"
    mode = "train"  # 'train', or 'predict': label the examples in `input` with out_dir/classifier.pt
    input = "-"  # predict: a .jsonl file with the task's fields, a .txt file (one text per line), or - for stdin
    ensemble = ""  # another finetune.py out_dir of the same task: its classifier's probabilities are averaged with
    # this one's in predict mode and in the final evaluation (bidirectional ULMFiT, §3.4: forward and backward)
    init_from = "out-ulmfit-wt103"  # the pretrained LM: a train_lstm.py or train_gpt.py out_dir or .pt file, or
    # published weights: openai-gpt, gpt2, gpt2-medium, gpt2-large, gpt2-xl, or a folder in the hub's layout
    pretrained = True  # False: the same architecture, freshly initialised (the paper's "no pretraining" ablation)
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
    grad_clip = 25.0  # the task stage's total-norm clip. ULMFiT's paper gives none; its code (fastai's train_clas.py)
    # clips the classifier at 25: a guard against a rare explosion, not a limit on ordinary steps. GPT-1's: 1
    # both recipes: system
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = "auto"  # bfloat16 where supported, else float16 with a GradScaler on GPU; float32 on CPU
    seed = 1337
    # ULMFiT: the vocabulary
    vocab = "pretrained"  # LSTM: 'pretrained', the LM's words; 'task', the task's, new ones start at the mean row
    max_vocab = 60000  # vocab='task': the most frequent words (ULMFiT's cap) seen at least min_freq times
    min_freq = 2
    # ULMFiT: dropouts for fine-tuning (§4: 0.4 on layers, 0.3 on RNN layers, 0.4 on the input embedding
    # layer, 0.05 embedding dropout, 0.5 weight dropout), replacing the pretrained checkpoint's
    dropout_emb = 0.05
    dropout_in = 0.4
    dropout_hidden = 0.3
    dropout_out = 0.4
    weight_drop = 0.5
    # ULMFiT: target LM fine-tuning (§3.2), on the task's text, labelled or not
    lm_epochs = 15  # 0 switches it off (§4 footnote: 15 epochs for TREC-6 without overfitting)
    lm_texts = "train"  # 'train': the training and unlabelled texts; 'all': the held-out splits' texts too (never
    # their labels), as fastai's IMDb LM reads all 100k reviews; its eval loss is then on text it trained on
    lm_lr = 4e-3  # peak lr (§4)
    lm_batch_size = 64
    lm_grad_clip = 0.3  # total-norm clip. The paper gives none; its code (fastai's finetune_lm.py) clips the LM at
    # 0.3, near AWD-LSTM's 0.25 in pretraining: steps stay small, so fine-tuning adapts what pretraining learnt
    alpha = 2.0  # AR and TAR, as in pretraining
    beta = 1.0
    # ULMFiT: the classifier (§3.3)
    bptt = 70  # BPT3C chunk length, and the LM fine-tuning window
    max_len = 1400  # BPT3C: only the last max_len tokens of a document keep gradients (fastai: 20 windows of 70)
    head_hidden = 50
    head_dropout = (0.4, 0.1)  # the two head blocks (fastai's defaults: the first is the LM's output dropout)
    clf_ar_tar = True  # AR and TAR (alpha, beta) on the classifier's encoder too, over the positions that keep
    # gradients, as fastai's RNNRegularizer and ULMFiT's train_clas.py (alpha=2, beta=1); False: the ablation
    # GPT-1: fine-tuning (§3.3, §4.1)
    lm_coef = 0.5  # lambda: weight of the auxiliary LM loss (0 switches it off, §5's ablation)
    clf_dropout = 0.1  # before the linear head, one mask per example shared by its choices (OpenAI's train.py)
    gpt_dropout = 0.1  # residual, embedding and attention dropout inside the GPT while fine-tuning
    block_size = 0  # longest input sequence (0: the model's context)
    config = configure({k: v for k, v in globals().items() if k not in _before and not k.startswith("_")})
    globals().update(config)
    for key, value, allowed in (("mode", mode, ("train", "predict")), ("vocab", vocab, ("pretrained", "task")),
                                ("schedule", schedule, ("stlr", "linear", "constant", "cosine")),
                                ("lm_texts", lm_texts, ("train", "all"))):
        if value not in allowed:
            raise SystemExit(f"config: {key} must be one of {', '.join(allowed)}, not '{value}'")
    if len(head_dropout) != 2:
        raise SystemExit(f"config: head_dropout is two probabilities, one per head block, not {head_dropout}")

    # device and precision, as in the training scripts. No torch.compile: Dynamo cannot trace nn.LSTM, and a
    # fine-tuning run is too short for compiling the GPT to pay back its minutes
    device_type, dtype, ctx = precision(device, dtype)
    scaler = torch.amp.GradScaler(device_type, enabled=dtype == "float16")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    clf_path, lm_path = os.path.join(out_dir, "classifier.pt"), os.path.join(out_dir, "lm.pt")

    # predict: label new examples with a trained classifier, or the average of two (ensemble): one line out per
    # example in
    if mode == "predict":
        members = [load_classifier(out_dir, device)] + ([load_classifier(ensemble, device)] if ensemble else [])
        task_type, labels = members[0].get("task_type", "classification"), members[0]["labels"]
        if ensemble:
            check_ensemble(task_type, labels, members[1], ensemble)
        new_records = read_new_records(input, task_type)
        outputs = sum(classifier_outputs(ckpt, new_records, batch_size, device, ctx, "predict:")
                      for ckpt in members) / len(members)
        for record, output, decision in zip(new_records, outputs, decisions(outputs, task_type)):
            print(prediction_line(record, output, decision, task_type, labels))
        sys.exit(0)

    # data: the task's splits, with n_train labelled examples drawn for training
    info, splits = load_task(task)
    task_type, labels = info["type"], info.get("labels")
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
    if os.path.exists(clf_path):  # never overwrite an earlier run's classifier
        raise SystemExit(f"{out_dir} already holds a classifier ({clf_path}): choose another --out_dir, delete it, "
                         f"or label examples with it: --mode=predict")
    targets = {split: [labels.index(r["label"]) if labels else r["label"] for r in records]  # class, choice or score
               for split, records in labelled.items()}
    if ensemble:  # the classifier to average with this one in the end (§3.4), checked before any training
        partner = load_classifier(ensemble, "cpu")
        check_ensemble(task_type, labels, partner, ensemble)

    # the pretrained model's type picks the recipe: ULMFiT for an AWD-LSTM, GPT-1's for a GPT (a train_gpt.py
    # checkpoint or published weights); each is checked here, before anything is written, and built in its section
    if is_published(init_from):  # OpenAI's GPT-1/GPT-2 weights
        family = "gpt"
    else:
        base_path = checkpoint_path(init_from)  # a run folder: its best.pt, else its latest.pt
        base_ckpt = load_checkpoint(base_path, "cpu", model_type=None)
        family = base_ckpt.get("model_type", "gpt")
    backwards = family == "awd_lstm" and base_ckpt.get("backwards", False)  # a backward LM reads right to left (§3.4)
    if family == "awd_lstm":
        base_meta = base_ckpt["meta"]
        if task_type != "classification":
            raise SystemExit(f"finetune: ULMFiT's classifier reads one text; {task} is a {task_type} task: "
                             "fine-tune a GPT (init_from a train_gpt.py checkpoint) for it")
        if base_meta["tokenizer"] != "word" or base_meta["vocab"][:2] != [EOS, UNK]:
            raise SystemExit(f"finetune: {base_path} was trained on a {base_meta['tokenizer']} vocabulary; ULMFiT "
                             "reads words: pretrain on word-level data (prepare.py's word tokenizer)")
    elif family != "gpt":
        raise SystemExit(f"finetune: {base_path} holds a {family} model; init_from takes a language model: a "
                         "train_lstm.py or train_gpt.py checkpoint or out_dir")
    elif lm_epochs:
        raise SystemExit("finetune: lm_epochs is ULMFiT's LM fine-tuning stage; GPT-1 trains the LM loss alongside "
                         "the task instead (lm_coef): set lm_epochs=0, or continue pretraining with train_gpt.py")

    os.makedirs(out_dir, exist_ok=True)

    def log_json(record):
        with open(os.path.join(out_dir, "log.jsonl"), "a") as f:
            f.write(json.dumps(record) + "\n")

    version = code_version()
    print(f"origins finetune.py @ {version} | torch {torch.__version__} | {device} {dtype} | task {task} "
          f"({task_type}): {len(train_records):,} labelled train examples | init_from {init_from}"
          + (" (backward LM)" if backwards else "") + ("" if pretrained else " (architecture only: not pretrained)"))
    print("config: " + json.dumps(config))
    log_json({"version": version, "torch": torch.__version__, "device": device, "dtype": dtype, "config": config})

    # Ctrl-C: finish the current step, save the model being trained, exit; a second Ctrl-C stops at once
    ctrl_c = CtrlC("saving after this step")
    factor = lr_factor if discriminative else 1.0

    def step(optimizer, loss, params, lr, clip):
        if not math.isfinite(loss.item()):
            ctrl_c.restore()
            raise SystemExit(f"loss is {loss.item()}: stopping without saving; try a lower learning rate or "
                             "dtype=float32")
        set_lr(optimizer, lr)
        scaler.scale(loss).backward()
        if clip:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(params, clip)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)

    if family == "awd_lstm":
        # ULMFiT: sets clf, groups, examples and extra (the checkpoint's recipe part) for the shared loop. The LM
        # with the fine-tuning dropouts and its vocabulary (or the task's), target LM fine-tuning, the classifier.
        # A backward LM (§3.4) reads every document right to left, in both stages
        lm_docs = lm_corpus(splits, lm_texts)  # all the training text, labelled or not (or every split's)
        known = set(base_meta["vocab"]) if pretrained else set()  # without pretraining, tokenise as if no LM existed
        vocab_list = build_vocab(lm_docs, known, max_vocab, min_freq) if vocab == "task" else base_meta["vocab"]
        model, model_args = task_lm(base_ckpt, vocab_list, pretrained, dict(
            dropout_emb=dropout_emb, dropout_in=dropout_in, dropout_hidden=dropout_hidden, dropout_out=dropout_out,
            weight_drop=weight_drop))
        model, base_ckpt = model.to(device), None  # the model holds the weights now
        stoi = {w: i for i, w in enumerate(vocab_list)}
        examples = {split: [[document_ids(r["text"], stoi, backwards)] for r in records]
                    for split, records in labelled.items()}
        train_ids = [ex[0] for ex in examples["train"]]
        unk_rate = sum(d.count(stoi[UNK]) for d in train_ids) / sum(map(len, train_ids))
        print(f"vocabulary: {len(vocab_list):,} words ({vocab}); {unk_rate:.1%} of the labelled train tokens are {UNK}")
        if lm_epochs:  # target LM fine-tuning (§3.2), saved as lm.pt, an ordinary train_lstm.py checkpoint
            stream = torch.tensor([i for text in lm_docs for i in document_ids(text, stoi, backwards)], device=device)
            if len(stream) < 2 * lm_batch_size:  # each row needs a token and the one after it
                raise SystemExit(f"data: {task}'s training text is too short for lm_batch_size={lm_batch_size}")
            eval_stream = torch.tensor([i for ex in examples[eval_split] for i in ex[0]], device=device)
            lm_optimizer = make_optimizer(lm_groups(model), factor, (beta1, beta2), weight_decay)
            lm_iters, latest_lm_loss, interrupted = fine_tune_lm(
                model, stream, eval_stream, eval_split, epochs=lm_epochs, batch_size=lm_batch_size, bptt=bptt,
                lr_at=partial(schedule_lr, schedule, lr_max=lm_lr, cut_frac=cut_frac, ratio=stlr_ratio),
                alpha=alpha, beta=beta, optimizer=lm_optimizer, grad_clip=lm_grad_clip, step=step, ctx=ctx, rng=rng,
                ctrl_c=ctrl_c, log_json=log_json)
            save_checkpoint(lm_path, dict(model=model.state_dict(), model_args=model_args, model_type="awd_lstm",
                                          meta={"dataset": task, "tokenizer": "word", "vocab_size": len(vocab_list),
                                                "vocab": vocab_list, "splits": {}}, config=config, iter_num=lm_iters,
                                          best_val_loss=latest_lm_loss,  # the latest: LM fine-tuning selects none
                                          backwards=backwards))  # so sample.py and eval.py read it as it reads
            if interrupted:
                ctrl_c.restore()
                print(f"interrupted in LM fine-tuning: saved {lm_path}; use it with --init_from={lm_path} "
                      f"--lm_epochs=0 --out_dir=NEW")
                sys.exit(130)  # as a shell reports a Ctrl-C'd program (128 + SIGINT)
        clf = PoolingClassifier(model, len(labels), head_hidden, head_dropout, bptt, max_len).to(device)
        groups = classifier_groups(clf)
        extra = dict(model_type="ulmfit_classifier", model_args=model_args, vocab=vocab_list, backwards=backwards,
                     head_args=dict(hidden=head_hidden, dropout=head_dropout, bptt=bptt, max_len=max_len))
    else:
        # GPT-1: sets clf, groups, examples and extra (the checkpoint's recipe part) for the shared loop. Three new
        # tokens after the vocabulary (start, delimiter, extract), every example rewritten into token sequences
        if is_published(init_from):
            gpt = GPT.from_pretrained(init_from)
            base_meta = gpt.meta
        else:
            gpt, base_meta, base_ckpt = model_from_checkpoint(base_ckpt), base_ckpt["meta"], None  # free its copy
        block_size = block_size or gpt.config.block_size
        if block_size > gpt.config.block_size:
            raise SystemExit(f"config: block_size={block_size} is longer than the model's context "
                             f"({gpt.config.block_size})")
        encode, _ = get_tokenizer(base_meta)
        V = gpt.config.vocab_size
        special = (V, V + 1, V + 2)  # start, delimiter, extract: the ids after the pretrained vocabulary
        gpt = add_tokens(gpt, len(special), gpt_dropout)
        if not pretrained:
            gpt = GPT(gpt.config)
        n_out = 1 if task_type in ("regression", "multiple_choice") else len(labels)
        clf = GPTTaskModel(gpt, task_type, n_out, clf_dropout).to(device)

        def encode_example(record):
            return transform(record, task_type, encode, special, block_size)

        examples = {split: encode_records(records, encode_example, f"data: {task} {split}")
                    for split, records in labelled.items()}
        seq_lengths = [len(s) for ex in examples["train"] for s in ex]
        print(f"{task_type} inputs: {len(examples['train'][0])} sequence(s) per example, {np.mean(seq_lengths):.0f} "
              f"tokens on average, longest {max(seq_lengths)} (block_size {block_size})")
        groups = gpt_groups(clf)
        extra = dict(model_type="gpt_classifier", model_args=dataclasses.asdict(gpt.config), n_out=n_out,
                     special=special, meta=base_meta, block_size=block_size)

    # the shared loop: task fine-tuning with gradual unfreezing (ULMFiT), each stage its own schedule cycle, as
    # fastai does
    optimizer = make_optimizer(groups, factor, (beta1, beta2), weight_decay)
    all_params = [p for g in groups for p in g]

    def save_classifier(path):
        save_checkpoint(path, dict(model=clf.state_dict(), labels=labels, task_type=task_type, config=config,
                                   **extra))

    def metrics(outputs, split):
        return task_metrics(task_type, decisions(outputs, task_type), targets[split], labels)

    def evaluate(split):
        return metrics(predict(clf, family, task_type, examples[split], batch_size, device, ctx), split)

    steps_per_epoch = math.ceil(len(train_records) / batch_size)
    example_lengths = [max(map(len, ex)) for ex in examples["train"]]
    epoch = 0
    for n_trainable, stage_epochs in unfreezing_stages(epochs, len(groups), gradual_unfreezing):
        freeze(groups, n_trainable)
        stage_steps, stage_step = stage_epochs * steps_per_epoch, 0
        for _ in range(stage_epochs):
            epoch += 1
            clf.train()
            t0, losses, parts = time.time(), [], []
            for b in length_batches(example_lengths, batch_size, rng):
                if len(b) == 1 and family == "awd_lstm":  # BatchNorm cannot normalise a batch of one
                    continue
                lr = schedule_lr(schedule, stage_step, stage_steps, learning_rate, cut_frac, stlr_ratio)
                with ctx:
                    loss, loss_parts = training_loss(clf, family, task_type, [examples["train"][i] for i in b],
                                                     [targets["train"][i] for i in b], device, lm_coef=lm_coef,
                                                     alpha=alpha if clf_ar_tar else 0, beta=beta if clf_ar_tar else 0)
                step(optimizer, loss, all_params, lr, grad_clip)
                losses.append(loss.item())
                if loss_parts:
                    parts.append(loss_parts)
                stage_step += 1
                if ctrl_c.pressed:
                    save_classifier(clf_path)
                    ctrl_c.restore()
                    print(f"interrupted at epoch {epoch}: saved {clf_path} as it is")
                    sys.exit(130)
            results = {f"{eval_split}_{k}": v for k, v in evaluate(eval_split).items()}
            if parts:  # the task loss apart from GPT-1's auxiliary LM loss or ULMFiT's AR and TAR, to see what they do
                results = {**{k: float(np.mean([p[k] for p in parts])) for k in parts[0]}, **results}
            print(f"epoch {epoch} | {n_trainable}/{len(groups)} groups trainable | train loss {np.mean(losses):.4f} | "
                  + " | ".join(f"{k.replace('_', ' ')} {v:.4f}" for k, v in results.items())
                  + f" | {time.time() - t0:.1f} s", flush=True)
            log_json({"stage": "classifier", "epoch": epoch, "groups": n_trainable, "loss": float(np.mean(losses)),
                      **results})

    # the final model on every labelled held-out split (no selection on test: the last epoch is reported); with an
    # ensemble, the other classifier too (it reads the raw records its own way) and the two's probabilities averaged
    ctrl_c.restore()
    save_classifier(clf_path)
    held_out = [split for split in ("val", "test") if split in examples]
    outputs = {split: predict(clf, family, task_type, examples[split], batch_size, device, ctx) for split in held_out}
    reports = [("", f"{'backward' if backwards else 'forward'} ({out_dir})", outputs)]
    if ensemble:
        other = {split: classifier_outputs(partner, labelled[split], batch_size, device, ctx, f"ensemble: {split}")
                 for split in held_out}
        averaged = {split: (outputs[split] + other[split]) / 2 for split in held_out}
        reports += [("partner_", f"{'backward' if partner.get('backwards') else 'forward'} ({ensemble})", other),
                    ("ensemble_", "ensemble (probabilities averaged)", averaged)]
    final = {"ensemble": ensemble} if ensemble else {}
    for prefix, name, outs in reports:
        results = {}
        for split in held_out:
            for metric, value in metrics(outs[split], split).items():
                results[f"{split}_{metric}"] = value
                if metric == "accuracy":
                    results[f"{split}_error"] = 1 - value
        print((f"{name}: " if ensemble else "") + " | ".join(f"{k} {v:.4f}" for k, v in results.items()))
        final.update({prefix + k: v for k, v in results.items()})
    print(f"saved {clf_path}")
    log_json({"stage": "final", **final})
