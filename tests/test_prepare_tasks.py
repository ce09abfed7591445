"""prepare.py's tasks: TREC, SST-2, IMDb, AG News, RTE, MRPC, STS-B, COPA and your own files, read by load_task.

Tiny files in the published formats, written here: no network (downloads go to a loopback server), no ../shared.
$ python -m pytest -q tests/test_prepare_tasks.py
"""

import hashlib
import io
import json
import os
import re
import sys
import tarfile
import zipfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import prepare  # noqa: E402
from data import sources  # noqa: E402
from prepare import load_task, read_records  # noqa: E402
from test_prepare import data_dir, run, server  # noqa: E402,F401  (DATA_DIR in tmp_path, loopback server, CLI)

# ISO-8859-1 as published, with the one non-ASCII byte of the real train file
TREC_TRAIN = (b"DESC:manner How did serfdom develop in and then leave Russia ?\n"
              b"LOC:city Which city has the oldest relationship as a sister\xf0city with Los Angeles ?\n"
              b"NUM:date When was Ozzy Osbourne born ?\n")
TREC_TEST = b"NUM:dist How far is it from Denver to Aspen ?\nLOC:city What county is Modesto , California in ?\n"
SST2_TRAIN = "sentence\tlabel\nhide new secretions from the parental units \t0\nthe greatest musicians \t1\n"
SST2_DEV = "sentence\tlabel\nit 's a charming and often affecting journey . \t1\n"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def jsonl_file(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]


def folder(tmp_path, name, files):
    src = tmp_path / name
    src.mkdir()
    for filename, data in files.items():
        (src / filename).write_bytes(data if isinstance(data, bytes) else data.encode())
    return str(src)

# -----------------------------------------------------------------------------
# the published datasets, from --from DIR


def test_trec_coarse_labels_and_latin1(data_dir, tmp_path, capsys):
    src = folder(tmp_path, "trec", {"train_5500.label": TREC_TRAIN, "TREC_10.label": TREC_TEST})
    info = prepare.prepare("trec", src=src)
    assert info == {"task": "trec", "type": "classification", "labels": ["DESC", "LOC", "NUM"],
                    "splits": {"train": 3, "test": 2}, "source": src}
    assert json.loads((data_dir / "trec" / "task.json").read_text()) == info
    train = jsonl_file(data_dir / "trec" / "train.jsonl")
    assert train[1] == {"text": "Which city has the oldest relationship as a sister\u00f0city with Los Angeles ?",
                        "label": "LOC"}
    assert [r["label"] for r in train] == ["DESC", "LOC", "NUM"]
    out = capsys.readouterr().out
    assert "sha256 mismatch" in out and "train: 3 records | DESC 1, LOC 1, NUM 1" in out
    assert load_task("trec") == (info, {"train": train, "test": jsonl_file(data_dir / "trec" / "test.jsonl")})

    (tmp_path / "trec" / "TREC_10.label").write_bytes(TREC_TEST + b"How far is it ?\n")  # no label
    with pytest.raises(SystemExit, match=r"TREC_10.label line 3 does not begin with a TREC-6 COARSE:fine label"):
        prepare.prepare("trec", src=src)


def test_sst2_labels_named_and_dev_is_val(data_dir, tmp_path):
    src = folder(tmp_path, "sst2", {"train.tsv": SST2_TRAIN, "dev.tsv": SST2_DEV, "test.tsv": "index\tsentence\n0\tx"})
    info = prepare.prepare("sst2", src=src)
    assert info["splits"] == {"train": 2, "val": 1} and info["labels"] == ["negative", "positive"]
    assert jsonl_file(data_dir / "sst2" / "train.jsonl") == [
        {"text": "hide new secretions from the parental units", "label": "negative"},  # trailing space stripped
        {"text": "the greatest musicians", "label": "positive"}]
    assert sorted(os.listdir(data_dir / "sst2")) == ["task.json", "train.jsonl", "val.jsonl"]  # GLUE's test: no labels

    (tmp_path / "sst2" / "dev.tsv").write_text(SST2_DEV + "a fine film\t2\n")
    with pytest.raises(SystemExit, match=r"dev.tsv line 3 is not sentence<TAB>0 or 1"):
        prepare.prepare("sst2", src=src)
    (tmp_path / "sst2" / "dev.tsv").write_text("sentence,label\n")
    with pytest.raises(SystemExit, match=r"dev.tsv does not begin with the header"):
        prepare.prepare("sst2", src=src)


