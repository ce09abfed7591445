# The backward half of bidirectional ULMFiT (Howard & Ruder 2018, §3.4: a forward and a backward LM, a classifier
# fine-tuned from each independently, their predictions averaged; §5: on IMDb, 5.30% test error for one model,
# 4.58% for the two). Applied after a task's config, once that config's forward run is done:
#   python train_lstm.py config/ulmfit_wt103.py --backwards=True --out_dir=out-ulmfit-wt103-bwd   # once
#   python finetune.py config/ulmfit_trec.py                                   # the forward run: out-ulmfit-trec
#   python finetune.py config/ulmfit_trec.py config/ulmfit_backward.py         # the backward run, then both
# The backward run's final evaluation reports itself, the forward classifier and their probabilities averaged;
# predict mode averages them too:
#   python finetune.py --mode=predict --out_dir=out-ulmfit-trec-bwd --ensemble=out-ulmfit-trec
ensemble = out_dir  # the task config's forward run
out_dir = out_dir + "-bwd"
init_from = init_from + "-bwd"  # the backward LM: every document is then read right to left
