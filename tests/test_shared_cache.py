"""One cache, several processes: cache entries are built atomically under a file lock, so two processes started
at the same moment on one empty ``NPO_LAB_CACHE`` both succeed with identical results (a notebook and
``make demo`` side by side, or a class sharing one cache)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from npo_lab.files import cache_entry, file_lock, write_json

ROOT = Path(__file__).resolve().parents[1]

# two processes wait for the file GO, then prepare the same mini-TOFU setting (10 synthetic authors: the
# generated author set, the subset directory, the tokenizer and both models are all cache entries)
PREPARE = """
import hashlib, json, os, sys, time
from pathlib import Path
go = Path(sys.argv[1])
while not go.exists():
    time.sleep(0.005)
from npo_lab.minitofu import MiniTofuConfig, prepare
cfg = MiniTofuConfig.smoke(epochs=1, n_authors=10, vocab_size=300, hidden_size=32, intermediate_size=64,
                           num_layers=1, num_heads=2, include_general=False)
s = prepare(cfg, "forget10", progress=False, check=True)
digest = hashlib.sha256()
for name, p in sorted(s.model.state_dict().items()) + sorted(s.retain_model.state_dict().items()):
    digest.update(name.encode()); digest.update(p.detach().cpu().numpy().tobytes())
print(json.dumps({"weights": digest.hexdigest(), "source": str(s.source_dir), "cached": s.log["cached"],
                  "check": s.log["check_forget10"], "vocab": len(s.tokenizer)}))
"""


def _env(cache: Path) -> dict:
    return {**os.environ, "NPO_LAB_CACHE": str(cache), "OMP_NUM_THREADS": "1", "NPO_LAB_SMOKE": "1"}


def _start_together(argvs: list[list[str]], go: Path, env: dict, cwd: Path) -> list[subprocess.CompletedProcess]:
    procs = [
        subprocess.Popen(a, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for a in argvs
    ]
    time.sleep(0.5)  # both are up (importing) before either may begin
    go.write_text("go")
    out = []
    try:
        for p in procs:
            stdout, stderr = p.communicate(timeout=3000)
            out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    finally:  # never leave a process behind
        for p in procs:
            if p.poll() is None:
                p.kill()
    return out


def test_two_processes_prepare_one_setting_on_an_empty_cache(tmp_path):
    cache, go = tmp_path / "cache", tmp_path / "go"
    script = [sys.executable, "-c", PREPARE, str(go)]
    results = _start_together([script, script], go, _env(cache), tmp_path)
    for r in results:
        assert r.returncode == 0, r.stderr[-2000:]
    a, b = (json.loads(r.stdout.strip().splitlines()[-1]) for r in results)
    assert a["weights"] == b["weights"] and a["source"] == b["source"] and a["vocab"] == b["vocab"]
    assert a["check"] == b["check"]
    # each entry was trained by exactly one of them; the other waited and loaded it
    for entry in a["cached"]:
        assert sorted([a["cached"][entry], b["cached"][entry]]) == [False, True], (a["cached"], b["cached"])
    # no temporary or half-written entry is left behind
    leftovers = [p.name for p in cache.rglob("*") if p.name.endswith((".tmp", ".old"))]
    assert leftovers == []


@pytest.mark.slow
@pytest.mark.timeout(3600)  # two full smoke demos side by side (minutes each on a loaded machine)
def test_two_demos_at_once_on_an_empty_cache(tmp_path):
    cache, go = tmp_path / "cache", tmp_path / "go"
    demo = (
        "import sys, time\nfrom pathlib import Path\ngo = Path(sys.argv[1])\n"
        "while not go.exists():\n    time.sleep(0.005)\n"
        "from npo_lab.cli import main\nsys.exit(main(sys.argv[2:]))\n"
    )
    argvs = [
        [sys.executable, "-c", demo, str(go), "demo", "--smoke", "--methods", "NPO+RT", "--out", str(tmp_path / d)]
        for d in ("a", "b")
    ]
    results = _start_together(argvs, go, _env(cache), tmp_path)
    for r in results:
        assert r.returncode == 0, r.stderr[-2000:]
    a, b = (json.loads((tmp_path / d / "demo_summary.json").read_text()) for d in ("a", "b"))
    assert a["methods"].keys() == b["methods"].keys() == {"NPO+RT"}
    assert a["methods"]["NPO+RT"]["evaluations"] == b["methods"]["NPO+RT"]["evaluations"]
    assert a["finetuned"] == b["finetuned"] and a["retain"] == b["retain"]
    for d in ("a", "b"):  # no raw Trainer log dicts between the demo's own lines
        out = next(r for r, name in zip(results, "ab") if name == d).stdout
        assert "{'loss'" not in out and "'grad_norm'" not in out


def test_cache_entry_builds_once_and_a_waiter_uses_the_result(tmp_path):
    entry, calls = tmp_path / "entry", []

    def build(d: Path) -> None:
        calls.append(threading.get_ident())
        (d / "part1").write_text("1")
        time.sleep(0.2)  # a reader arriving now must wait, not see a half-written entry
        (d / "part2").write_text("2")

    built = []
    threads = [threading.Thread(target=lambda: built.append(cache_entry(entry, build))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(built) == [False, False, True] and len(calls) == 1
    assert sorted(p.name for p in entry.iterdir()) == ["part1", "part2"]
    # a failed build leaves no entry and no temporary directory; force rebuilds in place
    with pytest.raises(RuntimeError):
        cache_entry(tmp_path / "broken", lambda d: (_ for _ in ()).throw(RuntimeError("boom")))
    assert not (tmp_path / "broken").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith((".tmp", ".old"))]
    assert cache_entry(entry, lambda d: (d / "new").write_text("n"), force=True) is True
    assert [p.name for p in entry.iterdir()] == ["new"]


def test_write_json_is_strict_and_atomic(tmp_path):
    p = write_json(tmp_path / "sub" / "x.json", {"a": float("nan"), "b": (1, float("inf")), "c": Path("p")})
    assert json.loads(p.read_text()) == {"a": None, "b": [1, None], "c": "p"}
    with pytest.raises(ValueError, match="cannot write"):
        write_json(p, {"a": object()})
    assert json.loads(p.read_text())["a"] is None  # the failed write left the old file whole
    assert [q.name for q in p.parent.iterdir()] == ["x.json"]
    with file_lock(tmp_path / "l.lock"):
        assert (tmp_path / "l.lock").exists()
