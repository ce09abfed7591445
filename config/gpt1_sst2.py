# GPT-1 fine-tuned on SST-2 (Radford et al. 2018, Table 4: 91.3% accuracy): the published weights, input
# [start] text [extract], a linear head after dropout 0.1, loss = task + 0.5 x LM. §4.1's settings: lr 6.25e-5,
# batch 32, 3 epochs, linear warmup over 0.2% of training then linear decay to 0 (OpenAI's warmup_linear: 1 - t/T
# once warm); Adam and weight decay 0.01 as in pretraining (OpenAI's code: betas 0.9/0.999, gradient clipping at
# 1; the LM loss averaged over each sequence, then the batch). GLUE's test labels are private:
# the reported split is the dev set ('val'). Data: python prepare.py sst2 (or --from ../shared/data/sst2)
out_dir = "out-gpt1-sst2"
task = "sst2"
init_from = "openai-gpt"
lm_epochs = 0  # ULMFiT's stage; GPT-1 trains the LM loss alongside the task
epochs = 3
learning_rate = 6.25e-5
batch_size = 32
schedule = "linear"
cut_frac = 0.002
lm_coef = 0.5
clf_dropout = 0.1
gpt_dropout = 0.1
discriminative = False
gradual_unfreezing = False
beta1 = 0.9
beta2 = 0.999
weight_decay = 0.01
grad_clip = 1.0
