"""The synthetic experiment's seeds in forked processes (:func:`npo_lab.theory.parallel.map_forked`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import torch

from npo_lab.theory import make_task, random_features_experiment
from npo_lab.theory.parallel import can_fork, map_forked

pytestmark = pytest.mark.skipif(not can_fork(), reason="map_forked forks on Linux only (elsewhere it runs in turn)")


def _count_until_stopped(chunk, stop, tick):
    n = 0
    while not stop.is_set() and n < 10**8:
        n += 1
        if n % 1000 == 0:
            tick(1000)
    return (chunk, os.getpid(), n)


def test_forked_seeds_give_the_table_of_one_process():
    task = make_task(1, 3, pretrain_steps=300)
    one = random_features_experiment(task=task, steps=60, eval_every=20, workers=1)
    for workers in (2, 3):
        forked = random_features_experiment(task=task, steps=60, eval_every=20, workers=workers)
        assert forked.equals(one), workers


def test_stop_reaches_the_children_and_every_chunk_returns_its_part():
    stop, ticks = threading.Event(), []
    threading.Timer(0.5, stop.set).start()
    out = map_forked(_count_until_stopped, ["a", "b", "c"], stop, ticks.append)
    assert [c for c, _, _ in out] == ["a", "b", "c"]
    assert len({pid for _, pid, _ in out}) == 3 and out[0][1] == os.getpid()  # two other processes
    assert all(0 < n < 10**8 for _, _, n in out)  # each stopped early, none lost its count
    assert sum(ticks) >= sum(n // 1000 * 1000 for _, _, n in out[:1])  # the children's ticks came through too


def _fail(chunk, stop, tick):
    if chunk == "bad":
        raise ValueError("boom in a child")
    return chunk


def test_an_error_in_a_child_is_raised_here_with_its_traceback():
    with pytest.raises(RuntimeError, match="boom in a child"):
        map_forked(_fail, ["good", "bad"], threading.Event())


def test_ctrl_c_to_the_process_group_returns_the_evaluations_done_so_far(tmp_path):
    script = textwrap.dedent(
        """
        import sys, warnings
        from npo_lab.theory import make_task, random_features_experiment
        task = make_task(1, 2, pretrain_steps=200)
        print("ready", flush=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            df = random_features_experiment(task=task, steps=10**6, eval_every=50, workers=2)
        print("steps", df["step"].max(), "seeds", df["seed"].nunique(), [str(w.message) for w in caught], flush=True)
        """
    )
    env = {**os.environ, "NPO_LAB_CACHE": str(tmp_path)}
    # a session of its own, with SIGINT as in a terminal (a suite run as a background job ignores it, and passes
    # that on)
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(3.0)  # the run is under way (its set-up takes a fraction of a second)
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the parent and its forked child
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, out
    words = out.split()
    assert words[0] == "steps" and 0 < int(words[1]) < 10**6 and words[3] == "2", out
    assert "interrupted" in out


def test_a_child_ends_when_its_parent_is_killed(tmp_path):
    pid_file = tmp_path / "child.pid"
    script = textwrap.dedent(
        f"""
        import os, threading
        from npo_lab.theory.parallel import map_forked
        def work(chunk, stop, tick):
            if chunk == 1:
                open({str(pid_file)!r}, "w").write(str(os.getpid()))
            while not stop.is_set():
                pass
            return chunk
        map_forked(work, [0, 1], threading.Event())
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.time() + 60
        while not pid_file.exists() or not pid_file.read_text():
            assert time.time() < deadline, "the child did not start"
            time.sleep(0.05)
        child = int(pid_file.read_text())
    finally:
        proc.kill()
        proc.wait()
    deadline = time.time() + 10
    while _alive(child):
        assert time.time() < deadline, f"the forked child {child} outlived its parent"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"  # a zombie has ended (its new parent reaps it)
    except FileNotFoundError:
        return False


def test_pretraining_in_forked_processes_gives_the_heads_of_one_process(tmp_path, monkeypatch):
    from npo_lab.theory import random_features

    heads = []
    for workers in (1, 2):
        monkeypatch.setenv("NPO_LAB_CACHE", str(tmp_path / f"w{workers}"))
        random_features._make_task_cached.cache_clear()
        task = make_task(1, 3, pretrain_steps=500, workers=workers)
        heads.append((task.theta_ref, task.theta_retr))
    random_features._make_task_cached.cache_clear()
    assert all(torch.equal(a, b) for a, b in zip(*heads))


def _here_fails_there_spins(chunk, stop, tick):
    if chunk == "here":
        time.sleep(1.0)  # the child has started and written its pid
        raise KeyboardInterrupt  # as Ctrl-C in a loop that does not catch it (the pretraining)
    with open(chunk, "w") as f:
        f.write(str(os.getpid()))
    while True:  # ignores stop: only terminating ends it
        time.sleep(0.01)


def test_children_end_at_once_when_this_chunk_raises(tmp_path):
    pid_file = str(tmp_path / "child.pid")
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        map_forked(_here_fails_there_spins, ["here", pid_file], threading.Event())
    assert time.perf_counter() - t0 < 5.0  # not the 1 s + 5 s a join would wait
    assert not _alive(int(open(pid_file).read()))


def _short_here(chunk, stop, tick):
    return _count_until_stopped(chunk, stop, tick) if chunk != "here" else ("here", os.getpid(), 1)


def test_a_stop_set_while_waiting_for_the_children_reaches_them():
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()  # after this process's chunk is done, while it waits
    t0 = time.perf_counter()
    out = map_forked(_short_here, ["here", "b"], stop)
    assert out[0] == ("here", os.getpid(), 1) and 0 < out[1][2] < 10**8
    assert time.perf_counter() - t0 < 10
