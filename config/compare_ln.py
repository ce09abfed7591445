# Ablation, GPT-2 §2.3 ("Layer normalization was moved to the input of each sub-block"): after compare_gpt1.py
# (post-LN) or compare_gpt2.py (pre-LN), GPT-1's own learning rate, 2.5e-4 (GPT-1 §4.1); the 4x run adds
# --learning_rate=1e-3. Does post-LN lag or diverge as the rate grows, as Xiong et al. 2020 (§3) report? The
# comparison's own 3e-3 (12x) is a third point. The same 3 minutes of training each, four runs at once.
#   OMP_NUM_THREADS=1 python train_gpt.py config/compare_gpt1.py config/compare_ln.py --out_dir=out-ln-post-1x
#   OMP_NUM_THREADS=1 python train_gpt.py config/compare_gpt2.py config/compare_ln.py --out_dir=out-ln-pre-4x \
#       --learning_rate=1e-3
learning_rate = 2.5e-4
min_lr = 0.0  # GPT-1 §4.1: "annealed to 0 using a cosine schedule"
max_seconds = 180
max_iters = 650  # a little over the ~610 steps that 180 s allow each of four runs on the 2 cores (7k tokens/s)
lr_decay_iters = 650
