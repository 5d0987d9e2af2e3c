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
# # 01 · Why gradient ascent collapses
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/npo-lab/npo_lab/blob/main/notebooks/01_gradient_ascent_collapse.ipynb)
#
# **What you will learn:** gradient ascent (GA) on the forget set never stops — its gradient does not shrink, so
# the parameters walk off linearly and the forget probability collapses exponentially (paper Sec. 2.1).
#
# **Runtime:** a few seconds on a laptop CPU. No GPU needed.

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

from npo_lab import is_smoke
from npo_lab.plotting import DIVERGENCE_LABEL, plot_divergence, set_style
from npo_lab.theory import fit_slope, ga_closed_form_shift, logistic_divergence, nearly_orthogonal_inputs, single_logit

set_style()
STEPS = 10_000 if is_smoke() else 100_000  # smoke mode (CI) shrinks the runs, the code path is the same
print(f"running {STEPS} gradient steps")

# %% [markdown]
# ## 1. Unlearning one example with one logit
#
# Take the smallest possible "model": one example whose label is $y=1$, predicted with probability
# $\pi_z(y{=}1) = \sigma(z)$. The fine-tuned model starts at $z_0 = 2$ ($\sigma(2) \approx 0.88$: it knows the
# answer). Gradient ascent *minimises* the log-likelihood of the forget answer,
#
# $$L_{GA}(z) = \log \pi_z(y) = \log\sigma(z), \qquad \frac{\partial L_{GA}}{\partial z} = \sigma(-z).$$
#
# As $z \to -\infty$ the gradient $\sigma(-z) \to 1$: it **never shrinks**. Each step moves $z$ by about $-\eta$,
# for ever.
#
# **Write it yourself.** Full-batch gradient descent on $L_{GA}$ is two lines. We check it against the library's
# `single_logit`, which differentiates the same objective (`npo_lab.losses.ga_loss`).


# %%
def my_ga_logit(steps, lr, z0=2.0):
    z = [z0]
    for _ in range(steps):
        z.append(z[-1] - lr * 1 / (1 + np.exp(z[-1])))  # σ(−z) = 1 / (1 + e^z)
    return np.array(z)


mine = my_ga_logit(2000, lr=1.0)
library = single_logit("GA", 2000, lr=1.0)
assert np.allclose(mine, library), "your GA loop should match npo_lab.theory.single_logit"
print("matches the library:", np.allclose(mine, library))

# %% [markdown]
# ## 2. The logit walks off linearly, the probability collapses exponentially
#
# `ga_closed_form_shift` integrates the continuous-time version $dz/dt = -\eta\,\sigma(-z)$ exactly (exercise 2
# derives it); gradient descent with a finite step η follows it up to a difference of order η.

