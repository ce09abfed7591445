# GPT-2 xl, 1558M parameters (Radford et al. 2019, Table 2): 48 pre-LN layers, 1600 wide, 25 heads, 1024 context,
# batch 512 sequences. The paper gives no learning rate ("manually tuned"): we take GPT-3 Table 2.1's for the
# nearest size, and GPT-3 Appendix B's optimiser (Adam 0.9/0.95, clip 1.0, weight decay 0.1, cosine to 10%).
# WebText is not public: FineWeb stands in (python prepare.py fineweb10B --shards 10).
out_dir = "out-gpt2-xl"
dataset = "fineweb10B"
eval_interval = 1000
eval_iters = 100
batch_size = 2  # per micro-step on an 80 GB GPU in bf16
gradient_accumulation_steps = 256  # 2 x 256 = 512 sequences of 1024 = 524,288 tokens per step
block_size = 1024
n_layer = 48
n_head = 25
n_embd = 1600
prenorm = True
gelu = "tanh"  # the GELU approximation of OpenAI's code, so published weights load exactly
learning_rate = 2e-4
max_iters = 19_000  # ~10B tokens: one pass over fineweb10B
lr_decay_iters = 19_000
warmup_iters = 700  # ~375M tokens, GPT-3 Appendix B
min_lr = 2e-5  # 10% of the peak
weight_decay = 0.1
beta2 = 0.95
