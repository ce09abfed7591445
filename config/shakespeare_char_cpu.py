# A character-level Shakespeare GPT on a laptop CPU in about 90 s (two cores): these are train_gpt.py's
# defaults, written out to fork. The shape is nanoGPT's documented CPU run (4 layers, 4 heads, 128 wide,
# 64 characters of context, batch 12, 2000 steps, no dropout), which reaches val loss 1.88; a 3x learning rate
# and half as many evaluations reach ~1.77 in the same time (README, Results).
out_dir = "out-shakespeare-char"
dataset = "shakespeare_char"
eval_interval = 500
eval_iters = 20  # a noisier but 10x cheaper estimate than 200
log_interval = 10
batch_size = 12
block_size = 64
n_layer = 4
n_head = 4
n_embd = 128
dropout = 0.0  # 0.8M parameters for 1.5 passes over 1M characters: no overfitting to fight
learning_rate = 3e-3  # 1e-3 (nanoGPT's) reaches 1.89, 2e-3 1.81, 3e-3 1.77 here
max_iters = 1800  # 10% under nanoGPT's 2000 steps, so the run stays inside its wall time
lr_decay_iters = 1800
min_lr = 3e-4  # learning_rate / 10
beta2 = 0.99  # few tokens per step: a shorter second-moment memory
warmup_iters = 100
device = "cpu"
compile = False  # compiling costs more than it saves in a 90-second run
