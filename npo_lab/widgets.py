"""ipywidgets front-ends over the gallery figures, the plot helpers and the public theory API (notebooks 01, 03, 04).

Each demo holds its settings and a plain matplotlib ``Figure`` (not managed by pyplot, rendered with Agg whatever
the notebook backend). ``update(**settings)`` redraws the figure with the settings changed and returns the seconds
it took, PNG encoding included (``bench/bench_widgets.py`` times it); ``widget()`` returns the controls and the
figure, wired with ``ipywidgets.interactive_output``. Usage in a notebook::

    from npo_lab.widgets import SingleLogitDemo
    SingleLogitDemo().widget()

Every number on a figure (fitted and predicted slopes, distances, minima) is computed from what it shows.

* :class:`SingleLogitDemo` — GA vs NPO on one logit (:func:`npo_lab.gallery.single_logit_figure`).
* :class:`DivergenceDemo` — Theorem 2 (:func:`npo_lab.gallery.divergence_figure`).
* :class:`SyntheticExplorer` — methods and a metric of a :func:`npo_lab.theory.random_features_experiment` table.
"""

from __future__ import annotations

import io
import time

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from PIL import Image

from npo_lab.gallery import divergence_figure, single_logit_figure
from npo_lab.plotting import METRIC_LABELS, format_number, label_colors, plot_band, plot_pareto, reset_axes

__all__ = ["SingleLogitDemo", "DivergenceDemo", "SyntheticExplorer"]

_STEP_CHOICES = (1_000, 3_000, 10_000, 30_000, 100_000)


class _Demo:
    """Settings + a Figure; subclasses define ``draw()`` (into ``self.axes``) and ``controls()`` (name → control)."""

    def __init__(self, settings: dict, figsize=(13, 4), ncols: int = 2):
        self.settings = settings
        self.figure = Figure(figsize=figsize, dpi=72)
        FigureCanvasAgg(self.figure)
        self.axes = self.figure.subplots(1, ncols)
        self._layout, self._laid_out = ConstrainedLayoutEngine(), None
        self.png = b""
        self.last_timings: dict[str, float] = {}

    def update(self, **settings) -> float:
        """Redraw with ``settings`` changed (a ValueError restores the old ones); returns the elapsed seconds of the
        drawing (``last_timings["draw"]``) and the Agg render + PNG encode (``"render"``), as a control move costs."""
        unknown = set(settings) - set(self.settings)
        if unknown:
            raise ValueError(f"unknown setting(s) {sorted(unknown)}; valid: {sorted(self.settings)}")
        old = dict(self.settings)
        self.settings.update(settings)
        t0 = time.perf_counter()
        try:
            self.draw()
        except ValueError:
            self.settings = old
            raise
        t1 = time.perf_counter()
        self._render()
        t2 = time.perf_counter()
        self.last_timings = {"draw": t1 - t0, "render": t2 - t1}
        return t2 - t0

    def _render(self) -> None:
        """Agg render and PNG encode. The constrained layout (room for the legends beside the Axes) runs again
        only when a text grew longer or more numerous than at the last layout: it costs as much as a render."""
        canvas = self.figure.canvas
        for ax in self.axes:
            ax.minorticks_off()  # fewer artists to render; the major ticks carry the labels
        canvas.draw()
        sizes = self._text_sizes()
        if self._laid_out is None or any(n > m for n, m in zip(sizes, self._laid_out)):
            self._layout.execute(self.figure)
            canvas.draw()
            self._laid_out = sizes if self._laid_out is None else tuple(map(max, sizes, self._laid_out))
        rgba = canvas.buffer_rgba()
        buf = io.BytesIO()
        Image.frombuffer("RGBA", rgba.shape[1::-1], rgba, "raw", "RGBA", 0, 1).save(buf, "png", compress_level=1)
        self.png = buf.getvalue()

    def _text_sizes(self) -> tuple[int, ...]:
        """What the layout makes room for: the lines of the titles, the number of legend entries and the length
        of the longest one, and the length of the longest tick label per axis."""
        sizes = [self.figure.get_suptitle().count("\n")]
        for ax in self.axes:
            legend = ax.get_legend()
            entries = [t.get_text() for t in legend.get_texts()] if legend is not None else []
            sizes += [ax.get_title().count("\n"), len(entries), max(map(len, entries), default=0)]
            sizes += [
                max((len(t.get_text()) for t in axis.get_ticklabels()), default=0) for axis in (ax.xaxis, ax.yaxis)
            ]
        return tuple(sizes)

    def widget(self):
        """The UI: the controls above the figure; a control change redraws (a bad combination prints why)."""
        import ipywidgets as W
        from IPython.display import Image as PNG
        from IPython.display import display

        controls = self.controls()

        def show(**settings):
            try:
                self.update(**settings)
            except ValueError as err:
                print(f"cannot draw: {err}")
                return
            display(PNG(self.png))

        names = list(controls.values())
        return W.VBox([W.HBox(names[:3]), W.HBox(names[3:]), W.interactive_output(show, controls)])


def _log_slider(value: float, description: str):
    """A slider over 0.01 … 10 on a log scale; it redraws on release (``continuous_update=False``)."""
    import ipywidgets as W

    kw = {"base": 10, "min": -2, "max": 1, "step": 0.1, "continuous_update": False, "readout_format": ".3g"}
    return W.FloatLogSlider(value=value, description=description, **kw)


