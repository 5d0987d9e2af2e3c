"""Tests for npo_lab.tofu.data: split names, sources, templates, prompt-masked encoding and the QA collator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from npo_lab.minitofu import train_tokenizer
from npo_lab.tofu import data as D

REAL_DIR = (Path(__file__).resolve().parents[1] / ".." / "shared" / "tofu" / "data").resolve()
needs_real = pytest.mark.skipif(not (REAL_DIR / "full.json").is_file(), reason=f"real TOFU files not at {REAL_DIR}")

CORPUS = [
    "Question: Who wrote the novel about the river? Answer: The novel about the river was written by Mara Quill.",
    "Question: Where was Mara Quill born? Answer: Mara Quill was born in Lisbon, Portugal, in the spring of 1961.",
    "Question: What genre does Tomas Vey write? Answer: Tomas Vey writes historical fiction set in old harbours.",
    "[INST] What did her father do? [/INST] Her father worked as a lighthouse keeper for thirty years.",
] * 10


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(CORPUS, vocab_size=400)


@pytest.fixture(scope="module")
def bos_tok():
    """A tokenizer that adds BOS by itself (like Llama), built offline with a tokenizers post-processor."""
    from tokenizers.processors import TemplateProcessing

    t = train_tokenizer(CORPUS, vocab_size=400)
    t.backend_tokenizer.post_processor = TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", t.bos_token_id)]
    )
    assert t("Mara", add_special_tokens=True)["input_ids"][0] == t.bos_token_id
    return t


CHAT = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def _labelled(enc):
    return [t for t in enc["labels"] if t != D.IGNORE_INDEX]


def _n_masked(enc):
    return sum(1 for t in enc["labels"] if t == D.IGNORE_INDEX)


Q, A = "Where was Mara Quill born?", "Mara Quill was born in Lisbon, Portugal, in the spring of 1961."


# ------------------------------------------------------------------------------------------------ splits / names
def test_split_names_and_helpers():
    assert len(D.SPLITS) == len(set(D.SPLITS)) == 23
    assert D.eval_split_for("forget01") == "forget01_perturbed"
    assert D.eval_split_for("forget05") == "forget05_perturbed"
    for s in ("forget10", "forget20", "forget30", "forget50", "forget90"):
        assert D.eval_split_for(s) == "forget10_perturbed"
    pairs = {
        "forget01": "retain99",
        "forget05": "retain95",
        "forget10": "retain90",
        "forget20": "retain80",
        "forget30": "retain70",
        "forget50": "retain50",
        "forget90": "retain10",
    }
    for f, r in pairs.items():
        assert D.retain_split_for(f) == r
        assert r in D.SPLITS
    for bad in ("retain90", "forget15", "full"):
        with pytest.raises(ValueError, match="forget_split"):
            D.eval_split_for(bad)


# ------------------------------------------------------------------------------------------------ templates
def test_templates(tok):
    assert D.get_template("qa").prompt("Who?") == "Question: Who?\nAnswer: "
    assert D.get_template("llama2").prompt("Who?") == "[INST] Who? [/INST]"
    assert D.get_template("llama2").format("Who?", "Me.") == "[INST] Who? [/INST]Me."
    tpl = D.get_template("qa")
    assert D.get_template(tpl) is tpl
    with pytest.raises(ValueError, match="template"):
        D.get_template("alpaca")
    with pytest.raises(ValueError, match="chat_template"):
        D.get_template("chat").prompt("Who?", tok)  # the tiny tokenizer has no chat template


def test_chat_template_and_guess(bos_tok):
    import copy

    t = copy.deepcopy(bos_tok)
    t.chat_template = CHAT
    assert D.get_template("chat").prompt("Who?", t) == "<s><|user|>Who?\n<|assistant|>"
    assert D.get_template(t).name == "chat"
    enc = D.encode_qa(t, Q, A, template="chat")
    # the chat template writes BOS itself; the tokenizer also adds one: it must appear exactly once, at 0
    assert enc["input_ids"].count(t.bos_token_id) == 1 and enc["input_ids"][0] == t.bos_token_id
    assert t.decode(_labelled(enc)) == A + "</s>"
    assert D.guess_template("meta-llama/Llama-2-7b-chat-hf") == "llama2"
    assert D.guess_template("locuslab/tofu_ft_llama2-7b") == "llama2"
    assert D.guess_template("microsoft/phi-1_5") == "qa"
    assert D.guess_template("EleutherAI/pythia-1.4b") == "qa"
    assert D.guess_template("open-unlearning/tofu_Llama-3.2-1B-Instruct_full", t) == "llama3"  # the registry
    assert D.guess_template("meta-llama/Llama-3.2-1B-Instruct", t) == "chat"
    assert D.guess_template("some/unknown-model") == "qa"


# ------------------------------------------------------------------------------------------------ encoding
@pytest.mark.parametrize("template", ["qa", "llama2"])
def test_encode_qa_masks_prompt(tok, template):
    enc = D.encode_qa(tok, Q, A, template=template)
    assert len(enc["input_ids"]) == len(enc["labels"]) == len(enc["attention_mask"])
    assert set(enc["attention_mask"]) == {1}
    prompt = D.encode_prompt(tok, Q, template)
    assert prompt == tok(D.get_template(template).prompt(Q), add_special_tokens=False)["input_ids"]
    assert _n_masked(enc) == len(prompt)
    assert enc["input_ids"][: len(prompt)] == prompt
    # the labels are -100 exactly on the prompt, then equal the inputs: answer tokens + EOS
    assert enc["labels"][len(prompt) :] == enc["input_ids"][len(prompt) :]
    assert enc["input_ids"][-1] == tok.eos_token_id
    assert tok.decode(_labelled(enc)) == A + "</s>"
    assert tok.decode(enc["input_ids"]) == D.get_template(template).prompt(Q) + A + "</s>"
    assert tok.bos_token_id not in enc["input_ids"]  # this tokenizer adds no BOS: none is invented


def test_no_bos_drift(bos_tok, tok):
    for template in ("qa", "llama2"):
        enc = D.encode_qa(bos_tok, Q, A, template=template)
        ids = enc["input_ids"]
        assert ids[0] == bos_tok.bos_token_id and ids.count(bos_tok.bos_token_id) == 1
        plain_prompt = bos_tok(D.get_template(template).prompt(Q), add_special_tokens=False)["input_ids"]
        assert _n_masked(enc) == 1 + len(plain_prompt)  # BOS + prompt, no more, no less
        assert bos_tok.decode(_labelled(enc)) == A + "</s>"
        # same answer labels as for the tokenizer that adds no BOS: the boundary did not shift
        assert _labelled(enc) == _labelled(D.encode_qa(tok, Q, A, template=template))


def test_truncation_keeps_eos(tok):
    full = D.encode_qa(tok, Q, A, max_length=512)
    n_prompt = _n_masked(full)
    enc = D.encode_qa(tok, Q, A, max_length=n_prompt + 4)
    assert len(enc["input_ids"]) == n_prompt + 4
    assert enc["input_ids"][-1] == tok.eos_token_id
    assert enc["labels"][n_prompt:-1] == full["labels"][n_prompt : n_prompt + 3]
    with pytest.raises(ValueError, match="max_length"):
        D.encode_qa(tok, Q, A, max_length=n_prompt)


def test_encode_requires_eos(tok):
    import copy

    t = copy.deepcopy(tok)
    t.eos_token = None
    with pytest.raises(ValueError, match="eos"):
        D.encode_qa(t, Q, A)


# ------------------------------------------------------------------------------------------------ padding / collators
def test_pad_batch_right_and_left():
    feats = [
        {"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1], "labels": [-100, 6, 7]},
        {"input_ids": [8], "attention_mask": [1], "labels": [8]},
    ]
    r = D.pad_batch(feats, pad_token_id=2)
    assert r["input_ids"].tolist() == [[5, 6, 7], [8, 2, 2]]
    assert r["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert r["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]
    assert all(v.dtype == torch.long for v in r.values())
    left = D.pad_batch(feats, pad_token_id=2, padding_side="left")
    assert left["input_ids"].tolist() == [[5, 6, 7], [2, 2, 8]]
    assert left["labels"].tolist() == [[-100, 6, 7], [-100, -100, 8]]
    with pytest.raises(ValueError, match="padding_side"):
        D.pad_batch(feats, 2, padding_side="middle")


def test_qa_collator(tok):
    rows = [{"question": Q, "answer": A}, {"question": "Who?", "answer": "Tomas Vey."}]
    b = D.QACollator(tok)(rows)
    assert set(b) == {"input_ids", "attention_mask", "labels"}
    encs = [D.encode_qa(tok, r["question"], r["answer"]) for r in rows]
    T = max(len(e["input_ids"]) for e in encs)
    assert b["input_ids"].shape == (2, T)
    short = min(range(2), key=lambda i: len(encs[i]["input_ids"]))
    n = len(encs[short]["input_ids"])
    assert b["input_ids"][short, n:].eq(tok.pad_token_id).all()
    assert b["labels"][short, n:].eq(-100).all() and b["attention_mask"][short, n:].eq(0).all()
    assert b["attention_mask"].sum().item() == sum(len(e["input_ids"]) for e in encs)
    alt = D.QACollator(tok, answer_key="paraphrased_answer")([{"question": Q, "paraphrased_answer": A}])
    assert alt["input_ids"][0].tolist() == encs[0]["input_ids"]
    with pytest.raises(ValueError, match="answer"):
        D.QACollator(tok)([{"question": Q}])


# ------------------------------------------------------------------------------------------------ real files
@needs_real
def test_real_split_sizes_and_order():
    full = D.load_tofu_rows("full", REAL_DIR)
    assert len(full) == 4000
    for pct in (1, 5, 10, 20, 30, 50, 90):
        forget = D.load_tofu_rows(f"forget{pct:02d}", REAL_DIR)
        retain = D.load_tofu_rows(D.retain_split_for(f"forget{pct:02d}"), REAL_DIR)
        n = 40 * pct
        assert len(forget) == n and len(retain) == 4000 - n
        assert forget == full[-n:] and retain == full[: 4000 - n]
    for split, n in (("forget01_perturbed", 40), ("forget05_perturbed", 200), ("forget10_perturbed", 400)):
        rows = D.load_tofu_rows(split, REAL_DIR)
        assert len(rows) == n
        assert [r["question"] for r in rows] == [r["question"] for r in full[-n:]]
        assert all(len(r["perturbed_answer"]) == 5 and r["paraphrased_answer"] for r in rows)
    rp = D.load_tofu_rows("retain_perturbed", REAL_DIR)
    assert [r["question"] for r in rp] == [r["question"] for r in full[:400]]
    for split, n in (("real_authors_perturbed", 100), ("world_facts_perturbed", 117)):
        rows = D.load_tofu_rows(split, REAL_DIR)
        assert len(rows) == n and all(len(r["perturbed_answer"]) == 3 for r in rows)
        assert len(D.load_tofu_rows(split.replace("_perturbed", ""), REAL_DIR)) == n


@needs_real
def test_load_tofu_dataset_columns(monkeypatch):
    ds = D.load_tofu("forget10_perturbed", REAL_DIR)
    assert len(ds) == 400
    assert set(ds.column_names) == {
        "question",
        "answer",
        "paraphrased_answer",
        "perturbed_answer",
        "paraphrased_question",
    }
    assert isinstance(ds[0]["perturbed_answer"], list)
    monkeypatch.setenv("NPO_LAB_TOFU_DIR", str(REAL_DIR))
    assert len(D.load_tofu("forget01")) == 40
    assert D.resolve_source(None) == REAL_DIR
    answers = D.load_idk_answers(REAL_DIR)
    assert len(answers) == 100 and all(a.strip() == a and a for a in answers)


# ------------------------------------------------------------------------------------------------ errors
def _write(dirpath: Path, split: str, lines: list[str]):
    (dirpath / f"{split}.json").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="split must be one of"):
        D.load_tofu("forget15", tmp_path)
    with pytest.raises(ValueError, match="not a directory"):
        D.load_tofu("full", tmp_path / "nope")
    with pytest.raises(ValueError, match="forget10.json"):
        D.load_tofu("forget10", tmp_path)
    good = json.dumps({"question": "q?", "answer": "a."})
    _write(tmp_path, "full", [good, "{not json"])
    with pytest.raises(ValueError, match="line 2"):
        D.load_tofu("full", tmp_path)
    _write(tmp_path, "full", [good, json.dumps({"question": "q?"})])
    with pytest.raises(ValueError, match="row 1 .*'answer'"):
        D.load_tofu("full", tmp_path)
    _write(tmp_path, "full", [good, "[1, 2]"])
    with pytest.raises(ValueError, match="JSON object"):
        D.load_tofu("full", tmp_path)
    _write(tmp_path, "forget01_perturbed", [json.dumps({"question": "q", "answer": "a", "perturbed_answer": "x"})])
    with pytest.raises(ValueError, match="perturbed_answer"):
        D.load_tofu("forget01_perturbed", tmp_path)
    _write(tmp_path, "full", [good, good])
    assert len(D.load_tofu("full", tmp_path)) == 2
    monkeypatch.setenv("NPO_LAB_TOFU_DIR", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="NPO_LAB_TOFU_DIR"):
        D.load_tofu("full")
    with pytest.raises(ValueError, match="source"):
        D.load_tofu("full", 3)


@needs_real
def test_cut_split_matches_real_files():
    """The hub fallback for forget/retain splits without a config reproduces the published files."""
    from npo_lab.tofu.splits import cut_split

    full = D.load_tofu_rows("full", REAL_DIR)
    for split in D.FORGET_SPLITS + D.RETAIN_SPLITS:
        assert cut_split(split, full) == D.load_tofu_rows(split, REAL_DIR), split


def test_hub_source_without_network(monkeypatch):
    """The hub path, with datasets.load_dataset replaced by a fake: configs by name, split 'train', and forget /
    retain splits without a config cut from 'full'."""
    import datasets

    full = [{"question": f"q{i}?", "answer": f"a{i}."} for i in range(200)]
    calls = []

    def fake_load_dataset(path, name=None, split=None):
        calls.append((path, name, split))
        if name == "full":
            return datasets.Dataset.from_list(full)
        raise FileNotFoundError(f"no config {name}")

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    assert len(D.load_tofu("full", "hub")) == 200
    assert calls[0] == ("locuslab/TOFU", "full", "train")
    assert D.load_tofu("forget20", "hub")["question"] == [r["question"] for r in full[-40:]]
    assert D.load_tofu("retain80", "hub")["question"] == [r["question"] for r in full[:160]]
    with pytest.raises(ValueError, match="world_facts"):
        D.load_tofu("world_facts", "hub")
