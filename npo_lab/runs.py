"""Run records: the one format an unlearning run leaves on disk, how it is kept safe, and how to read it back.

A run directory (written by :func:`npo_lab.unlearn.unlearn`) holds

* ``config.json``   — every field of the run's :class:`~npo_lab.unlearn.UnlearnConfig` at the top level, plus
  ``"experiment"``: what else defines the experiment — ``model`` (name or path), ``data_source``,
  ``forget_split``, ``n_forget``/``n_retain``, SHA-256 hashes of the forget rows, retain rows and "I don't know"
  answers, and of the cached reference log-probs (``reference_logps_sha256``, once computed). A resumed run must
  match it (:func:`npo_lab.unlearn.record.check_resume`);
* ``metrics.jsonl`` — one JSON object per evaluation: ``step`` (optimiser steps), ``epoch`` (passes over the forget
  set, fractional), the keys of :func:`npo_lab.tofu.metrics.summarize` (``forget_quality``, ``model_utility``,
  ``forget_probability``, ``forget_truth_ratio``, ...), any extra per-evaluation metric (e.g. ``forget_kl``) and
  the mean training-loss terms since the previous evaluation (``loss``, ``loss_<term>``). Appended and flushed
  as soon as an evaluation finishes, so an interrupted run keeps every completed evaluation. No wall-clock
  fields: two runs with the same seed on a CPU write identical files;
* ``samples.jsonl`` — a few greedy answers per evaluation: ``step``, ``split`` (forget/retain), ``question``,
  ``generation``, ``answer``;
* ``summary.json``  — the final state: ``status`` (``completed`` / ``interrupted``), ``method``, ``global_step``,
  ``max_steps``, ``epoch``, ``n_forget``, ``n_retain``, ``world_size``, ``effective_batch_size``,
  ``holds_ref_model``, ``n_evaluations``, ``final`` (the last metrics row), ``seconds`` (``total``,
  ``reference_cache``, ``evaluation``), ``finished_at``, ``versions``;
* ``reference_logps.json`` — the cached reference log-probs (``forget_ref_logp``, ``idk_ref_logp``), reused on
  resume; ``model/`` (safetensors, only when asked), ``eval_logs/`` (only when asked), ``checkpoint-N/``
  (Trainer checkpoints, removed after a completed run unless kept);
* ``probes.jsonl`` — only in a probed run (:class:`~npo_lab.unlearn.callbacks.ProbeCallback`): one JSON object
  per optimiser step with the answer probabilities of fixed forget/retain/general rows, the per-row forget
  log-probs and NPO weights W, and the marked steps (collapse, matched forgetting);
* ``manifest.json`` — the entries this run (or the run it resumed) created. Only they are ever removed again:
  by ``overwrite`` or the checkpoint clean-up; files npo_lab did not write are never deleted.

An experiment that compares several runs (:mod:`npo_lab.experiments`, ``npo-lab demo``) keeps each run in
``runs/<method>/`` in this format and writes its own ``demo.json`` (configuration, timings) and
``demo_summary.json`` (per-method evaluations, peaks, steps to collapse) beside them: a different file from a
run's ``summary.json``.

All files are strict JSON (non-finite numbers are written as ``null``), UTF-8; never pickle.
:func:`check_output_dir` decides, before any model is loaded, whether a directory may receive a run;
:func:`load_run` / :func:`load_runs` turn records into ``pandas.DataFrame`` objects (one row per evaluation).
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import UsageError, read_json_file, read_jsonl_file
from .files import json_text, to_jsonable, writable_parent, write_json, write_text

__all__ = [
    "CONFIG_FILE",
    "METRICS_FILE",
    "SAMPLES_FILE",
    "SUMMARY_FILE",
    "REFERENCE_FILE",
    "MANIFEST_FILE",
    "RECORD_NAMES",
    "RunRecorder",
    "to_jsonable",
    "read_jsonl",
    "check_output_dir",
    "clear_run",
    "load_config",
    "load_summary",
    "load_samples",
    "load_run",
    "load_runs",
]

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
SAMPLES_FILE = "samples.jsonl"
SUMMARY_FILE = "summary.json"
REFERENCE_FILE = "reference_logps.json"
MANIFEST_FILE = "manifest.json"
#: the entries a run may create (plus ``checkpoint-N`` directories)
RECORD_NAMES = (
    CONFIG_FILE,
    METRICS_FILE,
    SAMPLES_FILE,
    SUMMARY_FILE,
    REFERENCE_FILE,
    MANIFEST_FILE,
    "probes.jsonl",  # per-step probes (npo_lab.unlearn.probes.PROBES_FILE), when the run is probed
    "model",
    "eval_logs",
)
CHECKPOINT_PREFIX = "checkpoint-"


def run_columns(config: Mapping | None = None) -> tuple[str, ...]:
    """The config fields :func:`load_run` copies onto every row: the method, the numeric loss hyper-parameters
    (:func:`npo_lab.losses.loss_hypers`; one introduced by a new term only when ``config`` has it), the learning
    rate and the seed."""
    from .losses import HYPERS, loss_hypers

    numeric = [n for n, h in loss_hypers().items() if h.choices is None and (n in HYPERS or n in (config or {}))]
    return ("method", *numeric, "learning_rate", "seed")


def _dump(obj: Any) -> str:
    return json_text(obj, indent=None)


def read_jsonl(path: str | Path) -> list[dict]:
    """The JSON objects of a JSON-lines record file ([] when absent). Blank lines are skipped, a torn last line
    (a kill while writing) is dropped, a line that is not an object is skipped with a warning; invalid JSON
    elsewhere raises ``ValueError`` naming the file and line."""
    if not Path(path).exists():
        return []
    return read_jsonl_file(path, what="run record file", torn_tail_ok=True, objects_only=True)


def _is_record_name(name: str) -> bool:
    return name in RECORD_NAMES or name.startswith(CHECKPOINT_PREFIX)


def _is_entry(name: str) -> bool:
    """A plain entry directly inside the run directory (no path separators, not ``.``/``..``)."""
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\\" not in name


def _manifest(output_dir: Path) -> list[str]:
    p = output_dir / MANIFEST_FILE
    if not p.exists():
        return []
    data = read_json_file(p, what="run manifest")
    paths = data.get("paths") if isinstance(data, dict) else None
    if not isinstance(paths, list) or not all(_is_entry(x) for x in paths):
        raise UsageError(f"run manifest {str(p)!r} is not a manifest written by npo_lab")
    return paths


class RunRecorder:
    """Writes a run record. Only the main process writes (``enabled=False`` elsewhere makes every call a no-op).

    Each ``append_*`` call opens the file, writes complete lines, flushes and fsyncs, so whatever has been recorded
    survives an interrupt or a crash. Every entry written is claimed in ``manifest.json`` first.
    """

    def __init__(self, output_dir: str | Path, enabled: bool = True):
        self.output_dir = Path(output_dir)
        self.enabled = bool(enabled)
        self.claimed: list[str] = []
        if self.enabled:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            self.claimed = _manifest(self.output_dir)

    def path(self, name: str) -> Path:
        return self.output_dir / name

    def claim(self, *names: str) -> None:
        """Record that this run creates the entries ``names`` (files or directories directly in the run dir)."""
        new = [n for n in (MANIFEST_FILE, *names) if n not in self.claimed]
        if not self.enabled or not new:
            return
        for n in new:
            if not _is_entry(n):
                raise ValueError(f"{n!r} is not an entry name directly inside the run directory")
        self.claimed += new
        self._write_json(MANIFEST_FILE, {"created_by": "npo_lab", "paths": self.claimed}, claim=False)

    def _append(self, name: str, rows: Iterable[Mapping]) -> None:
        text = "".join(_dump(r) + "\n" for r in rows)
        if not self.enabled or not text:
            return
        self.claim(name)
        with open(self.path(name), "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    def _write_json(self, name: str, obj: Any, claim: bool = True) -> None:
        if not self.enabled:
            return
        if claim:
            self.claim(name.split("/", 1)[0])
        write_json(self.path(name), obj)

    def write_config(self, config: Mapping) -> None:
        self._write_json(CONFIG_FILE, config)

    def append_metrics(self, row: Mapping) -> None:
        self._append(METRICS_FILE, [row])

    def append_samples(self, rows: Iterable[Mapping]) -> None:
        self._append(SAMPLES_FILE, rows)

    def write_summary(self, summary: Mapping) -> None:
        self._write_json(SUMMARY_FILE, summary)

    def write_json(self, name: str, obj: Any) -> None:
        self._write_json(name, obj)

    def reset(self) -> None:
        """Start a fresh record: remove the metrics/samples/summary this recorder's run wrote earlier."""
        for name in (METRICS_FILE, SAMPLES_FILE, SUMMARY_FILE):
            if self.enabled and (name in self.claimed or not self.path(name).exists()):
                self.path(name).unlink(missing_ok=True)

    def truncate_after(self, step: int) -> None:
        """Drop the metrics/samples lines of evaluations after ``step`` (used when resuming from a checkpoint at
        ``step``: those evaluations will be recomputed)."""
        for name in (METRICS_FILE, SAMPLES_FILE):
            if self.enabled and self.path(name).exists():
                kept = [r for r in read_jsonl(self.path(name)) if int(r.get("step", 0)) <= step]
                write_text(self.path(name), "".join(_dump(r) + "\n" for r in kept))

    def metrics(self) -> list[dict]:
        return read_jsonl(self.path(METRICS_FILE))


