# GPT-1 fine-tuned on MRPC (Radford et al. 2018, Table 4: 82.3 F1): similarity, both orderings of the pair through
# the model with their final states added (§3.3); the settings of §4.1 (see gpt1_sst2.py). Reported: accuracy and
# F1 of the paraphrase class on GLUE's dev set ('val'). Data: python prepare.py mrpc (or --from ../shared/data/mrpc)
out_dir = "out-gpt1-mrpc"
task = "mrpc"
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
