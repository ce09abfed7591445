# GPT-1 fine-tuned on RTE (Radford et al. 2018, Table 2: 56.0% accuracy): [start] premise [delim] hypothesis
# [extract] (§3.3), the settings of §4.1 (see gpt1_sst2.py). RTE is small (2,490 pairs): the paper's 3 epochs.
# Data: python prepare.py rte (or --from ../shared/data/rte); scored on GLUE's dev set ('val')
out_dir = "out-gpt1-rte"
task = "rte"
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
