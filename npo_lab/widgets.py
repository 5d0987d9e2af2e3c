"""ipywidgets front-ends over :mod:`npo_lab.theory` and :mod:`npo_lab.plotting` (notebooks 01, 03, 04).

Each demo is a small class: ``update(**settings)`` recomputes and redraws its figure (and returns the seconds it
took — ``bench/bench_widgets.py`` times it against the 100 ms target), ``widget()`` returns the ipywidgets UI
(sliders / pickers + the figure), and ``figure`` is a plain matplotlib ``Figure`` (not managed by pyplot, so it is
not displayed twice and needs no interactive backend). Usage in a notebook::

    from npo_lab.widgets import SingleLogitDemo
    SingleLogitDemo().widget()

Updates are incremental: the figure and its artists (lines, legends, titles) are built once; a control change
recomputes only the data (cached per setting, and extended rather than recomputed when only ``steps`` grows), moves
it into the existing artists with ``set_data``, rescales the axes (round-number limits with hysteresis, so they
rarely change) and renders by blitting: each axes' static pixels (frame, ticks, labels, legend) are cached per view
and only the lines and texts that changed are drawn on top (:meth:`_Demo.render`). The widget shows the result in
an ``ipywidgets.Image`` (a fast PNG encode), which works the same in Jupyter, JupyterLab, VS Code and Colab with the
default inline backend and needs no ipympl. So a redraw as the user waits for it = computation + artist updates +
render + PNG encode, which is what ``update()`` returns (split in ``last_timings``).

* :class:`SingleLogitDemo` — GA vs NPO on one logit: β, learning rate, steps, z₀ sliders; linear and log-t axes
  with the closed-form NPO asymptote.
* :class:`DivergenceDemo` — Theorem 2: ‖θ_t − θ_init‖ for GA and NPO; β, learning rate, steps, n_f, d sliders.
* :class:`SyntheticExplorer` — a method picker and metric / view selectors over a precomputed
  :func:`npo_lab.theory.random_features_experiment` table.
"""

from __future__ import annotations

import io
import math
import time

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from npo_lab.plotting.theory import _METRIC_LABELS, label_colors
from npo_lab.theory.dynamics import (
    _check_finite,
    _check_int,
    _check_positive,
    _margins_numpy,
    _single_logit_numpy,
    nearly_orthogonal_inputs,
    npo_closed_form_shift,
)

__all__ = ["SingleLogitDemo", "DivergenceDemo", "SyntheticExplorer"]

_STEP_CHOICES = (1_000, 3_000, 10_000, 30_000, 100_000)
#: points drawn per curve (log-spaced on log-t axes): enough for smooth curves at notebook width, cheap to render
_MAX_POINTS = 300
_CACHE_SIZE = 64
#: static pixels kept per axes, one per view (limits, scales, labels): moving a slider back costs no redraw
_VIEWS_KEPT = 12


class _RunCache:
    """Trajectories keyed by their parameters, extended (not recomputed) when more steps are asked for.

    ``compute(key, start, steps)`` must return ``steps + 1`` states starting with ``start`` (``None``: from the
    beginning); runs are Markov in their state, so an extension equals the longer run computed at once.
    """

    def __init__(self, compute, size: int = _CACHE_SIZE):
        self.compute = compute
        self.size = size
        self.runs: dict = {}

    def put(self, key, run: np.ndarray) -> None:
        self.runs[key] = run
        while len(self.runs) > self.size:
            self.runs.pop(next(iter(self.runs)))

    def get(self, key, steps: int) -> np.ndarray:
        run = self.runs.pop(key, None)
        if run is None:
            run = self.compute(key, None, steps)
        elif len(run) - 1 < steps:
            more = self.compute(key, run[-1], steps - (len(run) - 1))
            run = np.concatenate([run, more[1:]])
        self.runs[key] = run  # most recently used last
        while len(self.runs) > self.size:
            self.runs.pop(next(iter(self.runs)))
        return run[: steps + 1]


