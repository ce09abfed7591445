# ULMFiT's pretraining in minutes (Howard & Ruder 2018, §3.1): the full-size AWD-LSTM (400-1150-1150-400) on
# WikiText-2 instead of WikiText-103 (2M words, not 103M: the general-domain stage that the paper's §5 ablation
# shows matters most for small tasks), its whole 33,278-word vocabulary, ULMFiT's dropouts and Adam 0.7/0.99 under
# a slanted triangular schedule. The forward model here; the backward one (§3.4) is the same with
# --backwards=True --out_dir=out-minutes-wt2-bwd. config/minutes_ulmfit_trec.py fine-tunes both on TREC-6.
# Budget on one H200: 40 s of training per direction plus ~8 s for start-up and the val and test passes. The
# schedule is sized in steps (max_iters: STLR needs its length up front): 650 steps of 64 x 70 tokens, 1.4 epochs,
# take 39 s at the AWD-LSTM's one measured GPU speed (~75k tokens/s, at batch 20; batch 64 should be faster, not
# measured); max_seconds stops a slower GPU at 40 s, before the schedule ends. Weaker than the paper: 1.4 epochs
# of 2M words leave the LM far from WikiText-103's (val ppl in the hundreds, not ~70), which is what TREC-6's
# error pays for.
#   python prepare.py wikitext2 --from ../shared/data/wikitext-2
#   python train_lstm.py config/minutes_ulmfit_wt2.py
#   python train_lstm.py config/minutes_ulmfit_wt2.py --backwards=True --out_dir=out-minutes-wt2-bwd
# On a CPU, about 3 min on 2 cores, expect val ppl about 400 (uniform: 10,000): a small model on WikiText-2 cut
# to its 10,000 commonest words (the full 33,278-word softmax is too slow for a CPU; prepare it with `python
# prepare.py wikitext2 --max_vocab 10000 --out wikitext2_10k`), 500 steps of 16 x 70 tokens, STLR sized to them
# CPU shrink: --device=cpu --dataset=wikitext2_10k --emb_size=64 --hidden_size=256 --batch_size=16 --max_iters=500 --max_seconds=0
out_dir = "out-minutes-wt2"
dataset = "wikitext2"
log_interval = 50  # a line every ~3 s at the assumed speed
batch_size = 64
bptt = 70
emb_size = 400
hidden_size = 1150
n_layers = 3
dropout_emb = 0.05  # ULMFiT §4's dropouts
dropout_in = 0.4
dropout_hidden = 0.3
dropout_out = 0.4
weight_drop = 0.5
alpha = 2.0
beta = 1.0
optimizer_name = "adam"
learning_rate = 4e-3  # ULMFiT's LM lr as the peak of a slanted triangular schedule (§3.2)
beta1 = 0.7
beta2 = 0.99
weight_decay = 0.0
grad_clip = 0.25
epochs = 2  # room for max_iters, which ends the run
max_iters = 650  # the STLR cycle's length: 39 s at ~75k tokens/s
max_seconds = 40  # of training: a cap for a GPU slower than assumed; start-up and evaluations come on top
test_batch_size = 10  # the test perplexity is not this claim's number: 10 streams, not awd-lstm-lm's exact 1
compile = False  # compiling the decoder and loss costs more seconds than it saves in a run this short
