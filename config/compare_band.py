# Ablation, GPT-3 §2.1's locally banded layers at a context long enough for the band to matter: after
# compare_gpt3.py, 1,024 characters of context with a band of 128 (GPT-Neo's 256 of 2048 in proportion); the dense
# run adds --attn_window=0. The same 3 minutes of training each, two runs at once: tokens/s and val bpb. On a CPU
# the band is a boolean mask on dense attention (FlexAttention, which skips the blocks outside it, needs a GPU).
#   OMP_NUM_THREADS=1 python train_gpt.py config/compare_gpt3.py config/compare_band.py --out_dir=out-band-banded
#   OMP_NUM_THREADS=1 python train_gpt.py config/compare_gpt3.py config/compare_band.py --out_dir=out-band-dense \
#       --attn_window=0
block_size = 1024
attn_window = 128  # layers 1 and 3 (from 0): each token sees itself and the 127 before it
batch_size = 2  # 2 x 1,024: the recipes' 2,048 characters a step
max_seconds = 180
max_iters = 650  # about what 180 s allow each of two runs on the 2 cores; max_seconds ends the run first
lr_decay_iters = 650
