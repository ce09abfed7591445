# GPT-2's claim in minutes (Radford et al. 2019): a language model trained only to predict text does a task it was
# never trained for. eval.py on config/minutes_gpt_wt2.py's model: WikiText-2 test perplexity and bits per byte,
# then SST-2 with no example in the prompt, the label read off the likelier label word. Target: above chance
# (the majority label, 50.9% of GLUE's dev set) by more than twice the standard error. Budget on one H200: about
# 15 s (start-up, 296k test tokens and 872 x 2 label words through a 51M model; not measured). Weaker than GPT-2:
# a model 30x smaller than GPT-2 (1.5B) that has read 20M tokens of Wikipedia, not WebText's 40 GB with its reviews.
#   python prepare.py sst2 --from ../shared/data/sst2
#   python eval.py config/minutes_gpt2_zeroshot.py
# CPU shrink (after minutes_gpt_wt2.py's): --device=cpu --max_examples=200
init_from = "out-minutes-gpt-wt2"
dataset = "wikitext2_gpt2"
split = "test"
task = "sst2"
template = "Review: {text}\nSentiment: {label}"
label_words = {"negative": "bad", "positive": "good"}
shots = (0,)
out = "out-minutes-gpt-wt2/eval_zeroshot.json"
