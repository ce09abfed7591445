# The first LLMs side by side on one GPU: after one of compare_{lstm,gpt1,gpt2,gpt3}.py, the four recipes at about
# 13x the CPU size (10.0M to 10.8M non-embedding parameters each), 180 s of training each on one H200, run one after
# another. Everything the papers did not change stays shared, as on the CPU; the GPTs take 1e-3, where both LayerNorm
# placements learned in the CPU ablation (docs/results.md), not the CPU recipes' 3e-3, at which post-LN stalls.
# Not run yet (no GPU in the session that wrote it): the step counts that size each schedule are estimates, and the
# clock (max_seconds) ends a run whose GPU is slower than assumed before its schedule does.
#   for r in lstm gpt1 gpt2 gpt3; do s=gpt; [ $r = lstm ] && s=lstm
#     python train_$s.py config/compare_$r.py config/compare_gpu.py --out_dir=out-gpu-$r; done
#   python eval.py --compare=out-gpu-lstm,out-gpu-gpt1,out-gpu-gpt2,out-gpu-gpt3 --out=compare_gpu.png
device = "cuda"
compile = True
max_seconds = 180
if "bptt" in globals():  # train_lstm.py: 384-768-768-384, 10.0M parameters besides the 283-character table
    emb_size = 384
    hidden_size = 768
    batch_size = 128  # 128 x 70 = 9k characters a step
    test_batch_size = 128
    max_iters = 6000  # STLR's length: 180 s at an assumed ~300k characters/s (not measured)
else:  # train_gpt.py: 6 x 12 x 384^2 = 10.6M non-embedding weights (10.8M with biases and LayerNorms)
    n_layer = 6
    n_head = 6
    n_embd = 384
    block_size = 512
    batch_size = 32  # 16k characters a step
    attn_window = 64 if attn_window else 0  # GPT-3's band stays an eighth of the context
    learning_rate = 1e-3
    min_lr = 1e-4
    max_iters = 3000  # the cosine's length: 180 s at an assumed ~270k characters/s (not measured)
    lr_decay_iters = 3000
    warmup_iters = 300
    eval_interval = 500
    eval_iters = 20
