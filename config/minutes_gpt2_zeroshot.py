# GPT-2's claim in minutes (Radford et al. 2019): a language model trained only to predict text does a task it was
# never trained for. eval.py on config/minutes_gpt_wt2.py's model: WikiText-2 test perplexity and bits per byte,
# then SST-2 with no example in the prompt, the label read off the likelier label word. Target: above chance
# (the majority label, 50.9% of GLUE's dev set).
#   python prepare.py sst2 --from ../shared/data/sst2
#   python eval.py config/minutes_gpt2_zeroshot.py
init_from = "out-minutes-gpt-wt2"
dataset = "wikitext2_gpt2"
split = "test"
task = "sst2"
template = "Review: {text}\nSentiment: {label}"
label_words = {"negative": "bad", "positive": "good"}
shots = (0,)
out = "out-minutes-gpt-wt2/eval_zeroshot.json"
