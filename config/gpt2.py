# GPT-2 small, 124M (Radford et al. 2019, "Language Models are Unsupervised Multitask Learners", Table 2 and §2.3):
# 12 pre-LN layers, 768 wide, 12 heads, 1024 tokens of context, batch 512 sequences, vocabulary 50,257.
# The paper gives no learning rate or schedule ("manually tuned"); we take GPT-3 Table 2.1's for the same size
# (6e-4) and GPT-3 Appendix B's optimiser (Adam 0.9/0.95, clip 1.0, weight decay 0.1, cosine decay to 10%).
# WebText is not public: FineWeb stands in (python prepare.py fineweb10B --shards 10).
out_dir = "out-gpt2"
dataset = "fineweb10B"
eval_interval = 1000
eval_iters = 100
batch_size = 16  # fits an 80 GB GPU at 1024 context in bf16; lower it (and raise accumulation) on smaller cards
gradient_accumulation_steps = 32  # 16 x 32 = 512 sequences of 1024 = 524,288 tokens per step (§2.3)
block_size = 1024
n_layer = 12
n_head = 12
n_embd = 768
dropout = 0.0
prenorm = True
gelu = "tanh"  # the GELU approximation of OpenAI's code, so published weights load exactly
learning_rate = 6e-4
max_iters = 19_000  # ~10B tokens: one pass over fineweb10B
lr_decay_iters = 19_000
warmup_iters = 700  # ~375M tokens, GPT-3 Appendix B
min_lr = 6e-5  # 10% of the peak
weight_decay = 0.1
beta1 = 0.9
beta2 = 0.95
grad_clip = 1.0
