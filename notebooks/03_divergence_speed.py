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
# # 03 · How fast do GA and NPO diverge? Theorem 2 simulated
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/npo-lab/npo_lab/blob/main/notebooks/03_divergence_speed.ipynb)
#
# **What you will learn:** under gradient ascent the parameters move away from the initial model **linearly** in
# the number of steps; under NPO only **logarithmically** — exponentially slower progress toward collapse
# (paper Theorem 2). You will measure both rates, on linear and log-t axes, and see how β, η, $n_f$ and $d$ enter.
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

from npo_lab import is_smoke
from npo_lab.plotting import plot_divergence, set_style
from npo_lab.theory import fit_slope, logistic_divergence, npo_closed_form_shift, single_logit

set_style()
T = 2_000 if is_smoke() else 8_000  # steps of the Theorem-2 runs (smoke mode shrinks them)
T_LOGIT = 10_000 if is_smoke() else 100_000

# %% [markdown]
# ## 1. The statement
#
# Binary logistic model $\pi_\theta(y|x) = \sigma(y\,x^\top\theta)$, a forget set of $n_f \le d$ nearly orthogonal
# inputs (rows of $X$, $\|x_i\|\approx 1$), the initial model predicting every forget label with margin $z_0$,
# full-batch gradient descent with step η. Distances are measured in the data norm
# $\|\theta_t-\theta_{init}\|_{X^\top X} = \|X(\theta_t-\theta_{init})\|$:
#
# * GA: $\|\theta_t-\theta_{init}\|_{X^\top X} \asymp \eta\,t/\sqrt{n_f}$ — **linear**;
# * NPO: $\|\theta_t-\theta_{init}\|_{X^\top X} \asymp \sqrt{n_f}\,\tfrac{1}{\beta}\log(1 + c\,\eta t/n_f)$ — **logarithmic**.
#
# `npo_lab.theory.logistic_divergence` runs exactly this (the NPO objective is `npo_lab.losses.npo_loss`).

# %%
curves = {"GA": logistic_divergence("GA", n_f=16, d=256, steps=T, lr=1.0)}
for beta in (0.5, 1.0, 2.0):
    curves[f"NPO β={beta:g}"] = logistic_divergence("NPO", n_f=16, d=256, steps=T, lr=1.0, beta=beta)

fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
plot_divergence(curves, axes[0], fit=["GA"], ylabel="‖θ_t − θ_init‖ in the XᵀX norm")
axes[0].set_title("linear t: GA is a straight line")
npo_only = {k: v for k, v in curves.items() if k != "GA"}
plot_divergence(npo_only, axes[1], log_t=True, ylabel="‖θ_t − θ_init‖ in the XᵀX norm")
axes[1].set_title("log t: NPO is (asymptotically) a straight line");

# %% [markdown]
# ## 2. The doubling test
#
# If $D(t)$ is linear, $D(2t)/D(t) \to 2$. If it is logarithmic, the **increment** $D(2t) - D(t)$ is constant
# (≈ $\sqrt{n_f}\log 2/\beta$).

# %%
rows = []
for name, D in curves.items():
    for t in (T // 8, T // 4, T // 2):
        rows.append({"run": name, "t": t, "D(t)": D[t], "D(2t)/D(t)": D[2 * t] / D[t], "D(2t) − D(t)": D[2 * t] - D[t]})
table = pd.DataFrame(rows)
table["√n_f·log2/β"] = [np.sqrt(16) * np.log(2) / float(r.split("=")[1]) if "NPO" in r else np.nan for r in table["run"]]
table.round(3)

# %% [markdown]
# GA's ratio is ≈ 2 (linear); NPO's ratio falls towards 1 while its increment settles near $\sqrt{n_f}\log 2/\beta$:
# larger β, slower divergence.
#
# ## 3. One sample, in closed form
#
# With a single logit (notebook 01) the NPO dynamics can be solved: $z_t - z_0 \approx -\frac1\beta\log\big(1 +
# 2\beta\eta\,e^{\beta z_0}t/\sigma(z_0)^\beta\big)$ — a line of slope $-1/\beta$ against $\log t$.

# %%
rows = []
for beta in (0.1, 1.0):
    z = single_logit("NPO", T_LOGIT, lr=1.0, beta=beta)
    closed = float(npo_closed_form_shift(T_LOGIT, 1.0, beta))
    t = np.arange(T_LOGIT // 10, T_LOGIT + 1, 10)
    slope, _, _ = fit_slope(t, z[t] - z[0], log_t=True)
    rows.append({"beta": beta, "simulated shift": z[-1] - z[0], "closed form": closed,
                 "relative error": abs((z[-1] - z[0] - closed) / closed), "slope per ln t": slope, "−1/β": -1 / beta})
z_ga = single_logit("GA", T_LOGIT, lr=1.0)
print(f"GA shift after {T_LOGIT} steps: {z_ga[-1] - z_ga[0]:.1f}")
pd.DataFrame(rows).round(4)

# %% [markdown]
# ## 4. How $n_f$ enters
#
# GA's rate is $\eta/\sqrt{n_f}$ (each sample moves by $\eta/n_f$ per step; there are $n_f$ of them), NPO's distance
# grows like $\sqrt{n_f}$ at a fixed $\eta t/n_f$.

# %%
rows = []
for n_f in (1, 4, 16, 64):
    D_ga = logistic_divergence("GA", n_f=n_f, d=256, steps=T, lr=1.0)
    D_npo = logistic_divergence("NPO", n_f=n_f, d=256, steps=T, lr=1.0, beta=1.0)
    slope, _, _ = fit_slope(np.arange(T // 2, T + 1), D_ga[T // 2:])
    rows.append({"n_f": n_f, "GA slope": slope, "GA slope·√n_f": slope * np.sqrt(n_f), "NPO D(T)": D_npo[-1],
                 "NPO D(T)/√n_f": D_npo[-1] / np.sqrt(n_f)})
pd.DataFrame(rows).round(3)

# %% [markdown]
# ## 5. Explore
#
# Sliders for β, η, the number of steps, $n_f$ and $d$. Try a tiny β (NPO approaches GA — Proposition 1) and
# $n_f$ close to $d$ (the inputs are no longer nearly orthogonal).

# %%
from npo_lab.widgets import DivergenceDemo  # noqa: E402

DivergenceDemo(steps=500 if is_smoke() else 2000).widget()

# %% [markdown]
# ## Summary
#
# * GA's distance from the initial model doubles when the number of steps doubles: linear divergence.
# * NPO's grows by a constant amount per doubling: logarithmic divergence, slower for larger β — an exponential
#   slow-down of the road to collapse (Theorem 2).
# * The single-logit closed form $-\frac1\beta\log(1 + c\,t)$ matches the simulation to well under 1 %.
#
# ## Exercises
#
# 1. Derive the increment per doubling $\sqrt{n_f}\log 2/\beta$ from the closed form.
# 2. Set `d = n_f` (`logistic_divergence("GA", 32, 32, ...)`). Which part of the theorem's assumptions breaks, and
#    what happens to the rates?
# 3. How many GA steps reach the distance NPO (β = 1) reaches in $10^5$ steps? Use the two rates.
