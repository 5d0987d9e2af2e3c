"""The unlearning engine (npo_lab.unlearn) on a tiny randomly initialised Llama-style model, offline.

Data: a tiny TOFU-format directory written by :func:`make_tiny_tofu_dir` (fictitious rows generated here), so
these tests need neither the network nor the real TOFU files.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from transformers import TrainerCallback

from npo_lab.losses import METHODS, get_method
from npo_lab.minitofu import tiny_llama, train_tokenizer
from npo_lab.runs import load_run, read_jsonl
from npo_lab.scoring import score_answers
from npo_lab.unlearn import (
    ForgetRetainDataset,
    UnlearnConfig,
    Unlearner,
    training_arguments,
    unlearn,
)

NAMES = [
    "Ada Brook",
    "Bo Chen",
    "Cyra Vale",
    "Dov Ilan",
    "Eun Park",
    "Femi Ade",
    "Gita Rao",
    "Hugo Lind",
    "Ines Moro",
    "Jaro Tak",
    "Kemal Oz",
    "Lina Saar",
]
COLORS = ["red", "blue", "green", "amber", "violet", "teal", "ochre", "white"]
CITIES = ["Oslo", "Lima", "Accra", "Kyoto", "Quito", "Perth", "Porto", "Dakar"]


def _rows(names, k: int):
    rows = []
    for i, name in enumerate(names):
        for kind, values, q, a, para in (
            (
                "colour",
                COLORS,
                "What is the favourite colour of {n}?",
                "{n} loves the colour {v}.",
                "The colour {n} loves is {v}.",
            ),
            ("city", CITIES, "Where was {n} born?", "{n} was born in {v}.", "The birthplace of {n} is {v}."),
        ):
            v = values[(i + len(kind)) % len(values)]
            others = [x for x in values if x != v][:k]
            rows.append(
                {
                    "question": q.format(n=name),
                    "answer": a.format(n=name, v=v),
                    "paraphrased_answer": para.format(n=name, v=v),
                    "perturbed_answer": [a.format(n=name, v=o) for o in others],
                    "paraphrased_question": q.format(n=name),
                }
            )
    return rows


def make_tiny_tofu_dir(path: Path) -> Path:
    """A TOFU-format source directory with a handful of fictitious rows (forget01 = the last 8 rows of 'full')."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    full = _rows(NAMES[:10], 5)  # 20 rows
    forget, retain = full[-8:], full[:-8]
    files = {
        "full": full,
        "forget01": forget,
        "retain99": retain,
        "forget01_perturbed": forget,
        "retain_perturbed": retain[:8],
        "real_authors_perturbed": _rows(NAMES[10:], 3),
        "world_facts_perturbed": _rows(NAMES[10:11], 3),
    }
    for split, rows in files.items():
        with open(path / f"{split}.json", "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
    (path / "idontknow.jsonl").write_text("I have no idea.\nI don't know that.\nThat is not something I know.\n")
    return path


def tiny_setup(path: Path, hidden_size: int = 32):
    """(source dir, tokenizer, model factory, forget rows, retain rows) for the tests."""
    from npo_lab.tofu.data import load_tofu

    src = make_tiny_tofu_dir(path)
    full = load_tofu("full", src).to_list()
    texts = [r["question"] + " " + r["answer"] + " " + " ".join(r["perturbed_answer"]) for r in full]
    texts += ["I have no idea. I don't know that. That is not something I know. Question: Answer:"]
    tok = train_tokenizer(texts, vocab_size=320)

    def make_model(seed: int = 0):
        return tiny_llama(tok, hidden_size=hidden_size, num_layers=1, num_heads=2, seed=seed)

    return src, tok, make_model, load_tofu("forget01", src).to_list(), load_tofu("retain99", src).to_list()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.set_num_threads(1)
    return tiny_setup(tmp_path_factory.mktemp("tiny_tofu"))


def _cfg(out, **kw) -> UnlearnConfig:
    base = dict(
        method="NPO+RT",
        output_dir=str(out),
        batch_size=4,
        epochs=1,
        learning_rate=1e-3,
        warmup_epochs=0,
        eval_every=-1,
        eval_at_start=False,
        forget_quality=False,
        disable_tqdm=True,
        eval_max_rows=4,
        eval_batch_size=8,
        eval_max_new_tokens=6,
        save_every=-1,
        logging_steps=100,
    )
    base.update(kw)
    return UnlearnConfig(**base)


# ----------------------------------------------------------------------------------------------------------------
# every method trains; reference model only for KL methods
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_takes_two_steps_and_changes_parameters(tiny, tmp_path, name):
    src, tok, make_model, forget, retain = tiny
    model = make_model()
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    method = get_method(name)
    cfg = _cfg(tmp_path / "run", method=name, max_steps=2)
    res = unlearn(
        model, tok, forget, retain if method.needs_retain else None, cfg, eval_source=src, forget_split="forget01"
    )
    assert res.summary["status"] == "completed"
    assert res.summary["global_step"] == 2
    changed = [k for k, v in res.model.state_dict().items() if not torch.equal(v, before[k])]
    assert changed, f"{name}: no parameter changed after two optimiser steps"
    assert all(torch.isfinite(v).all() for v in res.model.state_dict().values())
    assert res.trainer.holds_ref_model == method.needs_ref_model
    assert (res.trainer.ref_model is not None) == ("retain_kl" in method.needs)
    # the losses recorded in training are the method's terms
    losses = res.trainer.pop_train_losses()
    assert set(losses) == {"loss"} | {f"loss_{t.name}" for t, _ in method.terms}
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())


