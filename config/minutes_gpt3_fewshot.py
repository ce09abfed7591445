# GPT-3's claim in minutes (Brown et al. 2020, §3, Figure 1.2): accuracy grows with the number of examples in the
# prompt (k), with no gradient step. eval.py on config/minutes_gpt_wt2.py's model, SST-2's dev set at k = 0, 1, 4
# and 8 (as many as fit in its 512 tokens). Target: accuracy at k=8 above k=0's by more than twice the standard
# error of the difference. Budget on one H200: about 20 s (start-up, 4 x 872 prompts of up to 512 tokens, each
# scored at its 2 label words; not measured). Weaker than GPT-3: in-context learning grows with model size (GPT-3
# Figure 1.2: barely visible at 125M parameters), and this model has 51M.
#   python eval.py config/minutes_gpt3_fewshot.py
# CPU shrink (after minutes_gpt_wt2.py's): --device=cpu --max_examples=200
init_from = "out-minutes-gpt-wt2"
task = "sst2"
template = "Review: {text}\nSentiment: {label}"
label_words = {"negative": "bad", "positive": "good"}
shots = (0, 1, 4, 8)
out = "out-minutes-gpt-wt2/eval_fewshot.json"
