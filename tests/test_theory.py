"""Toy dynamics: the single logit (GA linear, NPO closed form) and Theorem 2's logistic model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from npo_lab.losses import METHODS, Method, Term, get_method, npo_weight
from npo_lab.theory import (
    ObjectiveGradient,
    Optimizer,
    fit_slope,
    ga_closed_form_shift,
    logistic_divergence,
    logistic_divergence_curves,
    nearly_orthogonal_inputs,
    npo_closed_form_shift,
    npo_curves,
    single_logit,
    single_logit_curves,
)


# ------------------------------------------------------------------ single logit
@pytest.fixture(scope="module")
def long_runs():
    # NPO differentiates its term by autograd every step (~50 µs): 2·10⁴ steps keep the fixture to seconds
    return {
        "GA": single_logit("GA", 100_000, 1.0),
        "NPO1": single_logit("NPO", 20_000, 1.0, beta=1.0),
        "NPO01": single_logit("NPO", 20_000, 1.0, beta=0.1),
    }


def test_shapes_and_start():
    z = single_logit("NPO", 7, 0.5, beta=2.0, z0=1.5)
    assert z.shape == (8,) and z.dtype == np.float64 and z[0] == 1.5
    assert np.all(np.diff(z) < 0), "descent on GA/NPO must lower the forget logit"


def test_ga_shift_is_linear(long_runs):
    z = long_runs["GA"]
    t = np.arange(1_000, 100_001)
    slope, _, r2 = fit_slope(t, z[t] - z[0])
    assert r2 > 0.999
    assert slope == pytest.approx(-1.0, rel=1e-3)
    assert z[-1] - z[0] == pytest.approx(-99_991.6, abs=0.05)
    assert z[-1] - z[0] == pytest.approx(float(ga_closed_form_shift(1e5, 1.0)), abs=2.0)


def test_ga_closed_form_is_minus_eta_t_plus_exp_z0():
    """z + e^z = z0 + e^z0 − ηt, so z_t − z_0 = −ηt + e^z0 + o(1): at t = 1e5, z0 = 2: −99 992.6 (GD: −99 991.6)."""
    shift = float(ga_closed_form_shift(1e5, 1.0, z0=2.0))
    assert shift == pytest.approx(-1e5 + np.exp(2.0), abs=1e-6)
    assert shift == pytest.approx(-99_992.6, abs=0.05)
    for t, z0 in ((0.0, 2.0), (3.0, -1.0), (50.0, 4.0)):
        z = z0 + float(ga_closed_form_shift(t, 0.7, z0=z0))
        assert z + np.exp(z) == pytest.approx(z0 + np.exp(z0) - 0.7 * t, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("beta,key,expected", [(1.0, "NPO1", -12.72), (0.1, "NPO01", -85.05)])
def test_npo_matches_closed_form(long_runs, beta, key, expected):
    shift = long_runs[key][-1] - long_runs[key][0]
    closed = float(npo_closed_form_shift(2e4, 1.0, beta))
    assert abs(shift - closed) / abs(closed) < 0.01
    assert shift == pytest.approx(expected, abs=0.01)
    assert float(npo_closed_form_shift(1e5, 1.0, beta)) == pytest.approx({1.0: -14.33, 0.1: -101.2}[beta], abs=0.05)


def test_npo_slope_on_log_axis(long_runs):
    z = long_runs["NPO1"]
    t = np.arange(2_000, 20_001, 100)
    slope, _, r2 = fit_slope(t, z[t] - z[0], log_t=True)
    assert slope == pytest.approx(-1.0, rel=0.02) and r2 > 0.999


def test_larger_beta_diverges_more_slowly():
    shifts = [single_logit("NPO", 1_000, 1.0, beta=b)[-1] for b in (0.1, 0.5, 2.0)]
    assert shifts[0] < shifts[1] < shifts[2] < 2.0


@pytest.mark.parametrize("method", ["GA", "NPO"])
def test_chain_backend_matches_library_autograd(method):
    fast = single_logit(method, 200, 0.7, beta=0.4, z0=1.0)
    ref = single_logit(method, 200, 0.7, beta=0.4, z0=1.0, backend="autograd")
    np.testing.assert_allclose(fast, ref, rtol=1e-10, atol=1e-10)


def _inputs(logp, ref):
    return {"forget_logp": logp, "forget_ref_logp": ref, "forget_n_tokens": 1.0}


def test_closed_form_derivative_is_npo_weight_and_ga_one():
    """∂L/∂logp from the terms' closed forms: NPO's is npo_weight (paper Eq. 4), GA's is 1 (per mean)."""
    logp = np.linspace(-30, 0, 50).reshape(1, -1)  # one head, 50 examples
    ref = np.full_like(logp, -0.2)
    for beta in (0.05, 1.0, 7.0):
        g = ObjectiveGradient([get_method("NPO")], [{"beta": beta}])(_inputs(logp, ref))["forget_logp"]
        w = npo_weight(torch.from_numpy(logp[0]), torch.from_numpy(ref[0]), beta).numpy()
        np.testing.assert_allclose(g[0] * 50, w, rtol=1e-14, atol=0)
    ga = ObjectiveGradient([get_method("GA")], [{}])
    ga.prepare(_inputs(logp, ref))
    assert ga._varying == []  # GA is linear in logp: its derivative is summed once
    np.testing.assert_allclose(ga(_inputs(logp, ref))["forget_logp"] * 50, np.ones_like(logp))