IMDB_FILES = {"aclImdb/imdb.vocab": "the\nand\n", "aclImdb/train/urls_pos.txt": "http://x\n",  # not reviews
              "aclImdb/train/labeledBow.feat": "9 0:1\n",
              "aclImdb/train/pos/10_9.txt": "Great.<br /><br />Loved it.", "aclImdb/train/pos/2_7.txt": "Fine film.",
              "aclImdb/train/neg/5_1.txt": "Awful \u00e9clair.", "aclImdb/test/neg/0_2.txt": "Dull.",
              "aclImdb/test/pos/1_10.txt": "Superb.", "aclImdb/train/unsup/3_0.txt": "Saw it twice."}


def imdb_tar(files=IMDB_FILES):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            member = tarfile.TarInfo(name)
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


def test_imdb_from_tar_and_from_folder(data_dir, tmp_path, capsys):
    src = folder(tmp_path, "imdb_tar", {"aclImdb_v1.tar.gz": imdb_tar()})
    info = prepare.prepare("imdb", src=src)
    assert "aclImdb_v1.tar.gz differs from the published file" in capsys.readouterr().out
    assert info["splits"] == {"train": 3, "test": 2, "unsup": 1} and info["labels"] == ["negative", "positive"]
    assert list(info["splits"]) == ["train", "test", "unsup"]  # in this order, whatever order the files came in
    train = jsonl_file(data_dir / "imdb" / "train.jsonl")
    assert train == [{"text": "Awful \u00e9clair.", "label": "negative"},  # sorted by name: neg, then pos/10_9, pos/2_7
                     {"text": "Great.\n\nLoved it.", "label": "positive"},  # <br /> is a line break
                     {"text": "Fine film.", "label": "positive"}]
    assert jsonl_file(data_dir / "imdb" / "unsup.jsonl") == [{"text": "Saw it twice."}]  # no label
    from_tar = {f: (data_dir / "imdb" / f).read_bytes() for f in ("train.jsonl", "test.jsonl", "unsup.jsonl")}

    extracted = tmp_path / "imdb_dir"
    for name, text in reversed(IMDB_FILES.items()):
        (extracted / name).parent.mkdir(parents=True, exist_ok=True)
        (extracted / name).write_text(text)
    prepare.prepare("imdb", src=str(extracted))
    assert {f: (data_dir / "imdb" / f).read_bytes() for f in from_tar} == from_tar  # the same bytes, the same order

    with pytest.raises(SystemExit, match=r"holds neither aclImdb/ nor aclImdb_v1.tar.gz"):
        prepare.prepare("imdb", src=str(tmp_path))
    (tmp_path / "imdb_tar" / "aclImdb_v1.tar.gz").write_bytes(imdb_tar()[:50])  # cut short
    with pytest.raises(SystemExit, match=r"is not a readable tar.gz"):
        prepare.prepare("imdb", src=src)


AG_TRAIN = ('"3","Wall St. Bears Claw Back Into the Black (Reuters)","Reuters - Short-sellers, Wall Street\'s '
            'dwindling\\band of ultra-cynics, are seeing green again."\n'
            '"4","Google #39;s IPO","Shares at \\$85 (#36;85) quot;soonquot; amp; more, a #151; b \\\\ said ""we"" ."\n'
            '"1","Talks end","Diplomats left.\\"\n'
            '"2","Phelps wins","An \'#39;8 final."\n')
AG_TEST = '"2","Cup final","Scores."\n'


