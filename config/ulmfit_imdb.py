# ULMFiT on IMDb (Howard & Ruder 2018; 4.6% test error in its Table 2): the WikiText-103 LM fine-tuned on all
# 100k reviews (the 50k unlabelled ones too, §3.2), then the classifier with BPT3C over the long reviews (§3.3).
# The paper tunes the epochs on validation data and does not publish them; these follow fastai's IMDb example
# (10 LM epochs; the head, then one more group per epoch, then two epochs with all unfrozen) with the paper's lrs.
# Data: python prepare.py imdb (84 MB download)
out_dir = "out-ulmfit-imdb"
task = "imdb"
init_from = "out-ulmfit-wt103"
lm_epochs = 10
lm_lr = 4e-3
epochs = 6
learning_rate = 0.01
batch_size = 64
max_len = 1400  # BPT3C: reviews average ~270 words and reach ~2,500; gradients for the last 20 windows of 70
