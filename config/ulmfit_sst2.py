# ULMFiT on SST-2 (GLUE's binary sentiment; not one of the paper's tasks): the paper's settings (§4, as in
# ulmfit_trec.py) with fewer epochs, since the 67k training phrases give about 10x TREC-6's steps per epoch.
# GLUE keeps SST-2's test labels private, so the reported numbers are on its dev set (split 'val').
# Data: python prepare.py sst2 (or --from ../shared/data/sst2)
out_dir = "out-ulmfit-sst2"
task = "sst2"
init_from = "out-ulmfit-wt103"
lm_epochs = 3
lm_lr = 4e-3
lm_grad_clip = 0.3  # the paper gives no clipping; its code clips the LM at 0.3 (fastai's finetune_lm.py)
epochs = 8
learning_rate = 0.01
grad_clip = 25.0  # and the classifier at 25 (train_clas.py): a guard against a rare explosion only
batch_size = 64
