"""ipywidgets front-ends over :mod:`npo_lab.theory` and :mod:`npo_lab.plotting` (notebooks 01, 03, 04).

Each demo is a small class: ``update(**settings)`` recomputes and redraws its figure (and returns the seconds it
took — ``bench/bench_widgets.py`` times it against the 100 ms target), ``widget()`` returns the ipywidgets UI
(sliders / pickers + the figure), and ``figure`` is a plain matplotlib ``Figure`` (not managed by pyplot, so it is
not displayed twice and needs no interactive backend). Usage in a notebook::

    from npo_lab.widgets import SingleLogitDemo
    SingleLogitDemo().widget()

* :class:`SingleLogitDemo` — GA vs NPO on one logit: β, learning rate, steps, z₀ sliders; linear and log-t axes
  with the closed-form NPO asymptote.
* :class:`DivergenceDemo` — Theorem 2: ‖θ_t − θ_init‖ for GA and NPO; β, learning rate, steps, n_f, d sliders.
* :class:`SyntheticExplorer` — a method picker and metric / view selectors over a precomputed
  :func:`npo_lab.theory.random_features_experiment` table.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from npo_lab.plotting.theory import label_colors, plot_band, plot_divergence, plot_pareto
from npo_lab.theory.dynamics import _logistic_numpy, nearly_orthogonal_inputs, npo_closed_form_shift, single_logit

__all__ = ["SingleLogitDemo", "DivergenceDemo", "SyntheticExplorer"]

_STEP_CHOICES = (1_000, 3_000, 10_000, 30_000, 100_000)


class _Demo:
    settings: dict

    def __init__(self, figsize=(11, 3.8), ncols=2, dpi=72):
        self.figure = Figure(figsize=figsize, dpi=dpi)
        FigureCanvasAgg(self.figure)  # render with Agg, whatever the notebook backend
        self.axes = self.figure.subplots(1, ncols)
        self.figure.subplots_adjust(left=0.08, right=0.98, bottom=0.14, top=0.9, wspace=0.28)
        self._image = None
        self.last_timings: dict[str, float] = {}

    def _draw(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def update(self, **settings) -> float:
        """Recompute and redraw with the given settings changed; returns the elapsed seconds.

        The time covers the computation, the new artists and the Agg rendering (and the PNG encoding when the
        widget is shown); ``last_timings`` splits it into ``compute_artists`` and ``render``.
        """
        unknown = set(settings) - set(self.settings)
        if unknown:
            raise ValueError(f"unknown setting(s) {sorted(unknown)}; valid: {sorted(self.settings)}")
        t0 = time.perf_counter()
        self.settings.update(settings)
        for ax in np.ravel(self.axes):
            ax.clear()
        self._draw()
        t1 = time.perf_counter()
        if self._image is not None:
            import io

            buf = io.BytesIO()
            self.figure.canvas.print_png(buf)  # one render + encode, shown by an ipywidgets.Image
            self._image.value = buf.getvalue()
        else:
            self.figure.canvas.draw()
        t2 = time.perf_counter()
        self.last_timings = {"compute_artists": t1 - t0, "render": t2 - t1}
        return t2 - t0

    def _controls(self) -> dict:  # pragma: no cover - overridden
        raise NotImplementedError

    def widget(self):
        """The ipywidgets UI: controls above the figure; moving a control calls :meth:`update`."""
        import ipywidgets as W

        controls = self._controls()
        self._image = W.Image(format="png")

        def on_change(change):
            name = next(k for k, c in controls.items() if c is change["owner"])
            self.update(**{name: change["new"]})

        for c in controls.values():
            c.observe(on_change, names="value")
        self.update()
        return W.VBox([W.HBox(list(controls.values())[:3]), W.HBox(list(controls.values())[3:]), self._image])


class SingleLogitDemo(_Demo):
    """GA vs NPO on a single logit (``z_0`` = initial logit of the forget label): the logit shift ``z_t − z_0``
    against t on a linear axis (GA: a line of slope −η) and a log-t axis (NPO: slope −1/β, dashed closed form)."""

    def __init__(self, beta: float = 1.0, lr: float = 1.0, steps: int = 10_000, z0: float = 2.0):
        super().__init__()
        self.settings = {"beta": beta, "lr": lr, "steps": steps, "z0": z0}

    def curves(self) -> dict[str, np.ndarray]:
        s = self.settings
        return {
            "GA": single_logit("GA", s["steps"], s["lr"], z0=s["z0"]) - s["z0"],
            "NPO": single_logit("NPO", s["steps"], s["lr"], s["beta"], s["z0"]) - s["z0"],
        }

    def _draw(self) -> None:
        s = self.settings
        curves = self.curves()
        ax_lin, ax_log = self.axes
        plot_divergence(curves, ax_lin, fit=["GA"], ylabel="logit shift  z_t − z_0", max_points=400)
        ax_lin.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        ax_lin.set_title(f"linear t: GA walks off linearly (η = {s['lr']:g})", fontsize="medium")
        plot_divergence(curves, ax_log, log_t=True, fit=["NPO"], ylabel="logit shift  z_t − z_0", max_points=400)
        t = np.geomspace(1, s["steps"], 200)
        ax_log.plot(t, npo_closed_form_shift(t, s["lr"], s["beta"], s["z0"]), "k:", lw=1.5,
                    label="NPO closed form")
        ax_log.set_yscale("symlog", linthresh=1.0)
        ax_log.legend(fontsize="small")
        ax_log.set_title(f"log t: NPO is a line of slope −1/β = −{1 / s['beta']:.3g}", fontsize="medium")

    def _controls(self) -> dict:
        import ipywidgets as W

        s = self.settings
        return {
            "beta": W.FloatLogSlider(value=s["beta"], base=10, min=-2, max=1, step=0.1, description="β"),
            "lr": W.FloatLogSlider(value=s["lr"], base=10, min=-2, max=1, step=0.1, description="η"),
            "steps": W.SelectionSlider(options=list(_STEP_CHOICES), value=s["steps"], description="steps"),
            "z0": W.FloatSlider(value=s["z0"], min=-2.0, max=6.0, step=0.5, description="z₀"),
        }


class DivergenceDemo(_Demo):
    """Theorem 2: ``‖θ_t − θ_init‖_{XᵀX}`` of GA and NPO on ``n_f`` nearly orthogonal inputs in ``R^d``, against t
    on linear and log-t axes (GA linear, NPO logarithmic; larger β diverges more slowly)."""

    def __init__(self, beta: float = 1.0, lr: float = 1.0, steps: int = 2000, n_f: int = 16, d: int = 128,
                 seed: int = 0):
        super().__init__()
        self.settings = {"beta": beta, "lr": lr, "steps": steps, "n_f": n_f, "d": d, "seed": seed}

    def curves(self) -> dict[str, np.ndarray]:
        s = self.settings
        if s["n_f"] > s["d"]:
            raise ValueError(f"n_f must be <= d, got n_f={s['n_f']}, d={s['d']}")
        X, y = nearly_orthogonal_inputs(s["n_f"], s["d"], s["seed"])
        out = _logistic_numpy([("GA", 1.0), ("NPO", float(s["beta"]))], X, y, int(s["steps"]), float(s["lr"]), 2.0)
        return {"GA": out[0], "NPO": out[1]}

    def _draw(self) -> None:
        s = self.settings
        if s["n_f"] > s["d"]:
            for ax in self.axes:
                ax.text(0.5, 0.5, "Theorem 2 needs n_f ≤ d", ha="center", va="center", transform=ax.transAxes)
            return
        curves = self.curves()
        ylabel = "‖θ_t − θ_init‖ in the XᵀX norm"
        plot_divergence(curves, self.axes[0], fit=["GA"], ylabel=ylabel, max_points=400)
        self.axes[0].set_title(f"linear t (n_f = {s['n_f']}, d = {s['d']}, η = {s['lr']:g})", fontsize="medium")
        plot_divergence(curves, self.axes[1], log_t=True, fit=["NPO"], ylabel=ylabel, max_points=400)
        self.axes[1].set_ylim(0, 2.5 * float(curves["NPO"][-1]) + 1e-9)  # GA runs off the top
        self.axes[1].set_title(f"log t: NPO (β = {s['beta']:g}) is a line, GA leaves the plot",
                               fontsize="medium")

    def _controls(self) -> dict:
        import ipywidgets as W

        s = self.settings
        return {
            "beta": W.FloatLogSlider(value=s["beta"], base=10, min=-2, max=1, step=0.1, description="β"),
            "lr": W.FloatLogSlider(value=s["lr"], base=10, min=-2, max=1, step=0.1, description="η"),
            "steps": W.IntSlider(value=s["steps"], min=100, max=5000, step=100, description="steps"),
            "n_f": W.IntSlider(value=s["n_f"], min=1, max=64, description="n_f"),
            "d": W.IntSlider(value=s["d"], min=16, max=512, step=16, description="d"),
        }


class SyntheticExplorer(_Demo):
    """Pick methods of a precomputed synthetic-experiment table and look at one metric over steps (mean ± sd over
    seeds) next to the forget-vs-retain trajectories."""

    METRICS = ("forget_distance", "retain_distance", "forget_kl")

    def __init__(self, df: pd.DataFrame, methods=None, metric: str = "forget_distance", log_y: bool = True):
        missing = {"seed", "method", "step", *self.METRICS} - set(df.columns)
        if missing:
            raise ValueError(f"df lacks the columns {sorted(missing)}")
        super().__init__()
        self.df = df
        self.all_methods = tuple(dict.fromkeys(df["method"]))
        self.colors = label_colors(self.all_methods)
        self.settings = {"methods": tuple(methods or self.all_methods), "metric": metric, "log_y": log_y}

    def _draw(self) -> None:
        s = self.settings
        if s["metric"] not in self.METRICS:
            raise ValueError(f"metric must be one of {', '.join(self.METRICS)}, got {s['metric']!r}")
        unknown = set(s["methods"]) - set(self.all_methods)
        if unknown:
            raise ValueError(f"unknown method(s) {sorted(unknown)}; the table has {', '.join(self.all_methods)}")
        if not s["methods"]:
            for ax in self.axes:
                ax.text(0.5, 0.5, "pick at least one method", ha="center", va="center", transform=ax.transAxes)
            return
        sub = self.df[self.df["method"].isin(s["methods"])]
        plot_band(sub, s["metric"], self.axes[0], log_y=s["log_y"], colors=self.colors)
        plot_pareto(sub, self.axes[1], colors=self.colors, legend=False)

    def _controls(self) -> dict:
        import ipywidgets as W

        s = self.settings
        return {
            "methods": W.SelectMultiple(options=list(self.all_methods), value=list(s["methods"]), rows=6,
                                        description="methods"),
            "metric": W.Dropdown(options=list(self.METRICS), value=s["metric"], description="metric"),
            "log_y": W.Checkbox(value=s["log_y"], description="log y"),
        }
