# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · From DPO to NPO: a loss that knows when to stop
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/npo-lab/npo_lab/blob/main/notebooks/02_npo_loss.ipynb)
#
# **What you will learn:** how Negative Preference Optimization (NPO) is DPO without a preferred answer; why its
# adaptive weight $W = 2\sigma(\beta\cdot\text{log-ratio})$ makes it stop where GA does not; that β → 0 recovers GA
# (Proposition 1); and why the loss must be written with `softplus`/`logsigmoid`.
#
# **Runtime:** seconds on a laptop CPU. No GPU needed.

# %%
# npo_lab-install-cell: begin
import importlib.util, subprocess, sys  # noqa: E401

if importlib.util.find_spec("npo_lab") is None:  # e.g. a fresh Colab runtime
    for spec in ("npo-lab", "npo-lab @ git+https://github.com/npo-lab/npo_lab"):
        if subprocess.run([sys.executable, "-m", "pip", "install", "-q", spec]).returncode == 0:
            break
    else:
        raise RuntimeError("could not install npo_lab (tried PyPI, then https://github.com/npo-lab/npo_lab): check the network, "
                           "or clone the repository and run `pip install -e .` in it")
# npo_lab-install-cell: end

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from npo_lab.losses import METHODS, LossInputs, dpo_loss, ga_loss, npo_loss, npo_weight, simnpo_loss
from npo_lab.plotting import plot_npo_curves, set_style
from npo_lab.theory import npo_curves

set_style()

# %% [markdown]
# ## 1. DPO, then drop the preferred answer
#
# Notation: `logp` $=\log\pi_\theta(y|x)$ (summed over answer tokens), `ref_logp` the same under the model before
# unlearning, `log_ratio = logp − ref_logp`. DPO compares a *chosen* answer $y_c$ with a *rejected* one $y_r$. In
# `npo_lab` (`dpo_loss`) it reads
#
# $$L_{DPO} = -\frac{2}{\beta}\log\sigma\Big(\beta\big[(\log\pi_\theta(y_c) - \log\pi_{ref}(y_c)) - (\log\pi_\theta(y_r) - \log\pi_{ref}(y_r))\big]\Big).$$
#
# The DPO paper (Rafailov et al. 2023) writes the loss without the factor $2/\beta$; the factor is the scaling of
# the NPO authors' reference code, which gives DPO the same normalisation as NPO below (both equal
# $\frac{2}{\beta}\log 2$ at the start). A constant factor only rescales the learning rate.
#
# For unlearning the forget answer is the rejected one. NPO keeps **only** the rejected term (paper Eq. 3):
#
# $$L_{NPO} = -\frac{2}{\beta}\log\sigma(-\beta\cdot\text{log\_ratio}) = \frac{2}{\beta}\,\mathrm{softplus}(\beta\cdot\text{log\_ratio}).$$
#
# Check with the library: DPO whose chosen term is frozen at its reference value is exactly NPO.

# %%
logp = torch.tensor([-3.0, -12.0, -40.0])
ref_logp = torch.tensor([-2.5, -10.0, -10.0])
chosen = torch.tensor([-5.0, -5.0, -5.0])
beta = 0.1
print("NPO:                 ", npo_loss(logp, ref_logp, beta))
print("DPO, chosen = its ref:", dpo_loss(chosen, logp, chosen, ref_logp, beta))
assert torch.allclose(npo_loss(logp, ref_logp, beta), dpo_loss(chosen, logp, chosen, ref_logp, beta))

# %% [markdown]
# ## 2. The adaptive weight
#
# Differentiate: $\nabla L_{NPO} = W\cdot\nabla\log\pi_\theta(y|x)$, while $\nabla L_{GA} = \nabla\log\pi_\theta(y|x)$,
# with the **adaptive weight** (paper Sec. 3)
#
# $$W = \frac{2\,\pi_\theta^\beta(y|x)}{\pi_\theta^\beta(y|x) + \pi_{ref}^\beta(y|x)} = 2\sigma(\beta\cdot\text{log\_ratio}),$$
#
# the two forms being equal because $\pi_\theta^\beta/\pi_{ref}^\beta = e^{\beta\cdot\text{log\_ratio}}$. At the start
# ($\pi_\theta = \pi_{ref}$, log-ratio 0) $W = 1$: NPO takes GA's step. Once the forget answer is unlikely
# ($\pi_\theta \ll \pi_{ref}$, log-ratio ≪ 0), $W\to 0$: NPO **stops pushing**.
#
# "GA's step" means the paper's GA, whose loss is the same **summed** log-probability $\log\pi_\theta(y|x)$ that
# NPO uses. The library's default GA term (`ga_reduction="token_mean"`, as in the NPO authors' reference code, and
# used by every language-model run from notebook 06 on) averages over the answer tokens of the batch instead: its
# gradient is the summed GA's divided by the mean answer length, so at $W = 1$ NPO's first step is that many times
# larger than token-mean GA's. Section 4 below uses one-token answers, where the two coincide; notebook 06 compares
# NPO with the summed GA (`ga_reduction="sum"`) where the two must start with the same gradient.
#
# **Write it yourself.** Get $W$ by autograd from the loss, and from the paper's form, and compare with `npo_weight`.

