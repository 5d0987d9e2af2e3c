"""npo_lab.runtime: worker processes (spawned, fixed threads, Ctrl-C passed on once and ignored when idle)."""

from __future__ import annotations

import os
import signal

import pytest

from npo_lab.runtime import WorkerPool, interruptible


def test_worker_pool_runs_tasks_in_other_processes_and_survives_an_interrupt_while_idle():
    pool = WorkerPool.start(2, 1, warm=os.getpid)
    try:
        pids = {pool.executor.submit(os.getpid).result(timeout=120) for _ in range(4)}
        assert os.getpid() not in pids and 1 <= len(pids) <= 2
        assert pool.executor.submit(os.getpgrp).result(timeout=60) != os.getpgrp()  # its own process group
    finally:
        pool.interrupt()  # idle workers ignore Ctrl-C: the pool ends cleanly, nothing is left running
    with pytest.raises(RuntimeError):
        pool.executor.submit(os.getpid)


def test_interruptible_raises_keyboard_interrupt_inside_and_restores_the_handler():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with pytest.raises(KeyboardInterrupt):
            with interruptible():
                signal.raise_signal(signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        signal.raise_signal(signal.SIGINT)  # ignored again outside the block
    finally:
        signal.signal(signal.SIGINT, previous)