class SingleLogitDemo(_Demo):
    """GA vs NPO on a single logit: ``z_t − z_0`` against t (linear and log) for β, η, steps and ``z_0``."""

    def __init__(self, beta: float = 1.0, lr: float = 1.0, steps: int = 10_000, z0: float = 2.0):
        super().__init__({"beta": beta, "lr": lr, "steps": steps, "z0": z0})

    def draw(self) -> None:
        s = self.settings
        single_logit_figure(s["steps"], s["lr"], (s["beta"],), s["z0"], axes=self.axes, max_points=300)

    def controls(self) -> dict:
        import ipywidgets as W

        s, kw = self.settings, {"continuous_update": False}
        steps = W.SelectionSlider(options=list(_STEP_CHOICES), value=s["steps"], description="steps", **kw)
        z0 = W.FloatSlider(value=s["z0"], min=-2.0, max=6.0, step=0.5, description="z₀", **kw)
        return {"beta": _log_slider(s["beta"], "β"), "lr": _log_slider(s["lr"], "η"), "steps": steps, "z0": z0}


class DivergenceDemo(_Demo):
    """Theorem 2: ``‖θ_t − θ_init‖_{XᵀX}`` of GA and NPO on ``n_f`` nearly orthogonal inputs in ``R^d``."""

    def __init__(
        self, beta: float = 1.0, lr: float = 1.0, steps: int = 2000, n_f: int = 16, d: int = 128, seed: int = 0
    ):
        super().__init__({"beta": beta, "lr": lr, "steps": steps, "n_f": n_f, "d": d, "seed": seed})

    def draw(self) -> None:
        s = self.settings
        divergence_figure(
            s["steps"], s["n_f"], s["d"], s["lr"], (s["beta"],), s["seed"], axes=self.axes, max_points=300
        )

    def controls(self) -> dict:
        import ipywidgets as W

        s = self.settings
        ints = {"steps": (100, 5000, 100), "n_f": (1, 64, 1), "d": (16, 512, 16)}
        out = {"beta": _log_slider(s["beta"], "β"), "lr": _log_slider(s["lr"], "η")}
        for k, (lo, hi, step) in ints.items():
            out[k] = W.IntSlider(value=s[k], min=lo, max=hi, step=step, description=k, continuous_update=False)
        return out


class SyntheticExplorer(_Demo):
    """Methods of a :func:`npo_lab.theory.random_features_experiment` table: one metric against steps (centre line
    and band over seeds, :func:`npo_lab.plotting.plot_band`) next to the forget-vs-retain trajectories."""

    METRICS = tuple(METRIC_LABELS)

    def __init__(self, df: pd.DataFrame, methods=None, metric: str = "forget_distance", log_y: bool = True):
        missing = {"seed", "method", "step", *self.METRICS} - set(df.columns)
        if missing:
            raise ValueError(f"df lacks the columns {sorted(missing)}")
        self.df = df
        self.all_methods = tuple(dict.fromkeys(df["method"]))
        self.colors = label_colors(self.all_methods)
        super().__init__(
            {"methods": tuple(methods or self.all_methods), "metric": metric, "log_y": bool(log_y)}, figsize=(13, 4.2)
        )
        self._layout = ConstrainedLayoutEngine(w_pad=8 / 72, h_pad=8 / 72)  # 8 px of margin: nothing near the edge
        self._pareto = None  # the methods whose trajectories are drawn

    def draw(self) -> None:
        s = self.settings
        if s["metric"] not in self.METRICS:
            raise ValueError(f"metric must be one of {', '.join(self.METRICS)}, got {s['metric']!r}")
        unknown = set(s["methods"]) - set(self.all_methods)
        if unknown:
            raise ValueError(f"unknown method(s) {sorted(unknown)}; the table has {', '.join(self.all_methods)}")
        if not s["methods"]:
            raise ValueError("pick at least one method")
        s["methods"] = tuple(s["methods"])
        df = self.df[self.df["method"].isin(s["methods"])]
        left, right = self.axes
        reset_axes(left)
        plot_band(df, s["metric"], left, log_y=s["log_y"], colors=self.colors)
        left.set_title(self.caption(), fontsize="medium")
        if self._pareto != s["methods"]:  # the trajectories depend on the methods only
            reset_axes(right)
            plot_pareto(df, right, colors=self.colors, legend=False)
            right.set_title("forget vs retain distance\n(mean over seeds; ★ start, ● end)", fontsize="medium")
            self._pareto = s["methods"]

    def caption(self) -> str:
        """The method whose centre line (as drawn) ends lowest, and its value."""
        last = {  # the centre lines carry their method as gid (a label may carry a note)
            ln.get_gid(): ln.get_ydata()[-1]
            for ln in self.axes[0].get_lines()
            if ln.get_gid() in self.all_methods and np.isfinite(ln.get_ydata()[-1])
        }
        if not last:
            return "no positive values to show"
        best = min(last, key=last.get)
        return f"at step {self.df['step'].max():,}, lowest: {best} ({format_number(last[best])})"

    def controls(self) -> dict:
        import ipywidgets as W

        s = self.settings
        rows = len(self.all_methods)  # every method in view, none behind a scroll bar
        methods = W.SelectMultiple(options=self.all_methods, value=s["methods"], rows=rows, description="methods")
        metric = W.Dropdown(options=self.METRICS, value=s["metric"], description="metric")
        return {"methods": methods, "metric": metric, "log_y": W.Checkbox(value=s["log_y"], description="log y")}