def test_ag_news_escapes(data_dir, tmp_path):
    src = folder(tmp_path, "ag", {"train.csv": AG_TRAIN, "test.csv": AG_TEST})
    info = prepare.prepare("ag_news", src=src)
    assert info["labels"] == ["Business", "Sci/Tech", "Sports", "World"] and info["splits"] == {"train": 4, "test": 1}
    train = jsonl_file(data_dir / "ag_news" / "train.jsonl")
    assert [r["label"] for r in train] == ["Business", "Sci/Tech", "World", "Sports"]
    assert train[0]["text"] == ("Wall St. Bears Claw Back Into the Black (Reuters)\n"  # title, line break, description
                                "Reuters - Short-sellers, Wall Street's dwindling band of ultra-cynics, are seeing "
                                "green again.")  # the \ was a line break of the feed
    assert train[1]["text"] == 'Google\'s IPO\nShares at $85 ($85) "soon" & more, a \u2014 b said "we" .'
    assert train[2]["text"] == "Talks end\nDiplomats left." and train[3]["text"] == "Phelps wins\nAn ''8 final."

    (tmp_path / "ag" / "test.csv").write_text(AG_TEST + '"5","Bad","class"\n')
    with pytest.raises(SystemExit, match=r"test.csv line 2 is not class \(1-4\),title,description"):
        prepare.prepare("ag_news", src=src)

# -----------------------------------------------------------------------------
# your own files: prepare.py task --input train.csv dev.jsonl ... --out NAME


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_task_from_csv_and_jsonl(data_dir, tmp_path):
    train = write(tmp_path / "train.csv", 'id,text,label\n1,"good, very\ngood",pos\n2,bad,neg\n3,ok,pos\n')
    dev = write(tmp_path / "dev.jsonl", '{"text": "fine", "label": "pos", "id": 9}\n\n{"text": "meh", "label": "neg"}')
    unsup = write(tmp_path / "unsup.jsonl", '{"text": "more text", "label": [1]}\n')  # labels of unsup: ignored
    info = prepare.prepare("task", inputs=[train, dev, unsup], out="mine")
    assert info == {"task": "mine", "type": "classification", "labels": ["neg", "pos"],
                    "splits": {"train": 3, "val": 2, "unsup": 1}, "source": ", ".join([train, dev, unsup])}
    loaded, splits = load_task("mine")
    assert loaded == info and splits["unsup"] == [{"text": "more text"}]
    assert splits["train"][0] == {"text": "good, very\ngood", "label": "pos"}  # csv: quoted, multi-line, extra column
    assert splits["val"] == [{"text": "fine", "label": "pos"}, {"text": "meh", "label": "neg"}]

    (tmp_path / "ints").mkdir()
    ints = write(tmp_path / "ints" / "train.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": 0}\n')
    test = write(tmp_path / "ints" / "test.csv", "\ufefftext,label\nc,1\n")  # a BOM, as Excel writes
    info = prepare.prepare("task", inputs=[ints, test], out="ints")
    assert info["labels"] == ["0", "1"] and load_task("ints")[1]["test"] == [{"text": "c", "label": "1"}]


@pytest.mark.parametrize("lines, message", [
    (['{"text": "a", "label": 1}', "", "{oops"], r"line 3 is not valid JSON"),
    (['{"text": "a", "label": 1}', '["a", 1]'], r"line 2 is not a JSON object"),
    (['{"label": 1}'], r"line 1 needs \"text\" as a non-empty string"),
    (['{"text": 5, "label": 1}'], r"line 1 needs \"text\" as a non-empty string"),
    (['{"text": "a", "label": 1}', '{"text": " \\n ", "label": 1}'], r"line 2 needs \"text\" as a non-empty string"),
    (['{"text": "a"}'], r"line 1 has no \"label\""),
    (['{"text": "a", "label": 1}', "", '{"text": "b", "label": "pos"}'],
     r"line 3 has a str label \('pos'\) but .*train.jsonl line 1 has a int"),
    (['{"text": "a", "label": true}'], r"line 1 has the label True"),
    (['{"text": "a", "label": 1.0}'], r"line 1 has the label 1.0"),
    (['{"text": "a", "label": null}'], r"line 1 has the label None"),
    (['{"text": "a", "label": ["x"]}'], r"line 1 has the label \['x'\]"),
    (['{"text": "a", "label": " "}'], r"line 1 has the label ' '"),
])
def test_read_records_mistakes_name_the_line(data_dir, tmp_path, lines, message):
    path = write(tmp_path / "train.jsonl", "\n".join(lines) + "\n")
    with pytest.raises(SystemExit, match=r"^data: .*train.jsonl " + message):
        read_records(path)
    with pytest.raises(SystemExit, match=message):  # the same check when prepare.py converts your file
        prepare.prepare("task", inputs=[path], out="never")
    assert not (data_dir / "never").exists()


