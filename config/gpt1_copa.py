# GPT-1's multiple-choice recipe on COPA (the paper evaluated it on Story Cloze and RACE, §4.2; COPA is not in
# its tables): [start] context [delim] choice [extract] for each choice, one score each from the same linear head,
# softmax over the choices; the settings of §4.1 (see gpt1_sst2.py). COPA has 400 training questions.
# Data: python prepare.py copa (or --from ../shared/data/copa); scored on SuperGLUE's val set
out_dir = "out-gpt1-copa"
task = "copa"
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
