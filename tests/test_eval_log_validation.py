"""Eval logs are validated on read: impossible numbers, mixed-up rows and unreadable files give clear errors."""

from __future__ import annotations

import gzip
import json
import math
import os
from pathlib import Path

import pytest

from npo_lab.tofu import logs as L
from npo_lab.tofu import metrics as M

ROOT = Path(__file__).resolve().parents[1]
LOGS = Path(os.environ.get("NPO_LAB_TOFU_LOGS", ROOT.parent / "shared" / "tofu" / "eval_logs"))
FULL, RETAIN90 = LOGS / "llama2-7b_full.json", LOGS / "llama2-7b_retain90.json"
needs_logs = pytest.mark.skipif(not FULL.exists(), reason=f"real TOFU eval logs not found in {LOGS}")
BUNDLED = ROOT / "data" / "eval_logs"
needs_bundled = pytest.mark.skipif(
    not (BUNDLED / "llama2-7b_full.json.gz").exists(), reason=f"no bundled eval logs in {BUNDLED}"
)


def _section(n: int, k: int = 2) -> dict:
    return {
        "avg_gt_loss": [0.5 + 0.1 * i for i in range(n)],
        "gt_loss": [5.0 + i for i in range(n)],
        "num_token_gt": [10] * n,
        "avg_paraphrased_loss": [1.0 + 0.1 * i for i in range(n)],
        "average_perturb_loss": [[1.5 + 0.1 * j for j in range(k)] for _ in range(n)],
        "num_token_perturb": [[9] * k for _ in range(n)],
        "rougeL_recall": [0.5] * n,
        "rouge1_recall": [0.75] * n,
        "generated_text": [[f"q{i}", f"g{i}", f"a{i}"] for i in range(n)],
    }


def good_log() -> dict:
    return {key: _section(3) for key in M.SECTIONS.values()}


def _write(tmp_path: Path, log, name: str = "log.json") -> Path:
    p = tmp_path / name
    p.write_text(log if isinstance(log, str) else json.dumps(log), encoding="utf-8")
    return p


def _dict_form(log: dict) -> dict:
    return {k: {f: {str(i): v for i, v in enumerate(vals)} for f, vals in sec.items()} for k, sec in log.items()}


def test_good_log_round_trips(tmp_path):
    log = good_log()
    back = M.load_eval_log(_write(tmp_path, _dict_form(log)))
    assert back == L.normalize_eval_log(log)
    assert math.isfinite(M.model_utility(back))


@pytest.mark.parametrize(
    ("field", "row", "value", "match"),
    [
        ("avg_gt_loss", 1, -math.inf, "not finite non-negative"),
        ("avg_gt_loss", 2, math.inf, "not finite non-negative"),
        ("avg_gt_loss", 0, -0.5, "not finite non-negative"),
        ("gt_loss", 1, -3.0, "not finite non-negative"),
        ("avg_paraphrased_loss", 0, math.nan, "NaN"),
        ("average_perturb_loss", 1, [1.0, -2.0], "not finite non-negative"),
        ("rougeL_recall", 0, 5.0, r"outside \[0, 1\]"),
        ("rougeL_recall", 2, -1.0, r"outside \[0, 1\]"),
        ("rouge1_recall", 1, 1.5, r"outside \[0, 1\]"),
        ("num_token_gt", 0, 2.5, "integers"),
        ("num_token_perturb", 0, [9, -1], "integers"),
        ("avg_gt_loss", 1, True, "expected a number"),
        ("rougeL_recall", 1, False, "expected a number"),
        ("avg_gt_loss", 0, "0.5", "expected a number"),
        ("avg_gt_loss", 0, None, "expected a number"),
        ("average_perturb_loss", 2, [1.0, True], "expected a number"),
        ("average_perturb_loss", 2, [1.0], "different lengths"),
    ],
)
def test_impossible_values_are_refused_on_read(tmp_path, field, row, value, match):
    log = good_log()
    log["eval_log_forget.json"][field][row] = value
    path = _write(tmp_path, json.dumps(log))  # json writes -Infinity / NaN, as a careless writer would
    with pytest.raises(ValueError, match=match) as err:
        M.load_eval_log(path)
    assert "log.json" in str(err.value) and "eval_log_forget.json" in str(err.value) and field in str(err.value)
    with pytest.raises(ValueError, match=match):  # the same check for a log given in memory
        M.normalize_eval_log(log)
    if field in ("avg_gt_loss", "avg_paraphrased_loss", "average_perturb_loss", "rougeL_recall"):
        with pytest.raises(ValueError, match=match):  # and for the metrics that read the field
            M.summarize(log)


def test_rows_keyed_differently_are_never_re_paired(tmp_path):
    log = _dict_form(good_log())
    para = log["eval_log_forget.json"]["avg_paraphrased_loss"]
    log["eval_log_forget.json"]["avg_paraphrased_loss"] = {"1": para["1"], "2": para["2"], "3": para["0"]}
    with pytest.raises(ValueError, match="eval_log_forget.json.*'avg_paraphrased_loss'.*other rows") as err:
        M.load_eval_log(_write(tmp_path, log))
    assert "log.json" in str(err.value)
    with pytest.raises(ValueError, match="other rows"):
        M.forget_truth_ratio(log)  # in memory, without load_eval_log
    log = good_log()
    log["eval_log.json"]["rougeL_recall"] = log["eval_log.json"]["rougeL_recall"][:2]
    with pytest.raises(ValueError, match="eval_log.json.*different lengths"):
        M.normalize_eval_log(log)
    log = _dict_form(good_log())
    log["eval_log.json"]["avg_gt_loss"] = {"a": 1.0, "b": 1.0, "c": 1.0}
    with pytest.raises(ValueError, match="not row indices"):
        M.model_utility(log)


