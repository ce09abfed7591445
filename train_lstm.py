"""
The AWD-LSTM language model that ULMFiT pretrains, and its training loop.

$ python train_lstm.py config/lstm_shakespeare_char.py                       # a quick CPU run
$ python train_lstm.py config/lstm_shakespeare_char.py --backwards=True --out_dir=out-lstm-bwd  # its backward LM
$ python prepare.py ptb --from ../shared/data/ptb && python train_lstm.py config/awd_lstm_ptb.py
$ python train_lstm.py config/awd_lstm_ptb.py --init_from=resume  # after Ctrl-C, SIGTERM or a kill: from latest.pt

Merity, Keskar & Socher 2017, "Regularizing and Optimizing LSTM Language Models" (AWD-LSTM): a 3-layer LSTM
regularised with DropConnect on the hidden-to-hidden weights ("weight drop", §2), variational (locked)
dropout (§4.2), embedding dropout (§4.3), weight tying (§4.4), activation and temporal activation regularisation
(§4.6), variable-length BPTT (§4.1) and NT-ASGD (§3). Howard & Ruder 2018 (ULMFiT, §3.1) pretrain this model.
"""

import json
import math
import os
import sys
import time
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

# -----------------------------------------------------------------------------
# model


@dataclass
class LSTMConfig:
    vocab_size: int = 10000
    emb_size: int = 400  # also the last layer's size, so the decoder can share the embedding (§4.4)
    hidden_size: int = 1150
    n_layers: int = 3
    dropout_emb: float = 0.1  # embedding dropout: whole words removed from the table (§4.3, "dropoute")
    dropout_in: float = 0.4  # locked dropout on the embedding output ("dropouti")
    dropout_hidden: float = 0.25  # locked dropout between LSTM layers ("dropouth")
    dropout_out: float = 0.4  # locked dropout on the last layer's output ("dropout")
    weight_drop: float = 0.5  # DropConnect on each hidden-to-hidden matrix ("wdrop")


def dropout_mask(x, shape, p):
    """A mask of 0 and 1/(1-p): what survives is scaled so the expectation is unchanged."""
    return x.new_empty(shape).bernoulli_(1 - p) / (1 - p)


def locked_dropout(x, p, training):
    """Variational dropout (Gal & Ghahramani 2016, §4.2): x (B, T, C) gets one mask per sequence, shared over time."""
    if not training or p == 0:
        return x
    return x * dropout_mask(x, (x.size(0), 1, x.size(2)), p)


def embedding_dropout(weight, idx, p, training):
    """Drop whole words (§4.3): zero rows of the embedding table, scale the rest by 1/(1-p). (B, T) -> (B, T, E)"""
    if training and p > 0:
        weight = weight * dropout_mask(weight, (weight.size(0), 1), p)
    return F.embedding(idx, weight)


class AWDLSTM(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        c = config
        self.encoder = nn.Embedding(c.vocab_size, c.emb_size)
        sizes = [c.emb_size] + [c.hidden_size] * (c.n_layers - 1) + [c.emb_size]  # 400 -> 1150 -> 1150 -> 400
        self.rnns = nn.ModuleList([nn.LSTM(sizes[i], sizes[i + 1], batch_first=True) for i in range(c.n_layers)])
        self.decoder = nn.Linear(c.emb_size, c.vocab_size)
        self.decoder.weight = self.encoder.weight  # weight tying (§4.4; Inan et al. 2016, Press & Wolf 2016)
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)  # as awd-lstm-lm; the LSTMs keep PyTorch's U(-1/sqrt(H), .)
        nn.init.zeros_(self.decoder.bias)

    def init_hidden(self, batch_size):
        """Zero (h, c) per layer, each (1, B, H): passed into forward and returned by it, never kept here."""
        w = self.encoder.weight
        return [(w.new_zeros(1, batch_size, rnn.hidden_size), w.new_zeros(1, batch_size, rnn.hidden_size))
                for rnn in self.rnns]

    def forward(self, idx, hidden):
        """idx (B, T), hidden from init_hidden or the previous call. Returns logits (B, T, V), the new hidden
        state, and the last layer's output before and after its dropout (B, T, E), for TAR and AR."""
        new_hidden, raw_output, output = self.encode(idx, hidden)
        return self.decoder(output), new_hidden, raw_output, output

    def encode(self, idx, hidden):
        """Everything but the decoder: the training loop decodes in a compiled head (see there)."""
        c = self.config
        x = embedding_dropout(self.encoder.weight, idx, c.dropout_emb, self.training)
        x = locked_dropout(x, c.dropout_in, self.training)
        new_hidden = []
        for i, (rnn, h) in enumerate(zip(self.rnns, hidden)):
            # DropConnect on W_hh (§2): one mask for the whole sequence, the same for every time step. The
            # dropped matrix is passed in for this call only, so the Parameter stays the raw weight, gradients
            # reach it through the mask, and nn.LSTM still runs its fused (cuDNN) kernel.
            w_hh = F.dropout(rnn.weight_hh_l0, c.weight_drop, self.training)
            x, h = torch.func.functional_call(rnn, {"weight_hh_l0": w_hh}, (x, h), strict=False)
            new_hidden.append(h)
            if i < len(self.rnns) - 1:
                x = locked_dropout(x, c.dropout_hidden, self.training)
        return new_hidden, x, locked_dropout(x, c.dropout_out, self.training)

    def num_params(self):
        return sum(p.numel() for p in self.parameters())  # the tied table counts once