def test_read_records_unlabelled_and_blank_lines(tmp_path):
    path = write(tmp_path / "u.jsonl", '\n{"text": "a", "label": 1.5}\n  \n{"text": "b"}')  # no final newline
    assert read_records(path, labelled=False) == [{"text": "a"}, {"text": "b"}]
    assert read_records(write(tmp_path / "l.jsonl", '{"text": "a", "label": 7}\n')) == [{"text": "a", "label": "7"}]


def test_task_mistakes(data_dir, tmp_path):
    train = write(tmp_path / "train.jsonl", '{"text": "a", "label": "pos"}\n{"text": "b", "label": "neg"}\n')
    val = write(tmp_path / "val.jsonl", '{"text": "c", "label": "pos"}\n{"text": "d", "label": "meh"}\n')
    test = write(tmp_path / "test.csv", "text,label\ne,odd\nf,pos\ng,awful\n")
    with pytest.raises(SystemExit, match=r"the val split of .* has labels that never occur in train: 'meh'"):
        prepare.prepare("task", inputs=[train, val], out="never")
    with pytest.raises(SystemExit, match=r"the test split of .* never occur in train: 'awful', 'odd'"):
        prepare.prepare("task", inputs=[train, test], out="never")
    for filename, text, message in (
            ("test.csv", "text,labels\ne,pos\n", r"test.csv needs a header row naming a text and a label column"),
            ("test.csv", "text,label\ne,pos\n,neg\n", r"test.csv line 3 needs \"text\""),
            ("test.csv", "text,label\ne,pos\nf\n", r"test.csv line 3 has the label None"),  # a short row
            ("unsup.csv", "label\nx\n", r"unsup.csv needs a header row naming a text column"),
            ("test.csv", f"text,label\ne,pos\n{'f' * 140_000},pos\n", r"test.csv line 3 is not valid CSV \(field"),
            ("other.csv", "text,label\n", r"cannot use .*other.csv: name one file per split"),
            ("val.txt", "", r"cannot use .*val.txt: name one file per split"),
            ("dev.jsonl", None, r"no such file: .*dev.jsonl")):
        path = write(tmp_path / filename, text) if text is not None else str(tmp_path / filename)
        with pytest.raises(SystemExit, match=message):
            prepare.prepare("task", inputs=[train, path], out="never")
    with pytest.raises(SystemExit, match=r"has no train records"):
        prepare.prepare("task", inputs=[val], out="never")
    with pytest.raises(SystemExit, match=r"name one file per split"):
        prepare.prepare("task", inputs=[train, train], out="never")
    assert not (data_dir / "never").exists()


# GLUE's files as download_glue_data.py wrote them: no quoting (an RTE sentence may begin with "), MRPC's UTF-8 BOM
RTE_TRAIN = ('index\tsentence1\tsentence2\tlabel\n0\t"Dana Reeve" died.\tChristopher Reeve had an accident.\t'
             'not_entailment\n1\tYet, we now are discovering...\tBacteria is winning.\tentailment\n')
RTE_DEV = "index\tsentence1\tsentence2\tlabel\n0\tA man sleeps.\tSomeone rests.\tentailment\n"
MRPC_HEADER = "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
MRPC_TRAIN = (MRPC_HEADER + "1\t702876\t702977\tAmrozi accused his brother.\tHe accused his brother.\n"
              "0\t1\t2\tA b.\tC d.\n")
