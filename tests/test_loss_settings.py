"""The loss's hyper-parameters are one object declared once beside the terms (``npo_lab.losses.HYPERS``,
``LossSettings``): configs hold it, ``Method.loss`` takes it whole, the command line generates its options. A new
term with a new hyper-parameter, registered at run time, trains through ``unlearn()`` and ``npo-lab unlearn``
with no other edit."""

from __future__ import annotations

import copy
import json
import pickle
import sys
from pathlib import Path

import pytest
import torch

import npo_lab.cli as cli
from npo_lab.losses import HYPERS, METHODS, Hyper, LossInputs, LossSettings, Method, Term, get_method, loss_hypers
from npo_lab.unlearn import UnlearnConfig, unlearn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_unlearn import tiny_setup  # noqa: E402


def test_settings_are_checked_once_immutable_and_compare_by_value():
    s = LossSettings(beta=0.5)
    assert (s.beta, s.alpha, s.gamma, s.ga_reduction) == (0.5, 1.0, 0.0, "token_mean")
    assert dict(s) == {**{n: h.default for n, h in HYPERS.items()}, "beta": 0.5}
    assert s == LossSettings(beta=0.5, alpha=1.0) and hash(s) == hash(LossSettings(beta=0.5))
    assert s.replace(alpha=2.0).alpha == 2.0 and s.alpha == 1.0
    with pytest.raises(AttributeError, match="immutable"):
        s.beta = 1.0  # type: ignore[misc]
    for bad, match in (
        ({"beta": 0}, "beta must be > 0"),
        ({"beta": 1e300}, "beta must be <="),
        ({"alpha": -1}, "alpha must be >= 0"),
        ({"gamma": float("nan")}, "gamma must be a finite number"),
        ({"ga_reduction": "mean"}, "ga_reduction must be one of token_mean, sum"),
        ({"lr": 1.0}, r"unknown loss hyper-parameter\(s\) \['lr'\]"),
    ):
        with pytest.raises(ValueError, match=match):
            LossSettings(**bad)


def test_method_loss_takes_the_settings_whole_or_as_keywords():
    x = LossInputs(
        forget_logp=torch.tensor([-1.0, -3.0]),
        forget_ref_logp=torch.tensor([-2.0, -2.0]),
        retain_logp=torch.tensor([-2.0, -1.0]),
        retain_n_tokens=torch.tensor([2, 3]),
    )
    m = get_method("NPO+RT")
    whole, _ = m.loss(x, LossSettings(beta=0.3, alpha=2.0))
    keywords, _ = m.loss(x, beta=0.3, alpha=2.0)
    mixed, _ = m.loss(x, LossSettings(beta=0.3), alpha=2.0)
    default, _ = m.loss(x)
    assert torch.equal(whole, keywords) and torch.equal(whole, mixed) and not torch.equal(whole, default)


def test_unlearn_config_holds_the_settings_and_reads_them_flat(tmp_path):
    cfg = UnlearnConfig(beta=0.2, output_dir=str(tmp_path))
    assert cfg.loss == LossSettings(beta=0.2) and cfg.beta == 0.2 and cfg.alpha == 1.0
    d = cfg.to_dict()
    assert d["beta"] == 0.2 and "loss" not in d  # config.json keeps one key per hyper-parameter
    assert UnlearnConfig.from_dict(d) == cfg and UnlearnConfig.load(cfg.save(tmp_path / "c.json")) == cfg
    assert cfg.replace(alpha=3.0).loss == LossSettings(beta=0.2, alpha=3.0)
    assert UnlearnConfig(loss=LossSettings(gamma=1.0)).gamma == 1.0
    assert "beta" in UnlearnConfig.groups()["loss"] and "inverse temperature" in UnlearnConfig.help()["beta"]
    with pytest.raises(ValueError, match="beta must be > 0"):
        UnlearnConfig(beta=0)


def test_the_synthetic_spec_holds_the_settings_with_its_own_defaults_and_positional_order(tmp_path):
    from npo_lab.theory import UnlearnSpec, paper_specs

    assert UnlearnSpec("NPO", 0.1).loss == LossSettings(beta=1.0)  # the synthetic model's β, not the TOFU one
    assert UnlearnSpec("NPO", 0.1, beta=2.0).loss == LossSettings(beta=2.0)
    assert UnlearnSpec("NPO+RT", 1e-3, alpha=2.0).loss == LossSettings(beta=1.0, alpha=2.0)  # on the field's default
    spec = UnlearnSpec("SimNPO", 1e-3, 0.5, 2.0, "s", 0.3)  # method, learning_rate, beta, alpha, label, gamma
    assert spec == UnlearnSpec(method="SimNPO", learning_rate=1e-3, beta=0.5, alpha=2.0, label="s", gamma=0.3)
    assert (spec.beta, spec.alpha, spec.gamma, spec.label) == (0.5, 2.0, 0.3, "s") and spec.hyper == dict(spec.loss)
    assert spec.replace(beta=3.0).loss == LossSettings(beta=3.0, alpha=2.0, gamma=0.3)
    assert paper_specs(0, ["NPO"])[0].loss == LossSettings(beta=10.0)
    d = spec.to_dict()
    assert "loss" not in d and (d["beta"], d["gamma"]) == (0.5, 0.3)
    assert UnlearnSpec.from_json(spec.to_json()) == spec and UnlearnSpec.load(spec.save(tmp_path / "s.json")) == spec
    old = {"method": "NPO", "learning_rate": 0.1, "beta": 2.0, "alpha": 1.0, "label": "", "gamma": 0.0}
    assert UnlearnSpec.from_dict(old) == UnlearnSpec("NPO", 0.1, 2.0)  # a spec saved before it held the settings
    assert pickle.loads(pickle.dumps(spec)) == spec and copy.deepcopy(spec) == spec
    with pytest.raises(TypeError, match="multiple values for argument 'beta'"):
        UnlearnSpec("NPO", 0.1, 2.0, beta=3.0)