def test_unreadable_files_name_the_file(tmp_path):
    bad = tmp_path / "latin1.json"
    bad.write_bytes('{"eval_log.json": {"generated_text": ["caf\xe9"]}}'.encode("latin-1"))
    with pytest.raises(ValueError, match="latin1.json.*UTF-8"):
        M.load_eval_log(bad)
    truncated = _write(tmp_path, json.dumps(good_log())[:200], "cut.json")
    with pytest.raises(ValueError, match=r"cut.json.*not valid JSON.*line 1"):
        M.load_eval_log(truncated)
    with pytest.raises(ValueError, match="path"):
        M.load_eval_log(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="none of the eval-log sections"):
        M.load_eval_log(_write(tmp_path, {"something": {}}, "other.json"))
    with pytest.raises(ValueError, match="log must be a dict"):
        M.load_eval_log(_write(tmp_path, [1, 2], "list.json"))
    gz = tmp_path / "bad.json.gz"
    gz.write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="bad.json.gz"):
        M.load_eval_log(gz)
    gz.write_bytes(gzip.compress(json.dumps(_dict_form(good_log())).encode("utf-8")))
    assert M.load_eval_log(gz) == L.normalize_eval_log(good_log())


def test_save_writes_strict_json_and_keeps_no_temporary_file(tmp_path):
    log = good_log()
    log["eval_log.json"]["extra_score"] = [math.nan, math.inf, 1.0]  # an unknown field: kept, written as null
    path = M.save_eval_log(log, tmp_path / "out.json")
    text = path.read_text(encoding="utf-8")
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert json.loads(text)["eval_log.json"]["extra_score"] == [None, None, 1.0]
    bad = good_log()
    bad["eval_log.json"]["avg_gt_loss"][0] = -math.inf
    with pytest.raises(ValueError, match="avg_gt_loss"):
        M.save_eval_log(bad, tmp_path / "bad.json")
    with pytest.raises(ValueError, match="directory"):
        M.save_eval_log(log, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_strict_json_writes_non_finite_as_null():
    import numpy as np

    out = L.strict_json({"a": math.nan, "b": [math.inf, -math.inf, 1.5], "c": np.float64(2.0), "d": np.arange(2)})
    assert out == {"a": None, "b": [None, None, 1.5], "c": 2.0, "d": [0, 1]}
    json.dumps(out, allow_nan=False)


def _rc(argv) -> int:
    from npo_lab.cli import main

    try:
        return int(main(argv))
    except SystemExit as exc:  # main() may exit instead of returning the status
        return int(exc.code)


def test_cli_metrics_refuses_impossible_logs(tmp_path, capsys):
    log = good_log()
    log["eval_log_forget.json"]["avg_gt_loss"][0] = -math.inf
    assert _rc(["metrics", str(_write(tmp_path, json.dumps(log)))]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "avg_gt_loss" in err and "Traceback" not in err
    assert _rc(["metrics", str(_write(tmp_path, good_log(), "ok.json")), "--json"]) == 0
    out = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    assert out["forget_quality"] is None and math.isfinite(out["model_utility"])


# ------------------------------------------------------------------------------------------------ real logs
@needs_logs
def test_real_logs_still_give_the_published_numbers():
    full, retain = M.load_eval_log(FULL), M.load_eval_log(RETAIN90)
    assert M.model_utility(full) == pytest.approx(0.6227, abs=5e-4)
    assert M.model_utility(retain) == pytest.approx(0.6137, abs=5e-4)
    assert float(f"{M.forget_quality(full, retain):.2e}") == pytest.approx(1.83e-21)


@needs_logs
def test_real_log_with_shifted_row_keys_is_refused(tmp_path):
    raw = json.loads(FULL.read_text(encoding="utf-8"))
    para = raw["eval_log_forget.json"]["avg_paraphrased_loss"]
    raw["eval_log_forget.json"]["avg_paraphrased_loss"] = {str(int(k) + 1): v for k, v in para.items()}
    with pytest.raises(ValueError, match="avg_paraphrased_loss"):
        M.load_eval_log(_write(tmp_path, raw))


@needs_bundled
def test_bundled_logs_match(monkeypatch):
    for var in ("NPO_LAB_TOFU_LOGS", "NPO_LAB_TOFU_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NPO_LAB_CACHE", "/nonexistent-npo-lab-cache")
    full = M.load_reference_log("full", download=False)
    retain = M.load_reference_log("retain90", download=False)
    assert M.model_utility(full) == pytest.approx(0.6227, abs=5e-4)
    assert float(f"{M.forget_quality(full, retain):.2e}") == pytest.approx(1.83e-21)
