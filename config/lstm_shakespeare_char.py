# A character-level AWD-LSTM on the bundled Shakespeare, a few minutes on a CPU: train_lstm.py's defaults
# written out to fork. Smaller than the paper's (128-512-512-128), lighter dropouts for 65 characters (dropping
# a character type everywhere, as embedding dropout does to words, costs more than it regularises), Adam with
# ULMFiT's betas and a slanted triangular schedule, since SGD at lr 30 is tuned for word-level models.
out_dir = "out-lstm-shakespeare-char"
dataset = "shakespeare_char"
log_interval = 50
batch_size = 32
bptt = 70
emb_size = 128
hidden_size = 512
n_layers = 3
dropout_emb = 0.0
dropout_in = 0.1
dropout_hidden = 0.1
dropout_out = 0.1
weight_drop = 0.2
optimizer_name = "adam"
learning_rate = 3e-3
beta1 = 0.7
beta2 = 0.99
epochs = 2
device = "cpu"
compile = False
