# Generative pretraining in minutes (Radford et al. 2018, §3.1): a small GPT-1 (post-LN, learned positions, GELU,
# dropout 0.1, 512 tokens of context) pretrained on WikiText-2 in GPT-2's BPE instead of BooksCorpus in GPT-1's,
# 2,500 steps of 16 x 512 tokens (20.5M tokens, ~8 epochs of its 2.4M). The other minutes_gpt* configs start from
# it: fine-tuning (GPT-1's claim, Table 5), zero-shot (GPT-2's) and in-context learning (GPT-3's). Budget on one
# H200: 60 s of steps plus ~10 s of start-up and evaluations, assuming ~400k tokens/s uncompiled, which is not
# measured: GPT-2 124M's measured 437k tokens/s (compiled, on an H200) at 2.6x the FLOPs per token (857M, here
# 332M) would be 1.1M tokens/s at equal MFU, and 512-wide matmuls without compile keep an H200 far less busy.
# Weaker than GPT-1: a 51M-parameter model that has read 20M tokens, not 117M parameters and BooksCorpus's 800M
# words for 100 epochs.
#   python prepare.py wikitext2 --from ../shared/data/wikitext-2 --tokenizer gpt2
#   python train_gpt.py config/minutes_gpt_wt2.py
# CPU shrink: --device=cpu --n_layer=2 --n_embd=64 --block_size=64 --max_iters=300 --lr_decay_iters=300 --warmup_iters=9
out_dir = "out-minutes-gpt-wt2"
dataset = "wikitext2_gpt2"
eval_interval = 1000
eval_iters = 50
log_interval = 50
batch_size = 16
block_size = 512  # GPT-1's context; room for 8 SST-2 demonstrations in context
n_layer = 8
n_head = 8
n_embd = 512
dropout = 0.1  # GPT-1 §4.1
bias = True
prenorm = False  # GPT-1's post-LN blocks
gelu = "tanh"  # as OpenAI's code
learning_rate = 6e-4  # larger than GPT-1's 2.5e-4: a smaller model, a much shorter schedule
max_iters = 2500  # 2500 x 16 x 512 = 20.5M tokens: 51 s at the assumed 400k tokens/s
lr_decay_iters = 2500
warmup_iters = 200
min_lr = 6e-5
weight_decay = 0.01  # GPT-1 §4.1 (decoupled here)
beta1 = 0.9
beta2 = 0.99
grad_clip = 1.0
compile = False  # compiling takes longer than it saves in a minute of steps (its cost not measured here)
