"""The multi-process path: `accelerate launch` with two DDP processes (gloo, CPU) runs an NPO+RT unlearning of a
tiny model end to end through the CLI and writes a run record. The same code runs under DDP / DeepSpeed on GPUs.

Note: on a CPU machine `accelerate launch --multi_gpu --num_processes 2` (or the config
npo_lab/gpu/accelerate/cpu_2proc.yaml) starts two processes; `--cpu --num_processes 2` silently starts one. The test
checks that the Trainer really saw world size 2.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from npo_lab.gpu import accelerate_config
from npo_lab.runs import load_run, read_jsonl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _accelerate() -> list[str]:
    exe = Path(sys.executable).with_name("accelerate")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("accelerate")
    if found:
        return [found]
    return [sys.executable, "-m", "accelerate.commands.launch"]


@pytest.mark.slow
@pytest.mark.parametrize("launch", ["config_file", "flags"])
def test_accelerate_two_process_npo_rt_via_cli(tmp_path, launch):
    from test_unlearn import tiny_setup

    from npo_lab.tofu.evaluate import evaluate
    from npo_lab.tofu.metrics import save_eval_log

    src, tok, make_model, forget, retain = tiny_setup(tmp_path / "data")
    model = make_model()
    model.save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    retain_log = tmp_path / "retain_log.json"
    save_eval_log(
        evaluate(
            model, tok, source=src, forget_split="forget01", max_rows=4, batch_size=8, max_new_tokens=6, progress=False
        ),
        retain_log,
    )
    out = tmp_path / "run"
    if launch == "config_file":
        how = ["--config_file", str(accelerate_config("cpu_2proc"))]
    else:
        how = [
            "--multi_gpu",
            "--num_processes",
            "2",
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
        ]
    cmd = _accelerate() + [
        "launch",
        *how,
        "-m",
        "npo_lab.cli",
        "unlearn",
        "--model",
        str(tmp_path / "model"),
        "--data",
        str(src),
        "--forget",
        "forget01",
        "--method",
        "NPO+RT",
        "--lr",
        "1e-3",
        "--batch-size",
        "2",
        "--epochs",
        "2",
        "--warmup-epochs",
        "0",
        "--eval-every",
        "2",
        "--eval-max-rows",
        "4",
        "--eval-batch-size",
        "8",
        "--retain-log",
        str(retain_log),
        "--no-progress",
        "--save-model",
        "--out",
        str(out),
    ]
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    env.pop("WORLD_SIZE", None)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["world_size"] == 2, "accelerate started one process, not two"
    # 8 forget rows / (2 per process x 2 processes) = 2 steps per epoch, 2 epochs
    assert summary["global_step"] == 4
    assert summary["effective_batch_size"] == 4
    rows = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [0, 2, 4]  # written once (main process only), step 0 included
    assert rows[0]["forget_quality"] == pytest.approx(1.0)  # the initial model against its own eval log
    assert rows[-1]["forget_probability"] < rows[0]["forget_probability"]
    assert json.loads((out / "config.json").read_text())["method"] == "NPO+RT"
    assert list((out / "model").glob("*.safetensors"))
    assert len(load_run(out)) == 3
    assert "completed: NPO+RT" in proc.stdout and proc.stdout.count("completed: NPO+RT") == 1
