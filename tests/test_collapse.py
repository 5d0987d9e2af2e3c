"""The collapse laboratory (npo_lab.experiments.collapse, `npo-lab collapse`) and the per-step probes it rests on
(npo_lab.unlearn.probes, ProbeCallback): a smoke grid end to end, resuming without recomputing finished cells,
one-line errors for bad settings, and probe values equal to a direct scoring of the model."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from npo_lab.cli import main
from npo_lab.experiments.collapse import CollapseConfig, grid_cells, run_collapse
from npo_lab.experiments.collapse_report import cell_table, comparison_table
from npo_lab.losses import npo_weight
from npo_lab.scoring import score_answers
from npo_lab.unlearn import UnlearnConfig, unlearn
from npo_lab.unlearn.callbacks import ProbeCallback
from npo_lab.unlearn.probes import PROBES_FILE, ProbeMarks, ProbeScorer, load_probes, sample_rows

SMOKE_MINITOFU = {"epochs": 2}  # smoke models, trained once per module (shared cache), as fast as possible


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("collapse_cache")


@pytest.fixture
def cache(monkeypatch, shared_cache):
    monkeypatch.setenv("NPO_LAB_CACHE", str(shared_cache))
    return shared_cache


def _smoke(out, **changes) -> CollapseConfig:
    base = CollapseConfig.smoke()
    return base.replace(out=str(out), minitofu={**base.minitofu, **SMOKE_MINITOFU}, **changes)


def _setting():
    from npo_lab.minitofu import prepare

    return prepare(_smoke("x").minitofu_config(0), "forget10", progress=False, check=False)


# ---------------------------------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    "changes, field",
    [
        ({"betas": (0.0,)}, "betas"),
        ({"betas": (0.1, 0.1)}, "betas"),
        ({"adamw_lrs": (-1e-4,)}, "adamw_lrs"),
        ({"sgd_lrs": ()}, "sgd_lrs"),
        ({"optimisers": ("adam",)}, "optimisers"),
        ({"ga_reductions": ("mean",)}, "ga_reductions"),
        ({"seeds": (0.5,)}, "seeds"),
        ({"steps": 0}, "steps"),
        ({"collapse_fraction": 1.5}, "collapse_fraction"),
        ({"workers": 0}, "workers"),
        ({"out": " "}, "out"),
    ],
)
def test_bad_settings_name_the_field(changes, field):
    with pytest.raises(ValueError, match=field):
        CollapseConfig(**changes)


def test_config_json_round_trip_and_grid():
    cfg = CollapseConfig(
        adamw_lrs=[1e-4, 3e-4], sgd_lrs=[0.01, 0.05], betas=[0.2], seeds=[0, 1], optimisers=["adamw", "sgd"]
    )
    assert cfg.adamw_lrs == (1e-4, 3e-4) and cfg.seeds == (0, 1)
    assert CollapseConfig.from_json(cfg.to_json()) == cfg
    cells = grid_cells(cfg)
    # per seed: adamw 2 lrs + sgd 2 lrs, each with GA x 2 reductions + NPO x 1 beta
    assert len(cells) == 2 * (2 + 2) * 3
    assert len({c["id"] for c in cells}) == len(cells)
    assert {c["method"] for c in cells} == {"GA", "NPO"}
    # a cell's id changes with what defines its result, not with where it is written
    assert grid_cells(cfg.replace(out="elsewhere"))[0]["id"] == cells[0]["id"]
    assert grid_cells(cfg.replace(steps=50))[0]["id"] != cells[0]["id"]
    # the default grid: 4 optimisers x lrs (AdamW 2, SGD 1) x (GA x 2 reductions + NPO x 4 betas) x 3 seeds
    assert len(grid_cells(CollapseConfig())) == (2 * 2 + 2 * 1) * (2 + 4) * 3 == 108


def test_cli_bad_input_is_one_line(tmp_path, capsys):
    assert main(["collapse", "--smoke", "--out", str(tmp_path / "o"), "--betas", "-1"]) == 2
    err = capsys.readouterr().err
    assert "betas" in err and err.count("\n") == 1
    assert main(["collapse", "--smoke", "--out", str(tmp_path / "o"), "--ga-reductions", "mean"]) == 2
    assert "ga_reductions" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["collapse", "--smoke", "--out", str(tmp_path / "file")]) == 2
    assert "file" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    assert main(["collapse", "--smoke", "--out", str(tmp_path / "full")]) == 2
    assert (tmp_path / "full" / "notes.txt").read_text() == "mine"


def test_marks():
    marks = ProbeMarks(forget_target=0.1)
    assert marks.update(0, {"utility": 0.8, "forget_probability": 0.9}) == []
    assert marks.update(1, {"utility": 0.5, "forget_probability": 0.1}) == ["matched_forgetting"]
    assert marks.update(2, {"utility": 0.39, "forget_probability": 0.05}) == ["collapse"]
    assert marks.steps == {"collapse": 2, "matched_forgetting": 1} and marks.complete
    assert marks.update(3, {"utility": 0.0, "forget_probability": 0.0}) == []  # the first step only
    with pytest.raises(ValueError, match="collapse_fraction"):
        ProbeMarks(collapse_fraction=1.0)


# ---------------------------------------------------------------------------------------------------- probes
def test_probe_values_equal_a_direct_scoring(cache, tmp_path):
    s = _setting()
    rows = {
        "forget": s.forget_rows,
        "retain": sample_rows(s.retain_rows, 6),
        "general": sample_rows(s.general_rows(), 5),
    }
    kw = dict(template="qa", max_length=s.config.max_length)
    ref = score_answers(s.model, s.tokenizer, s.forget_rows, **kw).logp
    probe = ProbeCallback(ProbeScorer(s.tokenizer, rows, **kw), beta=0.3, forget_target=0.0)
    cfg = UnlearnConfig(
        method="NPO", beta=0.3, learning_rate=3e-3, max_steps=3, batch_size=4, warmup_epochs=0, lr_scheduler="constant",
        eval_every=-1, eval_at_start=False, save_every=-1, disable_tqdm=True, output_dir=str(tmp_path / "run"),
        max_length=s.config.max_length,
    )  # fmt: skip
    result = unlearn(s.fresh_model(), s.tokenizer, s.forget_rows, None, cfg, callbacks=[probe])
    recorded = load_probes(tmp_path / "run")
    assert list(recorded["step"]) == [0, 1, 2, 3]  # step 0 and after every optimiser step
    assert PROBES_FILE in json.loads((tmp_path / "run" / "manifest.json").read_text())["paths"]
    last = recorded.iloc[-1]
    for group in ("forget", "retain", "general"):
        direct = score_answers(result.model, s.tokenizer, rows[group], **kw)
        assert last[f"{group}_probability"] == pytest.approx(float(direct.probability().mean()), rel=1e-4)
        assert last[f"{group}_logp"] == pytest.approx(float(direct.logp.mean()), rel=1e-4)
    direct = score_answers(result.model, s.tokenizer, s.forget_rows, **kw).logp
    assert last["forget_logp_rows"] == pytest.approx(direct.tolist(), abs=1e-3)
    assert last["W_rows"] == pytest.approx(npo_weight(direct, ref, 0.3).tolist(), rel=1e-3)
    assert recorded.iloc[0]["W_rows"] == pytest.approx([1.0] * len(s.forget_rows))
    assert last["W_mean"] < 1.0  # the forget rows' likelihood went down
    retain_general = torch.cat(
        [score_answers(result.model, s.tokenizer, rows[g], **kw).probability() for g in ("retain", "general")]
    )
    assert last["utility"] == pytest.approx(float(retain_general.mean()), rel=1e-4)
    assert probe.marks.steps["matched_forgetting"] is None  # target 0: never reached


def test_probe_stops_after_marks(cache, tmp_path):
    s = _setting()
    kw = dict(template="qa", max_length=s.config.max_length)
    start = score_answers(s.model, s.tokenizer, s.forget_rows, **kw).probability().mean()
    probe = ProbeCallback(
        ProbeScorer(s.tokenizer, {"forget": s.forget_rows, "retain": s.retain_rows[:4]}, **kw),
        forget_target=float(start) * 2,  # reached at once
        collapse_fraction=0.99,
        stop_after_marks=True,
    )
    cfg = UnlearnConfig(
        method="GA", ga_reduction="sum", learning_rate=1e-2, max_steps=40, batch_size=4, warmup_epochs=0,
        lr_scheduler="constant", eval_every=-1, eval_at_start=False, save_every=-1, disable_tqdm=True,
        output_dir=str(tmp_path / "run"), max_length=s.config.max_length,
    )  # fmt: skip
    result = unlearn(s.fresh_model(), s.tokenizer, s.forget_rows, None, cfg, callbacks=[probe])
    assert probe.marks.steps["matched_forgetting"] == 0
    assert probe.marks.complete and result.summary["global_step"] == probe.marks.steps["collapse"] < 40
    assert "collapse" in load_probes(tmp_path / "run").iloc[-1]["marks"]


def test_bad_probe_input():
    with pytest.raises(ValueError, match="forget"):
        ProbeScorer(None, {"retain": [{"question": "q", "answer": "a"}]})
    with pytest.raises(ValueError, match="unknown probe group"):
        ProbeScorer(None, {"forget": [{"question": "q", "answer": "a"}], "holdout": []})
    with pytest.raises(ValueError, match="every"):
        ProbeCallback(None, every=0)


# ---------------------------------------------------------------------------------------------------- the grid
def test_smoke_grid_runs_and_resumes(cache, tmp_path, capsys):
    out = tmp_path / "lab"
    config = _smoke(out).save(tmp_path / "config.json")  # smoke sizes with the module's faster models
    args = ["collapse", "--config", str(config)]
    assert main(args) == 0
    table = pd.read_csv(out / "table.csv")
    assert len(table) == 4 and set(table["method"]) == {"GA", "NPO"}
    assert set(table["optimiser"]) == {"adamw", "sgd"}
    assert (table["final_step"] <= table["steps_max"]).all()
    assert json.loads((out / "table.json").read_text())[0].keys() >= {"collapse_step", "utility_at_matched_rel"}
    comp = pd.read_csv(out / "comparison.csv")
    assert len(comp) == 2 and {"collapse_ratio", "utility_ratio"} <= set(comp.columns)
    for name in ("collapse_steps.png", "collapse_frontier.png", "collapse_weights.png"):
        assert (out / "figures" / name).stat().st_size > 0
    info = json.loads((out / "collapse.json").read_text())
    assert info["status"] == "completed" and info["n_finished"] == 4
    cells = sorted((out / "cells").glob("*.json"))
    mtimes = {p.name: p.stat().st_mtime_ns for p in cells}
    capsys.readouterr()
    # resume: nothing is recomputed
    assert main(args) == 0
    assert "4 finished earlier, 0 to run" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in cells} == mtimes
    # a removed cell (e.g. killed mid-run) is the only one run again
    cells[0].unlink()
    assert main(args) == 0
    assert "3 finished earlier, 1 to run" in capsys.readouterr().out
    assert len(list((out / "cells").glob("*.json"))) == 4
    # the comparison pairs each GA cell with each NPO cell of the same optimiser and learning rate
    rebuilt = comparison_table(cell_table([json.loads(p.read_text()) for p in (out / "cells").glob("*.json")]))
    assert len(rebuilt) == 2


def test_run_collapse_refuses_a_foreign_directory(tmp_path):
    (tmp_path / "x.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty|non-empty"):
        run_collapse(_smoke(tmp_path))
