"""
Transfer learning: fine-tune a pretrained language model into a text classifier.

ULMFiT (Howard & Ruder 2018) on train_lstm.py's AWD-LSTM: target-task LM fine-tuning (§3.2), then a classifier
with concat pooling, gradual unfreezing, discriminative learning rates and slanted triangular schedules (§3.3).
$ python prepare.py wikitext103 --max_vocab 60000 && python train_lstm.py config/ulmfit_wt103.py  # pretrain
$ python prepare.py trec --from ../shared/data/trec                                                 # the task
$ python finetune.py config/ulmfit_trec.py                                    # LM fine-tuning, then classifier
$ python finetune.py config/ulmfit_trec.py --gradual_unfreezing=False         # one of the paper's ablations
$ echo "Who wrote Hamlet ?" | python finetune.py --mode=predict --out_dir=out-ulmfit-trec

Switches for the paper's ablations (§5): init_from='scratch' (no pretraining), lm_epochs=0 (no LM fine-tuning),
discriminative=False, schedule='constant' or 'cosine', gradual_unfreezing=False, n_train=100 (low-shot).
"""

import json
import math
import os
import re
import signal
import sys
import time
from collections import Counter

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from train_gpt import load_checkpoint
from train_lstm import (AWDLSTM, LSTMConfig, activation_regularization, bptt_length, save_checkpoint, stlr,
                        temporal_activation_regularization)

EOS, UNK = "<eos>", "<unk>"  # prepare.py's word-level conventions: token 0 ends a line, token 1 is any unknown word

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

# -----------------------------------------------------------------------------
# the classifier (§3.3)


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
        lengths are `lengths` (B,). BPT3C: the batch is read in bptt-sized chunks with the hidden state carried;
        the chunks are aligned to the end and only those within the last max_len tokens keep gradients, so
        memory stays bounded however long a document is while pooling still sees all of it. Padding comes
        after each document, so the (causal) LSTM's states at real tokens never see it, and pooling masks it."""
        B, L = idx.shape
        mask = torch.arange(L, device=idx.device)[None, :] < lengths[:, None]  # (B, L)
        hidden = self.encoder.init_hidden(B)
        E = self.encoder.config.emb_size
        last = idx.new_zeros(B, E, dtype=torch.float)
        maxes = torch.full((B, E), float("-inf"), device=idx.device)
        sums = idx.new_zeros(B, E, dtype=torch.float)
        bounds = [0] + list(range(L % self.bptt or self.bptt, L + 1, self.bptt))
        for start, end in zip(bounds, bounds[1:]):
            with torch.set_grad_enabled(torch.is_grad_enabled() and start >= L - self.max_len):
                hidden, raw_output, _ = self.encoder.encode(idx[:, start:end], hidden)
                out = raw_output.float()  # (B, T, E): pooled before output dropout, which the head applies
                m = mask[:, start:end, None]
                sums = sums + (out * m).sum(1)
                maxes = torch.maximum(maxes, out.masked_fill(~m, float("-inf")).amax(1))
                at = (lengths - 1 - start).clamp(0, end - start - 1)  # each row's last real token, if in here
                here = ((lengths - 1 >= start) & (lengths - 1 < end))[:, None]
                last = torch.where(here, out[torch.arange(B), at], last)
        return torch.cat([last, maxes, sums / lengths[:, None]], dim=1)

    def forward(self, idx, lengths):
        return self.head(self.features(idx, lengths))  # logits (B, n_classes)


def lm_groups(model):
    """The LM's layer groups, lowest first: each LSTM layer, then the tied embedding/decoder, which is the input
    and the output layer at once; as fastai's split, it is fine-tuned at the highest rate."""
    return [list(rnn.parameters()) for rnn in model.rnns] + [[model.encoder.weight, model.decoder.bias]]


