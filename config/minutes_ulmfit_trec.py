# ULMFiT's claim in minutes (Howard & Ruder 2018, Table 3: bidirectional ULMFiT, 3.6% test error on TREC-6; §5:
# pretraining matters most on small tasks): config/minutes_ulmfit_wt2.py's forward and backward LMs, each
# fine-tuned on TREC-6's 5,452 training questions (target LM fine-tuning, §3.2) and then into a classifier
# (gradual unfreezing, discriminative lrs, STLR, §3.3), the two classifiers' probabilities averaged (§3.4).
# Differs from the paper: WikiText-2 pretraining (2M words, 3 minutes per direction) for WikiText-103, and 20
# classifier epochs for 50. Target on one H200: test error <= 7% for the whole recipe in <= 10 minutes, and
# without pretraining clearly worse:
#   python prepare.py trec --from ../shared/data/trec
#   python finetune.py config/minutes_ulmfit_trec.py                                   # forward
#   python finetune.py config/minutes_ulmfit_trec.py config/ulmfit_backward.py         # backward, then both
#   python finetune.py config/minutes_ulmfit_trec.py --pretrained=False --out_dir=out-minutes-trec-scratch
# CPU shrink: --device=cpu --lm_epochs=1 --epochs=2
out_dir = "out-minutes-trec"
task = "trec"
init_from = "out-minutes-wt2"  # config/minutes_ulmfit_wt2.py's forward LM; ulmfit_backward.py adds -bwd
lm_epochs = 15  # ULMFiT §4's footnote for TREC-6
lm_lr = 4e-3
lm_grad_clip = 0.3
epochs = 20  # the paper's 50 do not fit the budget; 20 is where the CPU benchmark ends too
learning_rate = 0.01
batch_size = 64
grad_clip = 25.0
