# GPT-1 pretraining (Radford et al. 2018, "Improving Language Understanding by Generative Pre-Training", §4.1):
# 12 post-LN decoder layers, 768 wide, 12 heads, 512 tokens of context, learned positions, GELU, dropout 0.1;
# Adam with max lr 2.5e-4, linear warmup over 2000 updates then cosine annealing to 0; minibatches of 64
# contiguous sequences of 512 tokens; L2 regularisation w=0.01 on non-bias, non-gain weights.
# Differences, on purpose: the paper used a 40,000-merge BPE on BooksCorpus (neither is redistributable here);
# we use GPT-2's BPE (50,257 tokens) and FineWeb (python prepare.py fineweb10B --shards 10); its L2 term becomes
# decoupled AdamW weight decay 0.01 (also on matrices only).
out_dir = "out-gpt1"
dataset = "fineweb10B"
eval_interval = 2000
eval_iters = 100
batch_size = 16
gradient_accumulation_steps = 4  # 16 x 4 = 64 sequences of 512 tokens = 32,768 tokens per update (§4.1)
block_size = 512
n_layer = 12
n_head = 12
n_embd = 768
dropout = 0.1  # residual, embedding and attention dropout (§4.1)
bias = True
prenorm = False  # post-LN, no final LayerNorm (the original Transformer block)
gelu = "tanh"  # the GELU approximation of OpenAI's code, so published weights load exactly
learning_rate = 2.5e-4
warmup_iters = 2000
max_iters = 300_000  # ~10B tokens: one pass over fineweb10B (the paper: 100 epochs of BooksCorpus)
lr_decay_iters = 300_000
min_lr = 0.0  # "annealed to 0 using a cosine schedule"
weight_decay = 0.01
beta1 = 0.9
beta2 = 0.999  # Adam's default, as in OpenAI's finetune-transformer-lm code
grad_clip = 1.0
