# The first LLMs side by side, the AWD-LSTM (Merity et al. 2017; ULMFiT's language model, Howard & Ruder 2018
# §3.1): three LSTM layers with weight drop, locked, embedding and output dropout, AR and TAR, a tied embedding,
# variable-length BPTT; Adam with ULMFiT's betas and its slanted triangular schedule (§3.2), as train_lstm.py's
# character-level defaults (SGD at lr 30 is tuned for words and 500 epochs). Sized to the GPTs' 0.79M
# non-embedding parameters: 128-208-208-128 holds 0.80M beside the 283-character table; compare_gpt1.py says why
# characters. The dropouts are the light character-level ones: the paper's word-level values (0.4/0.25/0.4, weight
# drop 0.5) are for 500 epochs, and halved values already lagged on PTB at this project's CPU budgets (README).
# train_lstm.py validates at the end of each epoch (an exact pass over the whole split), so a run shorter than an
# epoch (10.8M characters) has one point on the curve: where its budget ended.
#   OMP_NUM_THREADS=1 python train_lstm.py config/compare_lstm.py
out_dir = "out-compare-lstm"
dataset = "wikitext2_char"
log_interval = 50
batch_size = 32
bptt = 70  # the paper's base length: 32 x 70 = 2,240 characters a step, about the GPTs' 2,048
test_batch_size = 64  # its own test pass, a quick look; the table's is eval.py's, one stream (README)
emb_size = 128  # also the last layer's width, for the tied decoder (§4.4)
hidden_size = 208
n_layers = 3
dropout_emb = 0.0  # characters: dropping a character type everywhere hurts more than it regularises
dropout_in = 0.1
dropout_hidden = 0.1
dropout_out = 0.1
weight_drop = 0.2
alpha = 2.0  # AR and TAR as the paper (§4.6)
beta = 1.0
optimizer_name = "adam"
learning_rate = 3e-3
beta1 = 0.7
beta2 = 0.99
max_iters = 1150  # equal time: STLR's length, a little over the ~1,060 steps (10k tokens/s) max_seconds allows
max_seconds = 240
epochs = 1
device = "cpu"
compile = False
seed = 1337
