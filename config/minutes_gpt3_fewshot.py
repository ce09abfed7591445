# GPT-3's claim in minutes (Brown et al. 2020, §3, Figure 1.2): accuracy grows with the number of examples in the
# prompt (k), with no gradient step. eval.py on config/minutes_gpt_wt2.py's model, SST-2's dev set at k = 0, 1, 4
# and 8 (as many as fit in its 512 tokens). Target: the curve rises with k.
#   python eval.py config/minutes_gpt3_fewshot.py
init_from = "out-minutes-gpt-wt2"
task = "sst2"
template = "Review: {text}\nSentiment: {label}"
label_words = {"negative": "bad", "positive": "good"}
shots = (0, 1, 4, 8)
out = "out-minutes-gpt-wt2/eval_fewshot.json"
