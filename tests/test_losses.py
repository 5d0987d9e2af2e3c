"""Properties of the unlearning losses (DESIGN.md §3) and the METHODS registry."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from npo_lab import losses as L
from npo_lab.losses import (
    METHODS,
    LossInputs,
    dpo_loss,
    ga_loss,
    get_method,
    kl_to_ref,
    nll_loss,
    npo_loss,
    npo_weight,
    sequence_logprob,
    simnpo_loss,
    token_count,
)

PAPER_NAMES = ["GA", "GA+RT", "GA+KL", "IDK+RT", "DPO", "DPO+RT", "DPO+KL", "NPO", "NPO+RT", "NPO+KL", "SimNPO"]


# ---------------------------------------------------------------------------------------------------------------
# NPO
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("beta", [0.01, 0.1, 1.0, 5.0])
def test_npo_at_zero_log_ratio_is_2_over_beta_log2(beta):
    logp = torch.tensor([-3.0, -50.0, -0.5], dtype=torch.float64)
    out = npo_loss(logp, logp.clone(), beta=beta)
    assert out.shape == (3,)
    torch.testing.assert_close(out, torch.full((3,), 2.0 / beta * math.log(2.0), dtype=torch.float64))


@pytest.mark.parametrize("beta", [0.05, 0.1, 1.0, 3.0])
def test_npo_gradient_equals_npo_weight(beta):
    ref = torch.tensor([-10.0, -20.0, -5.0, -1.0, -30.0], dtype=torch.float64)
    logp = (ref + torch.tensor([-40.0, -1.0, 0.0, 2.0, 15.0], dtype=torch.float64)).requires_grad_()
    npo_loss(logp, ref, beta=beta).sum().backward()
    torch.testing.assert_close(logp.grad, npo_weight(logp.detach(), ref, beta=beta))
    # and W = 2σ(β·log_ratio) explicitly: W = 1 at log-ratio 0, between 0 and 2
    w = npo_weight(logp.detach(), ref, beta=beta)
    assert torch.all((w >= 0) & (w <= 2))
    assert w[2].item() == pytest.approx(1.0)


def test_proposition_1_beta_to_zero_recovers_ga():
    ref = torch.tensor([-12.0, -7.5, -30.0], dtype=torch.float64)
    delta = torch.tensor([-3.0, 0.7, 2.0], dtype=torch.float64)
    errors, grad_errors = [], []
    for beta in [1.0, 1e-1, 1e-2, 1e-3, 1e-4]:
        logp = (ref + delta).requires_grad_()
        value = npo_loss(logp, ref, beta=beta)
        value.sum().backward()
        errors.append((value.detach() - 2.0 / beta * math.log(2.0) - delta).abs().max().item())
        logp_ga = (ref + delta).requires_grad_()
        ga_loss(logp_ga).sum().backward()
        grad_errors.append((logp.grad - logp_ga.grad).abs().max().item())
    # value − (2/β)·log 2 → log-ratio and ∇NPO → ∇GA, monotonically, at rate O(β)
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    assert all(a > b for a, b in zip(grad_errors, grad_errors[1:])), grad_errors
    assert errors[-1] < 1e-3 and grad_errors[-1] < 1e-3
    assert errors[0] > 0.1  # at β = 1 the two are clearly different: the test can fail


def test_npo_is_nonnegative_and_bounded_below_unlike_ga():
    ref = torch.zeros(7)
    logp = torch.tensor([-1e4, -100.0, -10.0, 0.0, 10.0, 100.0, 1e4])
    out = npo_loss(logp, ref, beta=0.1)
    assert torch.all(out >= 0)
    assert out[0].item() < 1e-30  # → 0 as the forget answer becomes unlikely
    assert ga_loss(logp)[0].item() == -1e4  # GA keeps going down


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("beta", [0.1, 1.0])
def test_npo_and_dpo_finite_for_extreme_log_ratios(dtype, beta):
    lr = torch.linspace(-1e4, 1e4, 101).to(dtype)
    ref = torch.full_like(lr, -20.0)
    logp = (ref + lr).detach().requires_grad_()
    out = npo_loss(logp, ref, beta=beta)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(logp.grad).all()
    assert out.dtype == dtype
    w = npo_weight(logp.detach(), ref, beta=beta)
    assert torch.isfinite(w).all()

    chosen = (ref - lr).detach().requires_grad_()
    rejected = (ref + lr).detach().requires_grad_()
    d = dpo_loss(chosen, rejected, ref, ref, beta=beta)
    d.sum().backward()
    assert torch.isfinite(d).all() and torch.isfinite(chosen.grad).all() and torch.isfinite(rejected.grad).all()

    s = simnpo_loss(logp.detach().requires_grad_(), torch.full_like(lr, 40), beta=beta, gamma=0.5)
    assert torch.isfinite(s).all()


def test_naive_formula_overflows_where_stable_one_does_not():
    # the reason for F.softplus: log(1 + exp(x)) overflows in float32 at x ≈ 89
    x = torch.tensor([1000.0])
    naive = torch.log1p(torch.exp(x))
    assert torch.isinf(naive).all()
    assert torch.isfinite(npo_loss(x, torch.zeros(1), beta=1.0)).all()
    assert npo_loss(x, torch.zeros(1), beta=1.0).item() == pytest.approx(2000.0)


# ---------------------------------------------------------------------------------------------------------------
# DPO, SimNPO, NLL
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("beta", [0.1, 2.0])
def test_dpo_zero_margin(beta):
    c, r = torch.tensor([-5.0, -8.0]), torch.tensor([-3.0, -9.0])
    out = dpo_loss(c, r, c.clone(), r.clone(), beta=beta)
    torch.testing.assert_close(out, torch.full((2,), 2.0 / beta * math.log(2.0)))


def test_dpo_matches_formula_and_npo_is_dpo_without_chosen():
    beta = 0.3
    c, r = torch.tensor([-5.0, -8.0]), torch.tensor([-3.0, -9.0])
    rc, rr = torch.tensor([-6.0, -7.0]), torch.tensor([-2.5, -9.5])
    margin = (c - rc) - (r - rr)
    expected = -(2 / beta) * torch.log(torch.sigmoid(beta * margin))
    torch.testing.assert_close(dpo_loss(c, r, rc, rr, beta=beta), expected)
    # dropping the chosen term (chosen == ref_chosen) gives NPO on the rejected answer
    torch.testing.assert_close(dpo_loss(rc, r, rc, rr, beta=beta), npo_loss(r, rr, beta=beta))


def test_simnpo_formula():
    logp, n = torch.tensor([-20.0, -4.0]), torch.tensor([10, 4])
    beta, gamma = 2.5, 0.3
    expected = -(2 / beta) * F.logsigmoid(-beta * logp / n - gamma)
    torch.testing.assert_close(simnpo_loss(logp, n, beta=beta, gamma=gamma), expected)


def test_nll_sum_and_per_token():
    logp = torch.tensor([-12.0, -3.0])
    torch.testing.assert_close(nll_loss(logp), torch.tensor([12.0, 3.0]))
    # batch token-mean as the reference code's outputs.loss: per-example -logp_i * B / sum(n), mean = 15 / 7
    per_token = nll_loss(logp, torch.tensor([4, 3]))
    torch.testing.assert_close(per_token, torch.tensor([12.0, 3.0]) * 2 / 7)
    assert per_token.mean().item() == pytest.approx(15 / 7)


# ---------------------------------------------------------------------------------------------------------------
# sequence_logprob and kl_to_ref
# ---------------------------------------------------------------------------------------------------------------
def _naive_sequence_logprob(logits, labels):
    B, T, _ = logits.shape
    out = []
    for b in range(B):
        total = 0.0
        for t in range(T - 1):
            y = labels[b, t + 1].item()
            if y == -100:
                continue
            probs = torch.softmax(logits[b, t].double(), dim=-1)
            total += math.log(probs[y].item())
        out.append(total)
    return torch.tensor(out, dtype=torch.float64)


def test_sequence_logprob_against_naive_gather_with_masks():
    g = torch.Generator().manual_seed(0)
    B, T, V = 3, 9, 17
    logits = torch.randn(B, T, V, generator=g) * 3
    labels = torch.randint(0, V, (B, T), generator=g)
    labels[:, :3] = -100  # prompt
    labels[1, 6:] = -100  # padding
    labels[2, :] = -100
    labels[2, 8] = 5  # a single answer token at the end
    got = sequence_logprob(logits, labels)
    assert got.shape == (B,)
    torch.testing.assert_close(got.double(), _naive_sequence_logprob(logits, labels), atol=1e-4, rtol=1e-5)
    assert token_count(labels).tolist() == [6, 3, 1]
    # a sequence with no label tokens has no log-probability: an error, or 0 when validation is off
    all_masked = torch.full((1, T), -100)
    with pytest.raises(ValueError, match="no answer tokens"):
        sequence_logprob(logits[:1], all_masked)
    assert sequence_logprob(logits[:1], all_masked, validate=False).item() == 0.0


def test_sequence_logprob_shift_matters():
    # label at position 1 must be scored by logits at position 0
    logits = torch.full((1, 3, 4), -10.0)
    logits[0, 0, 2] = 10.0  # position 0 predicts token 2
    labels = torch.tensor([[-100, 2, -100]])
    assert sequence_logprob(logits, labels).item() > -1e-6
    labels_wrong = torch.tensor([[2, -100, -100]])  # only position 0 labelled: nothing predicts it
    assert sequence_logprob(logits, labels_wrong, validate=False).item() == 0.0


def test_kl_to_ref_answer_tokens_only():
    g = torch.Generator().manual_seed(1)
    B, T, V = 2, 6, 11
    logits, ref_logits = torch.randn(B, T, V, generator=g), torch.randn(B, T, V, generator=g)
    labels = torch.full((B, T), -100)
    labels[0, 3:] = 1
    labels[1, 4:5] = 2
    got = kl_to_ref(logits, ref_logits, labels)
    for b in range(B):
        kls = []
        for t in range(T - 1):
            if labels[b, t + 1] == -100:
                continue
            p = torch.softmax(ref_logits[b, t], -1)
            q = torch.softmax(logits[b, t], -1)
            kls.append((p * (p.log() - q.log())).sum())
        assert got[b].item() == pytest.approx(torch.stack(kls).mean().item(), rel=1e-5)
    assert torch.all(got > 0)
    torch.testing.assert_close(kl_to_ref(logits, logits, labels), torch.zeros(B), atol=1e-6, rtol=0)


# ---------------------------------------------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------------------------------------------
def test_registry_has_the_paper_names():
    assert list(METHODS) == PAPER_NAMES


def _inputs(B=4):
    g = torch.Generator().manual_seed(2)
    r = lambda: -torch.rand(B, generator=g) * 30 - 1  # noqa: E731
    return LossInputs(
        **{
            "forget_logp": r(),
            "forget_ref_logp": r(),
            "forget_n_tokens": torch.full((B,), 20),
            "retain_logp": r(),
            "retain_n_tokens": torch.full((B,), 15),
            "idk_logp": r(),
            "idk_ref_logp": r(),
            "idk_n_tokens": torch.full((B,), 8),
            "retain_kl": torch.rand(B, generator=g),
        }
    )


def test_methods_are_weighted_sums_of_terms():
    i = _inputs()
    beta, alpha = 0.2, 3.0
    npo = npo_loss(i.forget_logp, i.forget_ref_logp, beta)
    rt = nll_loss(i.retain_logp, i.retain_n_tokens)
    total, parts = get_method("NPO+RT").loss(i, beta=beta, alpha=alpha)
    torch.testing.assert_close(total, npo + alpha * rt)
    assert set(parts) == {"npo", "retain_nll"}
    total, _ = get_method("GA+KL").loss(i, beta=beta, alpha=alpha)
    torch.testing.assert_close(total, ga_loss(i.forget_logp, i.forget_n_tokens) + alpha * i.retain_kl)
    total, _ = get_method("DPO").loss(i, beta=beta, alpha=alpha)
    torch.testing.assert_close(total, dpo_loss(i.idk_logp, i.forget_logp, i.idk_ref_logp, i.forget_ref_logp, beta))
    total, _ = get_method("IDK+RT").loss(i, beta=beta, alpha=alpha)
    torch.testing.assert_close(total, nll_loss(i.idk_logp, i.idk_n_tokens) + alpha * rt)
    for name in PAPER_NAMES:
        total, _ = get_method(name).loss(i, beta=beta, alpha=alpha)
        assert total.shape == (4,) and torch.isfinite(total).all(), name


def test_method_needs():
    assert get_method("NPO").needs == {"forget_logp", "forget_ref_logp"}
    assert not get_method("NPO").needs_retain and not get_method("NPO").needs_ref_model
    assert get_method("NPO+RT").needs_retain and not get_method("NPO+RT").needs_ref_model
    assert {n for n in PAPER_NAMES if get_method(n).needs_ref_model} == {"GA+KL", "DPO+KL", "NPO+KL"}
    assert {n for n in PAPER_NAMES if get_method(n).needs_idk} == {"IDK+RT", "DPO", "DPO+RT", "DPO+KL"}
    assert not get_method("SimNPO").needs_forget_ref


def test_method_missing_input_names_it():
    with pytest.raises(ValueError, match="retain_logp"):
        get_method("NPO+RT").loss(LossInputs(forget_logp=torch.zeros(2), forget_ref_logp=torch.zeros(2)), beta=0.1)


def test_unknown_method_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown method 'NPO\+XX'.*NPO\+RT"):
        get_method("NPO+XX")


# ---------------------------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("beta", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_beta(beta):
    x = torch.zeros(2)
    for call in (
        lambda: npo_loss(x, x, beta=beta),
        lambda: npo_weight(x, x, beta=beta),
        lambda: dpo_loss(x, x, x, x, beta=beta),
        lambda: simnpo_loss(x, torch.ones(2), beta=beta),
        lambda: get_method("NPO").loss(LossInputs(forget_logp=x, forget_ref_logp=x), beta=beta),
    ):
        with pytest.raises(ValueError, match="beta"):
            call()


def test_mismatched_shapes():
    with pytest.raises(ValueError, match="ref_logp"):
        npo_loss(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError, match="ref_rejected_logp"):
        dpo_loss(torch.zeros(3), torch.zeros(3), torch.zeros(3), torch.zeros(2))
    with pytest.raises(ValueError, match=r"logp must have shape \(B,\)"):
        npo_loss(torch.zeros(3, 1), torch.zeros(3, 1))
    with pytest.raises(ValueError, match="labels"):
        sequence_logprob(torch.zeros(2, 5, 7), torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="ref_logits"):
        kl_to_ref(torch.zeros(2, 5, 7), torch.zeros(2, 5, 6), torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="n_tokens"):
        nll_loss(torch.zeros(3), torch.ones(2))


def test_nan_logprobs_rejected():
    nan = torch.tensor([0.0, float("nan")])
    with pytest.raises(ValueError, match="logp contains non-finite"):
        npo_loss(nan, torch.zeros(2))
    with pytest.raises(ValueError, match="ref_logp contains non-finite"):
        npo_loss(torch.zeros(2), nan)
    with pytest.raises(ValueError, match="chosen_logp contains non-finite"):
        dpo_loss(nan, torch.zeros(2), torch.zeros(2), torch.zeros(2))
    with pytest.raises(ValueError, match="logp contains non-finite"):
        ga_loss(nan)


def test_bad_alpha_and_gamma():
    x = torch.zeros(2)
    with pytest.raises(ValueError, match="alpha"):
        get_method("NPO+RT").loss(
            LossInputs(forget_logp=x, forget_ref_logp=x, retain_logp=x, retain_n_tokens=torch.ones(2)), alpha=-1
        )
    with pytest.raises(ValueError, match="gamma"):
        simnpo_loss(x, torch.ones(2), beta=1.0, gamma=float("nan"))


def test_public_api_listed():
    for name in [
        "sequence_logprob",
        "ga_loss",
        "nll_loss",
        "npo_loss",
        "npo_weight",
        "dpo_loss",
        "simnpo_loss",
        "kl_to_ref",
        "METHODS",
        "get_method",
    ]:
        assert name in L.__all__


# ---------------------------------------------------------------------------------------------------------------
# the reference code's scaling, on hand examples
# ---------------------------------------------------------------------------------------------------------------
def test_ga_and_retain_nll_are_batch_token_means_like_outputs_loss():
    # two forget answers with summed log-probs -6 (3 tokens) and -2 (1 token): HF outputs.loss = 8 / 4 = 2
    x = LossInputs(
        forget_logp=torch.tensor([-6.0, -2.0]),
        forget_n_tokens=torch.tensor([3, 1]),
        retain_logp=torch.tensor([-1.0, -5.0]),
        retain_n_tokens=torch.tensor([2, 3]),
    )
    total, parts = get_method("GA+RT").loss(x, alpha=2.0)
    assert parts["ga"].mean().item() == pytest.approx(-2.0)  # = -outputs.loss on the forget batch
    assert parts["retain_nll"].mean().item() == pytest.approx(6 / 5)  # = outputs.loss on the retain batch
    assert total.mean().item() == pytest.approx(-2.0 + 2.0 * 6 / 5)
    # the summed variant: the paper's E[log pi(y|x)] with summed log-probs
    _, parts = get_method("GA").loss(x, ga_reduction="sum")
    torch.testing.assert_close(parts["ga"], torch.tensor([-6.0, -2.0]))
    # NPO keeps per-sequence sums
    _, parts = get_method("NPO").loss(
        LossInputs(forget_logp=torch.tensor([-6.0]), forget_ref_logp=torch.tensor([-6.0]))
    )
    assert parts["npo"].item() == pytest.approx(2 / 0.1 * math.log(2))


def test_needs_by_group_and_hyperparameters():
    m = get_method("NPO+RT")
    assert m.needs_by_group == {"forget": {"logp", "ref_logp"}, "retain": {"logp", "n_tokens"}}
    assert m.hyperparameters == {"beta", "alpha"}
    assert get_method("GA").hyperparameters == {"ga_reduction"}
    assert get_method("NPO+KL").needs_by_group["retain"] == {"kl"}
    with pytest.raises(ValueError, match="ga_reduction"):
        get_method("GA").loss(LossInputs(forget_logp=torch.zeros(1), forget_n_tokens=torch.ones(1)), ga_reduction="x")
    with pytest.raises(ValueError, match="unknown loss hyper-parameter"):
        get_method("GA").loss(LossInputs(forget_logp=torch.zeros(1), forget_n_tokens=torch.ones(1)), lr=1.0)


def test_a_new_term_is_declared_once_by_its_signature():
    def hinge(forget_logp, forget_ref_logp, *, beta):
        return torch.relu(forget_logp - forget_ref_logp + 1.0 / beta)

    term = L.Term("hinge", hinge, "a made-up term")
    m = L.Method("Hinge+RT", ((term, 1.0), (L.TERMS["retain_nll"], "alpha")), "test")
    assert m.needs_by_group == {"forget": {"logp", "ref_logp"}, "retain": {"logp", "n_tokens"}}
    x = _inputs()
    total, parts = m.loss(x, beta=0.5, alpha=0.0)
    torch.testing.assert_close(total, torch.relu(x.forget_logp - x.forget_ref_logp + 2.0))


# ---------------------------------------------------------------------------------------------------------------
# non-finite and empty input is an error, not NaN
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_logprobs_rejected(bad):
    x = torch.tensor([0.0, bad])
    z = torch.zeros(2)
    for call, name in [
        (lambda: npo_loss(x, z), "logp"),
        (lambda: npo_loss(z, x), "ref_logp"),
        (lambda: npo_weight(x, z), "logp"),
        (lambda: dpo_loss(z, z, z, x), "ref_rejected_logp"),
        (lambda: ga_loss(x), "logp"),
        (lambda: simnpo_loss(x, torch.ones(2), beta=1.0), "logp"),
    ]:
        with pytest.raises(ValueError, match=f"{name} contains non-finite"):
            call()


def test_empty_batch_rejected():
    e = torch.zeros(0)
    with pytest.raises(ValueError, match="empty"):
        npo_loss(e, e)
    with pytest.raises(ValueError, match="empty"):
        nll_loss(e)


@pytest.mark.parametrize("beta", [1e300, 1e7, True, "0.1"])
def test_beta_out_of_range_or_not_a_number(beta):
    with pytest.raises(ValueError, match="beta"):
        npo_loss(torch.zeros(2), torch.zeros(2), beta=beta)


def test_masked_answers_are_an_error_for_token_counts():
    with pytest.raises(ValueError, match="n_tokens must be > 0"):
        nll_loss(torch.zeros(2), torch.tensor([3, 0]))
    with pytest.raises(ValueError, match="n_tokens must be > 0"):
        ga_loss(torch.zeros(2), torch.tensor([0, 0]))


def test_kl_zero_probability_reference_tokens_give_zero_not_nan():
    logits = torch.randn(1, 4, 5)
    ref = logits.clone()
    ref[..., 3] = float("-inf")  # the reference never emits token 3
    labels = torch.tensor([[-100, 1, 2, 0]])
    kl = kl_to_ref(logits, ref, labels)
    assert torch.isfinite(kl).all() and kl.item() >= 0


def test_sequence_logprob_dtypes_and_labels():
    logits = torch.randn(2, 5, 7, dtype=torch.float64)
    labels = torch.tensor([[-100, 1, 2, 3, 4], [-100, -100, 6, 0, -100]])
    assert sequence_logprob(logits, labels).dtype == torch.float64
    assert sequence_logprob(logits.to(torch.bfloat16), labels).dtype == torch.float32
    with pytest.raises(ValueError, match="integer"):
        sequence_logprob(logits, labels.float())
    with pytest.raises(ValueError, match=r"token ids in \[0, 7\)"):
        sequence_logprob(logits, labels + 10)
