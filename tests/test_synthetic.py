"""The random-features unlearning experiment (paper Sec. 4), at reduced sizes."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from npo_lab.cli import synthetic as cli
from npo_lab.losses import METHODS, LossSettings, Method, Term, nll_loss
from npo_lab.theory import (
    PAPER_METHODS,
    UnlearnSpec,
    bernoulli_kl,
    beta_sweep_specs,
    make_task,
    paper_specs,
    random_features_experiment,
    summarize_experiment,
)
from npo_lab.theory import random_features as rf

SMALL = dict(n_forget=60, n_retain=200, n_eval=200, pretrain_steps=1500, cache=False)


@pytest.fixture(scope="module")
def task():
    return make_task(1, 2, **SMALL)


@pytest.fixture(scope="module")
def paper_task():
    # paper sizes, shorter pretraining: enough for the qualitative shapes
    return make_task(1, (0, 1), pretrain_steps=4000, cache=False)


def test_task_shapes_and_label_rules(task):
    S, nf, nr, F_ = 2, 60, 200, 128
    assert task.phi_forget.shape == (S, nf, F_) and task.phi_retain.shape == (S, nr, F_)
    assert task.phi_eval_forget.shape == (S, 200, F_) and task.theta_ref.shape == (S, F_)
    assert (task.phi_forget >= 0).all(), "ReLU features"
    big = make_task(1, 1, n_forget=4000, n_retain=4000, n_eval=1, pretrain_steps=0, cache=False)
    # P(y=1) = E σ(u + 1) ≈ 0.70 on forget, E σ(−u − 1) ≈ 0.30 on retain (u ~ N(0, 1))
    assert big.y_forget.mean().item() == pytest.approx(0.70, abs=0.03)
    assert big.y_retain.mean().item() == pytest.approx(0.30, abs=0.03)
    assert big.y_idk.mean().item() == pytest.approx(0.5, abs=0.03)
    assert task.pretrain_grad_norm["initial"][0] < 0.05


def test_pretrain_gradient_is_library_nll_gradient():
    """Two GD steps of ``pretrain`` (from θ = 0) equal GD with autograd through the library's mean NLL."""
    g = torch.Generator().manual_seed(0)
    phi = torch.rand(1, 30, 5, generator=g, dtype=torch.float64)
    y = (torch.rand(1, 30, generator=g) < 0.5).double()
    w = torch.full((1, 30, 1), 1 / 30, dtype=torch.float64)
    heads, _ = rf.pretrain(phi, y, w, steps=2, lr=0.5)
    theta = torch.zeros(1, 5, 1, dtype=torch.float64)
    for _ in range(2):
        leaf = theta.clone().requires_grad_(True)
        logp = F.logsigmoid((2 * y - 1) * (phi @ leaf)[..., 0]).reshape(-1)
        (grad,) = torch.autograd.grad(nll_loss(logp).mean(), leaf)
        theta = theta - 0.5 * grad
    torch.testing.assert_close(heads, theta, rtol=1e-12, atol=1e-15)


def test_same_seed_same_task_and_seed_batching(task):
    single = make_task(1, (1,), **SMALL)
    torch.testing.assert_close(single.theta_ref[0], task.theta_ref[1])
    torch.testing.assert_close(single.phi_eval_retain[0], task.phi_eval_retain[1])
    other = make_task(1, (5,), **SMALL)
    assert not torch.allclose(other.theta_ref[0], task.theta_ref[0])


def test_frame_layout(task):
    df = random_features_experiment(task=task, methods=["GA", "NPO+RT"], steps=30, eval_every=10)
    assert list(df.columns[:6]) == ["seed", "method", "step", "forget_distance", "retain_distance", "forget_kl"]
    assert sorted(df["step"].unique()) == [0, 10, 20, 30]
    assert len(df) == 2 * 2 * 4
    start = df[df.step == 0]
    # every method starts at π_ref: same distances, forget KL 0
    assert start.groupby("seed")["forget_distance"].nunique().eq(1).all()
    assert np.allclose(start["forget_kl"], 0.0)
    assert (df[["forget_distance", "retain_distance", "forget_kl"]] >= -1e-12).all().all()


def test_methods_do_not_interact_when_batched(task):
    both = random_features_experiment(task=task, methods=["GA", "NPO"], steps=20, eval_every=20)
    alone = random_features_experiment(task=task, methods=["NPO"], steps=20, eval_every=20)
    a = both[both.method == "NPO"].reset_index(drop=True)
    b = alone.reset_index(drop=True)
    np.testing.assert_allclose(a["forget_distance"], b["forget_distance"], rtol=1e-10)