def classifier_groups(clf):
    """The classifier's layer groups, lowest first: embedding, each LSTM layer, the head (the unused decoder bias
    is in none, so it is never trained)."""
    enc = clf.encoder
    return [[enc.encoder.weight]] + [list(rnn.parameters()) for rnn in enc.rnns] + [list(clf.head.parameters())]


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
    """The top group's lr at step it of total: STLR (§3.2, eq. 3), constant, or a cosine decay to zero."""
    if name == "stlr":
        return stlr(it, total, lr_max, cut_frac, ratio)
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


def length_batches(lengths, batch_size, rng=None):
    """Batches of indices of similar lengths, so little is padding. With rng (training), a shuffled order is cut
    into chunks of 50 batches, each sorted by length, and the batches shuffled (fastai's SortishSampler);
    without (evaluation), all sorted, longest first."""
    lengths = np.asarray(lengths)
    if rng is None:
        order = np.argsort(-lengths, kind="stable")
    else:
        order = rng.permutation(len(lengths))
        chunk = 50 * batch_size
        order = np.concatenate([sorted(order[i:i + chunk], key=lambda j: -lengths[j])
                                for i in range(0, len(order), chunk)])
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def collate(docs, device):
    """Right-padded (B, L) token ids (padding with <eos>, never seen past the masks) and the lengths (B,)."""
    lengths = torch.tensor([len(d) for d in docs])
    idx = torch.zeros(len(docs), int(lengths.max()), dtype=torch.long)
    for i, d in enumerate(docs):
        idx[i, :len(d)] = torch.tensor(d)
    return idx.to(device), lengths.to(device)


def load_classifier(path, device="cpu"):
    """A finetune.py classifier checkpoint: the model in eval mode, its labels and its vocabulary."""
    ckpt = load_checkpoint(path, device, model_type="ulmfit_classifier")
    encoder = AWDLSTM(LSTMConfig(**ckpt["model_args"]))
    clf = PoolingClassifier(encoder, len(ckpt["labels"]), **ckpt["head_args"])
    clf.load_state_dict(ckpt["model"])
    return clf.to(device).eval(), ckpt["labels"], ckpt["vocab"]

# -----------------------------------------------------------------------------


