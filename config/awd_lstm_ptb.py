# AWD-LSTM on Penn Treebank (Merity et al. 2017): 3 layers 400-1150-1150-400, tied 10k embedding
# (24,221,600 parameters). Settings from salesforce/awd-lstm-lm's README command for PTB:
#   main.py --batch_size 20 --data data/penn --dropouti 0.4 --dropouth 0.25 --seed 141 --epoch 500
# with main.py's defaults for the rest (SGD lr 30, clip 0.25, bptt 70, dropout 0.4, dropoute 0.1, wdrop 0.5,
# alpha 2, beta 1, wdecay 1.2e-6, nonmono 5). It reports val/test perplexity ~61.2/58.8 without fine-tuning.
# Data: python prepare.py ptb (or --from a local copy)
out_dir = "out-awd-lstm-ptb"
dataset = "ptb"
log_interval = 200
batch_size = 20  # the paper used 40; the repository's reproduction, 20
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
optimizer_name = "sgd"  # then averaged SGD by the non-monotone trigger (§3)
learning_rate = 30.0
weight_decay = 1.2e-6
nonmono = 5
grad_clip = 0.25
epochs = 500
seed = 141
