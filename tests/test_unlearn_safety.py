"""Never lose a user's files, never resume the wrong run, never accept an impossible number (npo_lab.unlearn and
``npo-lab unlearn``). Every refusal happens before training (and, on the command line, before a model is loaded)
and leaves the directory as it was."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch
from transformers import TrainerCallback

from npo_lab.errors import UsageError
from npo_lab.runs import read_jsonl
from npo_lab.unlearn import UnlearnConfig, unlearn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_unlearn import _InterruptAt, tiny_setup  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.set_num_threads(1)
    return tiny_setup(tmp_path_factory.mktemp("tiny_tofu_safety"))


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
        save_every=-1,
        logging_steps=100,
    )
    base.update(kw)
    return UnlearnConfig(**base)


class _Fail(TrainerCallback):
    def on_train_begin(self, *a, **k):
        raise AssertionError("training started")


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _user_dir(path: Path) -> Path:
    """A directory holding a user's own checkpoint (weights) and record: nothing npo_lab wrote."""
    (path / "checkpoint-100").mkdir(parents=True)
    (path / "checkpoint-100" / "model.safetensors").write_bytes(b"\x00weights")
    (path / "metrics.jsonl").write_text('{"step": 1, "mine": true}\n')
    (path / "notes.txt").write_text("my notes")
    return path


# ----------------------------------------------------------------------------------------------------------------
# output directories
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("overwrite", [False, True])
def test_user_files_are_never_deleted(tiny, tmp_path, overwrite):
    src, tok, make_model, forget, retain = tiny
    out = _user_dir(tmp_path / "mine")
    before = _snapshot(out)
    match = "not empty" if not overwrite else "checkpoint-100.*no npo_lab run recorded"
    with pytest.raises(UsageError, match=match):
        unlearn(
            make_model(),
            tok,
            forget,
            retain,
            _cfg(out),
            eval_source=src,
            forget_split="forget01",
            overwrite=overwrite,
            callbacks=[_Fail()],
        )
    assert _snapshot(out) == before


def test_output_dir_that_is_a_file(tiny, tmp_path):
    src, tok, make_model, forget, retain = tiny
    (tmp_path / "f").write_text("x")
    with pytest.raises(UsageError, match="not a directory"):
        unlearn(make_model(), tok, forget, retain, _cfg(tmp_path / "f"), eval_source=src, forget_split="forget01")
    assert (tmp_path / "f").read_text() == "x"


def test_overwrite_replaces_only_what_the_earlier_run_wrote(tiny, tmp_path):
    src, tok, make_model, forget, retain = tiny
    out = tmp_path / "run"
    cfg = _cfg(out, max_steps=2, save_every=1, keep_checkpoints=True)
    unlearn(make_model(), tok, forget, retain, cfg, eval_source=src, forget_split="forget01")
    manifest = json.loads((out / "manifest.json").read_text())["paths"]
    assert {"config.json", "summary.json", "reference_logps.json", "checkpoint-2"} <= set(manifest)
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(UsageError, match="not empty"):  # a second run needs an explicit overwrite
        unlearn(make_model(), tok, forget, retain, cfg, eval_source=src, forget_split="forget01")
    res = unlearn(
        make_model(),
        tok,
        forget,
        retain,
        cfg.replace(max_steps=1, keep_checkpoints=False),
        eval_source=src,
        forget_split="forget01",
        overwrite=True,
    )
    assert res.summary["global_step"] == 1
    assert (out / "notes.txt").read_text() == "keep me"
    assert not list(out.glob("checkpoint-*"))  # the earlier run's checkpoints went with it
    assert json.loads((out / "config.json").read_text())["max_steps"] == 1


def test_resume_and_overwrite_exclude_each_other(tiny, tmp_path):
    src, tok, make_model, forget, retain = tiny
    with pytest.raises(UsageError, match="exclude each other"):
        unlearn(
            make_model(),
            tok,
            forget,
            retain,
            _cfg(tmp_path / "x"),
            eval_source=src,
            forget_split="forget01",
            resume=True,
            overwrite=True,
        )