def test_the_demo_config_holds_the_settings_and_keeps_alpha_its_own_field(tmp_path):
    from npo_lab.experiments import DEMO_DEFAULTS, DemoConfig

    cfg = DemoConfig()
    assert cfg.loss == LossSettings(beta=DEMO_DEFAULTS["beta"], ga_reduction=DEMO_DEFAULTS["ga_reduction"])
    assert (cfg.beta, cfg.ga_reduction, cfg.alpha) == (DEMO_DEFAULTS["beta"], DEMO_DEFAULTS["ga_reduction"], None)
    assert DemoConfig(ga_reduction="sum").beta == DEMO_DEFAULTS["beta"]  # flat values change the demo's defaults
    assert "default: 0.3" in DemoConfig.help()["beta"] and "None" in DemoConfig.help()["alpha"]
    d = cfg.to_dict()
    assert "loss" not in d and d["beta"] == DEMO_DEFAULTS["beta"] and d["alpha"] is None
    assert DemoConfig.from_json(cfg.to_json()) == cfg and DemoConfig.load(cfg.save(tmp_path / "d.json")) == cfg
    # a demo.json written when beta, alpha and ga_reduction were plain fields (no gamma)
    old = {k: v for k, v in d.items() if k != "gamma"}
    old.update(beta=0.5, alpha=None, ga_reduction="sum", forget_split="forget50")
    loaded = DemoConfig.from_dict({"config": old, "status": "completed"})
    assert loaded.loss == LossSettings(beta=0.5, ga_reduction="sum") and loaded.alpha is None
    u = loaded.unlearn_config("NPO+RT", tmp_path / "run")  # the settings whole, with the split's α (the paper's 5)
    assert u.loss == LossSettings(beta=0.5, alpha=5.0, ga_reduction="sum")
    assert loaded.replace(alpha=2.0).unlearn_config("NPO+RT", tmp_path / "run").alpha == 2.0
    assert loaded.replace(forget_split="forget10").resolved_alpha == 1.0
    assert pickle.loads(pickle.dumps(loaded)) == loaded and copy.deepcopy(loaded) == loaded
    with pytest.raises(ValueError, match="set the retain weight with alpha"):
        DemoConfig(loss=LossSettings(alpha=3.0))


# ----------------------------------------------------------------------------------------------------------------
# a new method with a new hyper-parameter, registered at run time: one term function, one METHODS entry
# ----------------------------------------------------------------------------------------------------------------
SEEN: list[float] = []


def _scaled_ga(forget_logp, forget_n_tokens, *, tau):
    """GA scaled by tau: tau · (batch token-mean of the forget answers' log-probs)."""
    SEEN.append(tau)
    return tau * forget_logp * forget_logp.numel() / forget_n_tokens.sum()


@pytest.fixture
def tau_ga(monkeypatch):
    term = Term("scaled_ga", _scaled_ga, "GA scaled by tau", hypers=(Hyper("tau", 0.5, "scale of GA", gt=0),))
    monkeypatch.setitem(METHODS, "TauGA", Method("TauGA", ((term, 1.0),), "GA scaled by tau"))
    SEEN.clear()
    yield "TauGA"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("tiny_settings")
    src, tok, make_model, forget, _ = tiny_setup(root / "data")
    make_model().save_pretrained(root / "model")
    tok.save_pretrained(root / "model")
    return src, root / "model", tok, make_model, forget


def _settings(out) -> dict:
    return dict(output_dir=str(out), batch_size=4, max_steps=2, learning_rate=1e-3, warmup_epochs=0, eval_every=-1)


def test_a_new_hyper_parameter_trains_through_unlearn(tiny, tau_ga, tmp_path):
    src, _, tok, make_model, forget = tiny
    assert loss_hypers()["tau"].default == 0.5 and LossSettings().tau == 0.5
    cfg = UnlearnConfig(method=tau_ga, tau=2.5, forget_quality=False, disable_tqdm=True, **_settings(tmp_path / "r"))
    result = unlearn(make_model(), tok, forget, config=cfg, eval_source=src, forget_split="forget01")
    assert result.summary["global_step"] == 2 and SEEN and set(SEEN) == {2.5}
    assert json.loads((tmp_path / "r" / "config.json").read_text())["tau"] == 2.5
    with pytest.raises(ValueError, match="tau must be > 0"):
        UnlearnConfig(method=tau_ga, tau=-1.0)


def test_a_new_hyper_parameter_trains_through_the_command_line(tiny, tau_ga, tmp_path, capsys):
    src, model, *_ = tiny
    argv = ["unlearn", "--model", str(model), "--data", str(src), "--forget", "forget01", "--method", tau_ga]
    argv += ["--lr", "1e-3", "--batch-size", "4", "--max-steps", "2", "--eval-every", "-1", "--no-forget-quality"]
    assert cli.main([*argv, "--tau", "3", "--out", str(tmp_path / "run")]) == 0
    assert set(SEEN) == {3.0} and "completed: TauGA" in capsys.readouterr().out
    assert json.loads((tmp_path / "run" / "config.json").read_text())["tau"] == 3.0
    assert cli.main([*argv, "--tau", "0", "--out", str(tmp_path / "bad")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == ["npo-lab unlearn: error: tau must be > 0, got 0.0"]