def activation_regularization(output, alpha):
    """AR (§4.6): alpha * mean of the squared (dropped) last-layer output, keeping activations small."""
    return alpha * output.pow(2).mean()


def temporal_activation_regularization(raw_output, beta):
    """TAR (§4.6): beta * mean squared change of the raw last-layer output between steps: slowness. (B, T, E)"""
    return beta * (raw_output[:, 1:] - raw_output[:, :-1]).pow(2).mean()


def bptt_length(bptt, rng):
    """Variable-length BPTT (§4.1): base bptt with p=0.95, else bptt/2, then N(that, 5), at least 5 tokens."""
    base = bptt if rng.random() < 0.95 else bptt / 2
    return max(5, int(rng.normal(base, 5)))


def nt_asgd_should_switch(val_losses, nonmono):
    """Non-monotonically triggered ASGD (§3, Algorithm 1): switch to averaging once the newest validation loss is
    worse than the best of those before the last `nonmono` checks. val_losses: one per check, newest last."""
    *before, newest = val_losses
    return len(before) > nonmono and newest > min(before[:-nonmono])

# -----------------------------------------------------------------------------
# checkpoints: written and read by prepare.py's save_checkpoint and load_checkpoint, with model_type "awd_lstm"


def model_from_checkpoint(ckpt):
    model = AWDLSTM(LSTMConfig(**ckpt["model_args"]))
    model.load_state_dict(ckpt["model"])
    return model


def perplexity(loss):
    """exp(loss), which overflows a float past a loss of 709.78 nats: a run that diverged that far reads inf (and a
    NaN stays one)."""
    return math.inf if loss > 709 else math.exp(loss)


def stlr(it, total, lr_max, cut_frac=0.1, ratio=32):
    """Slanted triangular learning rate (ULMFiT §3.2, eq. 3): a short linear rise over cut_frac of the steps to
    lr_max, then a long linear decay to lr_max/ratio."""
    cut = max(1, math.floor(total * cut_frac))
    p = it / cut if it < cut else 1 - (it - cut) / (cut * (1 / cut_frac - 1))
    return lr_max * (1 + max(p, 0.0) * (ratio - 1)) / ratio

# -----------------------------------------------------------------------------
# training