def test_reference_model_is_frozen_initial_copy(tiny, tmp_path):
    src, tok, make_model, forget, retain = tiny
    model = make_model()
    initial = copy.deepcopy(model)
    res = unlearn(
        model,
        tok,
        forget,
        retain,
        _cfg(tmp_path / "kl", method="NPO+KL", max_steps=2),
        eval_source=src,
        forget_split="forget01",
    )
    ref = res.trainer.ref_model
    assert ref is not res.model
    assert not any(p.requires_grad for p in ref.parameters())
    for (k, a), (_, b) in zip(ref.state_dict().items(), initial.state_dict().items()):
        assert torch.equal(a, b), k
    assert any(not torch.equal(a, b) for a, b in zip(res.model.state_dict().values(), initial.state_dict().values()))


# ----------------------------------------------------------------------------------------------------------------
# cached reference log-probs
# ----------------------------------------------------------------------------------------------------------------
def _manual_logp(model, tok, question, answer):
    """Independent per-row reference: one unpadded sequence, log_softmax + gather by hand."""
    from npo_lab.tofu.data import encode_qa

    enc = encode_qa(tok, question, answer, "qa", 256)
    ids = torch.tensor([enc["input_ids"]])
    labels = torch.tensor(enc["labels"])
    with torch.no_grad():
        logits = model.eval()(input_ids=ids).logits[0]
    lp = torch.log_softmax(logits[:-1].double(), -1)
    tgt = labels[1:]
    keep = tgt != -100
    return float(lp[keep].gather(-1, tgt[keep].unsqueeze(-1)).sum())


@pytest.mark.parametrize("name", ["NPO", "DPO+RT"])
def test_cached_reference_equals_recomputed(tiny, tmp_path, name):
    src, tok, make_model, forget, retain = tiny
    method = get_method(name)
    model = make_model()
    initial = copy.deepcopy(model)
    idk = ["I have no idea.", "I don't know that."]
    cfg = _cfg(tmp_path / "run", method=name, max_steps=2)
    res = unlearn(
        model,
        tok,
        forget,
        retain if method.needs_retain else None,
        cfg,
        idk_answers=idk,
        eval_source=src,
        forget_split="forget01",
    )
    ds = res.trainer.train_dataset
    assert ds.forget_ref_logp is not None and len(ds.forget_ref_logp) == len(forget)
    # 1) equal to an independent unpadded computation with the *initial* model (not the trained one)
    for i, row in enumerate(forget):
        assert ds.forget_ref_logp[i] == pytest.approx(
            _manual_logp(initial, tok, row["question"], row["answer"]), abs=1e-4
        )
    trained = [_manual_logp(res.model, tok, r["question"], r["answer"]) for r in forget]
    assert max(abs(a - b) for a, b in zip(trained, ds.forget_ref_logp)) > 1e-3  # training moved the policy
    if method.needs_idk_ref:
        assert ds.idk_ref_logp is not None
        for i, row in enumerate(ds.idk_rows()):
            assert ds.idk_ref_logp[i] == pytest.approx(
                _manual_logp(initial, tok, row["question"], row["answer"]), abs=1e-4
            )
    # 2) equal to what the published way (a reference model forward inside the step, padded batch) gives
    ds2 = ForgetRetainDataset(
        forget, retain, idk, seed=cfg.seed, with_retain=method.needs_retain, with_idk=method.needs_idk
    )
    args = training_arguments(cfg.replace(output_dir=str(tmp_path / "nocache")), len(forget))
    live = Unlearner(copy.deepcopy(initial), args, method=name, train_dataset=ds2, tokenizer=tok, cache_reference=False)
    assert live.holds_ref_model
    batch = live.data_collator([ds2[i] for i in range(len(ds2))])
    assert "ref_logp" not in batch["forget"]
    values = live.loss_inputs(live.model, batch)
    assert torch.allclose(values.forget_ref_logp, torch.tensor(ds.forget_ref_logp), atol=1e-4)
    # 3) the saved copy used on resume holds the same numbers
    saved = json.loads((tmp_path / "run" / "reference_logps.json").read_text())
    assert saved["forget_ref_logp"] == pytest.approx(ds.forget_ref_logp)


