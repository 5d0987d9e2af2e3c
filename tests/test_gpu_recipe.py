"""The GPU recipes are runnable as written: the accelerate config files (package data, npo_lab/gpu/accelerate/)
exist and say what the docs say, every command in docs/multi_gpu.md, notebook 08 and the config files' comments
parses (accelerate's own launcher parser for `accelerate launch`, npo_lab's parsers for `npo-lab ...`), notebook 08
carries the Colab GPU metadata, and `npo-lab bench-gpu --tiny` runs its whole code path on a CPU.

No GPU is needed: these checks make sure that whoever has one can copy the commands and run them.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "multi_gpu.md"
NOTEBOOK_PY = ROOT / "notebooks" / "08_tofu_gpu.py"
NOTEBOOK_IPYNB = ROOT / "notebooks" / "08_tofu_gpu.ipynb"
ACCEL = ROOT / "npo_lab" / "gpu" / "accelerate"
ACCEL_REF = "npo_lab/gpu/accelerate/"  # how the docs and commands name the files (from the repository root)
EXPECTED_TYPES = {"ddp.yaml": "MULTI_GPU", "deepspeed_zero3.yaml": "DEEPSPEED", "cpu_2proc.yaml": "MULTI_GPU"}


# --------------------------------------------------------------------------------------------------------------
# extracting commands
# --------------------------------------------------------------------------------------------------------------
def _join_continuations(lines):
    out, cur = [], ""
    for line in lines:
        line = line.rstrip()
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        out.append(cur + line)
        cur = ""
    if cur:
        out.append(cur)
    return [c.strip() for c in out if c.strip()]


def fenced_commands(text: str, strip_prefix: str = "") -> list[str]:
    """Commands (continuation lines joined) in the ```bash blocks of ``text``; ``strip_prefix`` removes a comment
    marker such as ``# `` (py:percent markdown) from every line first."""
    if strip_prefix:
        text = "\n".join(
            line[len(strip_prefix) :] if line.startswith(strip_prefix) else line.lstrip("#")
            for line in text.splitlines()
        )
    blocks = [b for lang, b in re.findall(r"```(\w*)\n(.*?)```", text, flags=re.S) if lang in ("bash", "sh", "")]
    return [c for b in blocks for c in _join_continuations(b.splitlines())]


def comment_commands(path: Path) -> list[str]:
    """Commands written in the leading comments of a config file (``#   accelerate launch ... \\``)."""
    lines = [line[1:].strip() for line in path.read_text().splitlines() if line.startswith("#")]
    cmds = _join_continuations(lines)
    return [c for c in cmds if c.startswith(("accelerate launch", "npo-lab"))]


def split_command(cmd: str) -> list[str]:
    cmd = cmd.split("  #", 1)[0]  # a trailing comment
    return shlex.split(cmd)


def doc_commands():
    return [c for c in fenced_commands(DOC.read_text()) if c.startswith(("accelerate launch", "npo-lab"))]


def notebook_commands():
    return [
        c
        for c in fenced_commands(NOTEBOOK_PY.read_text(), strip_prefix="# ")
        if c.startswith(("accelerate launch", "npo-lab"))
    ]


def all_commands():
    cmds = [("docs/multi_gpu.md", c) for c in doc_commands()]
    cmds += [("notebooks/08_tofu_gpu.py", c) for c in notebook_commands()]
    for f in sorted(ACCEL.glob("*.yaml")):
        cmds += [(f"{ACCEL_REF}{f.name}", c) for c in comment_commands(f)]
    return cmds


def parse_npo_lab(argv: list[str]):
    """Parse ``npo-lab`` arguments with the real parser; argparse errors become a failed assertion."""
    from npo_lab.cli import COMMANDS, build_parser

    assert argv and argv[0] in COMMANDS, f"unknown npo-lab command in {argv}"
    parser = build_parser(argv[0])
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:  # argparse prints the reason to stderr
        raise AssertionError(f"npo-lab {' '.join(argv)} does not parse (exit {exc.code})") from None


def parse_accelerate(argv: list[str]):
    from accelerate.commands.launch import launch_command_parser

    try:
        return launch_command_parser().parse_args(argv)
    except SystemExit as exc:
        raise AssertionError(f"accelerate launch {' '.join(argv)} does not parse (exit {exc.code})") from None


# --------------------------------------------------------------------------------------------------------------
# config files
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(EXPECTED_TYPES))
def test_accelerate_config_files_load(name):
    path = ACCEL / name
    assert path.is_file(), f"{path} is missing"
    cfg = yaml.safe_load(path.read_text())
    assert cfg["distributed_type"] == EXPECTED_TYPES[name]
    assert cfg.get("use_cpu") in (False, None), f"{name}: use_cpu would start a single process"
    assert int(cfg["num_processes"]) >= 2
    # accelerate itself accepts the file
    from accelerate.commands.config.config_args import load_config_from_file

    loaded = load_config_from_file(str(path))
    assert str(loaded.distributed_type).endswith(EXPECTED_TYPES[name])


def test_deepspeed_config_is_zero3_with_auto_batch():
    cfg = yaml.safe_load((ACCEL / "deepspeed_zero3.yaml").read_text())
    ds_file = cfg["deepspeed_config"]["deepspeed_config_file"]
    ds_path = ROOT / ds_file  # relative to the repository root, where the commands run
    assert ds_path.is_file(), f"{ds_file} (referenced by deepspeed_zero3.yaml) is missing"
    ds = json.loads(ds_path.read_text())
    assert ds["zero_optimization"]["stage"] == 3
    for key in ("train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps"):
        assert ds[key] == "auto", f"{key} must be 'auto' so that the Trainer's arguments fill it in"


def test_docs_reference_every_config_file_and_only_existing_ones():
    text = DOC.read_text()
    referenced = set(re.findall(re.escape(ACCEL_REF) + r"[\w.\-]+\.(?:yaml|json)", text))
    assert referenced, "docs/multi_gpu.md references no accelerate config file"
    for ref in referenced:
        assert (ROOT / ref).is_file(), f"docs/multi_gpu.md references {ref}, which does not exist"
    for f in ACCEL.glob("*.yaml"):
        assert f"{ACCEL_REF}{f.name}" in referenced, f"{f.name} is not documented in docs/multi_gpu.md"


# --------------------------------------------------------------------------------------------------------------
# the documented commands
# --------------------------------------------------------------------------------------------------------------
def test_commands_were_found():
    docs = doc_commands()
    assert sum(c.startswith("accelerate launch") for c in docs) >= 3, docs  # DDP, ZeRO-3, LoRA
    assert any("deepspeed_zero3.yaml" in c for c in docs) and any("ddp.yaml" in c for c in docs)
    assert any("--lora-r" in c for c in docs)
    assert notebook_commands(), "notebook 08 shows no multi-GPU command"


@pytest.mark.parametrize(
    "where,cmd", [pytest.param(w, c, id=f"{Path(w).name}-{i}") for i, (w, c) in enumerate(all_commands())]
)
def test_documented_command_parses(where, cmd):
    argv = split_command(cmd)
    if argv[0] == "npo-lab":
        parse_npo_lab(argv[1:])
        return
    assert argv[:2] == ["accelerate", "launch"], f"{where}: unexpected command {cmd!r}"
    args = parse_accelerate(argv[2:])
    assert args.config_file, f"{where}: use a config file from {ACCEL_REF}"
    cfg_path = ROOT / args.config_file
    assert cfg_path.is_file(), f"{where}: {args.config_file} does not exist"
    assert args.module and args.training_script == "npo_lab.cli", f"{where}: launch `-m npo_lab.cli`"
    if "..." in args.training_script_args:  # a usage line with elided options (the CPU test config's comment)
        assert args.training_script_args[0] == "unlearn"
        return
    ns = parse_npo_lab(list(args.training_script_args))
    assert ns.command == "unlearn"
    # the effective batch of the documented recipes is the paper's 32 (cpu_2proc's test command excepted)
    if "cpu_2proc" not in args.config_file:
        n_proc = args.num_processes or yaml.safe_load(cfg_path.read_text())["num_processes"]
        assert ns.batch_size * ns.grad_accum * int(n_proc) == 32, f"{where}: effective batch is not 32: {cmd}"
    if "deepspeed" in args.config_file:  # ZeRO-3 shards parameters: no in-training evaluation possible
        assert ns.eval_every == -1 and ns.no_forget_quality and ns.save_model


def test_every_unlearn_flag_in_docs_and_notebook_exists():
    """A flag typo in an `npo-lab unlearn` command would only show on a GPU machine: check each against --help."""
    from npo_lab.cli import build_parser

    parser = build_parser("unlearn")
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices["unlearn"]
    known = {opt for a in sub._actions for opt in a.option_strings}
    used = set()
    for _, cmd in all_commands():
        argv = split_command(cmd)
        if "unlearn" in argv:
            used |= {a for a in argv[argv.index("unlearn") + 1 :] if a.startswith("--")}
    assert used, "no npo-lab unlearn command found"
    assert not used - known, f"unknown npo-lab unlearn flags: {sorted(used - known)}"


def test_bad_flag_is_rejected():
    """The parse check can fail: a misspelt flag does not parse."""
    with pytest.raises(AssertionError):
        parse_npo_lab(["unlearn", "--model", "m", "--out", "o", "--lora-rank", "16"])


def test_unlearn_help_via_module():
    """`python -m npo_lab.cli unlearn --help`, what `accelerate launch -m npo_lab.cli` runs, lists the flags."""
    proc = subprocess.run(
        [sys.executable, "-m", "npo_lab.cli", "unlearn", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    for flag in ("--lora-r", "--precision", "--gradient-checkpointing", "--grad-accum", "--retain-log"):
        assert flag in proc.stdout


# --------------------------------------------------------------------------------------------------------------
# notebook 08 metadata
# --------------------------------------------------------------------------------------------------------------
def test_notebook_08_is_colab_gpu_ready():
    nb = json.loads(NOTEBOOK_IPYNB.read_text())
    assert nb["metadata"].get("accelerator") == "GPU"
    assert "colab" in nb["metadata"]
    first = "".join(nb["cells"][0]["source"])
    assert "colab.research.google.com/github/npo-lab/npo_lab/blob/main/notebooks/08_tofu_gpu.ipynb" in first
    install = "".join(nb["cells"][1]["source"])
    assert 'find_spec("npo_lab")' in install or "import npo_lab" in install  # installs only when missing
    assert "pip" in install and "install" in install
    assert "git+https://github.com/npo-lab/npo_lab" in install
    src = NOTEBOOK_PY.read_text()
    for name in (
        "open-unlearning/tofu_Llama-3.2-1B-Instruct_full",
        "locuslab/tofu_ft_phi-1.5",
        "locuslab/tofu_ft_llama2-7b",
        "_retain90",
    ):
        assert name in src


# --------------------------------------------------------------------------------------------------------------
# the packaged config files
# --------------------------------------------------------------------------------------------------------------
def test_accelerate_config_helper(tmp_path):
    from npo_lab.gpu import ACCELERATE_CONFIGS, accelerate_config

    assert {p.stem for p in ACCEL.glob("*.yaml")} == set(ACCELERATE_CONFIGS)
    for name in ACCELERATE_CONFIGS:
        assert accelerate_config(name) == ACCEL / f"{name}.yaml"
    # a copy usable from any directory: the DeepSpeed JSON named by an absolute path
    copy = accelerate_config("deepspeed_zero3", out_dir=tmp_path / "cfg")
    ds = Path(yaml.safe_load(copy.read_text())["deepspeed_config"]["deepspeed_config_file"])
    assert ds.is_absolute() and ds == ACCEL / "ds_zero3.json"
    with pytest.raises(ValueError, match="name must be one of"):
        accelerate_config("fsdp")
    proc = subprocess.run(
        [sys.executable, "-m", "npo_lab.gpu", "ddp"], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert proc.returncode == 0 and Path(proc.stdout.strip()) == ACCEL / "ddp.yaml"


# --------------------------------------------------------------------------------------------------------------
# npo-lab bench-gpu
# --------------------------------------------------------------------------------------------------------------
def test_bench_gpu_tiny_runs_on_cpu(tmp_path):
    import torch

    from npo_lab.cli import main

    torch.set_num_threads(1)
    out = tmp_path / "bench.json"
    argv = ["bench-gpu", "--tiny", "--batch", "2", "--seq", "16", "--steps", "1", "--warmup", "1", "--grad-ckpt"]
    assert main([*argv, "--out", str(out)]) == 0
    rec = json.loads(out.read_text())  # strict JSON (no NaN)
    by = {r["config"]: r for r in rec["results"]}
    assert set(by) == {"full/cached", "full/recompute", "lora/cached", "lora/recompute"}
    assert rec["tiny"] and rec["grad_ckpt"]
    for r in by.values():
        assert r["step_s"] > 0 and r["tokens_per_s"] > 0
        assert r["peak_mem_gib"] is None and r["mfu"] is None  # unknown on a CPU, written as null
    assert by["lora/cached"]["trainable"] < by["full/cached"]["trainable"] == by["full/cached"]["params"]
    # the recompute run counts the extra reference forward: more model FLOPs per step than the cached run
    flops = {k: v["model_tflops_per_s"] * v["step_s"] for k, v in by.items()}
    assert flops["full/recompute"] == pytest.approx(flops["full/cached"] * 7 / 6, rel=1e-6)
    assert set(rec["ratios"]) >= {"full: cached/recompute step time", "cached: lora/full step time"}


def test_bench_gpu_user_errors_before_any_work(tmp_path, capsys):
    from npo_lab.cli import main

    assert main(["bench-gpu", "--tiny", "--steps", "0"]) == 2
    assert main(["bench-gpu", "--tiny", "--out", str(tmp_path / "missing" / "b.json")]) == 2
    assert main(["bench-gpu", "--tiny", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "npo-lab bench-gpu: error: --steps must be >= 1" in err and "does not exist" in err
    assert "is a directory" in err
