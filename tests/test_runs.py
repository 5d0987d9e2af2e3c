"""Run records (npo_lab.runs): writing, truncating on resume, reading back as DataFrames."""

from __future__ import annotations

import json
import math

import pytest

from npo_lab.runs import RunRecorder, load_run, load_runs, load_samples, load_summary, read_jsonl, to_jsonable


def _record(path, method="NPO", steps=(0, 5, 10), beta=0.1):
    rec = RunRecorder(path)
    rec.write_config({"method": method, "beta": beta, "alpha": 1.0, "gamma": 0.0, "learning_rate": 1e-5, "seed": 0})
    for s in steps:
        rec.append_metrics({"step": s, "epoch": s / 5, "forget_quality": 10.0**-s, "model_utility": 0.5 - s / 100})
        rec.append_samples([{"step": s, "split": "forget", "question": "q", "generation": f"g{s}", "answer": "a"}])
    return rec


def test_recorder_appends_complete_lines_and_reads_back(tmp_path):
    rec = _record(tmp_path / "r")
    lines = (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[1])["step"] == 5
    assert [r["step"] for r in rec.metrics()] == [0, 5, 10]
    rec.write_summary({"status": "completed", "final": rec.metrics()[-1]})
    assert load_summary(tmp_path / "r")["final"]["step"] == 10
    assert list(load_samples(tmp_path / "r")["generation"]) == ["g0", "g5", "g10"]


def test_truncate_after_drops_later_evaluations(tmp_path):
    rec = _record(tmp_path / "r")
    rec.truncate_after(5)
    assert [r["step"] for r in rec.metrics()] == [0, 5]
    assert [r["step"] for r in read_jsonl(tmp_path / "r" / "samples.jsonl")] == [0, 5]
    rec.reset()
    assert rec.metrics() == [] and not (tmp_path / "r" / "samples.jsonl").exists()


def test_disabled_recorder_writes_nothing(tmp_path):
    rec = RunRecorder(tmp_path / "other", enabled=False)
    rec.append_metrics({"step": 1})
    rec.write_summary({"a": 1})
    assert not (tmp_path / "other").exists()