# ----------------------------------------------------------------------------------------------------------------
# output directories: new, resumed or overwritten — never someone else's files
# ----------------------------------------------------------------------------------------------------------------
def check_output_dir(output_dir: str | Path, *, resume: bool = False, overwrite: bool = False) -> str:
    """Whether ``output_dir`` may receive a run; returns ``"new"``, ``"resume"`` or ``"overwrite"``.

    A run goes into a new or empty directory; ``resume`` needs a run record there; ``overwrite`` replaces an
    earlier run's entries (those in its manifest). Entries with a run-record name that no manifest claims (e.g.
    the user's own ``checkpoint-*`` folders) are never touched: their presence is a :class:`UsageError`, as is a
    non-empty directory without ``resume``/``overwrite``. Reads only; call before loading any model.
    """
    out = Path(output_dir)
    if resume and overwrite:
        raise UsageError("resume and overwrite exclude each other: resume continues a run, overwrite replaces it")
    if out.exists() and not out.is_dir():
        raise UsageError(f"output_dir {str(out)!r} exists and is not a directory")
    entries = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    writable_parent(out, "output_dir")
    if not entries:
        if resume:
            raise UsageError(f"resume=True but output_dir {str(out)!r} holds no checkpoint (no run to resume)")
        return "new"
    claimed = set(_manifest(out))
    foreign = [e for e in entries if _is_record_name(e) and e not in claimed and not e.endswith(".tmp")]
    if resume:
        if CONFIG_FILE not in entries:
            raise UsageError(f"resume=True but output_dir {str(out)!r} holds no run record ({CONFIG_FILE})")
        if foreign:
            raise UsageError(f"cannot resume in {str(out)!r}: {', '.join(foreign[:5])} were not written by this run")
        return "resume"
    if not overwrite:
        shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
        raise UsageError(
            f"output_dir {str(out)!r} is not empty ({shown}); choose a new directory, resume the run "
            "there (resume/--resume) or replace an earlier npo_lab run (overwrite/--overwrite)"
        )
    if foreign:
        raise UsageError(
            f"overwrite would replace {', '.join(foreign[:5])} in {str(out)!r}, which no npo_lab run "
            f"recorded in {MANIFEST_FILE}; move them away or choose another directory"
        )
    return "overwrite"


