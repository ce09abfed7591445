# GPT-1 fine-tuned on STS-B (Radford et al. 2018, Table 4: 82.0 Pearson): both orderings as for similarity, one
# output trained with mean squared error on the 0-5 score; the settings of §4.1 (see gpt1_sst2.py). Reported:
# Pearson and Spearman on GLUE's dev set ('val'). Data: python prepare.py stsb (or --from ../shared/data/stsb)
out_dir = "out-gpt1-stsb"
task = "stsb"
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
