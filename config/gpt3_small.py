# GPT-3 small, 125M parameters (Brown et al. 2020, Table 2.1): 12 layers, d_model 768, 12 heads, learning rate 6e-4,
# batch 0.5M tokens, 2048 context; layers alternate dense and locally banded attention (§2.1).
# Appendix B: Adam 0.9/0.95, eps 1e-8, clip 1.0, weight decay 0.1, linear warmup over 375M tokens, cosine decay
# to 10% of the peak over 260B tokens, 300B tokens in all. Not reproduced: the batch-size ramp over the first
# 4-12B tokens, and the training mix (FineWeb stands in: python prepare.py fineweb10B --shards 10).
# The paper does not give the band width; 256 is what GPT-Neo, an open GPT-3 replication, uses for its local layers.
out_dir = "out-gpt3-small"
dataset = "fineweb10B"
eval_interval = 1000
eval_iters = 50
batch_size = 16  # per micro-step on an 80 GB GPU in bf16
gradient_accumulation_steps = 16  # 16 x 16 = 256 sequences of 2048 = 524288 tokens per step
block_size = 2048
n_layer = 12
n_head = 12
n_embd = 768
dropout = 0.0
prenorm = True
gelu = "tanh"  # the GELU approximation of OpenAI's code, so published weights load exactly
attn_window = 256
learning_rate = 6e-4
warmup_iters = 715  # 375M tokens / 524288 per step
lr_decay_iters = 495910  # 260B tokens
max_iters = 572204  # 300B tokens
min_lr = 6e-05  # 10% of the peak
weight_decay = 0.1
beta1 = 0.9
beta2 = 0.95
grad_clip = 1.0
