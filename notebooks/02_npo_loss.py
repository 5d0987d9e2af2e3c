# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
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
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from npo_lab.losses import METHODS, dpo_loss, ga_loss, npo_loss, npo_weight
from npo_lab.plotting import plot_npo_curves, set_style
from npo_lab.theory import npo_curves

set_style()

# %% [markdown]
# ## 1. DPO, then drop the preferred answer
#
# Notation: `logp` $=\log\pi_\theta(y|x)$ (summed over answer tokens), `ref_logp` the same under the model before
# unlearning, `log_ratio = logp − ref_logp`. DPO compares a *chosen* answer $y_c$ with a *rejected* one $y_r$:
#
# $$L_{DPO} = -\frac{2}{\beta}\log\sigma\Big(\beta\big[(\log\pi_\theta(y_c) - \log\pi_{ref}(y_c)) - (\log\pi_\theta(y_r) - \log\pi_{ref}(y_r))\big]\Big).$$
#
# For unlearning the forget answer is the rejected one. NPO keeps **only** the rejected term:
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
# Differentiate: $\nabla L_{NPO} = W\cdot\nabla\log\pi_\theta(y|x)$ with $W = 2\sigma(\beta\cdot\text{log\_ratio})$,
# while $\nabla L_{GA} = \nabla\log\pi_\theta(y|x)$. At the start (log-ratio 0) $W = 1$: NPO takes GA's step. Once the
# forget answer is unlikely (log-ratio ≪ 0), $W\to 0$: NPO **stops pushing**. (The printed v1 paper has a sign typo on
# both gradients; the sign here is the correct one.)
#
# **Write it yourself.** Get $W$ by autograd from the loss and compare with `npo_weight`.

# %%
x = torch.linspace(-20, 5, 11, requires_grad=True)
loss = npo_loss(x, torch.zeros_like(x), beta=0.5).sum()
(my_w,) = torch.autograd.grad(loss, x)
assert torch.allclose(my_w, npo_weight(x.detach(), torch.zeros_like(x), beta=0.5))
print(pd.DataFrame({"log_ratio": x.detach().numpy(), "W (autograd)": my_w.numpy()}).round(4).to_string(index=False))

# %%
curves = npo_curves(np.linspace(-10, 5, 301), betas=(0.1, 0.5, 1.0, 2.0))
fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
plot_npo_curves(curves, "weight", axes[0])
axes[0].set_title("adaptive weight: 1 at the start, → 0 once forgotten")
plot_npo_curves(curves, "loss", axes[1])
axes[1].set_ylim(-10, 20)
axes[1].set_title("NPO is bounded below by 0, GA is not");

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
# at infinite temperature. The registry objects used by the trainer show it on a batch:

# %%
logp = torch.tensor([-1.0, -4.0, -9.0], requires_grad=True)
ref_logp = torch.tensor([-0.5, -0.5, -0.5])
(g_ga,) = torch.autograd.grad(METHODS["GA"].loss({"forget_logp": logp})[0].mean(), logp)
rows = []
for b in (1.0, 0.1, 0.01, 0.001):
    total, _ = METHODS["NPO"].loss({"forget_logp": logp, "forget_ref_logp": ref_logp}, beta=b)
    (g_npo,) = torch.autograd.grad(total.mean(), logp)
    gap = (total - 2 / b * np.log(2) - (logp - ref_logp)).abs().max().item()
    rows.append({"beta": b, "max |L_NPO − (2/β)log2 − log_ratio|": gap, "max |∇NPO − ∇GA|": (g_npo - g_ga).abs().max().item()})
pd.DataFrame(rows)

# %% [markdown]
# ## 5. Write the loss stably
#
# The textbook form $\frac{2}{\beta}\log(1 + e^{\beta\cdot\text{log\_ratio}})$ overflows as soon as
# $\beta\cdot$log-ratio is large, and it loses every digit in low precision. `npo_loss` uses `F.softplus`, which is
# exact for any input.

# %%
def naive_npo(logp, ref_logp, beta):
    return 2 / beta * torch.log(1 + torch.exp(beta * (logp - ref_logp)))


x = torch.tensor([-200.0, -20.0, 0.0, 20.0, 200.0])
zero = torch.zeros_like(x)
for dtype in (torch.float32, torch.bfloat16):
    print(dtype)
    print("  naive  :", naive_npo(x.to(dtype), zero.to(dtype), 1.0).float().numpy())
    print("  library:", npo_loss(x.to(dtype), zero.to(dtype), 1.0).float().numpy())

# %% [markdown]
# The naive form returns `inf` at log-ratio 200 and rounds small losses to 0 (or worse) in bfloat16, while the
# library value stays finite and accurate.
#
# ## Summary
#
# * NPO = DPO with only the rejected (forget) answer; its loss is $\frac{2}{\beta}\mathrm{softplus}(\beta\cdot\text{log\_ratio}) \ge 0$.
# * Its gradient is GA's gradient times $W = 2\sigma(\beta\cdot\text{log\_ratio})$: 1 at the start, → 0 once forgotten.
# * β → 0 gives back GA (Proposition 1); larger β stops earlier.
# * Always write it with `softplus` / `logsigmoid`.
#
# ## Exercises
#
# 1. At which log-ratio does $W$ fall to 0.1 for β = 0.1 and β = 1? Derive it and check on the plot.
# 2. Show that $L_{NPO} \le \frac{2}{\beta}\log 2 + \max(\text{log\_ratio}, 0)\cdot 2$ — how large can one step be?
# 3. `METHODS["SimNPO"]` drops the reference model. Plot its loss against `logp / |y|` for γ = 0 and γ = 1.