def test_score_answers_matches_manual(tiny):
    _, tok, make_model, forget, _ = tiny
    model = make_model(seed=3)
    got = score_answers(model, tok, forget[:5], batch_size=2).logp.tolist()
    want = [_manual_logp(model, tok, r["question"], r["answer"]) for r in forget[:5]]
    assert got == pytest.approx(want, abs=1e-4)
    assert len(set(round(g, 3) for g in got)) > 1


# ----------------------------------------------------------------------------------------------------------------
# data pairing and gradient accumulation
# ----------------------------------------------------------------------------------------------------------------
def test_retain_pairing_cycles_by_epoch_and_seed():
    forget = [{"question": f"q{i}", "answer": f"a{i}"} for i in range(3)]
    retain = [{"question": f"r{i}", "answer": f"b{i}"} for i in range(7)]
    ds = ForgetRetainDataset(forget, retain, seed=1)
    seen = []
    for epoch in range(3):
        ds.set_epoch(epoch)
        seen += [ds[i]["retain"]["question"] for i in range(3)]
    # 9 draws over 7 retain rows: the first 7 are a permutation (every retain row used before any repeats)
    assert sorted(seen[:7]) == sorted(r["question"] for r in retain)
    ds_same = ForgetRetainDataset(forget, retain, seed=1)
    assert [ds_same[i]["retain"] for i in range(3)] == [
        ds.__getitem__(i) and ds.retain[ds.retain_index(i, 0)] for i in range(3)
    ]
    ds_other = ForgetRetainDataset(forget, retain, seed=2)
    assert ds_other.retain_perm != ds.retain_perm
    assert ds[0]["idk_answer"] is None and ds[0]["forget_ref_logp"] is None


def test_gradient_accumulation_matches_bigger_batch(tiny, tmp_path):
    """One SGD step with batch 4 equals one step of 2 micro-batches of 2: the Trainer divides our per-batch mean
    by the accumulation steps (no double scaling). NPO's terms are per sequence; a token-mean NLL term (RT) is a
    mean over each micro-batch's tokens and would differ by the token counts of the halves."""
    src, tok, make_model, forget, retain = tiny
    states = []
    for bs, ga in ((4, 1), (2, 2)):
        cfg = _cfg(
            tmp_path / f"ga{bs}",
            method="NPO",
            max_steps=1,
            batch_size=bs,
            gradient_accumulation_steps=ga,
            optim="sgd",
            max_grad_norm=0.0,
            learning_rate=0.5,
        )
        res = unlearn(make_model(), tok, forget, retain, cfg, eval_source=src, forget_split="forget01")
        states.append({k: v.clone() for k, v in res.model.state_dict().items()})
    init = make_model().state_dict()
    moved = max((states[0][k] - init[k]).abs().max().item() for k in init)
    assert moved > 1e-4
    for k in init:
        assert torch.allclose(states[0][k], states[1][k], atol=1e-5, rtol=1e-4), k


def test_lora_trains_adapters_only_and_kl_uses_disabled_adapters(tiny, tmp_path):
    src, tok, make_model, forget, retain = tiny
    model = make_model()
    base = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = _cfg(
        tmp_path / "lora", method="NPO+KL", max_steps=2, lora_r=4, lora_alpha=8, lora_dropout=0.0, learning_rate=1e-2
    )
    res = unlearn(model, tok, forget, retain, cfg, eval_source=src, forget_split="forget01")
    assert not res.trainer.holds_ref_model  # the reference is the base model with adapters disabled
    sd = res.model.state_dict()
    lora_keys = [k for k in sd if "lora_B" in k]
    assert lora_keys and any(sd[k].abs().max() > 0 for k in lora_keys)
    for k, v in base.items():
        peft_key = next(pk for pk in sd if pk.endswith(k.replace(".weight", ".base_layer.weight")) or pk.endswith(k))
        assert torch.equal(sd[peft_key], v), k


