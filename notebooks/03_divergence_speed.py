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
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from npo_lab import is_smoke
from npo_lab.plotting import DIVERGENCE_LABEL, plot_divergence, set_style
from npo_lab.theory import fit_slope, logistic_divergence, nearly_orthogonal_inputs, single_logit

set_style()
T = 2_000 if is_smoke() else 8_000  # steps of the Theorem-2 runs (smoke mode shrinks them)
T_LOGIT = 10_000 if is_smoke() else 100_000
N_F, D_IN = 16, 256


def max_abs_cos(n_f, d, seed=0):
    """Largest |cos| between two of the n_f inputs of `nearly_orthogonal_inputs(n_f, d, seed)` (0 for n_f = 1)."""
    X, _ = nearly_orthogonal_inputs(n_f, d, seed)
    u = X / np.linalg.norm(X, axis=1, keepdims=True)
    return float(np.abs((u @ u.T)[~np.eye(n_f, dtype=bool)]).max()) if n_f > 1 else 0.0


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
# `npo_lab.theory.logistic_divergence` runs exactly this (the NPO objective is `npo_lab.losses.npo_loss`). Its
# inputs are Gaussian vectors; "nearly orthogonal" means cosines of order $d^{-1/2}$ — measured here:

# %%
print(f"n_f = {N_F} inputs in d = {D_IN}: largest |cos| {max_abs_cos(N_F, D_IN):.3f} (d^-1/2 = {D_IN**-0.5:.3f})")
BETAS = (0.5, 1.0, 2.0)
curves = {"GA": logistic_divergence("GA", n_f=N_F, d=D_IN, steps=T, lr=1.0)}
for beta in BETAS:
    curves[f"NPO β={beta:g}"] = logistic_divergence("NPO", n_f=N_F, d=D_IN, steps=T, lr=1.0, beta=beta)

fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), layout="constrained")
plot_divergence(curves, axes[0], fit=["GA"], rates={"GA": 1 / math.sqrt(N_F)}, ylabel=DIVERGENCE_LABEL)
axes[0].set_title("linear $t$: GA is a straight line")
npo_only = {k: v for k, v in curves.items() if k != "GA"}
plot_divergence(
    npo_only, axes[1], log_t=True, ylabel=DIVERGENCE_LABEL, rates={f"NPO β={b:g}": math.sqrt(N_F) / b for b in BETAS}
)
title = axes[1].set_title("log $t$: NPO is (asymptotically) a straight line")

# %% [markdown]
# The legends give each fitted slope next to the theorem's rate: $\eta/\sqrt{n_f}$ per step for GA,
# $\sqrt{n_f}/\beta$ per unit of $\ln t$ for NPO.
#
# ## 2. The doubling test
#
# If $D(t)$ is linear, $D(2t)/D(t) \to 2$. If it is logarithmic, the **increment** $D(2t) - D(t)$ tends to a
# constant, $\sqrt{n_f}\log 2/\beta$ by the theorem's rate.