def test_heads_with_different_hyperparameters_share_one_call():
    logp = np.tile(np.linspace(-5, 0, 8), (3, 1))  # three heads
    ref = np.full_like(logp, -0.5)
    betas = [0.1, 1.0, 3.0]
    objective = ObjectiveGradient([get_method("NPO")] * 3, [{"beta": b} for b in betas])
    assert len(objective._plans) == 1
    grads = objective(_inputs(logp, ref))["forget_logp"]
    for h, b in enumerate(betas):
        w = npo_weight(torch.from_numpy(logp[h]), torch.from_numpy(ref[h]), b).numpy()
        np.testing.assert_allclose(grads[h] * 8, w, rtol=1e-14, atol=0)


@pytest.fixture
def new_method(monkeypatch):
    """A loss term that is not in the library: a quadratic pull of logp below the reference (its derivative
    2·(logp − ref_logp) is not constant). It must reach the toys and the synthetic experiment with no theory code."""

    def below_ref(forget_logp, forget_ref_logp, *, beta):
        return (forget_logp - forget_ref_logp + beta) ** 2

    term = Term("below_ref", below_ref, "test term")
    monkeypatch.setitem(METHODS, "BELOW", Method("BELOW", ((term, 1.0),), "test"))
    monkeypatch.setitem(METHODS, "BELOW+RT", Method("BELOW+RT", ((term, 1.0), (METHODS["NPO+RT"].terms[1])), "test"))
    return term


def test_a_new_loss_term_flows_through_the_toys(new_method):
    z = single_logit("BELOW", 50, 0.1, beta=0.5, z0=1.0)
    ref = single_logit("BELOW", 50, 0.1, beta=0.5, z0=1.0, backend="autograd")
    np.testing.assert_allclose(z, ref, rtol=1e-12, atol=1e-12)
    # by hand: L = (logp − ref + β)², ∂L/∂z = 2(logp − ref + β)·σ(−z)
    logp = -np.log1p(np.exp(-z[0]))
    assert z[1] == pytest.approx(z[0] - 0.1 * 2 * (logp - logp + 0.5) / (1 + np.exp(z[0])), rel=1e-12)
    d = logistic_divergence("BELOW", 4, 16, 30, 0.2, beta=0.5)
    np.testing.assert_allclose(
        d, logistic_divergence("BELOW", 4, 16, 30, 0.2, beta=0.5, backend="autograd"), rtol=1e-9, atol=1e-12
    )


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"method": "SimNPO"}, "method"),
        ({"steps": -1}, "steps"),
        ({"steps": 2.5}, "steps"),
        ({"lr": 0.0}, "lr"),
        ({"beta": -1.0}, "beta"),
        ({"z0": float("nan")}, "z0"),
        ({"backend": "jax"}, "backend"),
        ({"backend": "numpy"}, "backend"),
    ],
)
def test_single_logit_validates(kwargs, match):
    args = {"method": "NPO", "steps": 3, "lr": 1.0} | kwargs
    with pytest.raises(ValueError, match=match):
        single_logit(**args)


