"""`npo-lab demo` in smoke mode: the outputs, summary.json's form, Ctrl-C, and the pure summary helpers."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from npo_lab.demo import DemoConfig, forget_kl, results_table, run_demo, summarize_runs


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("demo_cache")  # the smoke models are trained once for this module


@pytest.fixture
def smoke(monkeypatch, tmp_path, shared_cache):
    monkeypatch.setenv("NPO_LAB_SMOKE", "1")
    monkeypatch.setenv("NPO_LAB_CACHE", str(shared_cache))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return tmp_path


def test_summarize_runs_peak_and_form():
    frames = {"NPO+RT": pd.DataFrame({"step": [0, 5, 10, 15], "epoch": [0.0, 1.0, 2.0, 3.0],
                                      "forget_quality": [1e-9, 0.2, 0.7, 0.4],
                                      "model_utility": [0.6, 0.5, 0.55, 0.58],
                                      "forget_probability": [0.9, 0.3, 0.2, 0.2]})}
    s = summarize_runs(frames, {"forget_quality": 1e-9, "model_utility": 0.6}, {"model_utility": 0.59}, 12.5)
    assert set(s) == {"finetuned", "retain", "methods", "wall_seconds"}
    m = s["methods"]["NPO+RT"]
    assert [e["epoch"] for e in m["epochs"]] == [1, 2, 3]  # the step-0 evaluation is the fine-tuned model
    assert set(m["epochs"][0]) == {"epoch", "forget_quality", "model_utility", "forget_probability"}
    assert (m["peak_forget_quality"], m["epoch_of_peak"], m["model_utility_at_peak"]) == (0.7, 2, 0.55)
    t = results_table(s)
    row = t[t["method"] == "NPO+RT"].iloc[0]
    assert row["first_good_epoch"] == 1 and row["utility_ratio_at_peak"] == pytest.approx(0.55 / 0.6)


def test_repetition_rate_separates_degenerate_from_fluent_text():
    from npo_lab.demo import repetition_rate

    fluent = "Wilhelmina Blackwood was born in Recife, Brazil, and her books are widely read."
    assert repetition_rate(fluent) < 0.1
    assert repetition_rate("DarioDarioDarioDarioDarioDarioDarioDario") > 0.7
    assert repetition_rate("the the the the the the the the the") > 0.7
    assert repetition_rate("") == 0.0


def test_config_validation():
    with pytest.raises(ValueError, match="unknown method"):
        DemoConfig(methods=("GA", "NOPE"))
    with pytest.raises(ValueError, match="forget_split"):
        DemoConfig(forget_split="forget11")
    with pytest.raises(ValueError, match="beta"):
        DemoConfig(beta=0)
    assert DemoConfig(forget_split="forget90").resolved_alpha == 12.0


@pytest.mark.slow
def test_demo_smoke_end_to_end(smoke, capsys):
    out = smoke / "demo"
    from npo_lab.cli import main

    rc = main(["demo", "--out", str(out), "--methods", "GA", "NPO+RT", "IDK+RT", "--time-budget", "inf",
               "--no-progress"])
    assert rc == 0
    s = json.loads((out / "summary.json").read_text())
    assert set(s["methods"]) == {"GA", "NPO+RT", "IDK+RT"}
    assert 0 <= s["finetuned"]["model_utility"] <= 1 and 0 <= s["finetuned"]["forget_quality"] <= 1
    assert 0 <= s["retain"]["model_utility"] <= 1 and s["wall_seconds"] > 0
    for m in s["methods"].values():
        assert [e["epoch"] for e in m["epochs"]] == [1, 2]
        assert m["peak_forget_quality"] == max(e["forget_quality"] for e in m["epochs"])
    for name in ("table.csv", "answers.csv", "answers.md", "demo.json", "figures/forget_quality_vs_utility.png",
                 "figures/over_epochs.png", "eval_logs/retain.json", "eval_logs/finetuned.json",
                 "runs/NPO_RT/metrics.jsonl", "runs/NPO_RT/forget_kl.jsonl", "runs/GA/samples.jsonl"):
        assert (out / name).exists(), name
    kl = [json.loads(line) for line in (out / "runs" / "GA" / "forget_kl.jsonl").read_text().splitlines()]
    assert kl[0]["step"] == 0 and kl[0]["forget_kl"] == pytest.approx(0.0, abs=1e-5)
    assert kl[-1]["forget_kl"] > 0
    printed = capsys.readouterr().out
    assert "peak_forget_quality" in printed and "NPO+RT" in printed
    # a second run reuses the cached models
    run_demo(DemoConfig(out=str(smoke / "demo2"), methods=("NPO",), progress=False), print_fn=lambda *a: None)
    info2 = json.loads((smoke / "demo2" / "demo.json").read_text())
    assert all(info2["minitofu"]["log"]["cached"].values())


@pytest.mark.slow
def test_demo_ctrl_c_keeps_what_is_done(smoke, monkeypatch):
    import npo_lab.unlearn as U

    real = U.unlearn
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(U, "unlearn", flaky)
    out = smoke / "demo"
    s = run_demo(DemoConfig(out=str(out), methods=("GA", "NPO", "NPO+RT"), progress=False),
                 print_fn=lambda *a: None)
    assert list(s["methods"]) == ["GA"]
    assert json.loads((out / "summary.json").read_text())["methods"]["GA"]["epochs"]
    assert json.loads((out / "demo.json").read_text())["interrupted"] is True


def test_forget_kl_is_zero_against_itself_and_positive_after_a_change(tmp_path):
    import torch

    from npo_lab.minitofu import MiniTofuConfig, prepare

    s = prepare(MiniTofuConfig.smoke(n_authors=10, epochs=1, include_general=False), "forget10", cache=tmp_path, progress=False, check=False)
    assert forget_kl(s.model, s.model, s.tokenizer, s.forget_rows) == pytest.approx(0.0, abs=1e-6)
    other = s.fresh_model()
    with torch.no_grad():
        other.lm_head.weight.mul_(1.5)
    v = forget_kl(other, s.model, s.tokenizer, s.forget_rows)
    assert v > 0 and math.isfinite(v)