# %%
rows = []
for name, D in curves.items():
    for t in (T // 8, T // 4, T // 2):
        rows.append({"run": name, "t": t, "D(t)": D[t], "D(2t)/D(t)": D[2 * t] / D[t], "D(2t) − D(t)": D[2 * t] - D[t]})
table = pd.DataFrame(rows)
table["√n_f·log2/β"] = [
    math.sqrt(N_F) * math.log(2) / float(r.split("=")[1]) if "NPO" in r else np.nan for r in table["run"]
]
print(table.round(3).to_string(index=False))
print()
for beta in BETAS:
    inc = table[table["run"] == f"NPO β={beta:g}"]["D(2t) − D(t)"].to_numpy()
    limit = math.sqrt(N_F) * math.log(2) / beta
    trend = "decreasing" if np.all(np.diff(inc) < 0) else "not monotone"
    side = "above" if np.all(inc > limit) else "not all above"
    print(f"NPO β={beta:g}: increments {', '.join(f'{v:.2f}' for v in inc)} ({trend}, {side} the limit {limit:.2f})")

# %% [markdown]
# GA's ratio tends to 2 (linear); NPO's ratio falls towards 1 while its increments shrink towards
# $\sqrt{n_f}\log 2/\beta$ — **from above**, as the last lines print. Larger β, slower divergence.
#
# The theorem's law alone would predict the opposite side: for any $c > 0$,
# $\log\frac{1 + 2ct/n_f}{1 + ct/n_f} < \log 2$, so its increments approach the limit **from below**. The excess
# comes from the **slow start**. At $t = 0$ every forget sample is predicted with margin $z_0 = 2$: the gradient
# of $\log\sigma(z)$ is $\sigma(-z) \approx 0.12$ there, and NPO's weight is $W = 1$, far below what the law's
# asymptotic form assumes, so the curve lags behind the law by a time offset $t_0$, like GA's offset in exercise 3.
# With the offset, $\log\frac{1 + c(2t - t_0)/n_f}{1 + c(t - t_0)/n_f}$ exceeds $\log 2$ as soon as
# $c\,t_0/n_f > 1$. The cell below fits $D(t) \approx \frac{\sqrt{n_f}}{\beta}\log(1 + c\,(t - t_0)/n_f)$ with the
# theorem's rate held fixed and only $c$ and $t_0$ free: in full mode the fitted law with its offset reproduces the simulated
# increments, the same law with $t_0 = 0$ gives increments just below the limit. The same offset steepens the
# fitted slopes of section 1: $dD/d\ln t \approx \frac{\sqrt{n_f}}{\beta}\cdot\frac{t}{t - t_0}$ is above the rate
# while $t$ is not much larger than $t_0$.

# %%
from scipy.optimize import curve_fit  # noqa: E402

from npo_lab.plotting.theory import fit_curves  # noqa: E402

t_law = np.arange(T // 10, T + 1)
offsets = []


def shifted_law(rate):
    """D(t) = rate·log(1 + c·(t − t0)/n_f), with c = exp(log_c) and t0 the fitted parameters."""
    return lambda t, log_c, t0: rate * np.log1p(np.exp(log_c) * np.clip(t - t0, 1e-9, None) / N_F)


for beta in BETAS:
    name, A = f"NPO β={beta:g}", math.sqrt(N_F) / beta
    law = shifted_law(A)
    (log_c, t0), _ = curve_fit(law, t_law, curves[name][t_law], p0=(0.0, 50.0))
    ts = np.array([T // 8, T // 4, T // 2])
    shifted = law(2 * ts, log_c, t0) - law(ts, log_c, t0)
    no_offset = law(2 * ts, log_c, 0.0) - law(ts, log_c, 0.0)
    simulated = curves[name][2 * ts] - curves[name][ts]
    slope = fit_curves({name: curves[name]}, log_t=True)[name][1]  # the dashed fit of section 1
    offsets.append({"run": name, "t0": t0, "slope excess": slope / A - 1})
    print(
        f"{name}: t0 = {t0:.0f}, c = {np.exp(log_c):.3g}; increments simulated "
        f"{', '.join(f'{v:.2f}' for v in simulated)} | law with t0 {', '.join(f'{v:.2f}' for v in shifted)} "
        f"| law with t0 = 0 {', '.join(f'{v:.2f}' for v in no_offset)} (limit {A * math.log(2):.2f})"
    )
    assert np.all(no_offset < A * math.log(2)) and t0 > 0
offsets = pd.DataFrame(offsets)
print(
    f"fitted slopes per ln t (section 1) are {offsets['slope excess'].min():.0%}–{offsets['slope excess'].max():.0%} "
    f"above the theorem's rate √n_f/β at these t; the offsets t0 are {offsets['t0'].min():.0f}–"
    f"{offsets['t0'].max():.0f} steps of T = {T}."
)

# %% [markdown]
# ## 3. One sample, in closed form
#
# With a single logit (notebook 01) the NPO dynamics can be solved: $z_t - z_0 \approx -\frac1\beta\log\big(1 +
# 2\beta\eta\,e^{\beta z_0}t/\sigma(z_0)^\beta\big)$ — a line of slope $-1/\beta$ against $\ln t$.

# %%
from npo_lab.theory import npo_closed_form_shift  # noqa: E402

rows = []
for beta in (0.1, 1.0):
    z = single_logit("NPO", T_LOGIT, lr=1.0, beta=beta)
    closed = float(npo_closed_form_shift(T_LOGIT, 1.0, beta))
    t = np.arange(T_LOGIT // 10, T_LOGIT + 1, 10)
    slope, _, _ = fit_slope(t, z[t] - z[0], log_t=True)
    rows.append(
        {
            "beta": beta,
            "simulated shift": z[-1] - z[0],
            "closed form": closed,
            "relative error": abs((z[-1] - z[0] - closed) / closed),
            "slope per ln t": slope,
            "−1/β": -1 / beta,
        }
    )
z_ga = single_logit("GA", T_LOGIT, lr=1.0)
closed_table = pd.DataFrame(rows)
print(f"GA shift after {T_LOGIT} steps: {z_ga[-1] - z_ga[0]:.1f}")
print(f"largest relative error of the NPO closed form: {closed_table['relative error'].max():.2%}")
closed_table.round(4)

# %% [markdown]
# ## 4. How $n_f$ enters
#
# GA's rate is $\eta/\sqrt{n_f}$ (each sample moves by $\eta/n_f$ per step; there are $n_f$ of them). NPO's
# distance is $\sqrt{n_f}\cdot\frac1\beta\log(1 + c\,\eta t/n_f)$: at a **fixed** $\eta t/n_f$ it grows like
# $\sqrt{n_f}$. So the table runs each $n_f$ for $t = k\,n_f$ steps (η = 1, the same $k$ for all), and shows the
# largest |cos| between the inputs: with more inputs in the same $d$, they are further from orthogonal.

# %%
K_PER_SAMPLE = 32 if is_smoke() else 125  # ηt/n_f held fixed
rows = []
for n_f in (1, 4, 16, 64):
    t_n = K_PER_SAMPLE * n_f
    D_ga = logistic_divergence("GA", n_f=n_f, d=D_IN, steps=t_n, lr=1.0)
    D_npo = logistic_divergence("NPO", n_f=n_f, d=D_IN, steps=t_n, lr=1.0, beta=1.0)
    slope, _, _ = fit_slope(np.arange(t_n // 2, t_n + 1), D_ga[t_n // 2 :])
    rows.append(
        {
            "n_f": n_f,
            "steps t": t_n,
            "largest |cos|": max_abs_cos(n_f, D_IN),
            "GA slope": slope,
            "GA slope·√n_f": slope * math.sqrt(n_f),
            "NPO D(t)": D_npo[-1],
            "NPO D(t)/√n_f": D_npo[-1] / math.sqrt(n_f),
        }
    )
nf_table = pd.DataFrame(rows)
ratio = nf_table["NPO D(t)/√n_f"]
print(
    f"ηt/n_f = {K_PER_SAMPLE}: NPO D(t)/√n_f from {ratio.min():.2f} to {ratio.max():.2f} "
    f"(spread {ratio.max() / ratio.min() - 1:.1%}); GA slope·√n_f from {nf_table['GA slope·√n_f'].min():.3f} "
    f"to {nf_table['GA slope·√n_f'].max():.3f} (theory: η = 1)"
)
nf_table.round(3)

# %% [markdown]
# At a fixed $\eta t/n_f$, NPO's $D/\sqrt{n_f}$ stays nearly constant, as the theorem says. GA's slope·$\sqrt{n_f}$
# is close to η for few inputs and drifts away as $n_f$ grows at a fixed $d$: the rate $\eta/\sqrt{n_f}$ assumes
# orthogonal inputs, and the largest |cos| column shows how far from that the inputs are (exercise 2 goes to the
# extreme $d = n_f$).
#
# ## 5. Explore
#
# Sliders for β, η, the number of steps, $n_f$ and $d$; the legends give the fitted slopes of what is drawn next
# to the theorem's rates. Try a tiny β (NPO approaches GA — Proposition 1) and $n_f$ close to $d$ (the inputs are
# no longer nearly orthogonal).

# %%
from npo_lab.widgets import DivergenceDemo  # noqa: E402

DivergenceDemo(steps=500 if is_smoke() else 2000).widget()

# %% [markdown]
# ## 6. Beyond plain gradient descent: Adam and gradient clipping
#
# Theorem 2 is a statement about plain gradient descent. There NPO's step is GA's times the weight
# $W = 2\sigma(\beta\cdot\text{log-ratio})$, and it shrinks as $W$ fades: that is where the logarithm comes from.
# Every language-model run in this series (notebooks 06–08, and the paper's TOFU runs) uses AdamW with gradient
# clipping, which change the **size** of the step. Predict first, then simulate. What follows is *derived* unless
# it says *simulated*.
#
# * **Clipped GD** (cap $c$ on the gradient norm): while $\|\nabla L\| > c$ every step has length $\eta c$,
#   whatever $W$ is. On the single logit GA and NPO therefore start on the **same line**, slope $-\eta c$. GA's
#   gradient $\sigma(-z)$ grows towards 1, so for $c < 1$ GA stays clipped: linear for ever. NPO's gradient
#   $W\sigma(-z)$ fades; at the first $t$ where it drops below $c$ the step is plain GD's again, and NPO is back on
#   its logarithmic path. That switch step can be computed before running anything (below).
# * **Adam** ($\beta_1, \beta_2, \varepsilon$, bias-corrected): the first step is $\eta\,g/(|g| + \varepsilon)
#   \approx \eta$, **whatever the gradient's size** — $W$ included — and multiplying every gradient by a constant
#   leaves every step unchanged. So in the short run NPO moves as fast as GA. GA's gradient tends to a constant,
#   so its steps tend to $\eta$: linear, slope $-\eta$.
# * *Simulated only:* NPO under Adam in the long run. $W$ decays like $e^{\beta z}$ while Adam's second moment
#   remembers about $1/(1-\beta_2) = 1000$ steps of larger past gradients, so $\hat m/\sqrt{\hat v}$ falls below 1 and
#   the steps shrink again; how fast is what the simulation shows, not a formula here.

# %%
from npo_lab.plotting import plot_optimizer_divergence  # noqa: E402
from npo_lab.theory import Optimizer, logistic_divergence_curves, single_logit_curves  # noqa: E402

T_OPT = 2_000 if is_smoke() else 10_000
LR_OPT, CAP, Z0 = 0.1, 0.05, 2.0
OPTIMIZERS = {"GD": Optimizer("gd"), f"clipped GD (c={CAP:g})": Optimizer("clipped_gd", max_norm=CAP),
              "Adam": Optimizer("adam")}  # fmt: skip
RUNS = [("GA", 1.0), ("NPO", 1.0)]
logit = {name: dict(zip(["GA", "NPO β=1"], single_logit_curves(RUNS, T_OPT, LR_OPT, Z0, optimizer=opt).T - Z0))
         for name, opt in OPTIMIZERS.items()}  # fmt: skip

# prediction for clipped GD: z_t = z0 − η·c·t until NPO's gradient W·σ(−z) falls below c,
# with W = 2σ(β·(log σ(z) − log σ(z0))) and β = 1
z_line = Z0 - LR_OPT * CAP * np.arange(T_OPT + 1)
log_sig = lambda z: -np.logaddexp(0.0, -z)  # noqa: E731
npo_grad = 2 / (1 + np.exp(-(log_sig(z_line) - log_sig(Z0)))) * np.exp(log_sig(-z_line))
t_switch_predicted = int(np.argmax(npo_grad < CAP))
steps_clipped = -np.diff(logit[f"clipped GD (c={CAP:g})"]["NPO β=1"])
t_switch_simulated = int(np.argmax(steps_clipped < LR_OPT * CAP * (1 - 1e-9)))
sigma_minus_z0 = 1 / (1 + math.exp(Z0))
rows = []
for name, runs in logit.items():
    for method, z in runs.items():
        predicted = {"GD": LR_OPT * sigma_minus_z0, "Adam": LR_OPT}.get(name, LR_OPT * min(CAP, sigma_minus_z0))
        rows.append({"optimiser": name, "run": method, "first step (simulated)": -z[1],
                     "first step (predicted)": predicted, "shift at t=100": z[100], "shift at t=1000": z[1000],
                     f"shift at t={T_OPT}": z[-1]})  # fmt: skip
opt_table = pd.DataFrame(rows)
assert np.allclose(opt_table["first step (simulated)"], opt_table["first step (predicted)"], rtol=1e-4)
print(f"clipped GD: NPO leaves the line z0 − ηct at step {t_switch_simulated} (predicted {t_switch_predicted})")
assert abs(t_switch_simulated - t_switch_predicted) <= 1
opt_table.round(4)

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), layout="constrained")
plot_optimizer_divergence(logit, axes[0], ylabel="logit shift $z_t - z_0$", legend=False)
axes[0].set_title("single logit, linear $t$")
plot_optimizer_divergence({k: {"NPO β=1": v["NPO β=1"]} for k, v in logit.items()}, axes[1], log_t=True,
                          ylabel="logit shift $z_t - z_0$")  # fmt: skip
axes[1].set_title("NPO only, log $t$ (a straight line = logarithmic)")
axes[0].axvline(t_switch_predicted, color="0.6", lw=0.8)
title = fig.suptitle(f"η = {LR_OPT:g}, $z_0$ = {Z0:g}; grey line: predicted end of clipping for NPO", fontsize="medium")

# %% [markdown]
# The same three optimisers on Theorem 2's model, with the settings of section 1 ($n_f$ = 16 inputs in $d$ = 256,
# η = 1) and a cap $c$ = 0.01 below the initial gradient norm. Adam acts on each coordinate of θ, so its steps are
# about η in every one of the $d$ coordinates: its distances are on another scale. The table gives the doubling
# ratio $D(2t)/D(t)$ of each run (2 = linear, → 1 = logarithmic or stopped).

# %%
T2_OPT = 1_000 if is_smoke() else 4_000
OPTIMIZERS_T2 = {**OPTIMIZERS, f"clipped GD (c={CAP:g})": Optimizer("clipped_gd", max_norm=0.01)}
OPTIMIZERS_T2 = {k.replace(f"c={CAP:g}", "c=0.01"): v for k, v in OPTIMIZERS_T2.items()}
theorem2 = {name: dict(zip(["GA", "NPO β=1"], logistic_divergence_curves(RUNS, N_F, D_IN, T2_OPT, 1.0, optimizer=opt).T))
            for name, opt in OPTIMIZERS_T2.items()}  # fmt: skip
rows = []
for name, runs in theorem2.items():
    for method, D in runs.items():
        t = T2_OPT // 2
        rows.append({"optimiser": name, "run": method, f"D({t})": D[t], f"D({T2_OPT})": D[-1],
                     "D(2t)/D(t)": D[-1] / D[t]})  # fmt: skip
doubling = pd.DataFrame(rows).set_index(["optimiser", "run"])
print(doubling.round(3).to_string())
ratio, half = doubling["D(2t)/D(t)"], doubling[f"D({T2_OPT // 2})"]
assert ratio[("GD", "GA")] > 1.8 and ratio[("GD", "NPO β=1")] < 1.3  # Theorem 2 under plain GD
assert half[("clipped GD (c=0.01)", "NPO β=1")] > 0.85 * half[("clipped GD (c=0.01)", "GA")]  # same clipped steps
assert ratio[("Adam", "GA")] > 1.8 and half[("Adam", "NPO β=1")] > 2 * half[("GD", "NPO β=1")]

# %% [markdown]
# Reading the two tables:
#
# * Under **plain GD** the theorem holds: GA's distance doubles when $t$ doubles, NPO's barely grows.
# * Under **clipping** GA and NPO coincide until NPO's gradient falls below the cap — at the step predicted above —
#   and only then does NPO slow down. With a small cap (or a large gradient, as in a language model whose gradient
#   norm is far above 1) that phase is long: NPO's protection does not act while the step is clipped.
# * Under **Adam** the first step is η for both, whatever $W$ is; GA stays linear, and NPO covers in its first
#   steps several times the distance plain GD reaches in all of them. Then it stops: $W$ has collapsed while Adam's
#   second moment still remembers the large early gradients, so $\hat m/\sqrt{\hat v}$ is tiny — simulated here,
#   not derived.
#
# On a language model (notebook 06's collapse laboratory) the same mechanism means that β, not the optimiser's
# step, decides how far NPO goes before $W$ switches it off.

# %% [markdown]
# ## Summary
#
# * GA's distance from the initial model doubles when the number of steps doubles: linear divergence.
# * NPO's grows by a nearly constant amount per doubling: logarithmic divergence, slower for larger β — an
#   exponential slow-down of the road to collapse (Theorem 2).
# * The single-logit closed form $-\frac1\beta\log(1 + c\,t)$ matches the simulation (section 3 prints the error).
# * The rates assume nearly orthogonal inputs; measure the cosines before trusting them.
# * They are rates of plain gradient descent. Clipping gives GA and NPO the same step until NPO's gradient falls
#   below the cap, and Adam's first step is η whatever $W$ is: with the optimisers of language-model runs NPO's
#   slow-down comes later (section 6: derived for the first steps and the clipped phase, simulated beyond).
#
# ## Exercises
#
# Each solution is a collapsed cell below its exercise (click to expand); it computes the answer and checks it.
#
# **1.** Derive the increment per doubling, $\frac1\beta\log 2$ for one sample, from the single-logit closed form,
# and check it on `single_logit("NPO", ...)` for β = 0.1 and β = 1.

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution"]
# Solution 1. z_t − z_0 ≈ −(1/β)·log(1 + c t), so z_t − z_{2t} ≈ (1/β)·log((1 + 2ct)/(1 + ct)) → (1/β)·log 2 as
# ct ≫ 1. With n_f samples each margin moves like this and the XᵀX norm adds √n_f.
for beta in (0.1, 1.0):
    z = single_logit("NPO", T_LOGIT, lr=1.0, beta=beta)
    t = T_LOGIT // 2
    increment = z[t] - z[2 * t]
    print(f"β = {beta:g}: z_t − z_2t at t = {t} is {increment:.4f}; log(2)/β = {math.log(2) / beta:.4f}")
    assert abs(increment / (math.log(2) / beta) - 1) < 0.01

# %% [markdown]
# **2.** Set $d = n_f$ (`logistic_divergence("GA", 32, 32, ...)`). Which assumption of the theorem breaks? Compare
# GA's slope·$\sqrt{n_f}$ with η for $d$ = 32, 256 and 4096, next to the largest |cos|.

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution"]
# Solution 2. With d = n_f the n_f Gaussian inputs are far from orthogonal (large cosines; XXᵀ is badly
# conditioned), so the "nearly orthogonal inputs" assumption fails and GA's rate is no longer η/√n_f. As d grows,
# the cosines shrink like d^{-1/2} and the rate returns to η/√n_f.
T2 = 1_000 if is_smoke() else 2_000
errors = []
for d in (32, 256, 4096):
    D2 = logistic_divergence("GA", n_f=32, d=d, steps=T2, lr=1.0)
    s2, _, _ = fit_slope(np.arange(T2 // 2, T2 + 1), D2[T2 // 2 :])
    errors.append(abs(s2 * math.sqrt(32) - 1.0))
    print(f"d = {d:4d}: GA slope·√n_f = {s2 * math.sqrt(32):.3f} (η = 1), largest |cos| {max_abs_cos(32, d):.3f}")
assert errors[0] > errors[1] > errors[2] and errors[2] < 0.05

# %% [markdown]
# **3.** NPO (β = 1) runs for $T$ steps with the settings of section 1. How many GA steps reach the same distance?
# Predict it from GA's line $D(t) \approx \text{rate}\cdot(t - t_0)$ (fit it on the second half of the GA curve;
# the offset $t_0$ is GA's slow start, where $\sigma(-m_i) < 1$), then check on the curve. How does the answer
# grow with $T$?

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution"]
# Solution 3. t_GA ≈ t_0 + D_NPO(T)/rate. Since D_NPO(T) grows like log T, t_GA grows like log T too, while NPO
# needs T steps: GA gets as far as NPO exponentially sooner. Ignoring the offset (t ≈ √n_f·D/η) underestimates it.
target = curves["NPO β=1"][-1]
t_fit = np.arange(T // 2, T + 1)
rate, intercept, _ = fit_slope(t_fit, curves["GA"][t_fit])
predicted = (target - intercept) / rate
reached = int(np.argmax(curves["GA"] >= target))
print(
    f"NPO β=1 after {T} steps: D = {target:.2f}. GA: rate {rate:.4f}/step, offset t0 = {-intercept / rate:.0f}; "
    f"predicted {predicted:.0f} steps, simulated {reached} (rate alone, no offset: {math.sqrt(N_F) * target:.0f})"
)
assert curves["GA"][-1] >= target and abs(reached / predicted - 1) < 0.05