# %%
z = single_logit("GA", STEPS, lr=1.0)
shift = z - z[0]
t = np.arange(STEPS // 100, STEPS + 1)
slope, _, r2 = fit_slope(t, shift[t])
print(
    f"after {STEPS} steps: z_t - z_0 = {shift[-1]:.2f}; continuous time: {float(ga_closed_form_shift(STEPS, 1.0)):.2f}"
)
print(f"linear fit over t in [{t[0]}, {t[-1]}]: slope {slope:.4f} per step (η = 1), R^2 = {r2:.6f}")

fig, axes = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
plot_divergence({"GA": shift}, axes[0], ylabel=r"logit shift $z_t - z_0$")
axes[0].set_title("the logit: a straight line")
log_prob = -np.logaddexp(0, -z)  # log σ(z_t) = log-probability of the forget answer
plot_divergence({"GA": log_prob}, axes[1], ylabel=r"$\log\pi(y\,|\,x)$")
title = axes[1].set_title(r"log-probability linear $\Rightarrow$ probability $\propto e^{-\eta t}$")

# %% [markdown]
# The log-probability of the forget answer falls linearly, i.e. the probability itself falls like $e^{-\eta t}$.
# Nothing in the objective says "stop": GA is unbounded below.
#
# ## 3. A real (logistic) model: the parameters run away
#
# Theorem 2 of the paper uses a binary logistic model $\pi_\theta(y|x) = \sigma(y\,x^\top\theta)$ with a forget
# set of $n_f$ nearly orthogonal inputs. Under GA the distance the parameters travel, measured in the data's
# own norm $\|\theta_t - \theta_{init}\|_{X^\top X}$, grows **linearly** in the number of steps — and a model
# whose parameters have moved that far no longer resembles the one we started from (catastrophic collapse).
#
# `nearly_orthogonal_inputs` draws the inputs as Gaussian vectors in $d$ dimensions: their cosines are of order
# $d^{-1/2}$, small but not zero. Measure it before relying on it:

# %%
N_F, D_IN = 16, 256
X, _ = nearly_orthogonal_inputs(N_F, D_IN)
unit = X / np.linalg.norm(X, axis=1, keepdims=True)
cos = unit @ unit.T
max_cos = np.abs(cos[~np.eye(N_F, dtype=bool)]).max()
print(f"{N_F} inputs in d = {D_IN}: largest |cos| between two of them {max_cos:.3f} (d^-1/2 = {D_IN**-0.5:.3f})")

steps2 = 2_000 if is_smoke() else 8_000
D = logistic_divergence("GA", n_f=N_F, d=D_IN, steps=steps2, lr=1.0)
for t_ in (steps2 // 8, steps2 // 4, steps2 // 2):
    print(f"t = {t_:5d} -> {2 * t_:5d}: distance x{D[2 * t_] / D[t_]:.3f}")
ga_slope, _, _ = fit_slope(np.arange(steps2 // 2, steps2 + 1), D[steps2 // 2 :])
print(f"fitted slope {ga_slope:.4f} per step; Theorem 2's rate η/√n_f = {1 / math.sqrt(N_F):.4f}")
ax = plot_divergence({"GA": D}, ylabel=DIVERGENCE_LABEL, rates={"GA": 1 / math.sqrt(N_F)})
title = ax.set_title("GA on a logistic model: linear divergence")

# %% [markdown]
# The distance ratio over a doubling tends to 2: linear divergence, $D(t) \approx \text{rate}\cdot(t - t_0)$, as
# Theorem 2 predicts (the offset $t_0$ comes from the first steps, where $\sigma(-m_i) < 1$ and GA is still slow).
# The rate is close to $\eta/\sqrt{n_f}$, which assumes orthogonal inputs of norm 1; exercise 3 measures the
# difference.
#
# ## 4. Play with it
#
# The demo below runs GA and NPO (the fix, notebook 02) on the single logit; the legends give the slopes fitted
# to what is drawn, next to the predicted ones. Move the sliders: whatever the learning rate, GA's line keeps
# going, while NPO's shift grows only like $\log t$.

# %%
from npo_lab.widgets import SingleLogitDemo  # noqa: E402

SingleLogitDemo(steps=1_000 if is_smoke() else 10_000).widget()

# %% [markdown]
# ## Summary
#
# * GA minimises $\log\pi_\theta(y|x)$ on the forget set; its gradient $\sigma(-z)\nabla z$ tends to a constant, so
#   the logit moves by $-\eta$ per step for ever.
# * The forget probability collapses like $e^{-\eta t}$, and the parameters drift linearly far from the initial
#   model (Theorem 2): this is the road to catastrophic collapse.
#
# ## Exercises
#
# Each solution is a collapsed cell below its exercise (click to expand); it computes the answer and checks it.
#
# **1.** Start GA from $z_0 = -2$ (`single_logit("GA", ..., z0=-2.0)`), a sample the model already gets wrong.
# Does GA stop? Fit the slope of $z_t - z_0$.

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution"]
# Solution 1. No: σ(−z) ≥ σ(2) ≈ 0.88 from the first step on, and → 1. GA pushes an already-wrong answer further
# down at full speed — it has no notion of "already forgotten".
z_wrong = single_logit("GA", STEPS, lr=1.0, z0=-2.0)
t_half = np.arange(STEPS // 2, STEPS + 1)
slope_wrong, _, _ = fit_slope(t_half, z_wrong[t_half] - z_wrong[0])
print(f"z0 = -2: first step {z_wrong[1] - z_wrong[0]:.3f}, slope over the second half {slope_wrong:.6f} per step")
assert abs(slope_wrong - (-1.0)) < 1e-6  # −η, η = 1
assert z_wrong[1] - z_wrong[0] < -0.88

# %% [markdown]
# **2.** Integrate $dz/dt = -\eta\,\sigma(-z)$: show that $z + e^{z}$ decreases by η per unit time, so
# $z_t + e^{z_t} = z_0 + e^{z_0} - \eta t$, and deduce that the shift is
# $z_t - z_0 = -\eta t + e^{z_0} + o(1)$. Check it against the simulation at η = 0.01 (where gradient descent
# follows the continuous-time curve closely) and at η = 1.

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution"]
# Solution 2. d(z + e^z)/dt = (1 + e^z)·dz/dt = −η (1 + e^z)/(1 + e^z) = −η. Hence z_t = z_0 + e^{z_0} − ηt − e^{z_t},
# and e^{z_t} → 0 as z_t → −∞: the shift is −ηt + e^{z_0} + o(1) (the plus sign: the first steps, where
# σ(−z) < 1, move z less than η).
z0 = 2.0
for lr in (0.01, 1.0):
    simulated = single_logit("GA", STEPS, lr=lr, z0=z0)[-1] - z0
    asymptote = -lr * STEPS + math.exp(z0)
    print(
        f"η = {lr:g}, t = {STEPS}: simulated {simulated:.3f}, −ηt + e^z0 = {asymptote:.3f} "
        f"(difference {simulated - asymptote:+.3f}); −ηt − e^z0 = {-lr * STEPS - math.exp(z0):.3f}"
    )
    assert abs(simulated - asymptote) < 1.5 * lr  # the gap is the finite step's error, of order η
    assert abs(simulated - float(ga_closed_form_shift(STEPS, lr, z0))) < 1.5 * lr

# %% [markdown]
# **3.** Vary $n_f$ (1, 4, 16, 64) in `logistic_divergence("GA", n_f, d=256, ...)`: how does the slope scale?
# Compare slope·$\sqrt{n_f}$ with η, then repeat with $d = 4096$. Why do the two differ?

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution"]
# Solution 3. The slope falls like 1/√n_f. The theorem's η/√n_f assumes orthogonal unit-norm inputs; Gaussian
# inputs have cosines of order d^{-1/2}, and with n_f = 64 in d = 256 the largest one is no longer small, so the
# rate is off. In d = 4096 the inputs are much closer to orthogonal and slope·√n_f ≈ η.
T3 = 2000
for d in (256, 4096):
    for n_f in (1, 4, 16, 64):
        X3, _ = nearly_orthogonal_inputs(n_f, d)
        u3 = X3 / np.linalg.norm(X3, axis=1, keepdims=True)
        c3 = np.abs((u3 @ u3.T)[~np.eye(n_f, dtype=bool)]).max() if n_f > 1 else 0.0
        D3 = logistic_divergence("GA", n_f=n_f, d=d, steps=T3, lr=1.0)
        s3, _, _ = fit_slope(np.arange(T3 // 2, T3 + 1), D3[T3 // 2 :])
        print(f"d = {d:4d}, n_f = {n_f:2d}: slope·√n_f = {s3 * math.sqrt(n_f):.3f}   largest |cos| {c3:.3f}")
        if d == 4096:
            assert abs(s3 * math.sqrt(n_f) - 1.0) < 0.05  # η = 1