# ----------------------------------------------------------------------------------------------------------------
# evaluation, records, determinism, interrupt + resume
# ----------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def retain_log(tiny):
    """The eval log of the initial model: forget quality against it is exactly 1 at step 0."""
    from npo_lab.tofu.evaluate import evaluate

    src, tok, make_model, _, _ = tiny
    return evaluate(
        make_model(),
        tok,
        source=src,
        forget_split="forget01",
        max_rows=4,
        batch_size=8,
        max_new_tokens=6,
        progress=False,
    )


def _eval_cfg(out, **kw):
    return _cfg(
        out, eval_every=2, eval_at_start=True, forget_quality=True, save_every=2, epochs=3, learning_rate=3e-3, **kw
    )


def test_evaluation_record_and_step_zero(tiny, retain_log, tmp_path):
    src, tok, make_model, forget, retain = tiny
    out = tmp_path / "rec"
    res = unlearn(
        make_model(),
        tok,
        forget,
        retain,
        _eval_cfg(out, num_samples=2),
        retain_log=retain_log,
        eval_source=src,
        forget_split="forget01",
    )
    rows = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [0, 2, 4, 6]
    assert rows[0]["forget_quality"] == pytest.approx(1.0)  # step 0 = the initial model = the retain log's model
    for key in ("epoch", "model_utility", "forget_quality", "forget_probability", "forget_truth_ratio"):
        assert all(key in r for r in rows), key
    assert all("loss" in r and "loss_npo" in r for r in rows[1:]) and "loss" not in rows[0]
    assert rows[-1]["forget_probability"] < rows[0]["forget_probability"]  # NPO lowers the forget likelihood
    assert not any(k in r for r in rows for k in ("time", "runtime", "timestamp", "seconds"))
    samples = read_jsonl(out / "samples.jsonl")
    assert len(samples) == 4 * 2 * 2 and {s["split"] for s in samples} == {"forget", "retain"}
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["method"] == "NPO+RT" and UnlearnConfig.load(out / "config.json") == res.config
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["n_evaluations"] == 4
    assert summary["final"]["step"] == 6 and summary["seconds"]["total"] > 0
    assert not list(out.glob("checkpoint-*"))  # removed after a completed run (keep_checkpoints=False)
    assert not (out / "model").exists()
    df = load_run(out)
    assert list(df["step"]) == [0, 2, 4, 6] and set(df["method"]) == {"NPO+RT"}


def test_same_seed_gives_identical_metrics(tiny, retain_log, tmp_path):
    src, tok, make_model, forget, retain = tiny
    texts = []
    for run in ("a", "b"):
        unlearn(
            make_model(),
            tok,
            forget,
            retain,
            _eval_cfg(tmp_path / run),
            retain_log=retain_log,
            eval_source=src,
            forget_split="forget01",
        )
        texts.append((tmp_path / run / "metrics.jsonl").read_text())
    assert texts[0] == texts[1]
    rows = [json.loads(line) for line in texts[0].splitlines()]
    assert len(rows) == 4 and len({r["forget_probability"] for r in rows}) == 4  # not a constant record
    # a different seed changes the data order and hence the record
    unlearn(
        make_model(),
        tok,
        forget,
        retain,
        _eval_cfg(tmp_path / "c", seed=1),
        retain_log=retain_log,
        eval_source=src,
        forget_split="forget01",
    )
    assert (tmp_path / "c" / "metrics.jsonl").read_text() != texts[0]


class _InterruptAt(TrainerCallback):
    """Simulates Ctrl-C at the start of the step after ``step`` (whose evaluation and checkpoint are done)."""

    def __init__(self, step):
        self.step = step

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt


