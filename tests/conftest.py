"""Session-wide fixtures and settings of the test suite.

* ``npo_lab_cache``: one ``$NPO_LAB_CACHE`` for the whole run, so the mini-TOFU smoke models (tokenizer, fine-tuned
  and retain models) are trained once and then loaded by every test and notebook that asks for the same config.
  Under pytest-xdist all workers share it: cache entries are built in a temporary sibling and renamed into place
  under a file lock (:func:`npo_lab.files.cache_entry`), so two workers asking for one entry train it once and
  nobody reads a half-written one.
* ``smoke_env``: a test's environment for smoke-sized runs (``NPO_LAB_SMOKE=1``, offline, the shared cache).
* With ``--dist loadgroup`` (the Makefile's ``test``), the tests of a module whose module-scoped fixture is costly
  (a wheel build) go to one worker, so that fixture runs once per session instead of once per worker; each worker
  runs torch on its share of the cores.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# modules whose tests share a costly module-scoped fixture: kept on one xdist worker (pytest -n N --dist loadgroup)
ONE_WORKER_MODULES = ("test_release.py",)


def pytest_configure(config):
    # under pytest-xdist, N workers share the cores: each worker (and the kernels and subprocesses it starts) gets
    # cores/N OpenMP threads unless the caller chose; set before any test module imports torch
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // int(workers))))


@pytest.fixture(scope="session")
def npo_lab_cache(tmp_path_factory) -> Path:
    """The session's ``$NPO_LAB_CACHE`` directory; shared by all xdist workers of one run, and by several runs where
    ``NPO_LAB_TEST_CACHE`` names a directory (``.ci/run``: the slow and browser tiers reuse one set of models)."""
    shared = os.environ.get("NPO_LAB_TEST_CACHE")
    if shared:
        cache = Path(shared)
        cache.mkdir(parents=True, exist_ok=True)
        return cache
    base = tmp_path_factory.getbasetemp()
    # xdist workers get <run's basetemp>/popen-gwN as their basetemp: the parent is the run's, shared by all
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    cache = root / "npo_lab_cache"
    cache.mkdir(exist_ok=True)
    return cache


@pytest.fixture
def smoke_env(monkeypatch, npo_lab_cache) -> Path:
    """Smoke sizes, no network, the session's cache (``NPO_LAB_CACHE``); returns the cache directory."""
    monkeypatch.setenv("NPO_LAB_SMOKE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("NPO_LAB_CACHE", str(npo_lab_cache))
    return npo_lab_cache


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    if not config.pluginmanager.hasplugin("xdist"):  # the xdist_group mark is registered by pytest-xdist
        return
    for item in items:
        if item.path.name in ONE_WORKER_MODULES:
            item.add_marker(pytest.mark.xdist_group(item.path.stem))
