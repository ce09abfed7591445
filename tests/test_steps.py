"""One optimizer step of train_gpt.py's loop against an update computed here by hand: the data the step reads, the
gradient averaged over accumulated micro-batches, the clipping, the warmup lr and AdamW with decoupled weight decay
on the matrices only. A loop that scales, clips or schedules differently fails this."""

import json
import math
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scripts import run_script

import prepare
from train_gpt import GPT, GPTConfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "train_gpt.py")
B, T, ACCUM, LR, WARMUP, WD, CLIP, BETAS, SEED = 4, 32, 2, 1e-2, 5, 0.1, 0.5, (0.9, 0.99), 1337
ARGS = [f"--batch_size={B}", f"--block_size={T}", "--n_layer=2", "--n_head=2", "--n_embd=32", "--eval_iters=1",
        "--log_interval=1", "--sample_tokens=0", "--device=cpu", "--compile=False", f"--warmup_iters={WARMUP}",
        f"--gradient_accumulation_steps={ACCUM}", f"--learning_rate={LR}", f"--weight_decay={WD}",
        f"--grad_clip={CLIP}", f"--beta1={BETAS[0]}", f"--beta2={BETAS[1]}", "--dropout=0.0", f"--seed={SEED}",
        "--eval_interval=1000", "--lr_decay_iters=100"]


def weights(out_dir, max_iters):
    assert run_script(SCRIPT, [*ARGS, f"--out_dir={out_dir}", f"--max_iters={max_iters}"]) == 0
    return torch.load(os.path.join(out_dir, "latest.pt"), weights_only=True)["model"]


def test_one_step_of_train_gpt_equals_a_hand_computed_adamw_update(tmp_path):
    before, after = weights(tmp_path / "zero", 0), weights(tmp_path / "one", 1)
    model = GPT(GPTConfig(block_size=T, vocab_size=65, n_layer=2, n_head=2, n_embd=32))
    model.load_state_dict(before)
    # the step's data: ACCUM x B windows drawn by the loop's data generator, seeded with the run's seed
    data = np.array(prepare.load_split("shakespeare_char", "train"), dtype=np.int64)
    starts = torch.randint(len(data) - T, (ACCUM * B,), generator=torch.Generator().manual_seed(SEED))
    windows = torch.tensor(np.stack([data[s:s + T + 1] for s in starts.tolist()]))
    x, y = windows[:, :-1], windows[:, 1:]
    # the gradient of the mean loss over all ACCUM x B sequences (each micro-batch weighs 1/ACCUM)
    logits = model.logits(model.encode(x))
    loss = F.cross_entropy(logits.reshape(-1, 65), y.reshape(-1))
    loss.backward()
    params = dict(model.named_parameters())
    grads = {n: p.grad.double() for n, p in params.items()}
    norm = math.sqrt(sum((g ** 2).sum().item() for g in grads.values()))
    scale = min(1.0, CLIP / (norm + 1e-6))  # clip_grad_norm_'s rule
    lr = LR * 1 / (WARMUP + 1)  # the warmup's first step
    for name, p in params.items():
        g = grads[name] * scale
        m, v = (1 - BETAS[0]) * g, (1 - BETAS[1]) * g ** 2  # Adam's moments after one step, bias-corrected below
        update = (m / (1 - BETAS[0])) / ((v / (1 - BETAS[1])).sqrt() + 1e-8)
        w = before[name].double()
        decay = WD if p.dim() >= 2 else 0.0  # matrices only (Loshchilov & Hutter's decoupled decay)
        expected = w * (1 - lr * decay) - lr * update
        torch.testing.assert_close(after[name].double(), expected, rtol=0, atol=2e-6, msg=name)
    assert norm > CLIP  # the clipping mattered in this step
    # Adam's first step hardly depends on the gradient's scale, so the scaling of accumulated micro-batches shows in
    # the logged loss: the mean over the whole batch
    logged = [json.loads(line) for line in open(tmp_path / "one" / "log.jsonl")]
    assert next(r["loss"] for r in logged if r.get("iter") == 1 and "loss" in r) == pytest.approx(loss.item(), rel=1e-5)
