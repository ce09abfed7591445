# ULMFiT on IMDb (Howard & Ruder 2018; 4.6% test error in its Table 2, a forward and a backward classifier averaged:
# 5.30% for one, §5): the WikiText-103 LM fine-tuned on the text of all 100k reviews (train, unlabelled and test,
# as fastai's IMDb scripts do; labels are never read), then the classifier with BPT3C over the long reviews (§3.3).
# The paper tunes the epochs on validation data and does not publish them; these follow fastai's IMDb example
# (10 LM epochs; the head, then one more group per epoch, then two epochs with all unfrozen) with the paper's lrs.
# The backward half: python finetune.py config/ulmfit_imdb.py config/ulmfit_backward.py
# Data: python prepare.py imdb (84 MB download)
out_dir = "out-ulmfit-imdb"
task = "imdb"
init_from = "out-ulmfit-wt103"
lm_epochs = 10
lm_texts = "all"  # all 100k texts; the LM's test-split loss then measures text it has read
lm_lr = 4e-3
lm_grad_clip = 0.3  # the paper gives no clipping; its code clips the LM at 0.3 (fastai's finetune_lm.py)
epochs = 6
learning_rate = 0.01
grad_clip = 25.0  # and the classifier at 25 (train_clas.py): a guard against a rare explosion only
batch_size = 64
max_len = 1400  # BPT3C: reviews average ~270 words and reach ~2,500; gradients for the last 20 windows of 70