def test_torn_last_line_is_ignored_but_corruption_inside_is_an_error(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text('{"step": 0}\n{"step": 5}\n{"step": 1')
    assert [r["step"] for r in read_jsonl(p)] == [0, 5]
    p.write_text('{"step": 0}\n{"step": \n{"step": 5}\n')
    with pytest.raises(ValueError, match="line 2"):
        read_jsonl(p)


def test_to_jsonable_makes_strict_json():
    import numpy as np
    import torch

    obj = {
        "a": float("nan"),
        "b": np.float32(0.5),
        "c": torch.tensor(2.0),
        "d": (1, 2),
        "e": math.inf,
        "f": np.arange(3),
    }
    out = to_jsonable(obj)
    assert out == {"a": None, "b": 0.5, "c": 2.0, "d": [1, 2], "e": None, "f": [0, 1, 2]}
    json.dumps(out, allow_nan=False)
    with pytest.raises(ValueError, match="cannot write"):
        to_jsonable(object())


def test_load_run_adds_config_columns(tmp_path):
    _record(tmp_path / "npo", steps=(10, 0, 5))
    df = load_run(tmp_path / "npo")
    assert list(df["step"]) == [0, 5, 10]  # sorted
    assert set(df["method"]) == {"NPO"} and set(df["run"]) == {"npo"}
    assert df["forget_quality"].iloc[-1] == pytest.approx(1e-10)


def test_load_runs_from_list_or_parent_dir(tmp_path):
    _record(tmp_path / "runs" / "a", method="GA", steps=(0, 5))
    _record(tmp_path / "runs" / "b", method="NPO", steps=(0, 5, 10), beta=0.5)
    (tmp_path / "runs" / "not_a_run").mkdir()
    df = load_runs(tmp_path / "runs")
    assert len(df) == 5 and df.groupby("method").size().to_dict() == {"GA": 2, "NPO": 3}
    assert set(df.loc[df["method"] == "NPO", "beta"]) == {0.5}
    df2 = load_runs([tmp_path / "runs" / "b", tmp_path / "runs" / "a"])
    assert list(df2["run"].unique()) == ["b", "a"]


def test_load_run_errors(tmp_path):
    with pytest.raises(ValueError, match="not a directory"):
        load_run(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no run record"):
        load_run(tmp_path / "empty")
    with pytest.raises(ValueError, match="no run records"):
        load_runs(tmp_path / "empty")


def test_load_run_of_a_run_without_evaluations(tmp_path):
    RunRecorder(tmp_path / "r").write_config({"method": "NPO", "beta": 0.1})
    df = load_run(tmp_path / "r")
    assert len(df) == 0 and "step" in df.columns and "method" in df.columns


# ----------------------------------------------------------------------------------------------------------------
# robustness: a bad line or a bad run never hides the others; files named in every error
# ----------------------------------------------------------------------------------------------------------------
def test_non_object_line_is_skipped_with_a_warning(tmp_path):
    _record(tmp_path / "runs" / "a", steps=(0, 5))
    with open(tmp_path / "runs" / "a" / "metrics.jsonl", "a") as f:
        f.write("[1, 2]\n42\n")
    with pytest.warns(UserWarning, match=r"metrics.jsonl.*line 3 is not a JSON object"):
        assert [r["step"] for r in read_jsonl(tmp_path / "runs" / "a" / "metrics.jsonl")] == [0, 5]


def test_load_runs_skips_a_broken_run_and_keeps_the_others(tmp_path):
    _record(tmp_path / "runs" / "good", steps=(0, 5))
    _record(tmp_path / "runs" / "bad", steps=(0,))
    (tmp_path / "runs" / "bad" / "metrics.jsonl").write_text('{"step": 0}\n{"step": \n{"step": 5}\n')
    (tmp_path / "runs" / "worse").mkdir()
    (tmp_path / "runs" / "worse" / "config.json").write_bytes(b"\xff\xfe not utf-8")
    with pytest.warns(UserWarning, match="skipping run"):
        df = load_runs(tmp_path / "runs")
    assert set(df["run"]) == {"good"}
    with pytest.raises(ValueError, match=r"worse.*config.json.*not UTF-8"):
        load_run(tmp_path / "runs" / "worse")
    (tmp_path / "runs" / "worse" / "config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="must hold a JSON object"):
        load_run(tmp_path / "runs" / "worse")


def test_check_output_dir_modes(tmp_path):
    from npo_lab.errors import UsageError
    from npo_lab.runs import check_output_dir, clear_run

    assert check_output_dir(tmp_path / "new") == "new"
    (tmp_path / "empty").mkdir()
    assert check_output_dir(tmp_path / "empty") == "new"
    rec = _record(tmp_path / "r")
    rec.claim("checkpoint-5")
    (tmp_path / "r" / "checkpoint-5").mkdir()
    (tmp_path / "r" / "mine.txt").write_text("mine")
    with pytest.raises(UsageError, match="not empty"):
        check_output_dir(tmp_path / "r")
    assert check_output_dir(tmp_path / "r", resume=True) == "resume"
    assert check_output_dir(tmp_path / "r", overwrite=True) == "overwrite"
    (tmp_path / "r" / "checkpoint-9").mkdir()  # not claimed: someone else's
    for kw in (dict(resume=True), dict(overwrite=True)):
        with pytest.raises(UsageError, match="checkpoint-9"):
            check_output_dir(tmp_path / "r", **kw)
    (tmp_path / "r" / "checkpoint-9").rmdir()
    removed = clear_run(tmp_path / "r")
    assert {"config.json", "metrics.jsonl", "samples.jsonl", "checkpoint-5", "manifest.json"} <= set(removed)
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["mine.txt"]


def test_manifest_cannot_point_outside_the_run(tmp_path):
    from npo_lab.errors import UsageError
    from npo_lab.runs import clear_run

    (tmp_path / "victim.txt").write_text("v")
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "manifest.json").write_text(json.dumps({"paths": ["../victim.txt"]}))
    with pytest.raises(UsageError, match="not a manifest written by npo_lab"):
        clear_run(tmp_path / "r")
    assert (tmp_path / "victim.txt").exists()