def test_closed_form_validates():
    with pytest.raises(ValueError, match="beta"):
        npo_closed_form_shift(10, 1.0, beta=0)
    with pytest.raises(ValueError, match="t must"):
        npo_closed_form_shift(-1, 1.0)


# ------------------------------------------------------------------ Theorem 2
def test_inputs_nearly_orthogonal():
    X, y = nearly_orthogonal_inputs(16, 512, seed=3)
    G = X @ X.T
    assert np.allclose(np.diag(G), 1.0, atol=0.25)
    assert np.abs(G - np.diag(np.diag(G))).max() < 0.3
    assert set(np.unique(y)) <= {-1.0, 1.0}


@pytest.mark.parametrize("method", ["GA", "NPO"])
def test_margin_space_equals_theta_space_autograd(method):
    fast = logistic_divergence(method, 6, 32, 150, 0.8, beta=0.5, seed=2)
    ref = logistic_divergence(method, 6, 32, 150, 0.8, beta=0.5, seed=2, backend="autograd")
    np.testing.assert_allclose(fast, ref, rtol=1e-8, atol=1e-9)


def test_ga_distance_doubles_when_t_doubles():
    D = logistic_divergence("GA", 16, 256, 8_000, 1.0)
    for t in (2_000, 4_000):
        assert D[2 * t] / D[t] == pytest.approx(2.0, rel=0.05)
    # the theorem's rate: ≈ η t / √n_f (rows have norm ≈ 1)
    assert D[8_000] / (8_000 / np.sqrt(16)) == pytest.approx(1.0, rel=0.15)


def test_npo_growth_is_logarithmic_and_slower_for_larger_beta():
    T = 8_000
    runs = {b: logistic_divergence("NPO", 16, 256, T, 1.0, beta=b) for b in (0.5, 2.0)}
    for b, D in runs.items():
        inc = [D[2 * t] - D[t] for t in (1_000, 2_000, 4_000)]
        # a roughly constant increment per doubling, near the asymptote √n_f·log(2)/β
        assert max(inc) / min(inc) < 1.35
        assert inc[-1] == pytest.approx(np.sqrt(16) * np.log(2) / b, rel=0.25)
        assert D[2 * 4_000] / D[4_000] < 1.2  # far from GA's doubling
    assert runs[2.0][T] < runs[0.5][T]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"n_f": 40, "d": 20}, "n_f must be <= d"),
        ({"n_f": 0}, "n_f"),
        ({"d": 0}, "d"),
        ({"lr": -1}, "lr"),
        ({"method": "DPO"}, "method"),
        ({"seed": -1}, "seed"),
    ],
)
def test_logistic_validates(kwargs, match):
    args = {"method": "GA", "n_f": 4, "d": 8, "steps": 3, "lr": 1.0} | kwargs
    with pytest.raises(ValueError, match=match):
        logistic_divergence(**args)


# ------------------------------------------------------------------ helpers
def test_fit_slope_and_validation():
    t = np.arange(1, 100, dtype=float)
    slope, intercept, r2 = fit_slope(t, 3 * t + 1)
    assert (slope, intercept, r2) == pytest.approx((3.0, 1.0, 1.0))
    slope, _, _ = fit_slope(t, -2 * np.log(t), log_t=True)
    assert slope == pytest.approx(-2.0)
    with pytest.raises(ValueError, match="same length"):
        fit_slope(t, t[:-1])


def test_npo_curves_uses_library_values():
    df = npo_curves(np.array([-5.0, 0.0, 2.0]), betas=(0.5, 1.0))
    at0 = df[(df.method == "NPO") & (df.log_ratio == 0.0)]
    np.testing.assert_allclose(at0["weight"], 1.0)
    np.testing.assert_allclose(at0["loss"], 2 / at0["beta"] * np.log(2))
    assert (df[df.method == "GA"]["weight"] == 1.0).all()
    with pytest.raises(ValueError, match="beta"):
        npo_curves(betas=(0.0,))


