"""TOFU metrics: hand-computed small logs, the KS floor, reference values on the real Llama-2-7B eval logs, CLI."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import ks_2samp

from npo_lab.tofu import metrics as M

ROOT = Path(__file__).resolve().parents[1]
LOGS = Path(os.environ.get("NPO_LAB_TOFU_LOGS", ROOT.parent / "shared" / "tofu" / "eval_logs"))
FULL = LOGS / "llama2-7b_full.json"
RETAIN90 = LOGS / "llama2-7b_retain90.json"
needs_logs = pytest.mark.skipif(not FULL.exists(), reason=f"real TOFU eval logs not found in {LOGS}")


# --------------------------------------------------------------------------------------------------------------
# a tiny log with numbers chosen by hand
# --------------------------------------------------------------------------------------------------------------
def _section(gt, para, pert, rouge):
    return {
        "avg_gt_loss": list(gt),
        "avg_paraphrased_loss": list(para),
        "average_perturb_loss": [list(p) for p in pert],
        "rougeL_recall": list(rouge),
        "generated_text": [[f"q{i}", f"g{i}", f"a{i}"] for i in range(len(gt))],
    }


def small_log():
    ln2, ln4 = math.log(2), math.log(4)
    return {
        # retain: P = 1/2, 1/4; R = exp(mean pert - para)
        "eval_log.json": _section([ln2, ln4], [1.0, 2.0], [[2.0, 4.0], [1.0, 1.0]], [1.0, 0.5]),
        # real authors: true answer and 2 perturbed answers
        "eval_real_author_wo_options.json": _section([ln2, ln4], [ln2, ln4], [[ln4, ln4], [ln2, ln4]], [0.0, 1.0]),
        "eval_real_world_wo_options.json": _section([ln2], [ln2], [[ln2, ln2]], [0.25]),
        "eval_log_forget.json": _section(
            [0.0, ln2, ln4], [1.0, 1.0, 3.0], [[1.5, 0.5], [3.0, 3.0], [1.0, 1.0]], [1.0, 0.0, 0.5]
        ),
    }


def test_probabilities_by_hand():
    log = small_log()
    assert M.probability(log, "retain") == pytest.approx((0.5 + 0.25) / 2)
    # real authors: P_true / (P_true + sum P_pert): row 0: .5/(.5+.25+.25) = .5 ; row 1: .25/(.25+.5+.25) = .25
    assert M.probability(log, "real_authors") == pytest.approx((0.5 + 0.25) / 2)
    assert M.probability(log, "world_facts") == pytest.approx(1 / 3)
    assert M.forget_probability(log) == pytest.approx((1 + 0.5 + 0.25) / 3)
    assert M.rouge(log, "retain") == pytest.approx(0.75)
    assert M.forget_rouge(log) == pytest.approx(0.5)


def test_truth_ratio_geometric_and_arithmetic_by_hand():
    log = small_log()
    r = M.truth_ratios(log, "retain")
    np.testing.assert_allclose(r, [math.exp(3.0 - 1.0), math.exp(1.0 - 2.0)])
    # aggregate for retain: mean max(0, 1 - 1/R)
    assert M.truth_ratio(log, "retain") == pytest.approx((1 - math.exp(-2.0) + 0.0) / 2)
    # arithmetic: R = P_para / mean_j P_pert
    ra = M.truth_ratios(log, "retain", mean="arithmetic")
    expected = [math.exp(-1.0) / ((math.exp(-2.0) + math.exp(-4.0)) / 2), math.exp(-2.0) / math.exp(-1.0)]
    np.testing.assert_allclose(ra, expected)
    # arithmetic mean of probabilities >= geometric mean, so the arithmetic R is never larger
    assert np.all(ra <= r + 1e-12)
    # forget aggregate: mean min(R, 1/R)
    rf = np.array([math.exp(1.0 - 1.0), math.exp(3.0 - 1.0), math.exp(1.0 - 3.0)])
    np.testing.assert_allclose(M.truth_ratios(log, "forget"), rf)
    assert M.forget_truth_ratio(log) == pytest.approx(np.mean(np.minimum(rf, 1 / rf)))
    # real authors: the answer stands in for the paraphrase: R = exp(mean pert - gt)
    np.testing.assert_allclose(M.truth_ratios(log, "real_authors"), [2.0, math.exp(1.5 * math.log(2) - math.log(4))])


def test_model_utility_is_harmonic_mean_of_nine_parts():
    log = small_log()
    comps = M.utility_components(log)
    assert list(comps) == list(M.COMPONENTS) and len(comps) == 9
    vals = np.array(list(comps.values()))
    # world facts truth ratio is 0 here (R = 1 -> 1 - 1/R = 0): harmonic mean collapses to 0
    assert comps["world_facts_truth_ratio"] == 0.0
    assert M.model_utility(log) == 0.0
    log["eval_real_world_wo_options.json"]["average_perturb_loss"] = [[2.0, 2.0]]
    comps = M.utility_components(log)
    vals = np.array(list(comps.values()))
    assert np.all(vals > 0)
    assert M.model_utility(log) == pytest.approx(9 / np.sum(1 / vals))
    s = M.summarize(log)
    assert s["model_utility"] == pytest.approx(M.model_utility(log))
    assert s["forget_quality"] is None and s["n_forget"] == 3
    assert {"forget_probability", "forget_truth_ratio", "forget_rouge"} <= set(s)


def test_normalized_probability_is_stable_for_large_losses():
    log = small_log()
    log["eval_real_world_wo_options.json"]["avg_gt_loss"] = [2000.0]
    log["eval_real_world_wo_options.json"]["average_perturb_loss"] = [[2001.0, 2003.0]]
    p = M.normalized_probabilities(log, "world_facts")[0]
    assert p == pytest.approx(1 / (1 + math.exp(-1) + math.exp(-3)))


# --------------------------------------------------------------------------------------------------------------
# KS test and its floor
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n,expected", [(40, 1.86e-23), (200, 1.94e-119), (300, 1.48e-179), (400, 1.06e-239)])
def test_ks_floor_values(n, expected):
    assert M.ks_floor(n) == pytest.approx(expected, rel=3e-3)


@pytest.mark.parametrize("n", [1, 2, 5, 13, 40, 100])
def test_ks_floor_is_two_over_binomial(n):
    assert M.ks_floor(n) == pytest.approx(2 / math.comb(2 * n, n), rel=1e-9)


@pytest.mark.parametrize("n", [10, 40, 200])
def test_ks_floor_is_scipys_pvalue_of_separated_samples(n):
    p = ks_2samp(np.arange(n, dtype=float), np.arange(n, dtype=float) + 10 * n).pvalue
    assert p == pytest.approx(M.ks_floor(n), rel=1e-6)


def test_ks_floor_log10_beyond_float_range():
    assert M.log10_ks_floor(1000) == pytest.approx(math.log10(2) - math.log10(math.comb(2000, 1000)), rel=1e-12)
    assert M.ks_floor(1000) == 0.0  # underflows float64; log10_ks_floor keeps the value
    with pytest.raises(ValueError, match="n"):
        M.ks_floor(0)


def test_forget_quality_by_hand():
    a, b = small_log(), small_log()
    b["eval_log_forget.json"]["avg_paraphrased_loss"] = [5.0, 6.0, 7.0]  # R far below a's: separated samples
    res = M.ks_test(a, b)
    ra, rb = M.truth_ratios(a, "forget"), M.truth_ratios(b, "forget")
    assert res["pvalue"] == pytest.approx(ks_2samp(ra, rb).pvalue)
    assert res["statistic"] == pytest.approx(1.0)
    assert res["pvalue"] == pytest.approx(M.ks_floor(3)) and res["n"] == 3
    assert M.forget_quality(a, a) == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------------------------
# IO: list and dict forms, errors
# --------------------------------------------------------------------------------------------------------------
def _as_dict_form(log):
    return {k: {f: {str(i): v for i, v in enumerate(vals)} for f, vals in sec.items()} for k, sec in log.items()}


def test_dict_and_list_forms_agree_and_round_trip(tmp_path):
    log = small_log()
    log["eval_real_world_wo_options.json"]["average_perturb_loss"] = [[2.0, 2.0]]
    # dict keyed by row index, deliberately written out of order
    dict_form = _as_dict_form(log)
    sec = dict_form["eval_log.json"]["avg_gt_loss"]
    dict_form["eval_log.json"]["avg_gt_loss"] = {"1": sec["1"], "0": sec["0"]}
    p = tmp_path / "dict.json"
    p.write_text(json.dumps(dict_form))
    loaded = M.load_eval_log(p)
    assert loaded["eval_log.json"]["avg_gt_loss"] == log["eval_log.json"]["avg_gt_loss"]
    assert M.summarize(loaded) == pytest.approx(M.summarize(log))
    out = M.save_eval_log(loaded, tmp_path / "sub" / "list.json")
    raw = json.loads(out.read_text())
    assert isinstance(raw["eval_log_forget.json"]["avg_gt_loss"], list)
    assert M.summarize(M.load_eval_log(out)) == pytest.approx(M.summarize(log))
    # a directory with eval_log_aggregated.json is accepted
    (tmp_path / "run").mkdir()
    M.save_eval_log(log, tmp_path / "run" / "eval_log_aggregated.json")
    assert M.model_utility(M.load_eval_log(tmp_path / "run")) == pytest.approx(M.model_utility(log))


def test_errors_name_the_problem(tmp_path):
    log = small_log()
    bad = small_log()
    del bad["eval_log.json"]["avg_paraphrased_loss"]
    with pytest.raises(ValueError, match="avg_paraphrased_loss"):
        M.model_utility(bad)
    bad = small_log()
    bad["eval_log_forget.json"]["avg_paraphrased_loss"][1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        M.forget_truth_ratio(bad)
    bad = small_log()
    bad["eval_log_forget.json"]["avg_gt_loss"] = bad["eval_log_forget.json"]["avg_gt_loss"][:2]
    with pytest.raises(ValueError, match="different lengths"):
        M.normalize_eval_log(bad)
    shorter = small_log()
    shorter["eval_log_forget.json"] = {k: v[:2] for k, v in shorter["eval_log_forget.json"].items()}
    with pytest.raises(ValueError, match="different lengths"):
        M.forget_quality(log, shorter)
    bad = small_log()
    del bad["eval_real_world_wo_options.json"]
    with pytest.raises(ValueError, match="eval_real_world_wo_options.json"):
        M.model_utility(bad)
    with pytest.raises(ValueError, match="section"):
        M.probability(log, "validation")
    with pytest.raises(ValueError, match="mean"):
        M.truth_ratios(log, "retain", mean="median")
    with pytest.raises(ValueError, match="path"):
        M.load_eval_log(tmp_path / "missing.json")


def test_rouge_l_recall():
    # recall = LCS / answer length; the stemmer matches "running" with "run"
    assert M.rouge_l_recall(["the cat sat"], ["the cat sat on the mat"]) == [pytest.approx(0.5)]
    assert M.rouge_l_recall(["she was running home"], ["She runs home"]) == [pytest.approx(1.0)]
    assert M.rouge_l_recall([""], ["anything"]) == [0.0]
    with pytest.raises(ValueError, match="same length"):
        M.rouge_l_recall(["a"], [])


# --------------------------------------------------------------------------------------------------------------
# the real Llama-2-7B logs published with TOFU (reference values)
# --------------------------------------------------------------------------------------------------------------
@needs_logs
def test_reference_model_utility():
    assert M.model_utility(M.load_eval_log(FULL)) == pytest.approx(0.6227, abs=5e-4)
    assert M.model_utility(M.load_eval_log(RETAIN90)) == pytest.approx(0.6137, abs=5e-4)


@needs_logs
def test_reference_forget_quality():
    fq = M.forget_quality(M.load_eval_log(FULL), M.load_eval_log(RETAIN90))
    assert float(f"{fq:.2e}") == pytest.approx(1.83e-21)
    assert fq > M.ks_floor(300)


@needs_logs
def test_real_log_fields_are_what_we_think():
    log = M.load_eval_log(FULL)
    for key in M.SECTIONS.values():
        sec = log[key]
        # avg_gt_loss is the per-token mean of gt_loss (also in the real-authors / world-facts sections)
        np.testing.assert_allclose(
            np.array(sec["gt_loss"]) / np.array(sec["num_token_gt"]), sec["avg_gt_loss"], rtol=1e-5
        )
        # TOFU's per-row truth_ratio field is 1/R
        np.testing.assert_allclose(np.array(sec["truth_ratio"]) * M.truth_ratios(log, key), 1.0, rtol=1e-4)
        r = np.array(sec["rougeL_recall"])
        assert r.ndim == 1 and r.min() >= 0 and r.max() <= 1
    # real authors: normalized_gt_loss = -log(normalised probability)
    sec = log["eval_real_author_wo_options.json"]
    np.testing.assert_allclose(
        np.exp(-np.array(sec["normalized_gt_loss"])), M.normalized_probabilities(log, "real_authors"), rtol=1e-5
    )
    # forget quality needs the same forget rows: retain95 was evaluated on forget05 (200 rows)
    with pytest.raises(ValueError, match="different lengths"):
        M.forget_quality(log, M.load_eval_log(LOGS / "llama2-7b_retain95.json"))


@needs_logs
def test_cli_metrics(capsys):
    from npo_lab.cli import main

    assert main(["metrics", str(FULL), "--retain", str(RETAIN90), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model_utility"] == pytest.approx(0.6227, abs=5e-4)
    assert out["forget_quality"] == pytest.approx(1.83e-21, rel=5e-3)
    assert out["ks_floor"] == pytest.approx(1.48e-179, rel=3e-3) and out["n_forget"] == 300
    assert all(k in out for k in M.COMPONENTS)
    assert main(["metrics", str(RETAIN90)]) == 0
    text = capsys.readouterr().out
    assert "0.6137" in text and "1.48e-179" in text and "forget quality" in text
    # forget sections of different lengths (retain95 evaluates forget05): a clear error, exit status 2
    assert main(["metrics", str(FULL), "--retain", str(LOGS / "llama2-7b_retain95.json")]) == 2
    assert "different lengths" in capsys.readouterr().err