def test_interrupt_keeps_evaluations_and_resume_finishes(tiny, retain_log, tmp_path):
    src, tok, make_model, forget, retain = tiny
    out = tmp_path / "int"
    res = unlearn(
        make_model(),
        tok,
        forget,
        retain,
        _eval_cfg(out),
        retain_log=retain_log,
        eval_source=src,
        forget_split="forget01",
        callbacks=[_InterruptAt(2)],
    )
    assert res.interrupted
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["global_step"] == 2
    assert [r["step"] for r in read_jsonl(out / "metrics.jsonl")] == [0, 2]
    assert (out / "checkpoint-2").is_dir()

    res2 = unlearn(
        make_model(),
        tok,
        forget,
        retain,
        _eval_cfg(out),
        retain_log=retain_log,
        eval_source=src,
        forget_split="forget01",
        resume=True,
    )
    assert not res2.interrupted
    resumed = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in resumed] == [0, 2, 4, 6]
    assert json.loads((out / "summary.json").read_text())["status"] == "completed"

    # the resumed run ends where an uninterrupted run ends
    ref = tmp_path / "whole"
    unlearn(
        make_model(),
        tok,
        forget,
        retain,
        _eval_cfg(ref),
        retain_log=retain_log,
        eval_source=src,
        forget_split="forget01",
    )
    whole = read_jsonl(ref / "metrics.jsonl")
    for a, b in zip(resumed, whole):
        for key in ("step", "forget_probability", "model_utility", "forget_truth_ratio"):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-7), key


def test_resume_without_checkpoint_is_an_error(tiny, tmp_path):
    src, tok, make_model, forget, retain = tiny
    with pytest.raises(ValueError, match="no checkpoint"):
        unlearn(
            make_model(),
            tok,
            forget,
            retain,
            _cfg(tmp_path / "none"),
            eval_source=src,
            forget_split="forget01",
            resume=True,
        )


def test_save_model_writes_safetensors(tiny, tmp_path):
    from transformers import AutoModelForCausalLM

    src, tok, make_model, forget, retain = tiny
    out = tmp_path / "save"
    res = unlearn(
        make_model(),
        tok,
        forget,
        retain,
        _cfg(out, max_steps=1, save_model=True),
        eval_source=src,
        forget_split="forget01",
    )
    assert list((out / "model").glob("*.safetensors"))
    loaded = AutoModelForCausalLM.from_pretrained(out / "model")
    for (k, a), b in zip(loaded.state_dict().items(), res.model.state_dict().values()):
        assert torch.equal(a, b), k


# ----------------------------------------------------------------------------------------------------------------
# bad input → ValueError before any training
# ----------------------------------------------------------------------------------------------------------------
def test_bad_config_values():
    with pytest.raises(ValueError, match="unknown method 'XYZ'.*NPO\\+RT"):
        UnlearnConfig(method="XYZ")
    with pytest.raises(ValueError, match="beta"):
        UnlearnConfig(beta=0.0)
    with pytest.raises(ValueError, match="alpha"):
        UnlearnConfig(alpha=-1.0)
    with pytest.raises(ValueError, match="precision"):
        UnlearnConfig(precision="fp8")
    with pytest.raises(ValueError, match="unknown UnlearnConfig field"):
        UnlearnConfig.from_dict({"method": "NPO", "betta": 0.1})


class _Fail(TrainerCallback):
    def on_train_begin(self, *a, **k):
        raise AssertionError("training started")


def test_bad_inputs_fail_before_training(tiny, tmp_path):
    src, tok, make_model, forget, retain = tiny
    model = make_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    kw = dict(eval_source=src, forget_split="forget01", callbacks=[_Fail()])
    with pytest.raises(ValueError, match="forget_rows is empty"):
        unlearn(model, tok, [], retain, _cfg(tmp_path / "a"), **kw)
    with pytest.raises(ValueError, match="NPO\\+RT needs retain data"):
        unlearn(model, tok, forget, None, _cfg(tmp_path / "b"), **kw)
    with pytest.raises(ValueError, match="retain_log is required"):
        unlearn(model, tok, forget, retain, _cfg(tmp_path / "c", eval_every=0, forget_quality=True), **kw)
    with pytest.raises(ValueError, match="retain_log .* does not exist"):
        unlearn(
            model,
            tok,
            forget,
            retain,
            _cfg(tmp_path / "d", eval_every=0, forget_quality=True),
            retain_log=tmp_path / "nope.json",
            **kw,
        )
    with pytest.raises(ValueError, match="idk_answers is empty"):
        unlearn(model, tok, forget, retain, _cfg(tmp_path / "e", method="IDK+RT"), idk_answers=[], **kw)
    with pytest.raises(ValueError, match="question"):
        unlearn(model, tok, [{"q": "x"}], retain, _cfg(tmp_path / "f"), **kw)
    with pytest.raises(ValueError):  # an eval source that does not exist
        unlearn(
            model,
            tok,
            forget,
            retain,
            _cfg(tmp_path / "g", eval_every=0),
            eval_source=tmp_path / "missing",
            forget_split="forget01",
            callbacks=[_Fail()],
        )
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    assert not any((tmp_path / d / "metrics.jsonl").exists() for d in "abcdefg")


