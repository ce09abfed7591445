# AWD-LSTM on WikiText-2 (Merity et al. 2017): 3 layers 400-1150-1150-400, tied 33,278-word embedding
# (33,556,078 parameters). Settings from salesforce/awd-lstm-lm's README command for WT2:
#   main.py --epochs 750 --data data/wikitext-2 --save WT2.pt --dropouth 0.2 --seed 1882
# with main.py's defaults for the rest (batch 80, SGD lr 30, clip 0.25, bptt 70, dropout 0.4, dropouti 0.65,
# dropoute 0.1, wdrop 0.5, alpha 2, beta 1, wdecay 1.2e-6, nonmono 5). It reports val/test ~68.7/65.6.
# Data: python prepare.py wikitext2 (or --from a local copy)
out_dir = "out-awd-lstm-wt2"
dataset = "wikitext2"
log_interval = 200
batch_size = 80
bptt = 70
emb_size = 400
hidden_size = 1150
n_layers = 3
dropout_emb = 0.1
dropout_in = 0.65
dropout_hidden = 0.2
dropout_out = 0.4
weight_drop = 0.5
alpha = 2.0
beta = 1.0
optimizer_name = "sgd"
learning_rate = 30.0
weight_decay = 1.2e-6
nonmono = 5
grad_clip = 0.25
epochs = 750
seed = 1882
