"""npo_lab on GPUs: what fits and how long it takes (:mod:`~npo_lab.gpu.plan`), loading a checkpoint
(:mod:`~npo_lab.gpu.load`), a Colab session's runs (:mod:`~npo_lab.gpu.session`), the benchmark behind
``npo-lab bench-gpu`` (:mod:`~npo_lab.gpu.bench`), and the accelerate / DeepSpeed config files shipped with the
package (:func:`accelerate_config`).

    python -m npo_lab.gpu ddp                          # prints the path of the packaged ddp.yaml
    python -m npo_lab.gpu deepspeed_zero3 --out-dir .  # a copy usable from any directory (absolute JSON path)
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["ACCELERATE_DIR", "ACCELERATE_CONFIGS", "accelerate_config"]

#: the packaged config files (``npo_lab/gpu/accelerate/`` in a checkout and in an installed package)
ACCELERATE_DIR = Path(__file__).resolve().parent / "accelerate"
#: name -> what it is for (the files are ``<name>.yaml``)
ACCELERATE_CONFIGS = {
    "ddp": "data parallel, one process per GPU",
    "deepspeed_zero3": "DeepSpeed ZeRO-3, parameters, gradients and AdamW states sharded over the GPUs",
    "cpu_2proc": "two DDP processes on a CPU-only machine (gloo), the test suite's multi-process check",
}
_DS_LINE = re.compile(r"^(\s*deepspeed_config_file:\s*)(\S+)\s*$", re.M)


def accelerate_config(name: str, out_dir: str | Path | None = None) -> Path:
    """The path of the packaged accelerate config ``<name>.yaml`` (one of :data:`ACCELERATE_CONFIGS`).

    The DeepSpeed config names its JSON file by a path relative to the repository root, where the documented
    commands run. With ``out_dir`` the YAML file is copied into that directory with the JSON path made absolute,
    so that ``accelerate launch --config_file <copy>`` works from any directory (e.g. with an installed package).
    """
    if name not in ACCELERATE_CONFIGS:
        raise ValueError(f"name must be one of {', '.join(ACCELERATE_CONFIGS)}; got {name!r}")
    path = ACCELERATE_DIR / f"{name}.yaml"
    if out_dir is None:
        return path
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir {str(out)!r} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)

    def absolute(m: re.Match) -> str:
        return f"{m.group(1)}{(ACCELERATE_DIR / Path(m.group(2)).name).as_posix()}"

    copy = out / path.name
    copy.write_text(_DS_LINE.sub(absolute, path.read_text(encoding="utf-8")), encoding="utf-8")
    return copy
