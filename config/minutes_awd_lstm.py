# Merity et al. 2017 in minutes: regularisation makes the AWD-LSTM (Table 1: PTB test perplexity 58.8 with its
# 24M-parameter model after 500+ epochs of SGD and a fine-tuning stage). The paper's model and optimiser (SGD at
# lr 30, batch 20, BPTT 70, every dropout, weight drop 0.5, AR 2, TAR 1), cut to 7 minutes of training (about 30
# epochs on an H200 at ~75k tokens/s): NT-ASGD, which triggers after ~100 epochs, and fine-tuning never start.
# Target on one H200: val perplexity <= 80 within 8 minutes, and the same budget without regularisation clearly
# worse:
#   python prepare.py ptb --from ../shared/data/ptb
#   python train_lstm.py config/minutes_awd_lstm.py
#   python train_lstm.py config/minutes_awd_lstm.py --out_dir=out-minutes-awd-plain --dropout_emb=0 --dropout_in=0 \
#       --dropout_hidden=0 --dropout_out=0 --weight_drop=0 --alpha=0 --beta=0
# CPU shrink (the numbers mean nothing): --device=cpu --emb_size=64 --hidden_size=256 --max_seconds=120
out_dir = "out-minutes-awd-lstm"
dataset = "ptb"
log_interval = 200
batch_size = 20  # awd-lstm-lm's PTB command
bptt = 70
emb_size = 400
hidden_size = 1150
n_layers = 3
dropout_emb = 0.1
dropout_in = 0.4
dropout_hidden = 0.25
dropout_out = 0.4
weight_drop = 0.5
alpha = 2.0
beta = 1.0
optimizer_name = "sgd"  # the paper's, at its lr: what regularisation is tuned for
learning_rate = 30.0
weight_decay = 1.2e-6
grad_clip = 0.25
epochs = 40  # more than fit: max_seconds ends the run
max_seconds = 420  # 7 minutes of training; evaluations come on top
seed = 141
