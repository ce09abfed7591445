"""prepare.py's GPT-3 benchmarks: HellaSwag, PIQA, ARC Easy and Challenge, Winogrande and StoryCloze, read from
tests/fixtures/benchmarks/ (a few records in each published format, written by hand) and written as lm-eval writes
their prompts. No network: downloads go to a loopback server, zipped as published.

$ python -m pytest -q tests/test_benchmarks.py
"""

import hashlib
import io
import json
import os
import shutil
import sys
import zipfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import prepare  # noqa: E402
from data import sources  # noqa: E402
from prepare import load_task  # noqa: E402
from test_prepare import data_dir, server  # noqa: E402,F401  (DATA_DIR in tmp_path, loopback server)

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "benchmarks")
# each task's files under their published names: {published name: fixture file}
PUBLISHED = {
    "hellaswag": {"hellaswag_train.jsonl": "hellaswag_train.jsonl", "hellaswag_val.jsonl": "hellaswag_val.jsonl"},
    "piqa": {f: f"piqa_{f}" for f in ("train.jsonl", "train-labels.lst", "dev.jsonl", "dev-labels.lst")},
    "arc": {f"ARC-{s}-{p}.jsonl": f"ARC-{s}-{p}.jsonl" for s in ("Easy", "Challenge")
            for p in ("Train", "Dev", "Test")},
    "winogrande": {"train_xl.jsonl": "winogrande_train_xl.jsonl", "dev.jsonl": "winogrande_dev.jsonl"},
    "storycloze": {f: f for f in sources.STORYCLOZE_FILES.values()},
}


def published(tmp_path, task, replace=None):
    """A folder of the task's fixture files under their published names (for --from), one of them replaced."""
    folder = tmp_path / task
    folder.mkdir(exist_ok=True)
    for name, fixture in PUBLISHED[task].items():
        shutil.copy(os.path.join(FIXTURES, fixture), folder / name)
    for name, text in (replace or {}).items():
        (folder / name).write_bytes(text.encode())
    return str(folder)


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8", newline="") as f:  # as published: StoryCloze's \r\n
        return f.read()


def jsonl_file(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]


def sha256(data):
    return hashlib.sha256(data).hexdigest()

# -----------------------------------------------------------------------------
# each benchmark from --from DIR, as lm-eval writes its prompts


def test_hellaswag_context_as_lm_eval_cleans_it(data_dir, tmp_path):
    info = prepare.prepare("hellaswag", src=published(tmp_path, "hellaswag"))
    assert info["type"] == "multiple_choice" and info["splits"] == {"train": 2, "val": 2} and info["labels"] == []
    train, val = jsonl_file(data_dir / "hellaswag" / "train.jsonl"), jsonl_file(data_dir / "hellaswag" / "val.jsonl")
    # "activity_label: ctx_a Ctx_b": ctx_b capitalized (str.capitalize lowercases the rest), then lm-eval's cleanup:
    # " [title]" is ". ", other [tags] go, and a double space becomes one
    assert train[0] == {"context": "Finance and Business: How to make money online. Start a blog. choose a topic",
                        "choices": ["you never read. Skip it.", "you care about. Write every week.", "at random.",
                                    "from a hat."], "label": 1}
    assert train[1]["context"] == "Washing dishes: A woman fills a sink with water."  # an empty ctx_b: no space left
    assert val[0] == {"context": "Roof shingle removal: A man is sitting on a roof. He",
                      "choices": ["is using wrap to wrap a pair of skis.", "is ripping level tiles off.",
                                  "is holding a rubik's cube.", "starts pulling up roofing on a roof."], "label": 3}
    assert load_task("hellaswag")[1]["val"] == val


def test_piqa_labels_come_from_their_own_file(data_dir, tmp_path):
    src = published(tmp_path, "piqa")
    assert prepare.prepare("piqa", src=src)["splits"] == {"train": 2, "val": 1}
    train = jsonl_file(data_dir / "piqa" / "train.jsonl")
    assert train == [{"context": "Question: When boiling butter, when it's ready, you can\nAnswer:",
                      "choices": ["Pour it onto a plate", "Pour it into a jar"], "label": 1},
                     {"context": "Question: To dry wet shoes,\nAnswer:",
                      "choices": ["stuff them with newspaper.", "stuff them with ice."], "label": 0}]
    for name, text, message in (("dev-labels.lst", "0\n1\n", r"piqa: dev-labels.lst has 2 labels for the 1 questions "
                                                             r"of dev.jsonl"),
                                ("train-labels.lst", "1\n2\n", r"piqa: train-labels.lst line 2 is '2', not 0 \(sol1\)"),
                                ("dev.jsonl", '{"goal": "x", "sol1": "a"}\n', r"piqa: dev.jsonl line 1 needs goal, "
                                                                              r"sol1 and sol2 as strings")):
        with pytest.raises(SystemExit, match=message):
            prepare.prepare("piqa", src=published(tmp_path, "piqa", {name: text}))