def clear_run(output_dir: str | Path) -> list[str]:
    """Remove the entries an earlier run claimed in its manifest (and the manifest); returns their names."""
    out = Path(output_dir)
    removed = []
    names = _manifest(out)
    for name in [n for n in names if n != MANIFEST_FILE] + [MANIFEST_FILE]:  # the manifest last
        for p in (out / name, out / (name + ".tmp")):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            elif p.exists() or p.is_symlink():
                p.unlink()
            else:
                continue
            removed.append(p.name)
    return removed


# ----------------------------------------------------------------------------------------------------------------
# reading
# ----------------------------------------------------------------------------------------------------------------
def _run_dir(run_dir: str | Path) -> Path:
    p = Path(run_dir)
    if not p.is_dir():
        raise ValueError(f"run_dir {str(p)!r} is not a directory")
    if not (p / CONFIG_FILE).exists() and not (p / METRICS_FILE).exists():
        raise ValueError(f"run_dir {str(p)!r} holds no run record ({CONFIG_FILE} / {METRICS_FILE} missing)")
    return p


def _read_object(path: Path, what: str) -> dict:
    if not path.exists():
        return {}
    data = read_json_file(path, what=what)
    if not isinstance(data, dict):
        raise UsageError(f"{what} {str(path)!r} must hold a JSON object, got {type(data).__name__}")
    return data


