"""Each loss term's closed-form derivative against torch.autograd, on random and extreme inputs (paper Eq. 4 for NPO).

``Term.derivative`` returns ``∂term_i/∂input_i`` for the inputs that move with θ; ``Method.input_gradient`` the
weighted sum over a method's terms. Both must equal autograd through the terms' values (``Method.loss``), for
float32 and float64, log-ratios up to ±1e4, β from 1e-8 to ``BETA_MAX`` and both GA reductions; the same closed
forms evaluated on NumPy arrays and floats (what the theory iterates on) must give the same numbers.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from npo_lab import logprobs
from npo_lab.losses import BETA_MAX, GA_REDUCTIONS, METHODS, TERMS, LossInputs, Method, Term, npo_weight

BETAS = (1e-8, 1e-3, 0.1, 1.0, 30.0, BETA_MAX)
DTYPES = (torch.float32, torch.float64)


def _inputs(kind: str, dtype, seed: int = 0, B: int = 64) -> LossInputs:
    g = torch.Generator().manual_seed(seed)
    if kind == "random":
        logp = -torch.rand(B, generator=g, dtype=torch.float64) * 60
        ref = -torch.rand(B, generator=g, dtype=torch.float64) * 60
    else:  # log-ratios of ±1e4 (and 0) around a moderate reference
        ref = -torch.rand(B, generator=g, dtype=torch.float64) * 50
        shift = torch.tensor([1e4, -1e4, 0.0, 1e-3], dtype=torch.float64).repeat(B // 4)
        logp = ref + shift
    n = torch.randint(1, 40, (B,), generator=g)
    return LossInputs(
        forget_logp=logp.to(dtype),
        forget_ref_logp=ref.to(dtype),
        forget_n_tokens=n,
        retain_logp=(-torch.rand(B, generator=g, dtype=torch.float64) * 30).to(dtype),
        retain_n_tokens=torch.randint(1, 40, (B,), generator=g),
        retain_kl=torch.rand(B, generator=g, dtype=torch.float64).to(dtype),
        idk_logp=(logp.flip(0) - 3.0).to(dtype),
        idk_ref_logp=(ref.flip(0) + 1.0).to(dtype),
        idk_n_tokens=torch.randint(1, 40, (B,), generator=g),
    )


def _autograd(method: Method, x: LossInputs, hyper: dict) -> dict[str, torch.Tensor]:
    """∂total_i/∂input_i by autograd through Method.loss (each total_i depends on example i's inputs only)."""
    moving = sorted({n for t, _ in method.terms for n in t.moving})
    leaves = {n: getattr(x, n).detach().clone().requires_grad_(True) for n in moving}
    values = {f: getattr(x, f) for f in LossInputs.names()} | leaves
    total, _ = method.loss(LossInputs(**values), **hyper)
    grads = torch.autograd.grad(total.sum(), [leaves[n] for n in moving])
    return dict(zip(moving, grads))


def _tol(dtype):
    # float64: torch's softplus returns x (derivative exactly 1) above x = 20, where σ(20) = 1 − 2.1e-9
    return {"rtol": 2e-5, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-8, "atol": 1e-12}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("kind", ["random", "extreme"])
@pytest.mark.parametrize("method", sorted(METHODS))
def test_method_gradient_equals_autograd(method, kind, dtype):
    m = METHODS[method]
    x = _inputs(kind, dtype, seed=len(method))
    for beta in BETAS:
        for reduction in GA_REDUCTIONS:
            hyper = {"beta": beta, "alpha": 0.7, "gamma": 0.3, "ga_reduction": reduction}
            closed, ref = m.input_gradient(x, **hyper), _autograd(m, x, hyper)
            assert set(closed) == set(ref) and closed
            for name, g in closed.items():
                assert g.shape == ref[name].shape and g.dtype == ref[name].dtype, name
                assert torch.isfinite(g).all(), (method, beta, name)
                torch.testing.assert_close(g, ref[name], **_tol(dtype), msg=f"{method} β={beta} {reduction} {name}")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_npo_derivative_is_the_weight_and_in_0_2(dtype):
    x = _inputs("extreme", dtype)
    for beta in BETAS:
        w = METHODS["NPO"].input_gradient(x, beta=beta)["forget_logp"]
        torch.testing.assert_close(w, npo_weight(x.forget_logp, x.forget_ref_logp, beta), rtol=0, atol=0)
        assert ((w >= 0) & (w <= 2)).all()
    lr = (x.forget_logp - x.forget_ref_logp).double()
    w = METHODS["NPO"].input_gradient(x, beta=1.0)["forget_logp"].double()
    assert (w[lr == 1e4] == 2).all() and (w[lr == -1e4] == 0).all() and (w[lr == 0] == 1).all()


def test_ga_reductions_have_the_textbook_derivatives():
    x = _inputs("random", torch.float64)
    n = x.forget_n_tokens.double()
    g_sum = METHODS["GA"].input_gradient(x, ga_reduction="sum")["forget_logp"]
    g_mean = METHODS["GA"].input_gradient(x, ga_reduction="token_mean")["forget_logp"]
    torch.testing.assert_close(g_sum, torch.ones_like(g_sum))
    torch.testing.assert_close(g_mean, torch.full_like(g_mean, len(n) / float(n.sum())))
    kl = METHODS["NPO+KL"].input_gradient(x, alpha=2.5)["retain_kl"]
    torch.testing.assert_close(kl, torch.full_like(kl, 2.5))


def _np(v, shape):
    return np.broadcast_to(v.numpy() if isinstance(v, torch.Tensor) else np.asarray(v), shape)


@pytest.mark.parametrize("reduction", GA_REDUCTIONS)
@pytest.mark.parametrize("name", sorted(TERMS))
def test_closed_forms_on_numpy_and_floats_equal_torch(name, reduction):
    """The theory calls the same closed forms on NumPy arrays (heads × examples) and floats; every example has 5
    tokens here, so that a float count (``n_tokens = 5.0``: every example's |y|) means the same batch."""
    term = TERMS[name]
    x = _inputs("random", torch.float64, seed=3, B=8)
    five = torch.full((8,), 5)
    x = LossInputs(**{f: five if f.endswith("n_tokens") else getattr(x, f) for f in LossInputs.names()})
    hyper = {"beta": 0.4, "gamma": -0.2, "ga_reduction": reduction}
    ref = {k: _np(v, (8,)) for k, v in term.derivative(x, hyper).items()}
    as_np = {f: getattr(x, f).double().numpy() for f in term.inputs}
    for k, v in term.derivative(as_np, hyper).items():
        np.testing.assert_allclose(_np(v, (8,)), ref[k], rtol=1e-14)
    for i in (0, 5):
        as_float = {f: float(getattr(x, f)[i]) for f in term.inputs}
        for k, v in term.derivative(as_float, hyper).items():
            assert isinstance(v, float) and v == pytest.approx(ref[k][i], rel=1e-14)
    rows = {f: np.stack([as_np[f], as_np[f][::-1]]) for f in term.inputs}  # two heads = two batches
    for k, v in term.derivative(rows, hyper).items():
        np.testing.assert_allclose(_np(v, (2, 8))[0], ref[k], rtol=1e-14)
        np.testing.assert_allclose(_np(v, (2, 8))[1], ref[k][::-1], rtol=1e-14)


def test_sigmoid_is_accurate_in_both_tails():
    for x in (-700.0, -40.0, -1e-3, 0.0, 3.0, 40.0, 800.0):
        expected = 1.0 / (1.0 + math.exp(-x)) if x > -700 else math.exp(x)
        assert logprobs.sigmoid(x) == pytest.approx(expected, rel=1e-12, abs=0)
        assert float(logprobs.sigmoid(np.array([x]))[0]) == pytest.approx(expected, rel=1e-12, abs=0)
        t = float(logprobs.sigmoid(torch.tensor([x], dtype=torch.float64))[0])
        assert t == pytest.approx(expected, rel=1e-12, abs=0)


def test_a_term_without_closed_form_falls_back_to_autograd():
    def cubic(forget_logp, forget_ref_logp, *, beta):
        return beta * (forget_logp - forget_ref_logp) ** 3

    term = Term("cubic", cubic, "test term")  # no grad: autograd
    m = Method("CUBIC+RT", ((term, 1.0), (TERMS["retain_nll"], "alpha")), "test")
    x = _inputs("random", torch.float64)
    g = m.input_gradient(x, beta=0.5, alpha=2.0)
    lr = x.forget_logp - x.forget_ref_logp
    torch.testing.assert_close(g["forget_logp"], 1.5 * lr**2)
    n = x.retain_n_tokens.double()
    torch.testing.assert_close(g["retain_logp"], torch.full_like(lr, -2.0 * len(n) / float(n.sum())))
    # NumPy rows with a per-row β, as the theory passes them
    rows = {"forget_logp": np.array([[1.0, 2.0], [3.0, 4.0]]), "forget_ref_logp": np.zeros((2, 2))}
    d = term.derivative(rows, {"beta": np.array([[1.0], [2.0]])})["forget_logp"]
    np.testing.assert_allclose(d, [[3.0, 12.0], [54.0, 96.0]])


def test_input_gradient_validates():
    with pytest.raises(ValueError, match="LossInputs"):
        METHODS["NPO"].input_gradient({"forget_logp": torch.zeros(2)})
    with pytest.raises(ValueError, match="beta"):
        METHODS["NPO"].input_gradient(_inputs("random", torch.float64), beta=0.0)
    with pytest.raises(ValueError, match="ga_reduction"):
        METHODS["GA"].input_gradient(_inputs("random", torch.float64), ga_reduction="mean")