# ------------------------------------------------------------------ optimisers (GD, clipped GD, Adam)
def test_explicit_gd_is_the_default_and_matches_the_closed_forms():
    """The single-logit check with the optimiser named: z₀ = 2, η = 1; GA −99 991.6 after 10⁵ GD steps, NPO on its
    closed form."""
    ga = single_logit("GA", 100_000, 1.0, optimizer="gd")
    assert ga[-1] - ga[0] == pytest.approx(-99_991.6, abs=0.05)
    npo = single_logit("NPO", 20_000, 1.0, beta=1.0, optimizer=Optimizer("gd"))
    np.testing.assert_array_equal(npo, single_logit("NPO", 20_000, 1.0, beta=1.0))
    closed = float(npo_closed_form_shift(2e4, 1.0, 1.0))
    assert abs((npo[-1] - npo[0]) - closed) / abs(closed) < 0.01


@pytest.mark.parametrize("method", ["GA", "NPO"])
def test_adam_first_step_is_lr_whatever_the_gradient_scale(method):
    """m̂₁/√v̂₁ = g/|g|: the first Adam step is η (up to ε) although the gradient σ(−z₀)·W spans 400×; GD's spans
    it too."""
    lr = 0.03
    adam = [single_logit(method, 1, lr, beta=0.5, z0=z0, optimizer="adam") for z0 in (0.0, 2.0, 6.0)]
    gd = [single_logit(method, 1, lr, beta=0.5, z0=z0) for z0 in (0.0, 2.0, 6.0)]
    for z in adam:
        assert z[0] - z[1] == pytest.approx(lr, rel=1e-4)
    steps = [z[0] - z[1] for z in gd]
    assert steps[0] / steps[2] > 100 and steps[0] == pytest.approx(lr * 0.5, rel=1e-12)


def test_adam_is_invariant_to_the_gradient_scale():
    """Scaling every gradient by a constant leaves Adam's steps unchanged (ε aside). For GA at z₀ ≫ 0 the gradient
    is σ(−z) ≈ e^{−z}: starting one unit higher multiplies every gradient by ≈ e^{−1}, and the paths coincide."""
    opt = Optimizer("adam", eps=1e-30)
    a = single_logit("GA", 50, 0.01, z0=8.0, optimizer=opt)
    b = single_logit("GA", 50, 0.01, z0=9.0, optimizer=opt)  # gradients σ(−z) ≈ e^{−z}: a constant factor e apart
    np.testing.assert_allclose(a - a[0], b - b[0], rtol=2e-3)


def test_adam_makes_ga_linear_at_slope_lr_and_npo_fast_at_first():
    lr = 0.1
    ga = single_logit("GA", 5_000, lr, optimizer="adam")
    t = np.arange(2_000, 5_001)
    slope, _, r2 = fit_slope(t, ga[t])
    assert slope == pytest.approx(-lr, rel=2e-3) and r2 > 0.9999
    npo_adam = single_logit("NPO", 5_000, lr, beta=1.0, optimizer="adam")
    npo_gd = single_logit("NPO", 5_000, lr, beta=1.0)
    assert npo_adam[100] - npo_adam[0] < 2 * (npo_gd[100] - npo_gd[0])  # at least twice as far after 100 steps
    assert npo_adam[-1] > ga[-1] / 20  # but nowhere near GA's linear walk


def test_clipped_gd_caps_the_step_and_releases_it_below_the_threshold():
    lr, c = 0.1, 0.05
    for method in ("GA", "NPO"):
        z = single_logit(method, 3_000, lr, beta=1.0, optimizer=Optimizer("clipped_gd", max_norm=c))
        steps = -np.diff(z)
        assert steps.max() <= lr * c * (1 + 1e-12)
        assert np.allclose(steps[:100], lr * c)  # |∂L/∂z| > c at the start: every step has length η·c
    ga = single_logit("GA", 3_000, lr, optimizer=Optimizer("clipped_gd", max_norm=c))
    npo = single_logit("NPO", 3_000, lr, beta=1.0, optimizer=Optimizer("clipped_gd", max_norm=c))
    assert np.allclose(-np.diff(ga)[-100:], lr * c)  # GA's gradient only grows: clipped to the end (linear)
    assert -np.diff(npo)[-1] < lr * c / 2  # NPO's fades below c: plain GD again (logarithmic)
    # below the threshold clipped GD is GD
    same = single_logit("NPO", 200, 0.1, optimizer=Optimizer("clipped_gd", max_norm=10.0))
    np.testing.assert_array_equal(same, single_logit("NPO", 200, 0.1))