def test_config_json_roundtrip_and_help(tmp_path):
    cfg = UnlearnConfig(
        method="SimNPO",
        beta=2.5,
        gamma=0.5,
        lora_r=8,
        lora_target_modules=["q_proj", "v_proj"],
        eval_splits=("forget", "retain"),
    )
    path = cfg.save(tmp_path / "c.json")
    back = UnlearnConfig.load(path)
    assert UnlearnConfig.from_json(cfg.to_json()) == cfg
    assert back == cfg and back.lora_target_modules == ("q_proj", "v_proj")
    helps = UnlearnConfig.help()
    assert set(helps) == set(cfg.to_dict()) and all(h.strip() for h in helps.values())


def test_cli_parser_builds_config_options():
    from npo_lab.cli import build_parser

    args = build_parser("unlearn").parse_args(
        [
            "unlearn",
            "--model",
            "m",
            "--method",
            "NPO",
            "--beta",
            "0.5",
            "--lr",
            "2e-5",
            "--epochs",
            "3",
            "--grad-accum",
            "4",
            "--out",
            "o",
            "--retain-log",
            "r.json",
        ]
    )
    assert (args.method, args.beta, args.lr, args.epochs, args.grad_accum, args.out) == ("NPO", 0.5, 2e-5, 3.0, 4, "o")
    with pytest.raises(SystemExit):
        build_parser("unlearn").parse_args(["unlearn", "--model", "m", "--method", "XYZ", "--out", "o"])


def test_retain_rows_change_between_epochs_during_training(tiny, tmp_path, monkeypatch):
    src, tok, make_model, forget, retain = tiny
    seen: list[tuple[int, str]] = []
    original = ForgetRetainDataset.__getitem__

    def spy(self, i):
        item = original(self, i)
        seen.append((self.epoch, item["retain"]["question"]))
        return item

    monkeypatch.setattr(ForgetRetainDataset, "__getitem__", spy)
    unlearn(
        make_model(), tok, forget, retain, _cfg(tmp_path / "ep", epochs=2), eval_source=src, forget_split="forget01"
    )
    by_epoch = {e: [q for ep, q in seen if ep == e] for e in (0, 1)}
    assert len(by_epoch[0]) == len(by_epoch[1]) == len(forget)  # an epoch = one pass over the forget set
    # 16 draws over 12 retain rows: every retain row is used before any repeats
    assert len(set(by_epoch[0] + by_epoch[1])) == len(retain)
    assert by_epoch[0] != by_epoch[1]


def test_bf16_and_gradient_checkpointing(tiny, tmp_path):
    src, tok, make_model, forget, retain = tiny
    model = make_model()
    before = [p.detach().clone() for p in model.parameters()]
    res = unlearn(
        model,
        tok,
        forget,
        retain,
        _cfg(tmp_path / "bf16", max_steps=2, precision="bf16", gradient_checkpointing=True),
        eval_source=src,
        forget_split="forget01",
    )
    assert res.trainer.args.bf16
    assert getattr(res.model, "is_activation_checkpointing", False) is True or res.model.is_gradient_checkpointing
    assert any(not torch.equal(a, b) for a, b in zip(before, res.model.parameters()))
    ref = res.trainer.train_dataset.forget_ref_logp
    assert all(v < 0 for v in ref)


def test_cli_single_process_writes_record(tiny, tmp_path, capsys):
    from npo_lab.cli import main

    src, tok, make_model, _, _ = tiny
    make_model().save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    out = tmp_path / "run"
    rc = main(
        [
            "unlearn",
            "--model",
            str(tmp_path / "model"),
            "--data",
            str(src),
            "--forget",
            "forget01",
            "--method",
            "IDK+RT",
            "--lr",
            "1e-3",
            "--batch-size",
            "4",
            "--epochs",
            "1",
            "--eval-every",
            "0",
            "--eval-max-rows",
            "2",
            "--no-forget-quality",
            "--no-progress",
            "--template",
            "qa",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    assert "completed: IDK+RT" in capsys.readouterr().out
    assert [r["step"] for r in read_jsonl(out / "metrics.jsonl")] == [0, 2]
    cfg = UnlearnConfig.load(out / "config.json")
    assert (cfg.method, cfg.learning_rate, cfg.forget_quality) == ("IDK+RT", 1e-3, False)