if __name__ == "__main__":
    from contextlib import nullcontext

    from prepare import code_version, configure, load_task, read_records, utf8

    # default settings: the paper's (§4 "Hyperparameters"), fine-tuning ULMFiT's WikiText-103 LM on TREC-6
    _before = set(globals())
    # I/O
    out_dir = "out-ulmfit-trec"
    mode = "train"  # 'train', or 'predict': label the texts of `input` with out_dir/classifier.pt
    input = "-"  # predict: a .txt file (one text per line), a .jsonl file ({"text": ...} per line), or - for stdin
    init_from = "out-ulmfit-wt103"  # the pretrained LM: a train_lstm.py out_dir or .pt file, or 'scratch'
    # data
    task = "trec"  # prepared by prepare.py into data/TASK/{train,test,...}.jsonl
    n_train = 0  # labelled training examples drawn at random (0: all), for the low-shot experiment (§5)
    vocab = "pretrained"  # 'pretrained': the LM's own words; 'task': the task's, new ones start at the mean row
    max_vocab = 60000  # vocab='task': the most frequent words (ULMFiT's cap) seen at least min_freq times
    min_freq = 2
    # model: the sizes come from the pretrained checkpoint, these only for init_from='scratch'
    emb_size = 400
    hidden_size = 1150
    n_layers = 3
    # dropouts for fine-tuning (§4: 0.4 on layers, 0.3 on RNN layers, 0.4 on the input embedding layer, 0.05
    # embedding dropout, 0.5 weight dropout), replacing the pretrained checkpoint's
    dropout_emb = 0.05
    dropout_in = 0.4
    dropout_hidden = 0.3
    dropout_out = 0.4
    weight_drop = 0.5
    # target LM fine-tuning (§3.2), on all the task's training text, labelled or not
    lm_epochs = 15  # 0 switches LM fine-tuning off (§4 footnote: 15 epochs for TREC-6 without overfitting)
    lm_lr = 4e-3  # peak lr (§4)
    lm_batch_size = 64
    alpha = 2.0  # AR and TAR, as in pretraining
    beta = 1.0
    # classifier fine-tuning (§3.3)
    epochs = 50  # (§4 footnote: 50 epochs is a good default)
    learning_rate = 0.01  # peak lr of the top group (§4)
    batch_size = 64
    bptt = 70  # BPT3C chunk length, and the LM fine-tuning window
    max_len = 1400  # BPT3C: only the last max_len tokens of a document keep gradients (fastai: 20 windows of 70)
    head_hidden = 50
    head_dropout = (0.4, 0.1)  # the two head blocks (fastai's defaults: the first is the LM's output dropout)
    # the optimisation tricks and their ablation switches (§3.2, §3.3, §5)
    discriminative = True
    lr_factor = 2.6  # each lower group's lr is the one above divided by this (§3.2)
    schedule = "stlr"  # 'stlr', 'constant' or 'cosine'; for both the LM and the classifier
    cut_frac = 0.1  # STLR (§3.2)
    stlr_ratio = 32
    gradual_unfreezing = True
    beta1 = 0.7  # Adam (§4)
    beta2 = 0.99
    weight_decay = 0.01  # decoupled (AdamW), fastai's default
    grad_clip = 0.25
    # system
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = "auto"  # bfloat16 where supported, else float16 with a GradScaler on GPU; float32 on CPU
    seed = 1337
    config = configure({k: v for k, v in globals().items() if k not in _before and not k.startswith("_")})
    globals().update(config)
    for key, value, allowed in (("mode", mode, ("train", "predict")), ("vocab", vocab, ("pretrained", "task")),
                                ("schedule", schedule, ("stlr", "constant", "cosine"))):
        if value not in allowed:
            raise SystemExit(f"config: {key} must be one of {', '.join(allowed)}, not '{value}'")
    if len(head_dropout) != 2:
        raise SystemExit(f"config: head_dropout is two probabilities, one per head block, not {head_dropout}")
    if init_from == "scratch" and vocab == "pretrained":
        vocab = "task"  # nothing pretrained: the vocabulary can only be the task's

    # device and precision, as in the training scripts. No torch.compile: Dynamo cannot trace nn.LSTM, and what
    # follows it here (a task-sized vocabulary's decoder, a 50-unit head) is too small for compiling to pay
    device_type = "cuda" if device.startswith("cuda") else "cpu"
    if dtype == "auto":
        dtype = ("bfloat16" if torch.cuda.is_bf16_supported() else "float16") if device_type == "cuda" else "float32"
    if dtype not in ("float32", "bfloat16", "float16"):
        raise SystemExit(f"config: dtype must be auto, float32, bfloat16 or float16, not '{dtype}'")
    ctx = nullcontext() if dtype == "float32" else torch.autocast(device_type=device_type, dtype=getattr(torch, dtype))
    scaler = torch.amp.GradScaler(device_type, enabled=dtype == "float16")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    clf_path, lm_path = os.path.join(out_dir, "classifier.pt"), os.path.join(out_dir, "lm.pt")

    @torch.no_grad()
    def classify(clf, docs, bs):
        """Class probabilities (N, C) of token-id documents, in batches of similar lengths, in input order."""
        clf.eval()
        probs = torch.zeros(len(docs), clf.head[-1].out_features)
        for b in length_batches([len(d) for d in docs], bs):
            with ctx:
                logits = clf(*collate([docs[i] for i in b], device))
            probs[torch.as_tensor(b)] = F.softmax(logits.float(), dim=-1).cpu()
        return probs

    # predict: label new texts with a trained classifier, one line out per text in: label, probability, text
    if mode == "predict":
        clf, labels, vocab_list = load_classifier(clf_path, device)
        stoi = {w: i for i, w in enumerate(vocab_list)}
        if input == "-":
            texts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
        elif input.endswith(".jsonl"):
            texts = [r["text"] for r in read_records(input, labelled=False)]
        elif os.path.isfile(input):
            with open(input, "rb") as f:
                texts = [line for line in utf8(f.read(), input).split("\n") if line.strip()]
        else:
            raise SystemExit(f"predict: no such file: {input} (give a .txt or .jsonl file, or - for stdin)")
        probs = classify(clf, [numericalize(t, stoi) for t in texts], batch_size)
        for text, p in zip(texts, probs):
            print(f"{labels[int(p.argmax())]}\t{float(p.max()):.3f}\t{text}")
        sys.exit(0)

    # data: the task's labelled splits, numericalised with the LM's vocabulary (or the task's own)
    info, splits = load_task(task)
    labels = info["labels"]
    train_records = splits["train"]
    if n_train:
        if n_train > len(train_records):
            raise SystemExit(f"config: n_train={n_train} but {task} has {len(train_records)} training examples")
        train_records = [train_records[i] for i in sorted(rng.choice(len(train_records), n_train, replace=False))]
    lm_texts = [r["text"] for r in splits["train"] + splits.get("unsup", [])]  # all of it: labels are not needed

    # the pretrained LM (or a fresh one), with the dropouts for fine-tuning
    dropouts = dict(dropout_emb=dropout_emb, dropout_in=dropout_in, dropout_hidden=dropout_hidden,
                    dropout_out=dropout_out, weight_drop=weight_drop)
    if os.path.exists(clf_path):  # never overwrite an earlier run's classifier
        raise SystemExit(f"{out_dir} already holds a classifier ({clf_path}): choose another --out_dir, delete it, "
                         f"or label texts with it: --mode=predict")
    if init_from == "scratch":
        old_vocab = []
        model_args = dict(emb_size=emb_size, hidden_size=hidden_size, n_layers=n_layers, **dropouts)
        state = None
    else:
        path = os.path.join(init_from, "best.pt") if os.path.isdir(init_from) else init_from
        ckpt = load_checkpoint(path, "cpu", model_type=None)
        if ckpt.get("model_type", "gpt") != "awd_lstm":
            raise SystemExit(f"finetune: {path} holds a {ckpt.get('model_type', 'gpt')} model; ULMFiT fine-tunes an "
                             "AWD-LSTM language model: point init_from at a train_lstm.py checkpoint or out_dir")
        if ckpt["meta"]["tokenizer"] != "word" or ckpt["meta"]["vocab"][:2] != [EOS, UNK]:
            raise SystemExit(f"finetune: {path} was trained on a {ckpt['meta']['tokenizer']} vocabulary; ULMFiT "
                             "reads words: pretrain on word-level data (prepare.py's word tokenizer)")
        old_vocab = ckpt["meta"]["vocab"]
        model_args = {**ckpt["model_args"], **dropouts}
        state = ckpt["model"]
        ckpt = None
    vocab_list = build_vocab(lm_texts, set(old_vocab), max_vocab, min_freq) if vocab == "task" else old_vocab
    model_args["vocab_size"] = len(vocab_list)
    model = AWDLSTM(LSTMConfig(**model_args))
    if state is not None:
        if vocab == "task":
            state["encoder.weight"], state["decoder.bias"] = transfer_embedding(
                state["encoder.weight"], state["decoder.bias"], old_vocab, vocab_list)
            state["decoder.weight"] = state["encoder.weight"]
        model.load_state_dict(state)
    model.to(device)
    stoi = {w: i for i, w in enumerate(vocab_list)}
    docs = {split: [numericalize(r["text"], stoi) for r in records]
            for split, records in {**splits, "train": train_records}.items() if split != "unsup"}
    targets = {split: torch.tensor([labels.index(r["label"]) for r in records])
               for split, records in {**splits, "train": train_records}.items() if split != "unsup"}
    unk_rate = sum(d.count(stoi[UNK]) for d in docs["train"]) / sum(map(len, docs["train"]))
    eval_split = "val" if "val" in docs else "test"

    os.makedirs(out_dir, exist_ok=True)

    def log_json(record):
        with open(os.path.join(out_dir, "log.jsonl"), "a") as f:
            f.write(json.dumps(record) + "\n")

    version = code_version()
    print(f"origins finetune.py @ {version} | torch {torch.__version__} | {device} {dtype} | task {task}: "
          f"{len(train_records):,} labelled train examples, {len(labels)} classes | vocabulary "
          f"{len(vocab_list):,} words ({vocab}), {unk_rate:.1%} of train tokens <unk> | init_from {init_from}")
    print("config: " + json.dumps(config))
    log_json({"version": version, "torch": torch.__version__, "device": device, "dtype": dtype, "config": config})

    # Ctrl-C: finish the current step, save the model being trained, exit; a second Ctrl-C stops at once
    interrupted = False

    def on_sigint(signum, frame):
        global interrupted
        if interrupted:
            raise KeyboardInterrupt
        interrupted = True
        print("\nCtrl-C: saving after this step (Ctrl-C again to quit without saving)", flush=True)

    previous_handler = signal.signal(signal.SIGINT, on_sigint)  # put back on exit: the script may run in-process
    factor = lr_factor if discriminative else 1.0

    def step(optimizer, loss, params, lr):
        if not math.isfinite(loss.item()):
            signal.signal(signal.SIGINT, previous_handler)
            raise SystemExit(f"loss is {loss.item()}: stopping without saving; try a lower learning rate or "
                             "dtype=float32")
        set_lr(optimizer, lr)
        scaler.scale(loss).backward()
        if grad_clip:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)

    def save_lm(path):  # an ordinary train_lstm.py checkpoint, so sample.py and init_from read it
        save_checkpoint(path, dict(model=model.state_dict(), model_args=model_args, model_type="awd_lstm",
                                   meta={"dataset": task, "tokenizer": "word", "vocab_size": len(vocab_list),
                                         "vocab": vocab_list, "splits": {}},
                                   config=config, iter_num=it, best_val_loss=val))  # val: the latest LM eval

    # target LM fine-tuning (§3.2): the task's text as one stream, discriminative lrs, STLR, AR/TAR as pretraining
    if lm_epochs:
        stream = torch.tensor([i for text in lm_texts for i in numericalize(text, stoi)])
        n = len(stream) // lm_batch_size
        if n < 2:
            raise SystemExit(f"data: {task}'s training text is too short for lm_batch_size={lm_batch_size}")
        data = stream[:n * lm_batch_size].view(lm_batch_size, n).to(device)  # (B, N) contiguous streams
        eval_stream = torch.tensor([i for d in docs[eval_split] for i in d], device=device)[None]  # (1, N)
        groups = lm_groups(model)
        optimizer = make_optimizer(groups, factor, (beta1, beta2), weight_decay)
        total = lm_epochs * math.ceil((n - 1) / bptt)
        it = 0

        @torch.no_grad()
        def lm_loss(data):
            model.eval()
            h, total_loss = model.init_hidden(data.size(0)), 0.0
            for i in range(0, data.size(1) - 1, bptt):
                with ctx:
                    logits, h, _, _ = model(data[:, i:i + bptt], h)
                    y = data[:, i + 1:i + 1 + bptt]
                    total_loss += F.cross_entropy(logits[:, :y.size(1)].float().flatten(0, 1), y.flatten(),
                                                  reduction="sum").item()
            model.train()
            return total_loss / (data.numel() - data.size(0))

        val = lm_loss(eval_stream)
        print(f"LM fine-tuning: {len(stream):,} tokens, {lm_epochs} epochs; {eval_split} loss before {val:.4f}")
        log_json({"stage": "lm", "epoch": 0, f"{eval_split}_loss": val})
        model.train()
        for epoch in range(1, lm_epochs + 1):
            hidden, pos, t0 = model.init_hidden(lm_batch_size), 0, time.time()
            while pos < n - 2:
                seq_len = min(bptt_length(bptt, rng), n - 1 - pos)
                lr = schedule_lr(schedule, min(it, total), total, lm_lr, cut_frac, stlr_ratio) * seq_len / bptt
                hidden = [(h.detach(), c.detach()) for h, c in hidden]
                with ctx:
                    logits, hidden, raw_output, output = model(data[:, pos:pos + seq_len], hidden)
                    loss = (F.cross_entropy(logits.float().flatten(0, 1), data[:, pos + 1:pos + 1 + seq_len].flatten())
                            + activation_regularization(output.float(), alpha)
                            + temporal_activation_regularization(raw_output.float(), beta))
                step(optimizer, loss, model.parameters(), lr)
                pos, it = pos + seq_len, it + 1
                if interrupted:
                    save_lm(lm_path)
                    signal.signal(signal.SIGINT, previous_handler)
                    print(f"interrupted in LM fine-tuning: saved {lm_path}; use it with --init_from={lm_path} "
                          f"--lm_epochs=0 --out_dir=NEW")
                    sys.exit(130)
            val = lm_loss(eval_stream)
            print(f"LM epoch {epoch} | train loss {loss.item():.4f} | {eval_split} loss {val:.4f} | ppl "
                  f"{math.exp(val):.1f} | {time.time() - t0:.1f} s")
            log_json({"stage": "lm", "epoch": epoch, "loss": loss.item(), f"{eval_split}_loss": val})
        save_lm(lm_path)
        optimizer = None

    # classifier fine-tuning (§3.3): gradual unfreezing, each stage with its own STLR cycle, as fastai does
    clf = PoolingClassifier(model, len(labels), head_hidden, head_dropout, bptt, max_len).to(device)
    head_args = dict(hidden=head_hidden, dropout=head_dropout, bptt=bptt, max_len=max_len)
    groups = classifier_groups(clf)
    optimizer = make_optimizer(groups, factor, (beta1, beta2), weight_decay)
    all_params = [p for g in groups for p in g]

    def save_classifier(path):
        save_checkpoint(path, dict(model=clf.state_dict(), model_args=model_args, head_args=head_args,
                                   labels=labels, vocab=vocab_list, model_type="ulmfit_classifier", config=config))

    def accuracy(split):
        return (classify(clf, docs[split], batch_size).argmax(1) == targets[split]).float().mean().item()

    steps_per_epoch = math.ceil(len(train_records) / batch_size)
    epoch = 0
    for n_trainable, stage_epochs in unfreezing_stages(epochs, len(groups), gradual_unfreezing):
        freeze(groups, n_trainable)
        total, it = stage_epochs * steps_per_epoch, 0
        for _ in range(stage_epochs):
            epoch += 1
            clf.train()
            t0, losses = time.time(), []
            for b in length_batches([len(d) for d in docs["train"]], batch_size, rng):
                if len(b) == 1:  # BatchNorm cannot normalise a batch of one
                    continue
                x, lengths = collate([docs["train"][i] for i in b], device)
                lr = schedule_lr(schedule, it, total, learning_rate, cut_frac, stlr_ratio)
                with ctx:
                    loss = F.cross_entropy(clf(x, lengths).float(), targets["train"][b].to(device))
                step(optimizer, loss, all_params, lr)
                losses.append(loss.item())
                it += 1
                if interrupted:
                    save_classifier(clf_path)
                    signal.signal(signal.SIGINT, previous_handler)
                    print(f"interrupted at classifier epoch {epoch}: saved {clf_path} as it is")
                    sys.exit(130)
            acc = accuracy(eval_split)
            print(f"epoch {epoch} | {n_trainable}/{len(groups)} groups trainable | train loss "
                  f"{np.mean(losses):.4f} | {eval_split} accuracy {acc:.4f} | {time.time() - t0:.1f} s", flush=True)
            log_json({"stage": "classifier", "epoch": epoch, "groups": n_trainable, "loss": float(np.mean(losses)),
                      f"{eval_split}_accuracy": acc})

    # the final model on every labelled held-out split (no selection on test: the last epoch is reported)
    signal.signal(signal.SIGINT, previous_handler)
    save_classifier(clf_path)
    results = {}
    for split in ("val", "test"):
        if split in docs:
            acc = accuracy(split)
            results.update({f"{split}_accuracy": acc, f"{split}_error": 1 - acc})
    print(" | ".join(f"{k} {v:.4f}" for k, v in results.items()) + f" | saved {clf_path}")
    log_json({"stage": "final", **results})