@pytest.mark.parametrize("opt", ["clipped_gd", "adam"])
@pytest.mark.parametrize("method", ["GA", "NPO"])
def test_optimisers_match_the_autograd_reference(method, opt):
    optimizer = Optimizer(opt, max_norm=0.05)
    fast = single_logit(method, 150, 0.2, beta=0.5, z0=1.0, optimizer=optimizer)
    ref = single_logit(method, 150, 0.2, beta=0.5, z0=1.0, optimizer=optimizer, backend="autograd")
    np.testing.assert_allclose(fast, ref, rtol=1e-10, atol=1e-10)
    fast = logistic_divergence(method, 6, 32, 120, 0.05, beta=0.5, seed=1, optimizer=optimizer)
    ref = logistic_divergence(method, 6, 32, 120, 0.05, beta=0.5, seed=1, optimizer=optimizer, backend="autograd")
    np.testing.assert_allclose(fast, ref, rtol=1e-8, atol=1e-9)


def test_curves_in_one_loop_equal_single_runs():
    runs = [("GA", 1.0), ("NPO", 0.5), ("NPO", 2.0)]
    for opt in (None, "adam", Optimizer("clipped_gd", max_norm=0.02)):
        batch = single_logit_curves(runs, 300, 0.3, optimizer=opt)
        for j, (m, b) in enumerate(runs):
            np.testing.assert_array_equal(batch[:, j], single_logit(m, 300, 0.3, beta=b, optimizer=opt))
        batch = logistic_divergence_curves(runs, 8, 64, 200, 0.5, optimizer=opt)
        for j, (m, b) in enumerate(runs):
            alone = logistic_divergence(m, 8, 64, 200, 0.5, beta=b, optimizer=opt)
            np.testing.assert_allclose(batch[:, j], alone, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "bad,match",
    [("sgd", "optimizer"), (3, "optimizer"), ({"name": "adam"}, "optimizer")],
)
def test_optimizer_validates(bad, match):
    with pytest.raises(ValueError, match=match):
        single_logit("GA", 3, 1.0, optimizer=bad)


def test_optimizer_config_validates_and_round_trips():
    with pytest.raises(ValueError, match="beta2"):
        Optimizer("adam", beta2=1.0)
    with pytest.raises(ValueError, match="max_norm"):
        Optimizer("clipped_gd", max_norm=0.0)
    with pytest.raises(ValueError, match="name"):
        Optimizer("sgd")
    opt = Optimizer("adam", beta1=0.8, eps=1e-6)
    assert Optimizer.from_json(opt.to_json()) == opt


def test_plot_optimizer_divergence_draws_one_style_per_optimiser():
    import matplotlib

    matplotlib.use("Agg")
    from npo_lab.plotting import plot_optimizer_divergence

    runs = [("GA", 1.0), ("NPO", 1.0)]
    curves = {
        name: dict(zip(["GA", "NPO"], single_logit_curves(runs, 50, 0.1, optimizer=opt).T))
        for name, opt in {"GD": None, "Adam": "adam"}.items()
    }
    ax = plot_optimizer_divergence(curves, log_t=True)
    lines = [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]
    assert [ln.get_label() for ln in lines] == ["GA, GD", "NPO, GD", "GA, Adam", "NPO, Adam"]
    assert [ln.get_linestyle() for ln in lines] == ["-", "-", "--", "--"]
    assert lines[0].get_color() == lines[2].get_color() != lines[1].get_color()
    assert ax.get_xscale() == "log"
    with pytest.raises(ValueError, match="optimiser"):
        plot_optimizer_divergence({})
    matplotlib.pyplot.close("all")


@pytest.mark.parametrize("seeds", [2, 3])  # 1 + 1 and 2 + 1 seeds on 2 threads
def test_synthetic_table_does_not_depend_on_the_threads(seeds):
    from npo_lab.theory import make_task, random_features_experiment

    task = make_task(1, seeds, n_forget=40, n_retain=120, n_eval=100, pretrain_steps=300, cache=False)
    one = random_features_experiment(task=task, steps=40, eval_every=20, workers=1)
    two = random_features_experiment(task=task, steps=40, eval_every=20, workers=2)
    assert one[["method", "seed", "step"]].equals(two[["method", "seed", "step"]])
    cols = ["forget_distance", "retain_distance", "forget_kl"]
    np.testing.assert_array_equal(one[cols].to_numpy(), two[cols].to_numpy())
