"""The interactive demos: update() recomputes and redraws incrementally; widget() builds the ipywidgets UI."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from npo_lab import widgets as W  # noqa: E402
from npo_lab.theory import logistic_divergence, single_logit  # noqa: E402
from npo_lab.widgets import DivergenceDemo, SingleLogitDemo, SyntheticExplorer  # noqa: E402


def _pixels(fig) -> np.ndarray:
    return np.asarray(fig.canvas.buffer_rgba(), dtype=np.int16)[..., :3].copy()


def test_single_logit_demo_updates():
    d = SingleLogitDemo(steps=1000)
    assert d.update() > 0
    curves = d.curves()
    np.testing.assert_array_equal(curves["NPO"], single_logit("NPO", 1000, 1.0, 1.0) - 2.0)
    before = curves["NPO"][-1]
    d.update(beta=0.2)
    assert d.curves()["NPO"][-1] < before  # smaller β: faster divergence
    assert set(d.last_timings) == {"compute", "artists", "render"}
    with pytest.raises(ValueError, match="unknown setting"):
        d.update(gamma=1)
    with pytest.raises(ValueError, match="lr"):
        d.update(lr=-1.0)
    assert d.settings["lr"] == 1.0  # a rejected setting is rolled back


def test_cached_runs_are_extended_exactly():
    """More steps continue the cached run; the result is bit-for-bit the run computed at once."""
    d = SingleLogitDemo(steps=1000, beta=0.5, lr=0.3)
    d.update()
    lines_before = dict(d.lines)
    d.update(steps=3000)
    assert d.lines == lines_before  # the same artists, new data
    np.testing.assert_array_equal(d.curves()["NPO"], single_logit("NPO", 3000, 0.3, 0.5) - 2.0)
    np.testing.assert_array_equal(d.curves()["GA"], single_logit("GA", 3000, 0.3) - 2.0)
    x, y = d.lines["lin", "NPO"].get_data()
    assert x[-1] == 3000 and len(x) <= W._MAX_POINTS + 1
    np.testing.assert_array_equal(y, d.curves()["NPO"][x])
    d.update(steps=1000)  # fewer steps: a slice of the cached run
    np.testing.assert_array_equal(d.curves()["NPO"], single_logit("NPO", 1000, 0.3, 0.5) - 2.0)

    e = DivergenceDemo(steps=200, n_f=4, d=32, beta=0.7)
    e.update()
    e.update(steps=500)
    c = e.curves()
    for method, beta in (("GA", 1.0), ("NPO", 0.7)):
        np.testing.assert_allclose(c[method], logistic_divergence(method, 4, 32, 500, 1.0, beta), rtol=1e-12,
                                   atol=1e-12)


def test_divergence_demo():
    d = DivergenceDemo(steps=300, n_f=4, d=32)
    d.update()
    c = d.curves()
    assert c["GA"][-1] > c["NPO"][-1] > 0
    assert "slope" in d.slopes[0].get_text() and "ln t" in d.slopes[1].get_text()
    d.update(n_f=40, d=32)  # invalid combination: a message instead of an exception
    assert "n_f ≤ d" in d.messages[0].get_text()
    assert not d.lines["lin", "GA"].get_visible()
    d.update(n_f=4)
    assert d.messages[0].get_text() == "" and d.lines["lin", "GA"].get_visible()


def test_blitted_frame_matches_a_full_draw():
    """The cached static pixels + dynamic artists show the same picture as drawing the whole figure, both when
    the view is unchanged (pure blit) and when an axis' limits change (that axes' static part is redrawn)."""
    d = SingleLogitDemo(steps=3000)
    d._image = type("Sink", (), {"value": b""})()
    d.update()

    def check(**move):
        d.update(**move)
        assert all(d._background[1][ax][0] == d._axes_key(ax) for ax in d.axes)
        assert all(d._axes_key(ax) in d._background[1][ax][2] for ax in d.axes)
        blit = _pixels(d.figure)
        d.figure.canvas.draw()  # everything, in z-order
        differ = (np.abs(blit - _pixels(d.figure)).max(axis=-1) > 40).mean()
        assert differ < 0.01, f"{move}: {differ:.2%} of the pixels differ"
        return blit

    first = check(beta=0.3)  # same view limits: served from the cached pixels
    assert (np.abs(check(beta=3.0) - first).max(axis=-1) > 40).mean() > 0.001  # a visibly different NPO curve
    check(steps=30_000)  # new x limits on both axes
    check(z0=-1.0)  # new y limits
    check(steps=3000, z0=2.0)  # back to views seen before: restored from the kept pixels


def test_synthetic_explorer():
    df = pd.DataFrame(
        [{"seed": s, "method": m, "step": t, "forget_distance": 1.0 / (1 + t), "retain_distance": 0.02 + 0.01 * s,
          "forget_kl": t + s} for s in (0, 1) for m in ("GA", "NPO") for t in (0, 5, 10)]
    )
    e = SyntheticExplorer(df)
    e.update(methods=("NPO",), metric="forget_kl")
    visible = [ln.get_label() for ln in e.axes[0].get_lines() if ln.get_visible()]
    assert visible == ["NPO"]
    np.testing.assert_allclose(e.band_lines["NPO"].get_ydata(), [0.5, 5.5, 10.5])  # mean over seeds
    assert set(e.fills) == {"NPO"}
    e.update(methods=())
    assert "pick at least one" in e.message.get_text()
    with pytest.raises(ValueError, match="metric"):
        e.update(metric="loss")
    with pytest.raises(ValueError, match="lacks the columns"):
        SyntheticExplorer(df.drop(columns="forget_kl"))


def test_tick_and_limit_helpers():
    assert W._plain_tick(1000.0) == "10³" and W._plain_tick(-1e5) == "−10⁵" and W._plain_tick(20.0) == "20"
    assert W._plain_tick(0.001) == "10⁻³" and W._plain_tick(0.5) == "0.5"
    assert W._nice_ceil(137.0) == 150 and W._nice_ceil(2.0) == 2 and W._nice_ceil(0.031) == pytest.approx(0.05)
    calls = []
    cache = W._RunCache(lambda key, start, steps: calls.append((start, steps)) or np.arange(
        (0 if start is None else start), (0 if start is None else start) + steps + 1))
    np.testing.assert_array_equal(cache.get("k", 3), [0, 1, 2, 3])
    np.testing.assert_array_equal(cache.get("k", 5), [0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(cache.get("k", 2), [0, 1, 2])
    assert calls == [(None, 3), (3, 2)]


def test_widget_ui_builds():
    pytest.importorskip("ipywidgets")
    d = SingleLogitDemo(steps=1000)
    ui = d.widget()
    image = ui.children[-1]
    assert image.value[:4] == b"\x89PNG"
    slider = ui.children[0].children[0]  # β
    old = image.value
    slider.value = 0.1
    assert d.settings["beta"] == pytest.approx(0.1) and image.value != old
