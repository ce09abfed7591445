# The first LLMs side by side at equal tokens: after one of compare_{lstm,gpt1,gpt2,gpt3}.py, every model reads
# the same number of characters of WikiText-2's train split, however long it takes, its schedule spanning them.
#   OMP_NUM_THREADS=1 python train_gpt.py config/compare_gpt2.py config/compare_tokens.py --out_dir=out-tokens-gpt2
_tokens = 1_000_000  # about two thirds of what a GPT reads in 240 s with four runs at once on the 2 cores
max_seconds = 0
if "bptt" in globals():  # train_lstm.py: variable BPTT windows average 0.975 x bptt (5% are half as long), less
    max_iters = round(_tokens / (batch_size * (0.975 * bptt - 0.5)))  # the half token that int() drops
else:  # train_gpt.py
    max_iters = lr_decay_iters = _tokens // (batch_size * block_size)