STSB_HEADER = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
STSB_TRAIN = (STSB_HEADER + "0\tmain-captions\tMSRvid\t2012test\t0001\tnone\tnone\tA plane takes off.\t"
              "An air plane is taking off.\t5.000\n")
COPA_TRAIN = ('{"premise": "My body cast a shadow over the grass.", "choice1": "The sun was rising.", "choice2": '
              '"The grass was cut.", "question": "cause", "label": 0, "idx": 0}\n')
COPA_EXTRA = ('{"premise": "The man turned on the faucet.", "choice1": "The toilet filled with water.", "choice2": '
              '"Water flowed from the spout.", "question": "effect", "label": 1, "idx": 368}\n')


def test_glue_pairs_typed_records(data_dir, tmp_path):
    src = folder(tmp_path, "rte", {"train.tsv": RTE_TRAIN, "dev.tsv": RTE_DEV})
    info = prepare.prepare("rte", src=src)
    assert info["type"] == "entailment" and info["labels"] == ["entailment", "not_entailment"]
    assert jsonl_file(data_dir / "rte" / "train.jsonl")[0] == {
        "premise": '"Dana Reeve" died.', "hypothesis": "Christopher Reeve had an accident.", "label": "not_entailment"}
    assert load_task("rte")[1]["val"] == [{"premise": "A man sleeps.", "hypothesis": "Someone rests.",
                                           "label": "entailment"}]

    src = folder(tmp_path, "mrpc", {"train.tsv": MRPC_TRAIN, "dev.tsv": MRPC_HEADER + "1\t3\t4\tE f.\tG h.\n"})
    info = prepare.prepare("mrpc", src=src)
    assert info["type"] == "similarity" and info["splits"] == {"train": 2, "val": 1}
    assert jsonl_file(data_dir / "mrpc" / "train.jsonl")[0] == {
        "text_a": "Amrozi accused his brother.", "text_b": "He accused his brother.", "label": "paraphrase"}

    src = folder(tmp_path, "stsb", {"train.tsv": STSB_TRAIN, "dev.tsv": STSB_TRAIN.replace("5.000", "0.4")})
    info = prepare.prepare("stsb", src=src)
    assert info["type"] == "regression" and info["labels"] == []
    assert load_task("stsb")[1]["val"][0] == {"text_a": "A plane takes off.", "text_b": "An air plane is taking off.",
                                              "label": 0.4}

    for name, filename, text, message in (  # each mistake in a copy of the good files
            ("rte", "dev.tsv", RTE_DEV + "1\tonly a premise\tentailment\n",
             r"dev.tsv line 3 has 3 tab-separated fields, not 4"),
            ("rte", "train.tsv", RTE_TRAIN + "2\tA.\tB.\tneutral\n",
             r"train.tsv line 4 has the label 'neutral', not entailment or not_entailment"),
            ("stsb", "dev.tsv", STSB_TRAIN.replace("5.000", "high"), r"dev.tsv line 2 has the score 'high', not a num"),
            ("stsb", "dev.tsv", STSB_TRAIN.replace("5.000", "5.5"), r"dev.tsv line 2 has the score '5.5', not a num"),
            ("stsb", "dev.tsv", STSB_TRAIN.replace("5.000", "nan"), r"dev.tsv line 2 has the score 'nan', not a num"),
            ("mrpc", "train.tsv", MRPC_TRAIN.replace("\n0\t", "\n2\t"),
             r"train.tsv line 3 has the label '2', not 1 or 0"),
            ("mrpc", "dev.tsv", "Quality\tString\n", r"dev.tsv does not begin with GLUE's header")):
        good = (tmp_path / name / filename).read_bytes()
        (tmp_path / name / filename).write_text(text)
        with pytest.raises(SystemExit, match=f"^{name}: {message}"):
            prepare.prepare(name, src=str(tmp_path / name))
        (tmp_path / name / filename).write_bytes(good)