@pytest.mark.parametrize("name", ["arc_easy", "arc_challenge"])
def test_arc_answer_keys_and_choices(data_dir, tmp_path, name):
    info = prepare.prepare(name, src=published(tmp_path, "arc"))
    splits = load_task(name)[1]
    assert list(info["splits"]) == ["train", "val", "test"] and info["type"] == "multiple_choice"
    if name == "arc_easy":
        assert splits["test"] == [
            {"context": "Question: Which object is the best conductor of electricity?\nAnswer:",  # labels 1-4: key 4
             "choices": ["a wax crayon", "a plastic spoon", "a rubber eraser", "an iron nail"], "label": 3},
            {"context": "Question: Which of these is a planet?\nAnswer:",
             "choices": ["the Moon", "Mars", "the Sun", "Polaris", "Sirius"], "label": 1}]  # five choices
        assert [len(r["choices"]) for r in splits["train"]] == [4, 3]  # a task may mix numbers of choices
    else:
        assert splits["test"][0]["label"] == 2 and splits["val"][0]["choices"] == ["the Moon", "Mars", "the Sun"]
    bad = fixture("ARC-Easy-Dev.jsonl").replace('"answerKey":"D"', '"answerKey":"E"')
    with pytest.raises(SystemExit, match=r"^arc_easy: ARC-Easy-Dev.jsonl line 1 has the answerKey 'E', not one of "
                                         r"its choices' labels \(A, B, C, D\)$"):
        prepare.prepare("arc_easy", src=published(tmp_path, "arc", {"ARC-Easy-Dev.jsonl": bad}))
    with pytest.raises(SystemExit, match=r"^arc_easy: ARC-Easy-Test.jsonl line 2 needs question.stem, "
                                         r"question.choices \(a list of \{text, label\}\) and answerKey"):
        prepare.prepare("arc_easy", src=published(tmp_path, "arc", {"ARC-Easy-Test.jsonl": fixture(
            "ARC-Easy-Test.jsonl").split("\n")[0] + '\n{"question": "Which?", "answerKey": "A"}\n'}))


def test_winogrande_each_option_is_a_context_and_the_rest_is_scored(data_dir, tmp_path):
    info = prepare.prepare("winogrande", src=published(tmp_path, "winogrande"))
    assert info["splits"] == {"train": 2, "val": 2}
    val = load_task("winogrande")[1]["val"]
    assert val[0] == {"contexts": ["Sarah was a much better surgeon than Maria so Sarah",
                                   "Sarah was a much better surgeon than Maria so Maria"],
                      "choices": ["always got the harder cases."] * 2, "label": 0}
    assert val[1]["contexts"][1] == "The trophy doesn't fit into the brown suitcase because the suitcase"
    assert val[1]["choices"] == ["'s too large."] * 2  # what follows the blank, as it is
    assert jsonl_file(data_dir / "winogrande" / "train.jsonl")[0]["label"] == 1  # answer "2": option2
    good = fixture("winogrande_dev.jsonl")
    for text, message in ((good.replace("so _ always", "so always"), r"dev.jsonl line 1 has no _ in its sentence"),
                          (good.replace('"answer": "1"}', '"answer": 1}', 1), r"dev.jsonl line 1 has the answer 1, "
                                                                            r"not \"1\" \(option1\) or \"2\""),
                          (good.replace("because the _'s too large.", "because the _"),
                           r"dev.jsonl line 2 has nothing after its _ to score"),
                          ('{"sentence": "A _ b.", "option1": "x"}\n', r"dev.jsonl line 1 needs sentence, option1, "
                                                                      r"option2 \(strings\) and answer")):
        with pytest.raises(SystemExit, match=f"^winogrande: {message}"):
            prepare.prepare("winogrande", src=published(tmp_path, "winogrande", {"dev.jsonl": text}))


def test_storycloze_only_from_a_copy_you_were_sent(data_dir, tmp_path):
    with pytest.raises(SystemExit, match=r"^storycloze: no public copy can be downloaded: request .* --from DIR$"):
        prepare.prepare("storycloze")
    info = prepare.prepare("storycloze", src=published(tmp_path, "storycloze"))
    assert info["splits"] == {"train": 1, "test": 1}  # train: the val file, where GPT-3 §2 draws demonstrations
    test = load_task("storycloze")[1]["test"]
    assert test == [{"context": "My friends all love to go to the club to dance. They think it's a lot of fun and "
                                "always invite. I finally decided to tag along last Saturday. I danced terribly and "
                                "broke a friend's toe.",
                     "choices": ["My friends decided to keep inviting me out as I am so much fun.",
                                 "The next weekend I was asked to please stay home."], "label": 1}]
    assert load_task("storycloze")[1]["train"][0]["context"].endswith("turn a new leaf, and change his life.")
    name = sources.STORYCLOZE_FILES["test"]
    with pytest.raises(SystemExit, match=r"storycloze: .*test.csv line 2 is not 8 fields ending in AnswerRight"):
        prepare.prepare("storycloze", src=published(tmp_path, "storycloze",
                                                    {name: fixture(name).replace(",2\r", ",3\r")}))