# %%
x = torch.linspace(-20, 5, 11, dtype=torch.float64, requires_grad=True)
loss = npo_loss(x, torch.zeros_like(x), beta=0.5).sum()
(my_w,) = torch.autograd.grad(loss, x)
assert torch.allclose(my_w, npo_weight(x.detach(), torch.zeros_like(x), beta=0.5))

p_ref = torch.full_like(my_w, 0.8)  # π_ref(y|x)
p_theta = p_ref * torch.exp(x.detach())  # π_θ(y|x) at that log-ratio
paper_w = 2 * p_theta**0.5 / (p_theta**0.5 + p_ref**0.5)
assert torch.allclose(paper_w, my_w)
print(
    pd.DataFrame(
        {"log_ratio": x.detach().numpy(), "W (autograd)": my_w.numpy(), "2π_θ^β/(π_θ^β + π_ref^β)": paper_w.numpy()}
    )
    .round(4)
    .to_string(index=False)
)

# %% [markdown]
# The weight against the log-ratio, over a range wide enough to see it vanish for small β too (exercise 1 reads
# where it crosses the dotted line $W = 0.1$); and the loss.

# %%
weights = npo_curves(np.linspace(-40, 5, 451), betas=(0.1, 0.5, 1.0, 2.0))
losses = npo_curves(np.linspace(-10, 5, 301), betas=(0.1, 0.5, 1.0, 2.0))
fig, axes = plt.subplots(1, 2, figsize=(13, 4), layout="constrained")
plot_npo_curves(weights, "weight", axes[0])
axes[0].axhline(0.1, color="0.5", ls=":", lw=1)
axes[0].set_title("adaptive weight: 1 at the start, → 0 once forgotten")
plot_npo_curves(losses, "loss", axes[1])
axes[1].set_ylim(-10, 20)
title = axes[1].set_title("NPO is bounded below by 0, GA is not")

# %% [markdown]
# ## 3. Bounded below vs unbounded
#
# GA's loss is the log-probability itself: it goes to −∞. NPO's loss is ≥ 0 and equals $(2/\beta)\log 2$ at the
# start; pushing the forget answer's probability further down brings less and less.

# %%
lr_values = torch.tensor([0.0, -5.0, -20.0, -100.0, -1000.0])
table = pd.DataFrame(
    {
        "log_ratio": lr_values.numpy(),
        "GA loss (logp, ref_logp = 0)": ga_loss(lr_values).numpy(),
        "NPO loss β=0.1": npo_loss(lr_values, torch.zeros(5), 0.1).numpy(),
        "NPO loss β=1": npo_loss(lr_values, torch.zeros(5), 1.0).numpy(),
    }
)
table

# %% [markdown]
# ## 4. Proposition 1: β → 0 recovers GA
#
# $L_{NPO} - \frac{2}{\beta}\log 2 \to \text{log\_ratio}$ and $\nabla L_{NPO} \to \nabla L_{GA}$ as β → 0: GA is NPO
# at infinite temperature. The registry objects used by the trainer show it on a batch (`LossInputs` holds the
# per-example inputs of every term; GA's term also reads the answers' token counts, for its token mean):

