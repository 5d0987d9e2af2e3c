"""Run records: what an unlearning run leaves on disk, and how to read it back for plotting.

A run directory (written by :func:`npo_lab.unlearn.unlearn`) holds

* ``config.json``   — the :class:`~npo_lab.unlearn.UnlearnConfig` of the run (every field, JSON);
* ``metrics.jsonl`` — one JSON object per evaluation: ``step``, ``epoch``, the keys of
  :func:`npo_lab.tofu.metrics.summarize` (``forget_quality``, ``model_utility``, ``forget_probability``,
  ``forget_truth_ratio``, ...) and the mean training-loss terms since the previous evaluation (``loss``,
  ``loss_<term>``). Appended and flushed as soon as an evaluation finishes, so an interrupted run keeps every
  completed evaluation. No wall-clock fields: two runs with the same seed on a CPU write identical files;
* ``samples.jsonl`` — a few greedy answers per evaluation: ``step``, ``split`` (forget/retain), ``question``,
  ``generation``, ``answer``;
* ``summary.json``  — the final state: ``status`` (``completed`` / ``interrupted``), the last evaluation,
  step counts and timings (seconds);
* ``model/``        — the weights (safetensors, ``save_pretrained``), only when the config asks for them.

:func:`load_run` / :func:`load_runs` turn records into ``pandas.DataFrame`` objects (one row per evaluation).
Only JSON is read and written here (never pickle).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

__all__ = [
    "CONFIG_FILE",
    "METRICS_FILE",
    "SAMPLES_FILE",
    "SUMMARY_FILE",
    "RunRecorder",
    "to_jsonable",
    "read_jsonl",
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

# config fields copied onto every row of load_run's DataFrame
RUN_COLUMNS = ("method", "beta", "alpha", "gamma", "learning_rate", "seed")


def to_jsonable(value: Any) -> Any:
    """Plain-JSON version of ``value``: tensors/numpy scalars → Python numbers, tuples → lists,
    non-finite floats → ``None`` (strict JSON has no NaN/inf)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    item = getattr(value, "item", None)  # numpy / torch scalars
    if callable(item):
        try:
            return to_jsonable(item())
        except (ValueError, RuntimeError):
            pass
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return to_jsonable(tolist())
    raise ValueError(f"cannot write a value of type {type(value).__name__} to JSON: {value!r}")


def _dump(obj: Any) -> str:
    return json.dumps(to_jsonable(obj), sort_keys=False, allow_nan=False)


def read_jsonl(path: str | Path) -> list[dict]:
    """All JSON objects of a JSON-lines file (blank lines skipped; a torn last line from a crash is ignored)."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:  # a line cut short by a kill: drop it
                break
            raise ValueError(f"{path}: line {i + 1} is not valid JSON") from None
    return rows


class RunRecorder:
    """Writes a run record. Only the main process writes (``enabled=False`` elsewhere makes every call a no-op).

    Each ``append_*`` call opens the file, writes complete lines, flushes and fsyncs, so whatever has been
    recorded survives an interrupt or a crash.
    """

    def __init__(self, output_dir: str | Path, enabled: bool = True):
        self.output_dir = Path(output_dir)
        self.enabled = bool(enabled)
        if self.enabled:
            self.output_dir.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        return self.output_dir / name

    def _append(self, name: str, rows: Iterable[Mapping]) -> None:
        if not self.enabled:
            return
        text = "".join(_dump(r) + "\n" for r in rows)
        if not text:
            return
        with open(self.path(name), "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    def _write_json(self, name: str, obj: Any) -> None:
        if not self.enabled:
            return
        tmp = self.path(name + ".tmp")
        tmp.write_text(json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n", encoding="utf-8")
        os.replace(tmp, self.path(name))

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
        """Start a fresh record: remove metrics/samples/summary left by an earlier run in the same directory."""
        if not self.enabled:
            return
        for name in (METRICS_FILE, SAMPLES_FILE, SUMMARY_FILE):
            self.path(name).unlink(missing_ok=True)

    def truncate_after(self, step: int) -> None:
        """Drop the metrics/samples lines of evaluations after ``step`` (used when resuming from a checkpoint
        at ``step``: those evaluations will be recomputed)."""
        if not self.enabled:
            return
        for name in (METRICS_FILE, SAMPLES_FILE):
            p = self.path(name)
            if not p.exists():
                continue
            kept = [r for r in read_jsonl(p) if int(r.get("step", 0)) <= step]
            tmp = self.path(name + ".tmp")
            tmp.write_text("".join(_dump(r) + "\n" for r in kept), encoding="utf-8")
            os.replace(tmp, p)

    def metrics(self) -> list[dict]:
        return read_jsonl(self.path(METRICS_FILE))


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


def load_config(run_dir: str | Path) -> dict:
    """The run's ``config.json`` as a dict (empty when absent)."""
    p = _run_dir(run_dir) / CONFIG_FILE
    return json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}


def load_summary(run_dir: str | Path) -> dict:
    """The run's ``summary.json`` as a dict (empty when the run has not written one yet)."""
    p = _run_dir(run_dir) / SUMMARY_FILE
    return json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}


def load_samples(run_dir: str | Path):
    """``samples.jsonl`` as a DataFrame (columns step, split, question, generation, answer)."""
    import pandas as pd

    rows = read_jsonl(_run_dir(run_dir) / SAMPLES_FILE)
    return pd.DataFrame(rows, columns=None if rows else ["step", "split", "question", "generation", "answer"])


def load_run(run_dir: str | Path):
    """One row per evaluation of a run (``metrics.jsonl``), plus columns ``run`` (the directory name) and
    ``method, beta, alpha, gamma, learning_rate, seed`` from ``config.json``. Sorted by step."""
    import pandas as pd

    p = _run_dir(run_dir)
    config = load_config(p)
    rows = read_jsonl(p / METRICS_FILE)
    df = pd.DataFrame(rows)
    if df.empty:
        df = pd.DataFrame(columns=["step", "epoch"])
    df.insert(0, "run", p.name)
    for i, key in enumerate(RUN_COLUMNS):
        if key not in df.columns:
            df.insert(1 + i, key, config.get(key))
    if "step" in df.columns and len(df):
        df = df.sort_values("step", kind="stable").reset_index(drop=True)
    return df


def load_runs(run_dirs: str | Path | Iterable[str | Path]):
    """Concatenate :func:`load_run` over several runs.

    ``run_dirs``: an iterable of run directories, or one directory whose sub-directories are runs (those holding
    a ``config.json``/``metrics.jsonl``).
    """
    import pandas as pd

    if isinstance(run_dirs, (str, Path)):
        root = Path(run_dirs)
        if not root.is_dir():
            raise ValueError(f"run_dirs {str(root)!r} is not a directory")
        if (root / CONFIG_FILE).exists() or (root / METRICS_FILE).exists():
            dirs = [root]
        else:
            dirs = sorted(d for d in root.iterdir() if d.is_dir() and ((d / CONFIG_FILE).exists() or (d / METRICS_FILE).exists()))
    else:
        dirs = [Path(d) for d in run_dirs]
    if not dirs:
        raise ValueError("run_dirs holds no run records")
    frames = [load_run(d) for d in dirs]
    return pd.concat(frames, ignore_index=True, sort=False)
