# The first LLMs side by side, GPT-1 (Radford et al. 2018, §3.1 and §4.1): post-LN blocks, no final LayerNorm,
# N(0, 0.02) init. The four compare_*.py recipes share everything the papers did not change: WikiText-2 read as
# characters, about 0.79M non-embedding parameters, one seed, and the budget (equal training time here; equal
# tokens with config/compare_tokens.py after this file). Characters, not GPT-2's BPE: with 50,257 tokens the
# embedding (6.4M of a 7.2M-parameter model at width 128) and the softmax would be most of every model's size and
# time, and an LSTM's tied table must match its last layer's width; with 283 characters the parameters and the
# compute are the models, and bits per byte compare them as they compare tokenizers.
#   python prepare.py wikitext2 --from ../shared/data/wikitext-2 --tokenizer char
#   OMP_NUM_THREADS=1 python train_gpt.py config/compare_gpt1.py      (README: all four at once, one thread each)
out_dir = "out-compare-gpt1"
dataset = "wikitext2_char"
eval_interval = 150  # about 6 points on each curve
eval_iters = 10  # 10 x 8 x 256 = 20k characters per estimate (per split): noise well under the gaps between models
log_interval = 10  # divides eval_interval, so each evaluation's training time is counted up to it
sample_tokens = 0
batch_size = 8  # 2,048 characters a step: more, smaller steps suit a budget of minutes
block_size = 256  # about 45 words of context
n_layer = 4
n_head = 4
n_embd = 128  # 4 x 12 x 128^2 = 0.79M non-embedding parameters
dropout = 0.0  # less than a tenth of an epoch: nothing to overfit
prenorm = False  # GPT-1's post-LN block: x = LN(x + f(x))
attn_window = 0
gelu = "none"  # the exact GELU for all three: OpenAI's tanh form costs twice as much on a CPU (README, Results)
learning_rate = 3e-3  # the CPU defaults' rate for a 4 x 128 model (README, Results); the same for all three GPTs
warmup_iters = 90  # a tenth of the steps
max_iters = 900  # equal time: a little more than the ~820 steps a GPT makes in max_seconds with four runs on 2
lr_decay_iters = 900  # cores (7k tokens/s each, one thread), so the clock ends every run with its cosine nearly done
min_lr = 3e-4
max_seconds = 240  # training time, evaluation excluded, the same for all four
weight_decay = 0.1
beta1 = 0.9
beta2 = 0.99
device = "cpu"
compile = False  # compile time would be a large share of four minutes
seed = 1337  # the same seed for all four