# %%
logp = torch.tensor([-1.0, -4.0, -9.0], requires_grad=True)
ref_logp = torch.tensor([-0.5, -0.5, -0.5])
batch = LossInputs(forget_logp=logp, forget_ref_logp=ref_logp, forget_n_tokens=torch.ones(3))  # one-token answers
(g_ga,) = torch.autograd.grad(METHODS["GA"].loss(batch)[0].mean(), logp)
rows = []
for b in (1.0, 0.1, 0.01, 0.001):
    total, _ = METHODS["NPO"].loss(batch, beta=b)
    (g_npo,) = torch.autograd.grad(total.mean(), logp)
    gap = (total - 2 / b * np.log(2) - (logp - ref_logp)).abs().max().item()
    rows.append(
        {"beta": b, "max |L_NPO − (2/β)log2 − log_ratio|": gap, "max |∇NPO − ∇GA|": (g_npo - g_ga).abs().max().item()}
    )
pd.DataFrame(rows)

# %% [markdown]
# ## 5. Write the loss stably
#
# The textbook form $\frac{2}{\beta}\log(1 + e^{\beta\cdot\text{log\_ratio}})$ overflows as soon as
# $\beta\cdot$log-ratio is large, and it loses every digit in low precision. `npo_loss` uses `F.softplus`, which is
# accurate for any input.


# %%
def naive_npo(logp, ref_logp, beta):
    return 2 / beta * torch.log(1 + torch.exp(beta * (logp - ref_logp)))


x = torch.tensor([-80.0, -20.0, -5.0, 0.0, 20.0, 100.0])
zero = torch.zeros_like(x)
exact = npo_loss(x.double(), zero.double(), 1.0)  # float64: the reference value
stability = pd.DataFrame({"log_ratio": x.numpy(), "exact (float64)": exact.numpy()})
for dtype, short in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
    for name, fn in (("naive", naive_npo), ("library", npo_loss)):
        value = fn(x.to(dtype), zero.to(dtype), 1.0).double()
        stability[f"{name} {short}"] = value.numpy()
        stability[f"{name} {short} rel. err"] = ((value - exact).abs() / exact).numpy()