if __name__ == "__main__":
    import numpy as np

    from prepare import (Interrupt, Progress, check_settings, check_vocab, configure, default_device, load_checkpoint,
                         load_meta, load_split, lock_out_dir, log_json, nan_message, plot_losses, precision,
                         save_checkpoint, start_banner, timing)

    # default settings: a small character-level AWD-LSTM on the bundled Shakespeare, minutes on a CPU;
    # config/awd_lstm_ptb.py and config/awd_lstm_wt2.py hold the paper's
    _before = set(globals())
    # I/O
    out_dir = "out-lstm-shakespeare-char"
    log_interval = 50  # steps between log lines; the only times the CPU waits for the GPU
    save_interval = 10.0  # minutes between saves of latest.pt within an epoch, at a log line (0: at epoch ends only)
    init_from = "scratch"  # 'scratch' or 'resume' (from out_dir/latest.pt)
    eval_only = False  # evaluate latest.pt (resume) on val and test, then exit
    wandb_log = False  # each log.jsonl record of a step to Weights & Biases too; needs `pip install wandb`
    wandb_project = "origins"
    wandb_run_name = "lstm"
    # data
    dataset = "shakespeare_char"
    backwards = False  # read every split right to left: the backward LM that ULMFiT pairs with the forward one (§3.4)
    batch_size = 32
    bptt = 70  # base BPTT length (§4.1)
    eval_batch_size = 10  # as awd-lstm-lm: validation in 10 streams
    test_batch_size = 1  # and test as one stream, every token seeing all that precedes it
    # model
    emb_size = 128
    hidden_size = 512
    n_layers = 3
    dropout_emb = 0.0  # characters: dropping a whole character type everywhere hurts more than it regularises
    dropout_in = 0.1
    dropout_hidden = 0.1
    dropout_out = 0.1
    weight_drop = 0.2
    alpha = 2.0  # AR on the dropped last-layer output (§4.6)
    beta = 1.0  # TAR on the raw last-layer output (§4.6)
    # optimizer: 'sgd' (switching to averaged SGD by the non-monotone rule, §3) or 'adam' (STLR schedule)
    optimizer_name = "adam"
    learning_rate = 3e-3  # peak lr for adam; the constant lr for sgd (the paper: 30)
    weight_decay = 1.2e-6  # L2, as awd-lstm-lm
    nonmono = 5  # NT-ASGD: epochs of no improvement over the best before the last `nonmono` ones
    beta1 = 0.7  # ULMFiT's Adam betas (fastai): a short first-moment memory suits the rising and falling lr
    beta2 = 0.99
    cut_frac = 0.1  # STLR: fraction of the steps spent increasing the lr (ULMFiT §3.2)
    stlr_ratio = 32  # STLR: how much smaller the lowest lr is than the peak
    grad_clip = 0.25
    epochs = 2
    max_iters = 0  # stop after this many steps in all (0: run every epoch)
    max_seconds = 0  # stop after this much training time, evaluation excluded (0: no limit), for equal-time comparisons
    # system
    device = default_device()  # 'cuda' if available, else 'mps' (Apple silicon), else 'cpu'
    dtype = "auto"  # bfloat16 where supported, else float16 with a GradScaler on GPU; float32 on CPU
    compile = torch.cuda.is_available()  # the decoder and loss only (see below), on CUDA: mps runs eagerly
    seed = 1337
    config = configure({k: v for k, v in globals().items() if k not in _before and not k.startswith("_")})
    globals().update(config)

    # settings that cannot work: all of them at once, one line each, before anything is read or written
    check_settings(config, {
        "log_interval": "positive", "save_interval": "nonneg", "init_from": ("scratch", "resume"),
        "batch_size": "positive", "bptt": "positive", "eval_batch_size": "positive", "test_batch_size": "positive",
        "emb_size": "positive", "hidden_size": "positive", "n_layers": "positive",
        "dropout_emb": "prob", "dropout_in": "prob", "dropout_hidden": "prob", "dropout_out": "prob",
        "weight_drop": "prob", "alpha": "nonneg", "beta": "nonneg", "optimizer_name": ("sgd", "adam"),
        "learning_rate": "nonneg", "weight_decay": "nonneg", "nonmono": "positive", "beta1": "prob", "beta2": "prob",
        "cut_frac": (lambda v: 0 < v < 1, "in (0, 1) (a fraction of the steps)"),
        "stlr_ratio": (lambda v: v >= 1, ">= 1 (the peak lr over the lowest)"), "grad_clip": "nonneg",
        "epochs": "positive", "max_iters": "nonneg", "max_seconds": "nonneg",
        "dtype": ("auto", "float32", "bfloat16", "float16")})
    if wandb_log:
        try:
            import wandb
        except ImportError:
            raise SystemExit("config: wandb_log=True but wandb is not installed: pip install wandb, or drop wandb_log")

    # device and precision, as in train_gpt.py
    device_type, dtype, ctx = precision(device, dtype)
    scaler = torch.amp.GradScaler(device_type, enabled=dtype == "float16")

    # data: each split as B contiguous streams side by side, read left to right with the hidden state carried
    meta = load_meta(dataset)

    def batchify(split, streams):
        data = torch.from_numpy(load_split(dataset, split, meta).astype(np.int32))
        if backwards:  # the same tokens, last first: each is predicted from those that follow it in the text
            data = data.flip(0)
        n = len(data) // streams
        if n < 2:
            raise SystemExit(f"data: the {split} split of '{dataset}' is too short for {streams} streams")
        return data[:n * streams].view(streams, n).to(device)  # (B, N): row b is the b-th slice of the text

    train_data, val_data = batchify("train", batch_size), batchify("val", eval_batch_size)
    test_data = batchify("test", test_batch_size) if "test" in meta["splits"] else None

    # one run per out_dir: this process holds out_dir/.lock until it ends, however it ends
    lock_out_dir(out_dir)

    # model and optimizer
    latest_path, best_path = os.path.join(out_dir, "latest.pt"), os.path.join(out_dir, "best.pt")
    torch.manual_seed(seed)
    model_args = dict(vocab_size=meta["vocab_size"], emb_size=emb_size, hidden_size=hidden_size, n_layers=n_layers,
                      dropout_emb=dropout_emb, dropout_in=dropout_in, dropout_hidden=dropout_hidden,
                      dropout_out=dropout_out, weight_drop=weight_drop)
    ckpt = None
    if init_from == "resume":
        ckpt = load_checkpoint(latest_path, model_type="awd_lstm")  # on the CPU: the RNG states must stay CPU tensors
        check_vocab(ckpt["meta"], meta, latest_path, dataset)
        for k in ("vocab_size", "emb_size", "hidden_size", "n_layers"):
            if ckpt["model_args"][k] != model_args[k]:
                raise SystemExit(f"resume: {latest_path} has {k}={ckpt['model_args'][k]} but the config says "
                                 f"{model_args[k]}: use the settings of the run you resume")
        if ckpt.get("backwards", False) != backwards:  # checkpoints from before the setting read forwards
            raise SystemExit(f"resume: {latest_path} was trained with backwards={ckpt.get('backwards', False)} but "
                             f"the config says backwards={backwards}: use the direction of the run you resume")
        if ckpt["config"]["batch_size"] != batch_size:  # the text is cut into batch_size streams, each with its state
            raise SystemExit(f"resume: {latest_path} was trained with batch_size={ckpt['config']['batch_size']} "
                             f"but the config says {batch_size}: its hidden state and position are per stream; "
                             "resume with the run's batch_size")
    elif os.path.exists(latest_path) and not eval_only:  # never overwrite an earlier run's checkpoints
        raise SystemExit(f"{out_dir} already holds a run ({latest_path}): continue it with --init_from=resume, "
                         f"or choose another --out_dir, or delete {out_dir}")
    model = AWDLSTM(LSTMConfig(**model_args)).to(device)
    # STLR's length; variable BPTT windows average ~3% under bptt, so the last few steps run at the lowest lr
    steps_per_epoch = math.ceil((train_data.size(1) - 1) / bptt)
    total_steps = max_iters or epochs * steps_per_epoch

    def make_optimizer(name):
        if name == "adam":
            return torch.optim.Adam(model.parameters(), lr=learning_rate, betas=(beta1, beta2),
                                    weight_decay=weight_decay)
        if name == "sgd":
            return torch.optim.SGD(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
        # averaged SGD: plain SGD steps (lambd=0, no lr decay) whose running average of the weights, kept in
        # the optimizer state as 'ax', is what gets evaluated and, in the end, used (§3)
        return torch.optim.ASGD(model.parameters(), lr=learning_rate, t0=0, lambd=0.0, weight_decay=weight_decay)

    # the loop's state, which save() packs into the checkpoint with everything else an exact resume needs: steps
    # taken, the epoch and the position in it, the optimizer (sgd becomes asgd), each epoch's validation loss
    iter_num, epoch, pos, val_losses, best_val_loss = 0, 1, 0, [], float("inf")
    rng = np.random.default_rng(seed)  # BPTT lengths
    hidden = model.init_hidden(batch_size)
    if ckpt is None:
        optimizer = make_optimizer(optimizer_name)
    else:
        model.load_state_dict(ckpt["model"])
        loop = ckpt.get("state", ckpt)  # older checkpoints keep the loop state in a dict of its own, "state"
        iter_num, epoch, pos, optimizer_name = loop["iter_num"], loop["epoch"], loop["pos"], loop["optimizer_name"]
        val_losses, best_val_loss = loop["val_losses"], loop["best_val_loss"]
        optimizer = make_optimizer(optimizer_name)
        optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt["scaler"]:
            scaler.load_state_dict(ckpt["scaler"])
        rng.bit_generator.state = json.loads(ckpt["rng"]["bptt"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        if device_type == "cuda" and "cuda" in ckpt["rng"]:
            torch.cuda.set_rng_state(ckpt["rng"]["cuda"], device)
        hidden = [(h.to(device), c.to(device)) for h, c in ckpt["hidden"]]
    ckpt = None
    if init_from == "resume" and not eval_only and (epoch > epochs or 0 < max_iters <= iter_num):
        print(f"resume: {latest_path} holds a finished run (step {iter_num}; epochs={epochs}, max_iters={max_iters}): "
              "nothing to do; raise --epochs (or --max_iters) to train it further")
        sys.exit(0)  # nothing trained, nothing rewritten

    # the loss head: Dynamo cannot trace nn.LSTM (it would graph-break and run cuDNN eagerly anyway), so we
    # compile only what follows it: the tied decoder and the softmax cross-entropy over the vocabulary, which
    # for word-level vocabularies is the largest matmul and the largest activation of the step
    def head_loss(output, targets):
        logits = model.decoder(output)
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1).long())

    if compile:
        head_loss = torch.compile(head_loss)

    def detach(hidden):  # truncated BPTT: keep the state, drop the graph that produced it
        return [(h.detach(), c.detach()) for h, c in hidden]

    @torch.no_grad()
    def evaluate(data, split):
        """Exact mean loss per token over a whole split, read in order with the hidden state carried. A long pass
        (the test split as one stream) says how far it has got."""
        model.eval()
        h, total, count = model.init_hidden(data.size(0)), 0.0, 0
        windows = range(0, data.size(1) - 1, bptt)
        progress = Progress(len(windows), split)  # in windows of bptt tokens
        for i in windows:
            n = min(bptt, data.size(1) - 1 - i)
            with ctx:
                h, _, output = model.encode(data[:, i:i + n].long(), h)
                total += head_loss(output, data[:, i + 1:i + 1 + n]).item() * output.size(0) * n
            count += output.size(0) * n
            progress.update()
        progress.done()
        model.train()
        return total / count

    def averaged(fn):
        """Run fn with the model's weights replaced by ASGD's running averages, when averaging has begun (§3)."""
        if optimizer_name != "asgd" or not optimizer.state:  # no average before the first ASGD step
            return fn()
        saved = [p.detach().clone() for p in model.parameters()]
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(optimizer.state[p]["ax"])
        try:
            return fn()
        finally:
            with torch.no_grad():
                for p, s in zip(model.parameters(), saved):
                    p.copy_(s)

    def report(split, loss):
        """loss, perplexity and bits per byte (from meta.json's byte counts, so tokenizers compare)."""
        s = meta["splits"][split]
        bpb = loss / math.log(2) * s["tokens"] / s["bytes"] if s.get("bytes") else None
        return {f"{split}_loss": loss, f"{split}_ppl": perplexity(loss), f"{split}_bpb": bpb}

    def save(path):
        rng_state = {"torch": torch.get_rng_state(), "bptt": json.dumps(rng.bit_generator.state)}
        if device_type == "cuda":
            rng_state["cuda"] = torch.cuda.get_rng_state(device)
        try:  # a failed write (a full disk) stops the run in save_checkpoint's one line, the signal handlers put back
            save_checkpoint(path, dict(model=model.state_dict(), optimizer=optimizer.state_dict(),
                                       scaler=scaler.state_dict(), model_args=model_args, iter_num=iter_num,
                                       epoch=epoch, pos=pos, optimizer_name=optimizer_name, val_losses=val_losses,
                                       best_val_loss=best_val_loss,
                                       hidden=[(h.cpu(), c.cpu()) for h, c in detach(hidden)], rng=rng_state,
                                       backwards=backwards, config=config, meta=meta, model_type="awd_lstm"))
        except SystemExit:
            interrupt.restore()
            raise

    # logging: readable lines on stdout, one JSON object per line in out_dir/log.jsonl (and a step's to wandb)
    log_path = os.path.join(out_dir, "log.jsonl")

    def log(record):
        log_json(log_path, record, wandb if wandb_log else None)

    start_banner("train_lstm.py", device, dtype, config, f"{model.num_params():,} parameters | {steps_per_epoch} "
                 "steps per epoch", log_path, iter_num if init_from == "resume" else None,
                 f"resumed from step {iter_num} (epoch {epoch}, token {pos:,} of {train_data.size(1):,} in each "
                 f"stream) of {latest_path}")
    if wandb_log:
        wandb.init(project=wandb_project, name=wandb_run_name, config=config)

    if eval_only:
        results = averaged(lambda: {**report("val", evaluate(val_data, "val")),
                                    **(report("test", evaluate(test_data, "test")) if test_data is not None else {})})
        print(" | ".join(f"{k} {v:.4f}" for k, v in results.items() if v is not None))
        log({"iter": iter_num, **results})
        sys.exit(0)

    # Ctrl-C or SIGTERM (a scheduler's stop): finish the current step, save, exit 130 or 143; a second one quits at once
    interrupt = Interrupt("saving a checkpoint after this step")

    def fail(message):  # stop without saving, in one line, the signal handlers put back
        interrupt.restore()
        raise SystemExit(message)

    # the loop: epochs over the batchified stream, variable-length BPTT windows, evaluation after each epoch. The
    # CPU queues steps ahead of the GPU: the loss stays on the device, summed, and is read (a wait) only at log
    # lines, where a NaN is caught, and before each save, so a checkpoint never holds weights a NaN has reached
    model.train()
    t_log, steps_since_log, tokens_since_log = time.time(), 0, 0
    loss_sum = torch.zeros((), device=device)  # the raw losses of the steps since the last log line, summed
    train_seconds = 0.0  # this run's, for max_seconds and the ETA
    t_start = t_saved = time.time()  # for elapsed, and for save_interval
    epoch_end = train_data.size(1) - 2  # windows start before this, so each has 2 inputs at least, as TAR needs
    text_start, iter_start = (epoch - 1) * epoch_end + pos, iter_num  # where this run began, for the ETA

    def budget_left():
        return not (max_iters and iter_num >= max_iters) and not (max_seconds and train_seconds >= max_seconds)

    def share_done():
        """How much of this run's training is done, 0 to 1: of the text left to read in the remaining epochs, or of
        max_iters or max_seconds where one of those ends the run first (whichever is furthest along)."""
        share = ((epoch - 1) * epoch_end + pos - text_start) / (epochs * epoch_end - text_start)
        if max_iters:
            share = max(share, (iter_num - iter_start) / (max_iters - iter_start))
        if max_seconds:
            share = max(share, train_seconds / max_seconds)
        return min(share, 1.0)

    def read_loss():
        """The mean raw loss of the steps since the last log line, read from the device (a wait for the GPU); a NaN
        or an infinity among them stops the run without saving, so latest.pt stays the last good checkpoint."""
        lossf = loss_sum.item() / steps_since_log
        if not math.isfinite(lossf):
            fail(nan_message(f"loss is {lossf} in steps {iter_num - steps_since_log + 1}-{iter_num}", latest_path,
                             dtype, grad_clip, 0.25))
        return lossf

    def interrupted():
        interrupt.exit(f"interrupted at step {iter_num}: saved {latest_path}; continue with --init_from=resume")

    while epoch <= epochs and budget_left():
        while pos < epoch_end and budget_left():
            t_step = time.time()
            seq_len = min(bptt_length(bptt, rng), train_data.size(1) - 1 - pos)
            if optimizer_name == "adam":
                lr = stlr(iter_num, total_steps, learning_rate, cut_frac, stlr_ratio)
            else:
                lr = learning_rate
            for group in optimizer.param_groups:  # a longer window is a bigger step: scale the lr with it (§4.1)
                group["lr"] = lr * seq_len / bptt
            x, y = train_data[:, pos:pos + seq_len].long(), train_data[:, pos + 1:pos + 1 + seq_len]
            hidden = detach(hidden)
            with ctx:
                hidden, raw_output, output = model.encode(x, hidden)
                raw_loss = head_loss(output, y)
                loss = (raw_loss + activation_regularization(output.float(), alpha)
                        + temporal_activation_regularization(raw_output.float(), beta))
            scaler.scale(loss).backward()
            if grad_clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            loss_sum += raw_loss.detach()
            pos += seq_len
            iter_num += 1
            steps_since_log += 1
            tokens_since_log += x.numel()
            lossf = read_loss() if iter_num % log_interval == 0 else None  # a wait for the GPU
            train_seconds += time.time() - t_step
            if lossf is not None:
                dt, elapsed = time.time() - t_log, time.time() - t_start
                print(f"epoch {epoch} step {iter_num} | loss {lossf:.4f} | ppl {perplexity(lossf):.1f} | lr {lr:.2e} | "
                      f"{dt / steps_since_log * 1000:.0f} ms | {tokens_since_log / dt / 1000:.1f}k tok/s | "
                      + timing(elapsed, share_done(), 1, train_seconds), flush=True)
                log({"iter": iter_num, "epoch": epoch, "loss": lossf, "lr": lr, "ms": dt / steps_since_log * 1000,
                          "tok_s": tokens_since_log / dt, "elapsed": elapsed})
                t_log, steps_since_log, tokens_since_log = time.time(), 0, 0
                loss_sum.zero_()
                # the interval save, mid-epoch: at a log line, where the loss has just been read (finite), so it adds
                # no wait for the GPU, and a run resumed from it logs the same lines as one never stopped
                if save_interval and time.time() - t_saved >= save_interval * 60:
                    save(latest_path)
                    t_saved = time.time()
                    print(f"epoch {epoch} step {iter_num} | saved {latest_path}", flush=True)
            if interrupt.pressed:
                if steps_since_log:  # stops here if a NaN came since the last log line
                    read_loss()
                save(latest_path)
                interrupted()

        # end of an epoch (or of max_iters): check the unlogged steps, evaluate, keep the best, decide on averaging
        if steps_since_log:  # as at Ctrl-C
            read_loss()
        val_loss = averaged(lambda: evaluate(val_data, "val"))
        if not math.isfinite(val_loss):
            fail(nan_message(f"the validation loss is {val_loss} at step {iter_num}", latest_path, dtype, grad_clip,
                             0.25))
        val_losses.append(val_loss)
        results = report("val", val_loss)
        print(f"epoch {epoch} step {iter_num} | val loss {val_loss:.4f} | val ppl {results['val_ppl']:.2f}"
              + (f" | val bpb {results['val_bpb']:.4f}" if results["val_bpb"] else ""))
        log({"iter": iter_num, "epoch": epoch, **results, "train_seconds": train_seconds,
                  "tokens": batch_size * ((epoch - 1) * epoch_end + pos)})  # earlier epochs: epoch_end each
        plot_losses(log_path, os.path.join(out_dir, "loss.png"))  # needs matplotlib; without it, nothing is drawn
        if optimizer_name == "sgd" and nt_asgd_should_switch(val_losses, nonmono):
            print(f"switching to averaged SGD at epoch {epoch} (non-monotone trigger, nonmono={nonmono})")
            optimizer_name = "asgd"
            optimizer = make_optimizer("asgd")
        if pos >= epoch_end:  # a new epoch starts from the beginning of the text with a fresh state
            epoch, pos = epoch + 1, 0
            hidden = model.init_hidden(batch_size)
        if val_loss < best_val_loss:
            best_val_loss = val_loss
            averaged(lambda: save(best_path))  # the weights that scored it: ASGD's averages once averaging
        save(latest_path)
        t_saved = time.time()
        if interrupt.pressed:  # during the evaluation: what it saved is where to continue (the test pass, at the end)
            interrupted()

    interrupt.restore()

    # final: the best checkpoint on test, with the exact sequential pass
    if test_data is not None:
        model.load_state_dict(load_checkpoint(best_path, device, "awd_lstm")["model"])
        try:
            results = report("test", evaluate(test_data, "test"))
        except KeyboardInterrupt:  # training is saved; a long pass stopped says so in one line, as training does
            print(f"\nCtrl-C: test pass stopped; the run is saved in {out_dir}", flush=True)
            sys.exit(130)
        print(f"test loss {results['test_loss']:.4f} | test ppl {results['test_ppl']:.2f}"
              + (f" | test bpb {results['test_bpb']:.4f}" if results["test_bpb"] else ""))
        log({"iter": iter_num, **results})
