"""mini-TOFU pipeline: subset directories, the cached tokenizer + fine-tuned + retain models, memorisation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from npo_lab.minitofu import (
    MiniTofuConfig,
    answer_probability,
    load_source_rows,
    n_parameters,
    prepare,
    tiny_llama,
    train_tokenizer,
    write_subset_source,
)
from npo_lab.tofu.data import bundled_data_dir, load_tofu
from npo_lab.tofu.splits import HOLDOUT_SPLITS

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "tofu" / "data"


def test_config_json_roundtrip_and_validation(tmp_path):
    cfg = MiniTofuConfig(n_authors=12, epochs=3)
    path = cfg.save(tmp_path / "c.json")
    assert MiniTofuConfig.load(path) == cfg
    assert MiniTofuConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="load"):
        MiniTofuConfig.from_json(str(path))  # a path is not JSON text
    with pytest.raises(ValueError, match="n_authors"):
        MiniTofuConfig(n_authors=1)
    with pytest.raises(ValueError, match="learning_rate"):
        MiniTofuConfig(learning_rate=0)
    path.write_text(json.dumps({"n_authors": 3, "bogus": 1}))
    with pytest.raises(ValueError, match="bogus"):
        MiniTofuConfig.load(path)


@pytest.mark.parametrize(
    "field, value",
    [
        ("learning_rate", float("nan")),
        ("learning_rate", float("inf")),
        ("epochs", 2.5),
        ("batch_size", 0),
        ("vocab_size", 100),
        ("warmup_ratio", 1.0),
        ("weight_decay", -0.1),
        ("include_general", "yes"),
        ("template", "llama3"),
        ("lr_scheduler_type", "bogus"),
        ("hidden_size", 130),  # not a multiple of num_heads=4
        ("source", ""),
    ],
)
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        MiniTofuConfig(**{field: value})


def test_subset_of_synthetic_authors(tmp_path):
    rows = load_source_rows("synthetic", n_authors=10)
    assert len(rows["full"]) == 200
    d = write_subset_source(rows, tmp_path / "sub")
    full = load_tofu("full", d)
    forget, retain = load_tofu("forget10", d), load_tofu("retain90", d)
    assert len(forget) == 20 and len(retain) == 180
    assert list(retain["question"]) + list(forget["question"]) == list(full["question"])
    fp = load_tofu("forget10_perturbed", d)
    assert list(fp["question"]) == list(forget["question"])
    assert all(len(p) == 5 for p in fp["perturbed_answer"])
    rp = load_tofu("retain_perturbed", d)  # the first 10 % of the authors, as in TOFU
    assert list(rp["question"]) == list(full["question"][:20])
    assert set(rp["question"]).isdisjoint(load_tofu("forget90", d)["question"])
    assert len(load_tofu("real_authors_perturbed", d)) > 0
    # holdout authors: 1 of 10 (as forget10), never part of `full`; the 10-author synthetic set draws it after its
    # 10 authors from the same seeded sequence, so it is the 11th author of the bundled 20
    assert len(rows["holdout"]) == 20
    for split in HOLDOUT_SPLITS:
        holdout = load_tofu(split, d)
        assert list(holdout["question"]) == [r["question"] for r in rows["holdout"]]
        assert set(holdout["question"]).isdisjoint(full["question"])
    assert [r["question"] for r in rows["holdout"]] == list(load_tofu("full", "synthetic")["question"][200:220])


def test_subset_of_the_bundled_set_reads_its_holdout_files(tmp_path):
    rows = load_source_rows("synthetic", n_authors=20)
    bundled = load_tofu("holdout10", "synthetic")
    assert [r["question"] for r in rows["holdout"]] == list(bundled["question"])
    d = write_subset_source(rows, tmp_path / "sub")
    for split in HOLDOUT_SPLITS:
        assert (d / f"{split}.json").read_bytes() == (bundled_data_dir() / f"{split}.json").read_bytes()


def test_holdout_falls_back_to_unused_authors_of_full(tmp_path):
    """A source without holdout files: the authors after the first n_authors of `full` are the holdout."""
    src = tmp_path / "src"
    src.mkdir()
    bundled = bundled_data_dir()
    for f in bundled.iterdir():
        if not f.name.startswith("holdout"):
            (src / f.name).write_bytes(f.read_bytes())
    rows = load_source_rows(src, n_authors=10)
    full = load_tofu("full", src)
    assert [r["question"] for r in rows["holdout"]] == list(full["question"][200:220])


def test_too_many_authors_is_a_value_error():
    with pytest.raises(ValueError, match="n_authors"):
        load_source_rows("synthetic", n_authors=10_000)


def test_prepare_rejects_forgetting_everything(tmp_path):
    with pytest.raises(ValueError, match="forget"):
        prepare(MiniTofuConfig.smoke(n_authors=5), "forget90", cache=tmp_path, progress=False)
    with pytest.raises(ValueError, match="forget_split"):
        prepare(MiniTofuConfig.smoke(), "forget11", cache=tmp_path, progress=False)


@pytest.mark.skipif(not (REAL / "full.json").exists(), reason="real TOFU files not available")
def test_subset_of_real_tofu_uses_retain_perturbed(tmp_path):
    rows = load_source_rows(REAL, n_authors=20)
    d = write_subset_source(rows, tmp_path / "real")
    fp = load_tofu("forget10_perturbed", d)
    assert len(fp) == 40
    # the forget authors are the last 2 of the first 20: their perturbed answers come from TOFU's retain_perturbed
    ref = load_tofu("retain_perturbed", REAL)
    assert list(fp["perturbed_answer"]) == list(ref["perturbed_answer"][360:400])
    # holdout: the source's holdout10 where present, else the two authors after the first 20 of `full`
    holdout = list(load_tofu("holdout10", d)["question"])
    if (REAL / "holdout10.json").exists():
        assert holdout == list(load_tofu("holdout10", REAL)["question"][:40])
    else:
        assert holdout == list(load_tofu("full", REAL)["question"][400:440])


def test_tokenizer_and_model_shapes():
    tok = train_tokenizer(["Question: who?\nAnswer: nobody at all"] * 20, vocab_size=300)
    model = tiny_llama(tok, hidden_size=32, num_layers=1, num_heads=2)
    assert model.config.vocab_size == len(tok)
    assert 0 < n_parameters(model) < sum(p.numel() for p in model.parameters()) + 1


TINY = dict(
    n_authors=10, vocab_size=300, hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2, include_general=False
)


def test_prepare_caches_by_config_and_split(tmp_path):
    cfg = MiniTofuConfig.smoke(epochs=1, **TINY)
    s = prepare(cfg, "forget10", cache=tmp_path, progress=False, check=False)
    assert s.log["cached"] == {"tokenizer": False, "finetuned": False, "retain-forget10": False}
    assert len(s.forget_rows) == 20 and len(s.retain_rows) == 180
    # the holdout author (as many as forget10) is in neither model's training rows
    assert s.holdout_split == "holdout10" and len(s.holdout_rows) == 20
    trained = {r["question"] for r in s.rows("full") + s.general_rows()}
    assert trained.isdisjoint(r["question"] for r in s.holdout_rows)
    assert {r["question"] for r in s.forget_rows} <= trained
    # the cache: same config → loaded, identical weights, no training
    s2 = prepare(cfg, "forget10", cache=tmp_path, progress=False, check=False)
    assert s2.log["cached"] == {"tokenizer": True, "finetuned": True, "retain-forget10": True}
    for a, b in zip(s.model.parameters(), s2.model.parameters()):
        assert torch.equal(a, b)
    assert MiniTofuConfig.load(Path(s.log["cache_dir"]) / "config.json") == cfg
    # another forget split reuses tokenizer + fine-tuned model and trains only a new retain model
    s3 = prepare(cfg, "forget50", cache=tmp_path, progress=False, check=False)
    assert s3.log["cached"] == {"tokenizer": True, "finetuned": True, "retain-forget50": False}
    assert len(s3.retain_rows) == 100 and s3.holdout_split == "holdout10"
    # a different config is a different cache entry
    s4 = prepare(cfg.replace(seed=1), "forget10", cache=tmp_path, progress=False, check=False)
    assert s4.log["cache_dir"] != s.log["cache_dir"]
    # a fresh copy is independent of the setting's model
    fresh = s.fresh_model()
    with torch.no_grad():
        next(fresh.parameters()).add_(1.0)
    assert not torch.equal(next(fresh.parameters()), next(s.model.parameters()))


@pytest.mark.slow
def test_prepare_memorises_forget_authors_only_in_the_finetuned_model(tmp_path):
    cfg = MiniTofuConfig.smoke(n_authors=10, epochs=25, learning_rate=5e-3, batch_size=16, include_general=False)
    s = prepare(cfg, "forget10", cache=tmp_path, progress=False)
    check = s.log["check_forget10"]
    # the fine-tuned model saw the forget author, the retain model never did
    assert check["finetuned_forget_probability"] > 0.3
    assert check["finetuned_forget_probability"] > 2 * check["retain_model_forget_probability"]
    assert check["retain_model_retain_probability"] > 0.3
    # nobody saw the holdout author: the fine-tuned model knows the forget author far better than the holdout
    assert check["finetuned_forget_probability"] > 2 * check["finetuned_holdout_probability"]
    assert s.log["train_finetuned"]["loss_history"][-1] < 0.5 * s.log["train_finetuned"]["loss_history"][0]


def test_answer_probability_is_one_number_per_row(tmp_path):
    cfg = MiniTofuConfig.smoke(epochs=1, **TINY)
    s = prepare(cfg, "forget10", cache=tmp_path, progress=False, check=False)
    p = answer_probability(s.model, s.tokenizer, s.forget_rows[:5])
    assert len(p) == 5 and all(0 < x < 1 for x in p)
