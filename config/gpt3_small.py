# GPT-3 small, 125M parameters (Brown et al. 2020, Table 2.1): 12 layers, d_model 768, 12 heads of d_head 64,
# learning rate 6.0e-4, batch 0.5M tokens (256 sequences of 2048); layers alternate dense and locally
# banded attention (§2.1). Appendix B: Adam 0.9/0.95, eps 1e-8, clip 1.0, weight decay 0.1, linear warmup over
# 375M tokens, cosine decay to 10% of the peak over 260B tokens, 300B tokens in all, and the batch ramp below.
# Not reproduced: the training mix (FineWeb stands in: python prepare.py fineweb10B --shards 10).
# The paper does not give the band width; 256 is what GPT-Neo, an open GPT-3 replication, uses for its local layers.
out_dir = "out-gpt3-small"
dataset = "fineweb10B"
eval_interval = 1000
eval_iters = 50
# memory: about 21 GiB on one GPU (bench.py --sizes=True --gpus=1: weights, gradients, Adam, activations)
batch_size = 16  # sequences per micro-step per GPU
gradient_accumulation_steps = 16  # micro-steps over all GPUs: 256 sequences of 2048 per step
block_size = 2048
n_layer = 12
n_head = 12
n_embd = 768
dropout = 0.0
prenorm = True
gelu = "tanh"  # the GELU approximation of OpenAI's code
attn_window = 256
learning_rate = 6.0e-4
_tokens = gradient_accumulation_steps * batch_size * block_size  # 0.5M per step
warmup_iters = 375_000_000 // _tokens  # 375M tokens
lr_decay_iters = 260_000_000_000 // _tokens  # 260B tokens
max_iters = 300_000_000_000 // _tokens  # 300B tokens
min_lr = learning_rate / 10
weight_decay = 0.1
beta1 = 0.9
beta2 = 0.95
grad_clip = 1.0
# Appendix B: "we also gradually increase the batch size linearly from a small value (32k tokens) to the full value
# over the first 4-12 billion tokens of training, depending on the model size". The paper gives the range, not each
# size's value: we take 4B for the three smallest, 8B for XL and 2.7B, 12B from 6.7B up. 32k tokens is 16
# sequences: batch_size x GPUs must divide 16 (lower batch_size on more GPUs).
batch_ramp_start = 32768
batch_ramp_tokens = 4_000_000_000