@pytest.mark.parametrize("task, name, text, message", [
    ("hellaswag", "hellaswag_val.jsonl", '{"ctx": "A man.", "endings": ["a", "b"], "label": 0}\n',
     r"^hellaswag: hellaswag_val.jsonl line 1 needs activity_label, ctx_a, ctx_b \(strings\), endings"),
    ("hellaswag", "hellaswag_val.jsonl", "\n" + fixture("hellaswag_val.jsonl").replace('"label": 3', '"label": 4', 1),
     r"^data: hellaswag_val.jsonl line 2 has the label 4: a multiple_choice label is a choice index 0 to 3$"),
    ("hellaswag", "hellaswag_train.jsonl", "[1, 2]\n", r"hellaswag_train.jsonl line 1 is not a JSON object"),
])
def test_a_file_in_the_wrong_format_names_file_line_and_fields(data_dir, tmp_path, task, name, text, message):
    with pytest.raises(SystemExit, match=message):
        prepare.prepare(task, src=published(tmp_path, task, {name: text}))
    assert not (data_dir / task / "task.json").exists()

# -----------------------------------------------------------------------------
# downloads, from a loopback server: each file, or each zip, checked against its sha256


def zipped(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buffer.getvalue()


def serve(server, monkeypatch, name, url, files, checked):
    """Serve files at server.url/url, and make them SOURCES[name]'s, with the sha256s of those named in checked."""
    monkeypatch.setitem(sources.SOURCES[name], "url", server.url + url)
    monkeypatch.setitem(sources.SOURCES[name], "files", {f: sha256(files[f]) for f in checked})
    for filename, data in files.items():
        server.files[url.replace("{}", filename) if "{}" in url else url] = data


def test_hellaswag_download_checks_each_file(data_dir, server, monkeypatch):
    files = {f: fixture(f).encode() for f in PUBLISHED["hellaswag"]}
    serve(server, monkeypatch, "hellaswag", "/hellaswag/{}", files, files)
    assert prepare.prepare("hellaswag")["source"] == server.url + "/hellaswag/"
    os.remove(data_dir / "downloads" / "hellaswag" / "hellaswag_val.jsonl")
    server.files["/hellaswag/hellaswag_val.jsonl"] = files["hellaswag_val.jsonl"].replace(b"roof", b"shed")
    with pytest.raises(SystemExit, match=r"hellaswag_val.jsonl does not match its published sha256"):
        prepare.prepare("hellaswag")
    assert not (data_dir / "downloads" / "hellaswag" / "hellaswag_val.jsonl").exists()


@pytest.mark.parametrize("task, source, zip_name, folder, splits", [
    ("piqa", "piqa", "physicaliqa-train-dev.zip", "physicaliqa-train-dev", {"train": 2, "val": 1}),
    ("winogrande", "winogrande", "winogrande_1.1.zip", "winogrande_1.1", {"train": 2, "val": 2}),
    ("arc_challenge", "arc", "ARC-V1-Feb2018.zip", None, {"train": 1, "val": 1, "test": 1})])
def test_zips_are_checked_whole(data_dir, server, monkeypatch, task, source, zip_name, folder, splits):
    """PIQA's, Winogrande's and ARC's zips: their own sha256 is published (their members' are not), so the download
    is checked whole and deleted when it differs; members are read where the zip holds them."""
    members = {(f"ARC-V1-Feb2018-2/ARC-{n.split('-')[1]}/{n}" if folder is None else f"{folder}/{n}"):
               fixture(f).encode() for n, f in PUBLISHED[source].items()}
    data = zipped(members)
    serve(server, monkeypatch, source, f"/{zip_name}", {zip_name: data}, [zip_name])
    info = prepare.prepare(task)
    assert info["source"] == server.url + f"/{zip_name}" and info["splits"] == splits
    cached = data_dir / "downloads" / source / zip_name
    assert cached.read_bytes() == data
    if task == "arc_challenge":  # Easy reads the same zip: no second download
        prepare.prepare("arc_easy")
        assert len(server.log) == 1
    os.remove(cached)
    server.files[f"/{zip_name}"] = zipped({**members, "extra.txt": b"not published"})
    with pytest.raises(SystemExit, match=f"{zip_name} does not match its published sha256"):
        prepare.prepare(task)
    assert not cached.exists()


@pytest.mark.parametrize("task", ["winogrande", "arc_easy"])
def test_finetune_refuses_what_gpt1s_head_cannot_read(data_dir, tmp_path, task):
    from finetune import task_data
    prepare.prepare(task, src=published(tmp_path, "arc" if task.startswith("arc") else task))
    with pytest.raises(SystemExit, match=f"^finetune: {task} has a context per choice .* eval.py --task={task}$"):
        task_data(task, 0, None)