# ----------------------------------------------------------------------------------------------------------------
# resume is validated
# ----------------------------------------------------------------------------------------------------------------
@pytest.fixture
def interrupted_run(tiny, tmp_path):
    src, tok, make_model, forget, retain = tiny
    out = tmp_path / "int"
    cfg = _cfg(out, epochs=2, save_every=1)
    res = unlearn(
        make_model(), tok, forget, retain, cfg, eval_source=src, forget_split="forget01", callbacks=[_InterruptAt(1)]
    )
    assert res.interrupted and (out / "checkpoint-1").is_dir()
    return out, cfg


@pytest.mark.parametrize(
    "change,named",
    [
        (dict(method="NPO"), "method: 'NPO\\+RT' there, 'NPO' now"),
        (dict(beta=0.5), "beta: 0.1 there, 0.5 now"),
        (dict(rows=True), "forget_rows_sha256"),
        (dict(split=True), "forget_split: 'forget01' there, 'forget05' now"),
        (dict(learning_rate=2e-3), "learning_rate"),
    ],
)
def test_resume_refuses_a_different_experiment(tiny, interrupted_run, change, named):
    src, tok, make_model, forget, retain = tiny
    out, cfg = interrupted_run
    before = _snapshot(out)
    change = dict(change)
    rows = forget[:4] if change.pop("rows", False) else forget
    split = "forget05" if change.pop("split", False) else "forget01"
    with pytest.raises(UsageError, match=named):
        unlearn(
            make_model(),
            tok,
            rows,
            retain,
            cfg.replace(**change),
            eval_source=src,
            forget_split=split,
            resume=True,
            callbacks=[_Fail()],
        )
    assert _snapshot(out) == before


def test_resume_refuses_a_tampered_reference_cache(tiny, interrupted_run):
    src, tok, make_model, forget, retain = tiny
    out, cfg = interrupted_run
    ref = json.loads((out / "reference_logps.json").read_text())
    ref["forget_ref_logp"][0] -= 1.0
    (out / "reference_logps.json").write_text(json.dumps(ref))
    with pytest.raises(ValueError, match="does not match the run record"):
        unlearn(
            make_model(),
            tok,
            forget,
            retain,
            cfg,
            eval_source=src,
            forget_split="forget01",
            resume=True,
            callbacks=[_Fail()],
        )


def test_resume_of_the_same_experiment_finishes(tiny, interrupted_run):
    src, tok, make_model, forget, retain = tiny
    out, cfg = interrupted_run
    res = unlearn(
        make_model(),
        tok,
        forget,
        retain,
        cfg.replace(disable_tqdm=True, logging_steps=5),
        eval_source=src,
        forget_split="forget01",
        resume=True,
    )
    assert res.summary["status"] == "completed" and res.summary["global_step"] == 4
    exp = json.loads((out / "config.json").read_text())["experiment"]
    assert exp["forget_split"] == "forget01" and len(exp["reference_logps_sha256"]) == 64