def test_first_step_matches_manual_gradient(task):
    """GA+RT: θ1 = θ0 − η (mean_f ∇logp − mean_r ∇logp), ∇logp = (2y−1)·σ(−(2y−1)z)·φ — written independently."""
    lr = 1e-2
    df = random_features_experiment(task=task, methods=[UnlearnSpec("GA+RT", lr)], steps=1, eval_every=1)
    th0 = task.theta_ref.unsqueeze(-1)

    def grad_logp_mean(phi, y):
        s = (2 * y - 1).unsqueeze(-1)
        z = torch.bmm(phi, th0)
        return (s * torch.sigmoid(-s * z) * phi).mean(dim=1)  # (S, F)

    forget, retain = grad_logp_mean(task.phi_forget, task.y_forget), grad_logp_mean(task.phi_retain, task.y_retain)
    th1 = task.theta_ref - lr * (forget - retain)
    zf = task.phi_eval_forget @ th1.unsqueeze(-1)
    zf_retr = task.phi_eval_forget @ task.theta_retr.unsqueeze(-1)
    expected = bernoulli_kl(zf_retr, zf).mean(dim=(1, 2)).numpy()
    got = df[df.step == 1].sort_values("seed")["forget_distance"].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_bernoulli_kl():
    p = torch.tensor([0.0, 2.0, -30.0, 40.0], dtype=torch.float64)
    assert torch.allclose(bernoulli_kl(p, p), torch.zeros(4, dtype=torch.float64))
    a, b = torch.tensor([0.3], dtype=torch.float64), torch.tensor([-1.2], dtype=torch.float64)
    pa, pb = torch.sigmoid(a), torch.sigmoid(b)
    direct = pa * torch.log(pa / pb) + (1 - pa) * torch.log((1 - pa) / (1 - pb))
    torch.testing.assert_close(bernoulli_kl(a, b), direct)
    assert torch.isfinite(bernoulli_kl(torch.tensor([80.0]), torch.tensor([-80.0]))).all()


@pytest.mark.slow
def test_paper_shapes(paper_task):
    """α = 1: GA's retain distance blows up, GA+RT's grows, NPO+RT stays near the start, IDK+RT stalls."""
    df = random_features_experiment(task=paper_task, steps=1000, eval_every=50)
    s = summarize_experiment(df)
    start_f, start_r = s.loc["GA", "forget_start"], s.loc["GA", "retain_start"]
    assert 1.2 < start_f < 2.3 and 0.005 < start_r < 0.05  # paper: ≈ (1.70, 0.02)
    assert s.loc["GA", "retain_end"] > 10 * start_r
    assert s.loc["GA+RT", "retain_end"] > 2 * start_r
    assert s.loc["NPO+RT", "retain_max"] < 2 * start_r
    assert s.loc["NPO+RT", "forget_end"] < 0.1 * start_f
    assert s.loc["IDK+RT", "forget_end"] > 0.3 * start_f
    assert s.loc["NPO+RT", "forget_min"] < s.loc["IDK+RT", "forget_min"]


def test_specs_and_validation(task):
    specs = paper_specs(1)
    assert [s.method for s in specs] == list(PAPER_METHODS)
    assert specs[3].learning_rate == 5e-3 and specs[3].beta == 1.0 and paper_specs(0, ["NPO"])[0].beta == 10.0
    sweep = beta_sweep_specs()
    assert [s.label for s in sweep][-1] == "GA" and all(s.learning_rate == 5e-4 for s in sweep)
    with pytest.raises(ValueError, match="input_gap"):
        make_task(2, 1)
    with pytest.raises(ValueError, match="method must be one of"):
        random_features_experiment(task=task, methods=["XYZ"], steps=1)
    with pytest.raises(ValueError, match="SimNPO"):
        paper_specs(1, ["SimNPO"])  # no paper setting; an explicit UnlearnSpec works (test_kl_methods_run)
    with pytest.raises(ValueError, match="unknown method"):
        UnlearnSpec("NPO++", 1e-3)
    with pytest.raises(ValueError, match="distinct labels"):
        random_features_experiment(task=task, methods=["GA", "GA"], steps=1)
    with pytest.raises(ValueError, match="eval_every"):
        random_features_experiment(task=task, methods=["GA"], steps=1, eval_every=0)
    with pytest.raises(ValueError, match="steps"):
        random_features_experiment(task=task, methods=["GA"], steps=-2)
    with pytest.raises(ValueError, match="learning_rate"):
        UnlearnSpec("NPO", 0.0)
    with pytest.raises(ValueError, match="alpha"):
        UnlearnSpec("NPO+RT", 1e-3, alpha=-1.0)
    with pytest.raises(ValueError, match="backend"):
        random_features_experiment(task=task, methods=["GA"], steps=1, backend="analytic")
    with pytest.raises(ValueError, match="seeds"):
        make_task(1, 0)
    with pytest.raises(ValueError, match="either task"):
        random_features_experiment(task=task, steps=1, pretrain_steps=3)


