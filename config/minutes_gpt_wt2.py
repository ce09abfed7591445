# Generative pretraining in minutes (Radford et al. 2018, §3.1): a small GPT-1 (post-LN, learned positions, GELU,
# dropout 0.1, 512 tokens of context) pretrained on WikiText-2 in GPT-2's BPE instead of BooksCorpus in GPT-1's,
# about 10 epochs of its 2.4M tokens in a minute or two on one H200. The other minutes_gpt* configs start from it:
# fine-tuning (GPT-1's claim, Table 5), zero-shot (GPT-2's) and in-context learning (GPT-3's).
#   python prepare.py wikitext2 --from ../shared/data/wikitext-2 --tokenizer gpt2
#   python train_gpt.py config/minutes_gpt_wt2.py
# CPU shrink: --device=cpu --n_layer=2 --n_embd=64 --n_head=2 --block_size=64 --max_iters=100 --lr_decay_iters=100
out_dir = "out-minutes-gpt-wt2"
dataset = "wikitext2_gpt2"
eval_interval = 500
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
max_iters = 3000  # 3000 x 16 x 512 = 24.6M tokens: ~10 epochs
lr_decay_iters = 3000
warmup_iters = 200
min_lr = 6e-5
weight_decay = 0.01  # GPT-1 §4.1 (decoupled here)
beta1 = 0.9
beta2 = 0.99
grad_clip = 1.0
