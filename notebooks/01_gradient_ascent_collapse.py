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
import matplotlib.pyplot as plt
import numpy as np

from npo_lab import is_smoke
from npo_lab.plotting import plot_divergence, set_style
from npo_lab.theory import fit_slope, ga_closed_form_shift, logistic_divergence, single_logit

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

# %%
z = single_logit("GA", STEPS, lr=1.0)
shift = z - z[0]
t = np.arange(STEPS // 100, STEPS + 1)
slope, _, r2 = fit_slope(t, shift[t])
print(f"after {STEPS} steps: z_t - z_0 = {shift[-1]:.1f}; closed form {float(ga_closed_form_shift(STEPS, 1.0)):.1f}")
print(f"linear fit over t in [{t[0]}, {t[-1]}]: slope {slope:.4f} per step, R^2 = {r2:.6f}")

fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
plot_divergence({"GA": shift}, axes[0], ylabel="logit shift  z_t − z_0")
axes[0].set_title("the logit: a straight line")
log_prob = -np.logaddexp(0, -z)  # log σ(z_t) = log-probability of the forget answer
plot_divergence({"GA": log_prob}, axes[1], ylabel="log π(y | x)")
axes[1].set_title("log-probability linear ⇒ probability ∝ exp(−ηt)");

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

# %%
steps2 = 2_000 if is_smoke() else 8_000
D = logistic_divergence("GA", n_f=16, d=256, steps=steps2, lr=1.0)
for t_ in (steps2 // 8, steps2 // 4, steps2 // 2):
    print(f"t = {t_:5d} -> {2 * t_:5d}: distance x{D[2 * t_] / D[t_]:.3f}")
ax = plot_divergence({"GA": D}, ylabel="‖θ_t − θ_init‖ in the XᵀX norm")
ax.set_title("GA on a logistic model: linear divergence");

# %% [markdown]
# Doubling the number of steps doubles the distance: linear divergence, exactly what Theorem 2 predicts
# ($\approx \eta t/\sqrt{n_f}$).
#
# ## 4. Play with it
#
# The demo below runs GA and NPO (the fix, notebook 02) on the single logit. Move the sliders: whatever the
# learning rate, GA's line keeps going; NPO bends over.

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
# 1. Change `z0` in `single_logit("GA", ...)` to −2 (a sample the model already got wrong). Does GA stop?
# 2. Show from the closed form $z_t + e^{z_t} = z_0 + e^{z_0} - \eta t$ that the shift is $-\eta t - e^{z_0} + o(1)$.
# 3. In `logistic_divergence`, vary `n_f` (1, 4, 16, 64 with `d=256`): how does the slope scale? Compare with
#    $\eta/\sqrt{n_f}$.