# ----------------------------------------------------------------------------------------------------------------
# impossible numbers are refused when the config is made
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "field,value,message",
    [
        ("epochs", math.inf, "epochs must be a finite number"),
        ("epochs", -1.0, "epochs must be > 0"),
        ("max_steps", -5, "max_steps must be >= -1"),
        ("max_steps", 0, "max_steps must be -1"),
        ("learning_rate", math.inf, "learning_rate must be a finite number"),
        ("learning_rate", math.nan, "learning_rate must be a finite number"),
        ("weight_decay", math.nan, "weight_decay must be a finite number"),
        ("batch_size", 2.5, "batch_size must be an integer"),
        ("batch_size", 0, "batch_size must be >= 1"),
        ("batch_size", True, "batch_size must be an integer"),
        ("beta", 1e300, "beta must be <="),
        ("alpha", -0.1, "alpha must be >= 0"),
        ("gamma", math.nan, "gamma must be a finite number"),
        ("ga_reduction", "mean", "ga_reduction must be one of token_mean, sum"),
        ("precision", "fp8", "precision must be one of"),
        ("template", "nope", "template must be one of"),
        ("lora_dropout", 1.5, "lora_dropout must be <= 1"),
        ("eval_splits", ("forget", "bogus"), "eval_splits must be a non-empty subset"),
        ("eval_at_start", "yes", "eval_at_start must be true or false"),
        ("output_dir", " ", "output_dir must not be empty"),
        ("progress_every_s", -1.0, "progress_every_s must be >= 0"),
    ],
)
def test_config_refuses_impossible_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        UnlearnConfig(**{field: value})


def test_config_accepts_integral_floats_and_json_lists(tmp_path):
    cfg = UnlearnConfig(batch_size=8.0, lora_target_modules=["q_proj"], eval_splits="forget")
    assert cfg.batch_size == 8 and isinstance(cfg.batch_size, int)
    assert cfg.lora_target_modules == ("q_proj",) and cfg.eval_splits == ("forget",)
    with pytest.raises(ValueError, match="use UnlearnConfig.load"):
        UnlearnConfig.from_json(tmp_path / "c.json")
    (tmp_path / "bad.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(ValueError, match="bad.json.*not UTF-8"):
        UnlearnConfig.load(tmp_path / "bad.json")
    (tmp_path / "trunc.json").write_text('{"method": "NPO", ')
    with pytest.raises(ValueError, match="trunc.json.*not valid JSON"):
        UnlearnConfig.load(tmp_path / "trunc.json")


# ----------------------------------------------------------------------------------------------------------------
# pluggable per-evaluation metrics land in metrics.jsonl
# ----------------------------------------------------------------------------------------------------------------
def test_eval_metrics_are_merged_into_each_evaluation_row(tiny, tmp_path):
    src, tok, make_model, forget, retain = tiny
    calls = []

    def forget_kl(model):
        calls.append(model.training)
        return 0.25 * len(calls)

    out = tmp_path / "m"
    cfg = _cfg(
        out,
        eval_every=2,
        eval_at_start=True,
        epochs=2,
        eval_max_rows=2,
        eval_batch_size=8,
        eval_max_new_tokens=4,
        eval_splits=("forget",),
        num_samples=1,
    )
    unlearn(
        make_model(),
        tok,
        forget,
        retain,
        cfg,
        eval_source=src,
        forget_split="forget01",
        eval_metrics={"forget_kl": forget_kl, "pair": lambda m: {"a": 1.0, "b": 2}},
    )
    rows = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [0, 2, 4]
    assert [r["forget_kl"] for r in rows] == [0.25, 0.5, 0.75]
    assert all(r["a"] == 1.0 and r["b"] == 2.0 for r in rows)
    assert calls == [False, False, False]  # called in eval mode


def test_config_groups_help_and_record_keys(tmp_path):
    groups = UnlearnConfig.groups()
    assert list(groups) == ["loss", "optimisation", "evaluation", "lora", "output"]
    assert groups["loss"][:4] == ["method", "beta", "alpha", "gamma"] and "ga_reduction" in groups["loss"]
    assert sum(map(len, groups.values())) == len(UnlearnConfig.help())
    record = {**UnlearnConfig(beta=0.3).to_dict(), "experiment": {"model": "m"}}  # a run record's config.json
    assert UnlearnConfig.from_dict(record).beta == 0.3
    with pytest.raises(ValueError, match="unknown UnlearnConfig field.*'betta'"):
        UnlearnConfig.from_dict({"betta": 0.3})
    with pytest.raises(ValueError, match="must be a JSON object"):
        UnlearnConfig.from_json("[1, 2]")