def load_config(run_dir: str | Path) -> dict:
    """The run's ``config.json`` as a dict (empty when absent)."""
    return _read_object(_run_dir(run_dir) / CONFIG_FILE, "run config")


def load_summary(run_dir: str | Path) -> dict:
    """The run's ``summary.json`` as a dict (empty when the run has not written one yet)."""
    return _read_object(_run_dir(run_dir) / SUMMARY_FILE, "run summary")


def load_samples(run_dir: str | Path):
    """``samples.jsonl`` as a DataFrame (columns step, split, question, generation, answer)."""
    import pandas as pd

    rows = read_jsonl(_run_dir(run_dir) / SAMPLES_FILE)
    return pd.DataFrame(rows, columns=None if rows else ["step", "split", "question", "generation", "answer"])


def load_run(run_dir: str | Path):
    """One row per evaluation of a run (``metrics.jsonl``), plus columns ``run`` (the directory name) and
    :func:`run_columns` (``method, beta, alpha, gamma, learning_rate, seed``) from ``config.json``. Sorted by step."""
    import pandas as pd

    p = _run_dir(run_dir)
    config = load_config(p)
    rows = read_jsonl(p / METRICS_FILE)
    for i, row in enumerate(rows):
        step = row.get("step", 0)
        if isinstance(step, bool) or not isinstance(step, int):
            raise UsageError(
                f"run record file {str(p / METRICS_FILE)!r}: evaluation {i + 1} has step {step!r}, not an integer"
            )
    df = pd.DataFrame(rows)
    if df.empty:
        df = pd.DataFrame(columns=["step", "epoch"])
    df.insert(0, "run", p.name)
    for i, key in enumerate(run_columns(config)):
        if key not in df.columns:
            df.insert(1 + i, key, config.get(key))
    if "step" in df.columns and len(df):
        df = df.sort_values("step", kind="stable").reset_index(drop=True)
    return df


def _is_run(d: Path) -> bool:
    return d.is_dir() and ((d / CONFIG_FILE).exists() or (d / METRICS_FILE).exists())


def load_runs(run_dirs: str | Path | Iterable[str | Path]):
    """Concatenate :func:`load_run` over several runs.

    ``run_dirs``: an iterable of run directories, or one directory whose sub-directories are runs (those holding a
    ``config.json``/``metrics.jsonl``); there, a run whose record cannot be read is skipped with a warning naming
    it, so one broken record does not hide the others.
    """
    import pandas as pd

    if isinstance(run_dirs, (str, Path)):
        root = Path(run_dirs)
        if not root.is_dir():
            raise ValueError(f"run_dirs {str(root)!r} is not a directory")
        if _is_run(root):
            return load_run(root)
        frames = []
        for d in sorted(d for d in root.iterdir() if _is_run(d)):
            try:
                frames.append(load_run(d))
            except (ValueError, OSError) as e:
                warnings.warn(f"skipping run {str(d)!r}: {e}", stacklevel=2)
    elif isinstance(run_dirs, Iterable):
        frames = [load_run(d) for d in run_dirs]
    else:
        raise ValueError(f"run_dirs must be a directory or an iterable of run directories, got {run_dirs!r}")
    if not frames:
        raise ValueError("run_dirs holds no run records")
    return pd.concat(frames, ignore_index=True, sort=False)
