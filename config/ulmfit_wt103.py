# ULMFiT's general-domain pretraining (Howard & Ruder 2018, §3.1 and §4 "Hyperparameters"): an AWD-LSTM with
# embedding size 400, 3 layers of 1150, BPTT 70; dropout 0.4 on layers, 0.3 on RNN layers, 0.4 on the input
# embedding, 0.05 embedding dropout, weight dropout 0.5; Adam with beta1 0.7, beta2 0.99; on WikiText-103
# with the vocabulary capped at 60,000 words (fastai's cap): python prepare.py wikitext103 --max_vocab 60000
# The paper gives no pretraining schedule: we use its LM fine-tuning lr (0.004) as the peak of a slanted
# triangular schedule (§3.2) over 10 epochs, batch 64 as in its fine-tuning. Expect days on one GPU.
out_dir = "out-ulmfit-wt103"
dataset = "wikitext103"
log_interval = 500
batch_size = 64
bptt = 70
emb_size = 400
hidden_size = 1150
n_layers = 3
dropout_emb = 0.05
dropout_in = 0.4
dropout_hidden = 0.3
dropout_out = 0.4
weight_drop = 0.5
alpha = 2.0
beta = 1.0
optimizer_name = "adam"
learning_rate = 4e-3
beta1 = 0.7
beta2 = 0.99
weight_decay = 0.0
cut_frac = 0.1
stlr_ratio = 32
grad_clip = 0.25
epochs = 10