def test_copa_question_spelled_out(data_dir, tmp_path):
    src = folder(tmp_path, "copa", {"train.jsonl": COPA_TRAIN, "unlabeled.jsonl": COPA_EXTRA, "val.jsonl": COPA_EXTRA})
    info = prepare.prepare("copa", src=src)
    assert info["type"] == "multiple_choice" and info["splits"] == {"train": 2, "val": 1}  # train: both files
    train = load_task("copa")[1]["train"]
    assert train == [{"context": "My body cast a shadow over the grass. What was the cause?",
                      "choices": ["The sun was rising.", "The grass was cut."], "label": 0},
                     {"context": "The man turned on the faucet. What happened as a result?",
                      "choices": ["The toilet filled with water.", "Water flowed from the spout."], "label": 1}]
    (tmp_path / "copa" / "val.jsonl").write_text(COPA_EXTRA.replace('"label": 1', '"label": 2'))
    with pytest.raises(SystemExit, match=r"val.jsonl line 1 has the label 2: "
                                         r"a multiple_choice label is a choice index"):
        prepare.prepare("copa", src=src)
    # a file in another format (a choices list, as our own records have) names the fields COPA's format needs
    (tmp_path / "copa" / "val.jsonl").write_text('{"premise": "a", "choices": ["b", "c"], "question": "cause", '
                                                 '"label": 0}\n')
    with pytest.raises(SystemExit, match=r"^copa: val.jsonl line 1 needs premise, choice1, choice2 \(strings\), "
                                         r"question \('cause' or 'effect'\) and label \(0 or 1\): use SuperGLUE's"):
        prepare.prepare("copa", src=src)


def test_your_own_task_of_any_type(data_dir, tmp_path, capsys):
    train = write(tmp_path / "train.jsonl", '{"premise": "a b", "hypothesis": "b", "label": "yes"}\n'
                                            '{"premise": "c", "hypothesis": "d", "label": "no"}\n')
    info = prepare.prepare("task", inputs=[train], out="nli", task_type="entailment")
    assert info["type"] == "entailment" and load_task("nli")[1]["train"][0]["premise"] == "a b"
    bad = write(tmp_path / "val.jsonl", '{"premise": "a", "label": "yes"}\n')
    with pytest.raises(SystemExit, match=r'val.jsonl line 1 needs "hypothesis" as a non-empty string'):
        prepare.prepare("task", inputs=[train, bad], out="nli2", task_type="entailment")
    (tmp_path / "sts").mkdir()
    scores = write(tmp_path / "sts" / "train.jsonl", '{"text_a": "a", "text_b": "b", "label": 1}\n'
                                                    '{"text_a": "c", "text_b": "d", "label": 4.5}\n')
    info = prepare.prepare("task", inputs=[scores], out="sts", task_type="regression")
    assert info["labels"] == [] and "train: 2 records | mean score 2.750" in capsys.readouterr().out
    assert load_task("sts")[1]["train"][0]["label"] == 1.0  # an int score is a float
    nan = write(tmp_path / "sts" / "val.jsonl", '{"text_a": "a", "text_b": "b", "label": NaN}\n')  # json reads NaN
    with pytest.raises(SystemExit, match=r"val.jsonl line 1 has the label nan: a regression label is a number"):
        prepare.prepare("task", inputs=[scores, nan], out="sts2", task_type="regression")
    with pytest.raises(SystemExit, match=r"write multiple_choice tasks as .jsonl"):
        prepare.prepare("task", inputs=[write(tmp_path / "train.csv", "context,choices,label\n")], out="mc",
                        task_type="multiple_choice")


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "trec", "tokenizer": "gpt2"}, r"trec is a task .*: it takes no --tokenizer"),
    ({"name": "sst2", "max_vocab": 100}, r"sst2 is a task"),
    ({"name": "imdb", "shards": 1}, r"imdb is a task"),
    ({"name": "task", "val_fraction": 0.1, "inputs": ["train.csv"], "out": "x"}, r"task is a task \(texts and labels"),
    ({"name": "trec", "inputs": ["train.csv"]}, r"--input is only for text and task"),
    ({"name": "task", "src": ".", "inputs": ["train.csv"], "out": "x"}, r"--from is only for published datasets"),
    ({"name": "task", "inputs": ["train.csv"]}, r"task needs --input .* and --out NAME"),
    ({"name": "rte", "task_type": "entailment"}, r"--type is only for task"),
    ({"name": "task", "task_type": "nli", "inputs": ["train.jsonl"], "out": "x"}, r"unknown --type nli: choose from"),
    ({"name": "trecc"}, r"unknown dataset 'trecc': .* tasks trec, sst2, imdb, ag_news, rte, mrpc, stsb, copa, "
                        r"hellaswag, piqa, arc_easy, arc_challenge, winogrande, storycloze, task"),
])
def test_flags_that_do_not_fit_a_task(data_dir, kwargs, message):
    with pytest.raises(SystemExit, match=message):
        prepare.prepare(**kwargs)


