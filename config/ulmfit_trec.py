# ULMFiT on TREC-6 (Howard & Ruder 2018): its WikiText-103 LM (config/ulmfit_wt103.py) fine-tuned on the
# questions, then a classifier. The paper's settings (§4 "Hyperparameters"): batch 64, Adam 0.7/0.99, peak lr
# 0.004 for the LM and 0.01 for the classifier, a 50-unit head, its dropouts (finetune.py's defaults), the LM
# fine-tuned for 15 epochs on TREC-6 (§4 footnote) and the classifier for 50; the paper reports 3.6% test error.
# Data: python prepare.py trec (or --from ../shared/data/trec)
out_dir = "out-ulmfit-trec"
task = "trec"
init_from = "out-ulmfit-wt103"
lm_epochs = 15
lm_lr = 4e-3
lm_grad_clip = 0.3  # the paper gives no clipping; its code clips the LM at 0.3 (fastai's finetune_lm.py)
epochs = 50
learning_rate = 0.01
grad_clip = 25.0  # and the classifier at 25 (train_clas.py): a guard against a rare explosion only
batch_size = 64
