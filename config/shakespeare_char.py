# A character-level Shakespeare GPT on one GPU in a few minutes: nanoGPT's config/train_shakespeare_char.py
# settings (a 6x384 "baby GPT" over 256 characters of context), which reach val loss ~1.47 on an A100.
out_dir = "out-shakespeare-char"
eval_interval = 250  # frequent: a small model on 1M characters overfits quickly
eval_iters = 200
log_interval = 10
dataset = "shakespeare_char"
batch_size = 64
block_size = 256  # characters of context
n_layer = 6
n_head = 6
n_embd = 384
dropout = 0.2  # 10M parameters on 1M characters: regularise
learning_rate = 1e-3  # a small model can take a larger step
max_iters = 2500  # nanoGPT runs 5000, but our 5000-step run had its best val loss (1.464) at step 1750 and
lr_decay_iters = 2500  # overfit after it: half the steps, the decay ending with them (not yet timed on a GPU)
min_lr = 1e-4  # learning_rate / 10
beta2 = 0.99  # few tokens per step: a shorter second-moment memory
warmup_iters = 100