def test_kl_methods_run(task):
    methods = ["NPO+KL", "GA+KL", "DPO", UnlearnSpec("SimNPO", 1e-3, beta=2.0, gamma=0.5)]
    df = random_features_experiment(task=task, methods=methods, steps=5, eval_every=5)
    assert set(df.method) == {"NPO+KL", "GA+KL", "DPO", "SimNPO"} and np.isfinite(df.forget_distance).all()
    moved = df[df.step == 5].groupby("method")["forget_kl"].mean()
    assert (moved > 0).all()


def test_disk_cache(tmp_path):
    a = make_task(1, 1, n_forget=20, n_retain=30, n_eval=10, pretrain_steps=50, cache=tmp_path)
    assert len(list(tmp_path.glob("heads_gap1_*.npz"))) == 1
    rf._make_task_cached.cache_clear()
    b = make_task(1, 1, n_forget=20, n_retain=30, n_eval=10, pretrain_steps=50, cache=tmp_path)
    torch.testing.assert_close(a.theta_retr, b.theta_retr)


def test_cli_writes_csv_and_figures(tmp_path, monkeypatch):
    monkeypatch.setenv("NPO_LAB_CACHE", str(tmp_path / "cache"))
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(
        [
            "--input-gap",
            "0",
            "--out",
            str(tmp_path / "out"),
            "--seeds",
            "1",
            "--steps",
            "20",
            "--sweep-steps",
            "20",
            "--eval-every",
            "10",
            "--pretrain-steps",
            "100",
        ]
    )
    assert cli.run(args) == 0
    out = tmp_path / "out"
    for name in (
        "synthetic_gap0.csv",
        "beta_sweep_gap0.csv",
        "figure3_gap0.png",
        "figure4_gap0.png",
        "figure9_gap0.png",
    ):
        assert (out / name).stat().st_size > 0, name
    df = pd.read_csv(out / "synthetic_gap0.csv")
    assert set(df.method) == set(PAPER_METHODS) and (df.input_gap == 0).all() and (df.alpha == 1.0).all()
    bad = parser.parse_args(["--out", str(out / "synthetic_gap0.csv"), "--steps", "5"])
    with pytest.raises(ValueError, match="not a directory"):
        cli.run(bad)
    with pytest.raises(ValueError, match="--seeds"):
        cli.run(parser.parse_args(["--out", str(out), "--seeds", "0"]))


# the chain rule (autograd to the loss inputs, the model's derivative after) equals autograd from Method.loss to θ
def test_chain_backend_matches_autograd_through_method_loss(task):
    methods = list(PAPER_METHODS) + [
        "NPO+KL",
        "GA+KL",
        "DPO",
        "DPO+KL",
        UnlearnSpec("SimNPO", 1e-3, beta=2.0, gamma=0.5, alpha=0.7),
    ]
    fast = random_features_experiment(task=task, methods=methods, steps=60, eval_every=20, workers=2)
    ref = random_features_experiment(task=task, methods=methods, steps=60, eval_every=20, backend="autograd")
    assert fast[["seed", "method", "step"]].equals(ref[["seed", "method", "step"]])
    for col in ("forget_distance", "retain_distance", "forget_kl"):
        np.testing.assert_allclose(fast[col], ref[col], rtol=1e-10, atol=1e-13)


def test_a_new_loss_term_flows_through_the_experiment(task, monkeypatch):
    """A term that is not in the library, registered in METHODS, runs in the experiment with no theory code; both
    backends agree, and NPO-style runs with different β share one evaluation of the term per step."""

    def below_ref(forget_logp, forget_ref_logp, *, beta):
        return (forget_logp - forget_ref_logp + beta) ** 2

    term = Term("below_ref", below_ref, "test term")
    monkeypatch.setitem(METHODS, "BELOW+RT", Method("BELOW+RT", ((term, 1.0), METHODS["NPO+RT"].terms[1]), "test"))
    methods = [UnlearnSpec("BELOW+RT", 1e-2, beta=b, label=f"b{b}") for b in (0.1, 0.5)] + ["NPO"]
    fast = random_features_experiment(task=task, methods=methods, steps=20, eval_every=10)
    ref = random_features_experiment(task=task, methods=methods, steps=20, eval_every=10, backend="autograd")
    for col in ("forget_distance", "retain_distance", "forget_kl"):
        np.testing.assert_allclose(fast[col], ref[col], rtol=1e-10, atol=1e-13)
    assert (fast[fast.step == 20].groupby("method")["forget_kl"].mean() > 0).all()


def test_unlearn_spec_json_round_trip(tmp_path):
    spec = UnlearnSpec("NPO+RT", 2.5e-3, beta=0.5, alpha=2.0)
    assert UnlearnSpec.load(spec.save(tmp_path / "spec.json")) == spec
    assert spec.label == "NPO+RT" and spec.loss == LossSettings(beta=0.5, alpha=2.0) and spec.hyper == dict(spec.loss)
    with pytest.raises(ValueError, match="unknown"):
        UnlearnSpec.from_dict({"method": "GA", "learning_rate": 1e-3, "lr": 1e-3})