def _subsample(T: int, log_t: bool, max_points: int = _MAX_POINTS) -> np.ndarray:
    if log_t:
        return np.unique(np.geomspace(1, T, min(max_points, T)).astype(int))
    return np.unique(np.linspace(0, T, min(max_points, T + 1)).astype(int))


def _fit_line(t: np.ndarray, y: np.ndarray, log_t: bool, fit_from: float = 0.1):
    """Least-squares line over ``t ≥ fit_from·T`` (in t or ln t): (t used, fitted values, slope) or None."""
    sel = t >= max(1, int(fit_from * t[-1]))
    if sel.sum() < 2:
        return None
    x = np.log(t[sel]) if log_t else t[sel].astype(float)
    slope, intercept = np.polyfit(x, y[sel], 1)
    return t[sel], slope * x + intercept, slope


class _Demo:
    settings: dict

    def __init__(self, figsize=(11, 3.8), ncols=2, dpi=72):
        self.figure = Figure(figsize=figsize, dpi=dpi)
        FigureCanvasAgg(self.figure)  # render with Agg, whatever the notebook backend
        self.axes = self.figure.subplots(1, ncols)
        self.figure.subplots_adjust(left=0.08, right=0.98, bottom=0.14, top=0.9, wspace=0.28)
        self._image = None
        self._built = False
        self._background = None  # (figure key, per-axes cached static pixels), see render()
        self.last_timings: dict[str, float] = {}

    def _dynamic_artists(self) -> list:
        """Artists whose data or text change with the settings (drawn over the cached background)."""
        return []

    # subclasses: _build() creates the artists once, _compute() returns the data, _apply(data) moves it in
    def _build(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _compute(self):  # pragma: no cover - overridden
        raise NotImplementedError

    def _apply(self, data) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def update(self, **settings) -> float:
        """Recompute and redraw with the given settings changed; returns the elapsed seconds.

        The time covers what the user waits for: the computation (``last_timings["compute"]``), the artist
        updates (``"artists"``) and one Agg render plus, when the widget is shown, the PNG encode (``"render"``).
        """
        unknown = set(settings) - set(self.settings)
        if unknown:
            raise ValueError(f"unknown setting(s) {sorted(unknown)}; valid: {sorted(self.settings)}")
        t0 = time.perf_counter()
        old = dict(self.settings)
        self.settings.update(settings)
        try:
            data = self._compute()
        except ValueError:
            self.settings = old
            raise
        t1 = time.perf_counter()
        if not self._built:
            self._build()
            self._built = True
        self._apply(data)
        t2 = time.perf_counter()
        if self._image is not None:
            self._image.value = self.png()
        else:
            self.render()
        t3 = time.perf_counter()
        self.last_timings = {"compute": t1 - t0, "artists": t2 - t1, "render": t3 - t2}
        return t3 - t0

    @staticmethod
    def _axes_key(ax):
        legend = ax.get_legend()
        return (ax.get_xlim(), ax.get_ylim(), ax.get_xscale(), ax.get_yscale(), ax.get_xlabel(), ax.get_ylabel(),
                ax.get_visible(), legend is not None and legend.get_visible())

    def _view_key(self):
        return tuple(self._axes_key(ax) for ax in np.ravel(self.axes)) + (
            self.figure.get_size_inches().tobytes(), self.figure.dpi)

    def render(self) -> None:
        """Render the figure into the Agg buffer, blitting: the static part of each axes (frame, ticks, labels,
        legend; it only changes when that axes' limits, scale or labels change, which :func:`_round_view` makes
        rare) is drawn once and its pixels cached; an update restores them, redraws only the static part of an
        axes whose view changed (or restores it from the views seen before), then draws :meth:`_dynamic_artists`
        (lines, titles, slope texts) on top. The artists stay ordinary (not ``animated``), so ``figure.savefig``
        and notebook display show the whole figure."""
        from matplotlib.patches import Rectangle
        from matplotlib.transforms import Bbox, IdentityTransform

        canvas = self.figure.canvas
        dynamic = [a for a in self._dynamic_artists() if a is not None]
        fig_key = (self.figure.get_size_inches().tobytes(), self.figure.dpi)
        axes = list(np.ravel(self.axes))
        for a in dynamic:
            a.set_animated(True)  # left out of the static draws below
        try:
            if self._background is None or self._background[0] != fig_key:
                canvas.draw()
                renderer = canvas.get_renderer()
                # per axes: the view shown now, and up to _VIEWS_KEPT cached views {key: (box, pixels)}
                state = {}
                for ax in axes:
                    key, box = self._axes_key(ax), self._region(ax, renderer)
                    state[ax] = [key, box, {key: (box, canvas.copy_from_bbox(box))}]
                self._background = (fig_key, state)
            else:
                renderer = canvas.get_renderer()
                state = self._background[1]
                stale = [ax for ax in axes if state[ax][0] != self._axes_key(ax)]
                for ax in axes:
                    if ax not in stale:
                        canvas.restore_region(state[ax][2][state[ax][0]][1])
                for ax in stale:
                    key, views = self._axes_key(ax), state[ax][2]
                    cached = views.pop(key, None)
                    box = cached[0] if cached is not None else self._region(ax, renderer)
                    clear = Bbox.union([state[ax][1], box])  # erase the old and the new extent
                    Rectangle((clear.x0, clear.y0), clear.width, clear.height, transform=IdentityTransform(),
                              facecolor=self.figure.get_facecolor(), edgecolor="none", figure=self.figure
                              ).draw(renderer)
                    if cached is not None:  # a view seen before (e.g. steps moved back): its pixels
                        canvas.restore_region(cached[1])
                    else:  # draw the axes' static part and keep it
                        ax.draw(renderer)
                        cached = (box, canvas.copy_from_bbox(box))
                    views[key] = cached  # most recent last
                    while len(views) > _VIEWS_KEPT:
                        views.pop(next(iter(views)))
                    state[ax][0], state[ax][1] = key, box
        finally:
            for a in dynamic:
                a.set_animated(False)
        for a in dynamic:
            if a.get_visible():
                a.draw(renderer)

    def _region(self, ax, renderer):
        """The pixels an axes covers (its tight box: tick labels, axis labels, title), padded, inside the figure."""
        from matplotlib.transforms import Bbox

        box = ax.get_tightbbox(renderer).padded(3)
        fig = self.figure.bbox
        return Bbox.from_extents(max(box.x0, fig.x0), max(box.y0, fig.y0), min(box.x1, fig.x1), min(box.y1, fig.y1))

    def png(self) -> bytes:
        """Render the figure (:meth:`render`) and encode it as a PNG (fast zlib level: the image only travels to the
        browser)."""
        from PIL import Image

        canvas = self.figure.canvas
        self.render()
        buf = canvas.buffer_rgba()
        img = Image.frombuffer("RGBA", (buf.shape[1], buf.shape[0]), buf, "raw", "RGBA", 0, 1).convert("RGB")
        out = io.BytesIO()
        img.save(out, format="png", compress_level=1)
        return out.getvalue()

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


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _plain_tick(v, _pos=None) -> str:
    """Tick labels without mathtext (matplotlib's log formatters typeset ``$10^{3}$``, which costs ~1 ms a label):
    ``10³`` for powers of ten, ``%g`` otherwise."""
    if v != 0 and abs(v) >= 1e3 or 0 < abs(v) < 1e-2:
        e = math.log10(abs(v))
        if abs(e - round(e)) < 1e-9:
            return ("−" if v < 0 else "") + "10" + str(round(e)).translate(_SUPERSCRIPT)
    return f"{v:g}".replace("-", "−")


def _fast_log_axis(axis, symlog: bool = False) -> None:
    """Cheap labels on a log/symlog axis: plain major labels (:func:`_plain_tick`); on a log axis spanning less
    than two decades a few minor ticks are labelled too (``LogFormatter`` writes plain text, no mathtext)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    def minor(v, _pos=None):  # on an axis spanning < 10×: label the minor ticks 2 and 5 (×10^k); < 3×: all
        lo, hi = sorted(axis.get_view_interval())
        if lo <= 0 or hi / lo >= 10:
            return ""
        mant = v / 10 ** math.floor(math.log10(v) + 1e-12)
        return f"{v:.3g}" if hi / lo < 3 or round(mant) in (2, 5) else ""

    axis.set_major_formatter(FuncFormatter(_plain_tick))
    axis.set_minor_formatter(NullFormatter() if symlog else FuncFormatter(minor))


def _round_view(ax, extra=(), scalex: bool = True) -> None:
    """``relim`` + ``autoscale_view`` with round-number limits (``axes.autolimit_mode = round_numbers``): the
    limits snap to tick values, so most slider moves keep them and the cached background stays valid.
    ``extra``: (N, 2) point arrays to include (``relim`` skips collections such as ``fill_between`` bands)."""
    import matplotlib as mpl

    old = ax.get_xlim(), ax.get_ylim()
    ax.relim(visible_only=True)
    for pts in extra:
        ax.update_datalim(pts)
    data = ax.dataLim
    with mpl.rc_context({"axes.autolimit_mode": "round_numbers", "axes.xmargin": 0.0, "axes.ymargin": 0.0}):
        ax.autoscale_view(scalex=scalex)
    # log axes: 1-2-5 limits around the data (round_numbers would snap to whole decades)
    for i, (scale, lo, hi) in enumerate(((ax.get_xscale(), data.x0, data.x1), (ax.get_yscale(), data.y0, data.y1))):
        if scale == "log" and (i == 1 or scalex) and np.isfinite(lo) and np.isfinite(hi) and 0 < lo <= hi:
            (ax.set_xlim if i == 0 else ax.set_ylim)(_nice_floor(lo), _nice_ceil(hi, (1, 2, 5, 10)), auto=None)
    if ax.get_yscale() == "linear" and np.isfinite(data.y0) and np.isfinite(data.y1):
        lo, hi = ax.get_ylim()  # round numbers may step past 0: keep one-signed data one-signed
        pad = 0.02 * (hi - lo)  # a curve sitting at 0 stays visible above/below the frame
        ax.set_ylim(-pad if data.y0 >= 0 > lo + pad else lo, pad if data.y1 <= 0 < hi - pad else hi, auto=None)
    # hysteresis: keep the previous limits of an axis while the data still fills at least half of them
    for i, (axis, lim, scale) in enumerate(((ax.xaxis, old[0], ax.get_xscale()), (ax.yaxis, old[1], ax.get_yscale()))):
        if i == 0 and not scalex:
            continue
        lo, hi = (data.x0, data.x1) if i == 0 else (data.y0, data.y1)
        if not (np.isfinite(lo) and np.isfinite(hi)) or not (min(lim) <= lo and hi <= max(lim)):
            continue
        f = _SCALE_FN.get(scale)
        if f is None:
            continue
        with np.errstate(all="ignore"):
            span, view = f(hi) - f(lo), f(max(lim)) - f(min(lim))
        if np.isfinite(span) and np.isfinite(view) and view > 0 and span >= 0.5 * view:
            (ax.set_xlim if i == 0 else ax.set_ylim)(lim, auto=None)  # auto=None: autoscaling stays on


_SCALE_FN = {
    "linear": lambda v: v,
    "log": lambda v: math.log10(v) if v > 0 else -np.inf,
    "symlog": lambda v: math.copysign(math.log10(1.0 + abs(v)), v),
}


def _nice_ceil(v: float, mantissas=(1, 1.5, 2, 3, 5, 7, 10)) -> float:
    """The smallest of 1, 1.5, 2, 3, 5, 7 × 10^k that is ≥ v (v > 0): a limit that survives small changes."""
    k = math.floor(math.log10(v))
    for m in mantissas:
        if m * 10**k >= v * (1 - 1e-12):
            return m * 10**k
    return 10 ** (k + 1)


def _nice_floor(v: float) -> float:
    """The largest of 1, 2, 5 × 10^k that is ≤ v (v > 0)."""
    k = math.floor(math.log10(v))
    for m in (5, 2, 1):
        if m * 10**k <= v * (1 + 1e-12):
            return m * 10**k
    return 10 ** (k - 1)


def _set_fits(lines: dict, slopes: list, d: dict) -> None:
    """Fitted lines (GA on the linear panel, NPO on the log-t panel) and their slopes as text."""
    for name, fit, text, m, unit in (("lin", d["fit_ga"], slopes[0], "GA", "per step"),
                                     ("log", d["fit_npo"], slopes[1], "NPO", "per unit of ln t")):
        if fit is None:
            lines[name, "fit"].set_data([], [])
            text.set_text("")
        else:
            lines[name, "fit"].set_data(fit[0], fit[1])
            text.set_text(f"{m} fitted slope {fit[2]:.3g} {unit}")


class SingleLogitDemo(_Demo):
    """GA vs NPO on a single logit (``z_0`` = initial logit of the forget label): the logit shift ``z_t − z_0``
    against t on a linear axis (GA: a line of slope −η) and a log-t axis (NPO: slope −1/β, dotted closed form)."""

    def __init__(self, beta: float = 1.0, lr: float = 1.0, steps: int = 10_000, z0: float = 2.0):
        super().__init__()
        self.settings = {"beta": beta, "lr": lr, "steps": steps, "z0": z0}
        # key: (method, lr, beta or None, z0); GA does not depend on β, so moving β only reruns NPO
        self._runs = _RunCache(
            lambda key, start, steps: _single_logit_numpy(key[0], steps, key[1], key[2] or 1.0, key[3], start=start)
        )

    def _checked(self):
        s = self.settings
        return (_check_int(s["steps"], "steps", 2), _check_positive(s["lr"], "lr"),
                _check_positive(s["beta"], "beta"), _check_finite(s["z0"], "z0"))

    def curves(self) -> dict[str, np.ndarray]:
        """The logit shifts ``z_t − z_0``, t = 0..steps (equal to :func:`npo_lab.theory.single_logit` − z₀)."""
        steps, lr, beta, z0 = self._checked()
        return {
            "GA": self._runs.get(("GA", lr, None, z0), steps) - z0,
            "NPO": self._runs.get(("NPO", lr, beta, z0), steps) - z0,
        }

    def _compute(self):
        steps, lr, beta, z0 = self._checked()
        curves = self.curves()
        out = {"curves": curves, "idx_lin": _subsample(steps, False), "idx_log": _subsample(steps, True)}
        out["fit_ga"] = _fit_line(out["idx_lin"], curves["GA"][out["idx_lin"]], False)
        out["fit_npo"] = _fit_line(out["idx_log"], curves["NPO"][out["idx_log"]], True)
        t = np.geomspace(1, steps, 150)
        out["closed_form"] = (t, npo_closed_form_shift(t, lr, beta, z0))
        return out

    def _build(self) -> None:
        colors = label_colors(["GA", "NPO"])
        ax_lin, ax_log = self.axes
        self.lines = {}
        for ax, name, fit_of, fit_label in ((ax_lin, "lin", "GA", "GA: linear fit"),
                                            (ax_log, "log", "NPO", "NPO: fit in ln t")):
            for m in ("GA", "NPO"):
                (self.lines[name, m],) = ax.plot([], [], color=colors[m], lw=2, label=m)
            (self.lines[name, "fit"],) = ax.plot([], [], ls="--", lw=1, color=colors[fit_of], alpha=0.8,
                                                 label=fit_label)
            ax.set_ylabel("logit shift  z_t − z_0")
        (self.closed_form,) = ax_log.plot([], [], "k:", lw=1.5, label="NPO closed form")
        ax_lin.set_xlabel("step t")
        ax_lin.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        ax_log.set_xscale("log")
        ax_log.set_yscale("symlog", linthresh=1.0)
        _fast_log_axis(ax_log.xaxis)
        _fast_log_axis(ax_log.yaxis, symlog=True)
        ax_log.set_xlabel("step t (log scale)")
        ax_lin.legend(fontsize="small", loc="lower left")  # static: the fitted slopes are in self.slopes
        ax_log.legend(fontsize="small", loc="lower left")
        self.slopes = [ax.text(0.98, 0.96, "", ha="right", va="top", fontsize="small", transform=ax.transAxes)
                       for ax in self.axes]

    def _dynamic_artists(self) -> list:
        return [*self.lines.values(), self.closed_form, *self.slopes, *(ax.title for ax in self.axes)]

    def _apply(self, d) -> None:
        s = self.settings
        c = d["curves"]
        for name, idx in (("lin", d["idx_lin"]), ("log", d["idx_log"])):
            for m in ("GA", "NPO"):
                self.lines[name, m].set_data(idx, c[m][idx])
        _set_fits(self.lines, self.slopes, d)
        self.closed_form.set_data(*d["closed_form"])
        T = len(c["GA"]) - 1
        self.axes[0].set_xlim(0, T)
        self.axes[1].set_xlim(1, T)
        for ax in self.axes:
            _round_view(ax, scalex=False)
        self.axes[0].set_title(f"linear t: GA walks off linearly (η = {s['lr']:g})", fontsize="medium")
        self.axes[1].set_title(f"log t: NPO is a line of slope −1/β = −{1 / s['beta']:.3g}", fontsize="medium")

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

    Z0 = 2.0

    def __init__(self, beta: float = 1.0, lr: float = 1.0, steps: int = 2000, n_f: int = 16, d: int = 128,
                 seed: int = 0):
        super().__init__()
        self.settings = {"beta": beta, "lr": lr, "steps": steps, "n_f": n_f, "d": d, "seed": seed}
        self._data: dict = {}
        # margins m_t (T + 1, n_f) per run; key: (method, lr, beta or None, n_f, d, seed)
        self._runs = _RunCache(self._margins)

    def _inputs(self, n_f, d, seed):
        key = (n_f, d, seed)
        if key not in self._data:
            if len(self._data) > _CACHE_SIZE:
                self._data.clear()
            self._data[key] = nearly_orthogonal_inputs(n_f, d, seed)
        return self._data[key]

    def _margins(self, key, start, steps):
        method, lr, beta, n_f, d, seed = key
        X, y = self._inputs(n_f, d, seed)
        m0 = np.full((1, n_f), self.Z0) if start is None else start[None, :]
        return _margins_numpy([(method, beta or 1.0)], X, y, steps, lr, self.Z0, m0)[:, 0, :]

    def _valid(self) -> bool:
        return self.settings["n_f"] <= self.settings["d"]

    def curves(self) -> dict[str, np.ndarray]:
        """``‖θ_t − θ_init‖_{XᵀX}`` for t = 0..steps (equal to :func:`npo_lab.theory.logistic_divergence`)."""
        s = self.settings
        if not self._valid():
            raise ValueError(f"n_f must be <= d, got n_f={s['n_f']}, d={s['d']}")
        steps = _check_int(s["steps"], "steps", 2)
        lr, beta = _check_positive(s["lr"], "lr"), _check_positive(s["beta"], "beta")
        n_f, d, seed = _check_int(s["n_f"], "n_f", 1), _check_int(s["d"], "d", 1), _check_int(s["seed"], "seed", 0)
        keys = {"GA": ("GA", lr, None, n_f, d, seed), "NPO": ("NPO", lr, beta, n_f, d, seed)}
        if not any(k in self._runs.runs for k in keys.values()):  # η, n_f or d moved: both runs in one loop
            X, y = self._inputs(n_f, d, seed)
            m0 = np.full((2, n_f), self.Z0)
            both = _margins_numpy([("GA", 1.0), ("NPO", beta)], X, y, steps, lr, self.Z0, m0)
            for i, key in enumerate(keys.values()):
                self._runs.put(key, both[:, i, :])
        out = {}
        for method, key in keys.items():
            m = self._runs.get(key, steps)
            out[method] = np.sqrt(((m - m[0]) ** 2).sum(axis=1))
        return out

    def _compute(self):
        if not self._valid():
            return None
        curves = self.curves()
        T = len(curves["GA"]) - 1
        out = {"curves": curves, "idx_lin": _subsample(T, False), "idx_log": _subsample(T, True)}
        out["fit_ga"] = _fit_line(out["idx_lin"], curves["GA"][out["idx_lin"]], False)
        out["fit_npo"] = _fit_line(out["idx_log"], curves["NPO"][out["idx_log"]], True)
        return out

    def _build(self) -> None:
        colors = label_colors(["GA", "NPO"])
        ylabel = "‖θ_t − θ_init‖ in the XᵀX norm"
        self.lines = {}
        for ax, name, fit_of, fit_label in zip(self.axes, ("lin", "log"), ("GA", "NPO"),
                                               ("GA: linear fit", "NPO: fit in ln t")):
            for m in ("GA", "NPO"):
                (self.lines[name, m],) = ax.plot([], [], color=colors[m], lw=2, label=m)
            (self.lines[name, "fit"],) = ax.plot([], [], ls="--", lw=1, color=colors[fit_of], alpha=0.8,
                                                 label=fit_label)
            ax.set_ylabel(ylabel)
        self.axes[0].set_xlabel("step t")
        self.axes[1].set_xlabel("step t (log scale)")
        self.axes[1].set_xscale("log")
        _fast_log_axis(self.axes[1].xaxis)
        self.legends = [ax.legend(fontsize="small", loc="upper left") for ax in self.axes]
        self.slopes = [ax.text(0.03, 0.72, "", ha="left", va="top", fontsize="small", transform=ax.transAxes)
                       for ax in self.axes]  # under the legend
        self.messages = [ax.text(0.5, 0.5, "", ha="center", va="center", transform=ax.transAxes) for ax in self.axes]

    def _dynamic_artists(self) -> list:
        return [*self.lines.values(), *self.slopes, *self.messages, *(ax.title for ax in self.axes)]

    def _apply(self, d) -> None:
        s = self.settings
        for msg in self.messages:
            msg.set_text("" if d is not None else "Theorem 2 needs n_f ≤ d")
        for art in (*self.lines.values(), *self.slopes, *self.legends):
            art.set_visible(d is not None)
        self.axes[0].set_title(f"linear t (n_f = {s['n_f']}, d = {s['d']}, η = {s['lr']:g})", fontsize="medium")
        self.axes[1].set_title(f"log t: NPO (β = {s['beta']:g}) is a line, GA leaves the plot", fontsize="medium")
        if d is None:
            return
        c = d["curves"]
        for name, idx in (("lin", d["idx_lin"]), ("log", d["idx_log"])):
            for m in ("GA", "NPO"):
                self.lines[name, m].set_data(idx, c[m][idx])
        _set_fits(self.lines, self.slopes, d)
        T = len(c["NPO"]) - 1
        self.axes[0].set_xlim(0, T)
        _round_view(self.axes[0], scalex=False)
        self.axes[1].set_xlim(1, T)
        top, end = self.axes[1].get_ylim()[1], float(c["NPO"][-1]) + 1e-9
        if not 0.2 * top <= end <= 0.6 * top:  # NPO's end in the lower part of the panel; GA runs off the top
            self.axes[1].set_ylim(0, _nice_ceil(2.5 * end))

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
    seeds) next to the forget-vs-retain trajectories (mean over seeds; start ★, end ●)."""

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
        # every statistic the plots need, computed once: mean and sd over seeds per (method, step)
        g = df.groupby(["method", "step"], sort=False)[list(self.METRICS)]
        self._mean, self._sd = g.mean(), g.std(ddof=0).fillna(0.0)

    def _compute(self):
        s = self.settings
        if s["metric"] not in self.METRICS:
            raise ValueError(f"metric must be one of {', '.join(self.METRICS)}, got {s['metric']!r}")
        unknown = set(s["methods"]) - set(self.all_methods)
        if unknown:
            raise ValueError(f"unknown method(s) {sorted(unknown)}; the table has {', '.join(self.all_methods)}")
        return None

    def _build(self) -> None:
        ax_band, ax_par = self.axes
        self.band_lines, self.par_lines, self.par_ends, self.fills = {}, {}, {}, {}
        for m in self.all_methods:
            mean = self._mean.loc[m]
            c = self.colors[m]
            (self.band_lines[m],) = ax_band.plot(mean.index.to_numpy(), mean["forget_distance"].to_numpy(), color=c,
                                                 lw=2, label=m)
            (self.par_lines[m],) = ax_par.plot(mean["forget_distance"].to_numpy(), mean["retain_distance"].to_numpy(),
                                               color=c, lw=2, label=m)
            (self.par_ends[m],) = ax_par.plot(mean["forget_distance"].to_numpy()[-1:],
                                              mean["retain_distance"].to_numpy()[-1:], "o", color=c, ms=6)
        first = self._mean.loc[self.all_methods[0]].iloc[0]
        ax_par.plot([first["forget_distance"]], [first["retain_distance"]], "*", color="k", ms=12, zorder=5,
                    label="start (π_ref)")
        ax_par.set_xscale("log")
        ax_par.set_yscale("log")
        _fast_log_axis(ax_par.xaxis)
        _fast_log_axis(ax_par.yaxis)
        ax_par.set_xlabel(_METRIC_LABELS["forget_distance"])
        ax_par.set_ylabel(_METRIC_LABELS["retain_distance"])
        ax_band.set_xlabel("step")
        self.message = ax_band.text(0.5, 0.5, "", ha="center", va="center", transform=ax_band.transAxes)
        self.legend = None

    def _dynamic_artists(self) -> list:
        return [*self.fills.values(), *self.band_lines.values(), *self.par_lines.values(), *self.par_ends.values(),
                self.legend, self.message]

    def _apply(self, _) -> None:
        s = self.settings
        ax_band, ax_par = self.axes
        picked = [m for m in self.all_methods if m in set(s["methods"])]
        self.message.set_text("" if picked else "pick at least one method")
        for fill in self.fills.values():
            fill.remove()
        self.fills = {}
        bounds = []
        for m in self.all_methods:
            on = m in picked
            for art in (self.band_lines[m], self.par_lines[m], self.par_ends[m]):
                art.set_visible(on)
            if not on:
                continue
            mean = self._mean.loc[m, s["metric"]].to_numpy()
            sd = self._sd.loc[m, s["metric"]].to_numpy()
            steps = self._mean.loc[m].index.to_numpy()
            self.band_lines[m].set_ydata(mean)
            lo = mean - sd
            if s["log_y"]:
                lo = np.maximum(lo, mean * 0.1)
            self.fills[m] = ax_band.fill_between(steps, lo, mean + sd, color=self.colors[m], alpha=0.18, lw=0)
            bounds.append(np.column_stack([np.r_[steps, steps], np.r_[lo, mean + sd]]))
        if ax_band.get_yscale() != ("log" if s["log_y"] else "linear"):
            ax_band.set_yscale("log" if s["log_y"] else "linear")
            if s["log_y"]:
                _fast_log_axis(ax_band.yaxis)
            else:
                from matplotlib.ticker import ScalarFormatter

                ax_band.yaxis.set_major_formatter(ScalarFormatter())
        ax_band.set_ylabel(_METRIC_LABELS.get(s["metric"], s["metric"]))
        if self.legend is not None:
            self.legend.remove()
        self.legend = ax_band.legend([self.band_lines[m] for m in picked], picked, fontsize="small") if picked \
            else None
        if picked:
            _round_view(ax_band, bounds)
            _round_view(ax_par)

    def _controls(self) -> dict:
        import ipywidgets as W

        s = self.settings
        return {
            "methods": W.SelectMultiple(options=list(self.all_methods), value=list(s["methods"]), rows=6,
                                        description="methods"),
            "metric": W.Dropdown(options=list(self.METRICS), value=s["metric"], description="metric"),
            "log_y": W.Checkbox(value=s["log_y"], description="log y"),
        }

