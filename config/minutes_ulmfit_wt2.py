# ULMFiT's pretraining in minutes (Howard & Ruder 2018, §3.1): the full-size AWD-LSTM (400-1150-1150-400) on
# WikiText-2 instead of WikiText-103 (2M words, not 103M: the general-domain stage that the paper's §5 ablation
# shows matters most for small tasks), its whole 33,278-word vocabulary, ULMFiT's dropouts and Adam 0.7/0.99,
# 3 minutes of training per direction. The forward model here; the backward one (§3.4) is the same with
# --backwards=True --out_dir=out-minutes-wt2-bwd. config/minutes_ulmfit_trec.py fine-tunes both on TREC-6.
#   python prepare.py wikitext2 --from ../shared/data/wikitext-2
#   python train_lstm.py config/minutes_ulmfit_wt2.py
#   python train_lstm.py config/minutes_ulmfit_wt2.py --backwards=True --out_dir=out-minutes-wt2-bwd
# CPU shrink: --device=cpu --emb_size=64 --hidden_size=256 --max_seconds=120
out_dir = "out-minutes-wt2"
dataset = "wikitext2"
log_interval = 200
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
epochs = 6  # about 27 s an epoch at ~75k tokens/s: the STLR cycle ends with the budget
max_seconds = 180