print(stability.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
row = stability.set_index("log_ratio").loc[-20.0]
print(
    f"\nat log-ratio −20 the loss is {row['exact (float64)']:.3g}: the naive form gives {row['naive fp32']:.3g} in "
    f"float32 and {row['naive bf16']:.3g} in bfloat16 (every digit lost), the library {row['library fp32']:.3g} "
    f"(rel. error {row['library fp32 rel. err']:.1e}) and {row['library bf16']:.3g} "
    f"(rel. error {row['library bf16 rel. err']:.1e}); at +100 the naive form gives "
    f"{stability.set_index('log_ratio').loc[100.0, 'naive fp32']} in float32."
)
library_errors = stability[["library fp32 rel. err", "library bf16 rel. err"]].to_numpy()
assert np.isfinite(stability["library fp32"]).all() and library_errors.max() < 0.01

# %% [markdown]
# Compare the columns: the naive form returns `inf` at a large log-ratio and rounds small losses to exactly 0 (every
# digit lost, as the printed line reads at −20), while the library value stays finite and within bfloat16's
# rounding of the float64 value in both precisions. (Far below −80, $e^{\text{log\_ratio}}$ itself underflows
# float32, and both forms return 0 — a loss that small no longer matters.)
#
# ## Summary
#
# * NPO = DPO with only the rejected (forget) answer; its loss is
#   $\frac{2}{\beta}\mathrm{softplus}(\beta\cdot\text{log\_ratio}) \ge 0$.
# * Its gradient is GA's gradient times $W = 2\pi_\theta^\beta/(\pi_\theta^\beta + \pi_{ref}^\beta)
#   = 2\sigma(\beta\cdot\text{log\_ratio})$: 1 at the start, → 0 once forgotten.
# * β → 0 gives back GA (Proposition 1); larger β stops earlier.
# * Always write it with `softplus` / `logsigmoid`.
#
# ## Exercises
#
# Each solution is a collapsed cell below its exercise (click to expand); it computes the answer and checks it.
#
# **1.** At which log-ratio does $W$ fall to 0.1, for β = 0.1 and for β = 1? Derive it, then check with
# `npo_weight` and read it off the weight plot above.

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution"]
# Solution 1. 2σ(β·r) = 0.1 ⇔ σ(β·r) = 0.05 ⇔ β·r = log(0.05/0.95) = −log 19, so r = −log(19)/β: a log-ratio of
# −29.4 for β = 0.1 (the forget answer 10^{12.8} times less likely than before) and −2.94 for β = 1.
for b in (0.1, 1.0):
    r = -math.log(19) / b
    w = npo_weight(torch.tensor([r], dtype=torch.float64), torch.zeros(1, dtype=torch.float64), b).item()
    g = weights[(weights["method"] == "NPO") & (weights["beta"] == b)]
    read_off = np.interp(0.1, g["weight"], g["log_ratio"])  # the weight increases with the log-ratio
    print(f"β = {b:g}: W = 0.1 at log-ratio {r:.3f} (npo_weight there: {w:.6f}; read off the plot: {read_off:.2f})")
    assert abs(w - 0.1) < 1e-12 and abs(read_off - r) < 0.1

# %% [markdown]
# **2.** Show that $L_{NPO} \le \frac{2}{\beta}\log 2 + 2\max(\text{log\_ratio}, 0)$ and that $0 < W < 2$. How large
# can one NPO step be, compared with a GA step?

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution"]
# Solution 2. softplus(u) = log(1 + e^u) ≤ log(2·max(1, e^u)) = log 2 + max(u, 0); multiply by 2/β with u = β·r.
# W = 2σ(β·r) lies in (0, 2): an NPO step is at most twice a GA step (W → 2 only if the forget answer becomes
# *more* likely than under π_ref), and usually smaller (W ≤ 1 once r ≤ 0).
r = torch.linspace(-50, 50, 2001, dtype=torch.float64)
for b in (0.1, 1.0, 5.0):
    bound = 2 / b * math.log(2) + 2 * torch.clamp(r, min=0)
    assert torch.all(npo_loss(r, torch.zeros_like(r), b) <= bound + 1e-12)
    w = npo_weight(r, torch.zeros_like(r), b)
    assert torch.all((w > 0) & (w <= 2))  # < 2 exactly; float64 rounds 2σ(50) to 2
    print(f"β = {b:g}: bound holds on [−50, 50]; W from {w.min().item():.2e} to {w.max().item():.6f}")

# %% [markdown]
# **3.** SimNPO (`METHODS["SimNPO"]`, `simnpo_loss`) drops the reference model and length-normalises:
# $L = -\frac{2}{\beta}\log\sigma(-\beta\,\log\pi_\theta(y|x)/|y| - \gamma)$. Show that it is NPO at the log-ratio
# $\log\pi_\theta(y|x)/|y| + \gamma/\beta$ with `ref_logp = 0`, and check it. What does γ > 0 do to the weight?

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution"]
# Solution 3. −(2/β)·logσ(−β·u − γ) = −(2/β)·logσ(−β(u + γ/β)) = L_NPO at log-ratio u + γ/β (ref_logp = 0).
# A margin γ > 0 shifts the curve left by γ/β: the weight 2σ(β·u + γ) stays larger, so SimNPO keeps pushing a
# little longer.
logp = torch.tensor([-2.0, -15.0, -30.0], dtype=torch.float64)
n_tokens = torch.tensor([1.0, 5.0, 20.0], dtype=torch.float64)
for b, gamma in ((0.1, 0.0), (0.1, 1.0), (2.0, 1.0)):
    shifted = npo_loss(logp / n_tokens + gamma / b, torch.zeros_like(logp), b)
    assert torch.allclose(simnpo_loss(logp, n_tokens, b, gamma), shifted)
    print(f"β = {b:g}, γ = {gamma:g}: SimNPO = NPO at logp/|y| + γ/β: {shifted.numpy().round(4)}")

# %% [markdown]
# **4.** At which log-ratio does the naive form of section 5 first return `inf` in float32 (β = 1)? Why does
# `softplus` not?

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution"]
# Solution 4. exp(u) overflows float32 beyond log(float32 max) ≈ 88.72; softplus(u) = u + log1p(e^{−u}) for u > 0
# never exponentiates a large number.
limit = math.log(torch.finfo(torch.float32).max)
below, above = torch.tensor([limit - 0.1]), torch.tensor([limit + 0.1])
print(
    f"float32 overflow of exp at u = {limit:.2f}: naive {naive_npo(below, torch.zeros(1), 1.0).item():.2f} "
    f"just below, {naive_npo(above, torch.zeros(1), 1.0).item()} just above; "
    f"library {npo_loss(above, torch.zeros(1), 1.0).item():.2f}"
)
assert torch.isfinite(naive_npo(below, torch.zeros(1), 1.0)).all()
assert torch.isinf(naive_npo(above, torch.zeros(1), 1.0)).all()
assert torch.isfinite(npo_loss(above, torch.zeros(1), 1.0)).all()