def test_load_task_mistakes(data_dir, tmp_path):
    trec = "`python prepare.py trec` (or `python prepare.py trec --from DIR` with a local copy)"
    for name, command in (("trec", trec), ("mine", "`python prepare.py task --input FILE... --out mine`")):
        with pytest.raises(SystemExit, match=f"task '{name}' is not prepared in .*: run {re.escape(command)}$"):
            load_task(name)
    train = write(tmp_path / "train.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\n')
    prepare.prepare("task", inputs=[train, write(tmp_path / "test.jsonl", '{"text": "c", "label": "x"}\n')], out="t")
    (data_dir / "t" / "test.jsonl").write_text('{"text": "c", "label": "z"}\n')  # edited after preparing
    with pytest.raises(SystemExit, match=r"the test split of .*t has labels that never occur in train: 'z'"):
        load_task("t")
    (data_dir / "t" / "train.jsonl").write_text("\n")
    with pytest.raises(SystemExit, match=r"has no train records"):
        load_task("t")
    os.remove(data_dir / "t" / "train.jsonl")
    with pytest.raises(SystemExit, match=r"no such file: .*train.jsonl"):
        load_task("t")

# -----------------------------------------------------------------------------
# downloads, against a server on 127.0.0.1


def test_trec_download_checks_sha256(data_dir, server, monkeypatch):
    server.files.update({"/train_5500.label": TREC_TRAIN, "/TREC_10.label": TREC_TEST})
    monkeypatch.setitem(sources.SOURCES["trec"], "url", server.url + "/{}")
    monkeypatch.setitem(sources.SOURCES["trec"]["files"], "train_5500.label", sha256(TREC_TRAIN))
    monkeypatch.setitem(sources.SOURCES["trec"]["files"], "TREC_10.label", sha256(TREC_TEST))
    info = prepare.prepare("trec")
    assert info["splits"] == {"train": 3, "test": 2} and info["source"] == server.url + "/"
    assert sorted(os.listdir(data_dir / "downloads" / "trec")) == ["TREC_10.label", "train_5500.label"]

    os.remove(data_dir / "downloads" / "trec" / "TREC_10.label")
    os.remove(data_dir / "trec" / "task.json")
    server.files["/TREC_10.label"] = TREC_TEST.replace(b"Aspen", b"Vail")  # not the published file
    with pytest.raises(SystemExit, match=r"TREC_10.label does not match its published sha256"):
        prepare.prepare("trec")
    assert os.listdir(data_dir / "downloads" / "trec") == ["train_5500.label"]  # the bad file is deleted
    assert not (data_dir / "trec" / "task.json").exists()


def test_sst2_zip_members_checked(data_dir, server, monkeypatch):
    def sst2_zip(dev):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as z:
            z.writestr("SST-2/train.tsv", SST2_TRAIN)
            z.writestr("SST-2/dev.tsv", dev)
            z.writestr("SST-2/test.tsv", "index\tsentence\n")
        return buffer.getvalue()
    server.files["/SST-2.zip"] = sst2_zip(SST2_DEV)
    monkeypatch.setitem(sources.SOURCES["sst2"], "url", server.url + "/SST-2.zip")
    monkeypatch.setitem(sources.SOURCES["sst2"]["files"], "SST-2/train.tsv", sha256(SST2_TRAIN.encode()))
    monkeypatch.setitem(sources.SOURCES["sst2"]["files"], "SST-2/dev.tsv", sha256(SST2_DEV.encode()))
    assert prepare.prepare("sst2")["splits"] == {"train": 2, "val": 1}
    assert len(server.log) == 1  # one download serves both members

    os.remove(data_dir / "downloads" / "sst2" / "SST-2.zip")
    server.files["/SST-2.zip"] = sst2_zip(SST2_DEV.replace("1\n", "0\n"))
    with pytest.raises(SystemExit, match=r"SST-2/dev.tsv in .* does not match its published sha256 \(deleted the"):
        prepare.prepare("sst2")
    assert not (data_dir / "downloads" / "sst2" / "SST-2.zip").exists()


def test_imdb_download_checks_sha256(data_dir, server, monkeypatch):
    server.files["/aclImdb_v1.tar.gz"] = data = imdb_tar()
    monkeypatch.setitem(sources.SOURCES["imdb"], "url", server.url + "/aclImdb_v1.tar.gz")
    monkeypatch.setitem(sources.SOURCES["imdb"]["files"], "aclImdb_v1.tar.gz", sha256(data[::-1]))
    with pytest.raises(SystemExit, match=r"aclImdb_v1.tar.gz does not match its published sha256"):
        prepare.prepare("imdb")
    monkeypatch.setitem(sources.SOURCES["imdb"]["files"], "aclImdb_v1.tar.gz", sha256(data))
    assert prepare.prepare("imdb")["splits"] == {"test": 2, "train": 3, "unsup": 1}


def test_glue_and_copa_downloads_checked_per_task(data_dir, server, monkeypatch):
    # RTE and STS-B both publish train.tsv and dev.tsv: SOURCES keeps each task's, each checked against its own
    for task, folder_name, files in (("rte", "RTE", {"train.tsv": RTE_TRAIN, "dev.tsv": RTE_DEV}),
                                     ("stsb", "STS-B", {"train.tsv": STSB_TRAIN, "dev.tsv": STSB_TRAIN})):
        monkeypatch.setitem(sources.SOURCES[task], "url", server.url + f"/{folder_name}/{{}}")
        for filename, text in files.items():
            server.files[f"/{folder_name}/{filename}"] = text.encode()
            monkeypatch.setitem(sources.SOURCES[task]["files"], filename, sha256(text.encode()))
    assert prepare.prepare("rte")["splits"] == {"train": 2, "val": 1}
    assert sorted(os.listdir(data_dir / "downloads" / "rte")) == ["dev.tsv", "train.tsv"]
    server.files["/STS-B/dev.tsv"] = STSB_TRAIN.replace("5.000", "4.000").encode()  # not the published file
    with pytest.raises(SystemExit, match=r"STS-B/dev.tsv does not match its published sha256"):
        prepare.prepare("stsb")

    monkeypatch.setitem(sources.SOURCES["copa"], "url", server.url + "/copa/{}")
    for filename, text in (("train.jsonl", COPA_TRAIN), ("unlabeled.jsonl", COPA_EXTRA), ("val.jsonl", COPA_EXTRA)):
        server.files[f"/copa/{filename}"] = text.encode()
        monkeypatch.setitem(sources.SOURCES["copa"]["files"], filename, sha256(text.encode()))
    info = prepare.prepare("copa")
    assert info["splits"] == {"train": 2, "val": 1} and info["source"] == server.url + "/copa/"

# -----------------------------------------------------------------------------
# command line: one line on stderr


def test_cli_task_mistake_is_one_line(tmp_path):
    bad = write(tmp_path / "train.jsonl", '{"text": "ok", "label": 1}\n{"text": "x", "label": "one"}\n')
    for args, message in ((["trec", "--tokenizer", "gpt2"], "trec is a task (texts and labels"),
                          (["task", "--input", bad, "--out", "never_written"], "train.jsonl line 2 has a str label"),
                          (["ptb", "--type", "entailment"], "--type is only for task")):
        result = run("prepare.py", *args)
        assert result.returncode == 1 and result.stdout == "" and "Traceback" not in result.stderr
        assert result.stderr.count("\n") == 1 and message in result.stderr
