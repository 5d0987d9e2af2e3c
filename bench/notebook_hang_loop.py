"""Execute notebooks again and again beside busy CPU cores and count the executions that hang.

Usage (from the repository root, after `make install`):

    .venv/bin/python bench/notebook_hang_loop.py                          # 20 × notebooks 03 and 04, 1 busy core
    .venv/bin/python bench/notebook_hang_loop.py --runs 5 --busy 2 --mode nbconvert --notebooks 03

Each execution runs a notebook top to bottom in smoke mode (``NPO_LAB_SMOKE=1``), as `tests/test_notebooks.py`
does: ``--mode nbclient`` with :class:`nbclient.NotebookClient` in this process, ``--mode nbconvert`` as a
``jupyter nbconvert --to notebook --execute`` subprocess (what a user types). ``--busy N`` starts N processes
spinning ``while True: pass`` for the whole loop (they are stopped at the end), so the kernel, the client and the
notebook's own work compete for the cores as on a loaded laptop.

A cell that runs longer than ``--cell-timeout`` seconds counts as a **hang**: the kernel's threads are dumped
(``faulthandler`` on SIGUSR1, registered when the kernel starts) into ``--out``/hang-<n>.txt, with the client's
view (the cell, the time it started, the last message received), and the kernel is shut down. Prints one line per
execution and a summary with the load average; writes every number to ``--out``/notebook_hang_loop.json, with,
for each execution that ends, where its time went (the kernel's start, its slowest cell, the kernel's shutdown).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Registered in the kernel before the first cell: SIGUSR1 dumps every thread's Python stack into a file whose path
# the loop passes in the kernel's environment (the notebook's own cells are not changed).
_FAULTHANDLER_LINE = (
    "import faulthandler as _fh, os as _os, signal as _sg; "
    "_f = open(_os.environ['NPO_LAB_HANG_DUMP'], 'a'); _fh.register(_sg.SIGUSR1, file=_f, all_threads=True)"
)


def _notebook(stem: str) -> Path:
    found = sorted((ROOT / "notebooks").glob(f"{stem}*.ipynb"))
    if len(found) != 1:
        raise ValueError(f"--notebooks: {stem!r} must name exactly one notebook under notebooks/, found {found}")
    return found[0]


def _env(workdir: Path, dump: Path) -> dict:
    env = dict(os.environ)
    env.update(
        NPO_LAB_SMOKE="1",
        MPLBACKEND="Agg",
        HF_HUB_OFFLINE="1",
        NPO_LAB_CACHE=str(workdir / "cache"),
        NPO_LAB_HANG_DUMP=str(dump),
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )
    return env


def _pending(channel) -> list[dict]:
    """The messages waiting in a client channel's socket (zmq poll with timeout 0, then recv)."""
    import zmq

    out = []
    sock = zmq.Socket.shadow(channel.socket.underlying)  # a plain (blocking-API) view of the asyncio socket
    while sock.poll(0, zmq.POLLIN):
        frames = sock.recv_multipart()
        _, msg_frames = channel.session.feed_identities(frames)
        msg = channel.session.deserialize(msg_frames)
        out.append(
            {
                "msg_type": msg["header"]["msg_type"],
                "parent_type": msg["parent_header"].get("msg_type"),
                "state": msg["content"].get("execution_state"),
            }
        )
    return out


def run_nbclient(path: Path, workdir: Path, dump: Path, cell_timeout: float) -> dict:
    """One execution in this process; returns {"status", "seconds", "cell", ...}."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError

    old = dict(os.environ)
    os.environ.update(_env(workdir, dump))  # the kernel inherits this process's environment
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=cell_timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
        extra_arguments=[f"--IPKernelApp.exec_lines={[_FAULTHANDLER_LINE]!r}"],
    )
    state: dict = {"cell": None, "cell_seconds": {}}

    def cell_start(cell, cell_index):
        state.update(cell=cell_index, cell_started=time.perf_counter())
        state.setdefault("first_cell_at", state["cell_started"])

    def cell_executed(cell, cell_index, execute_reply):  # the reply came (nbclient's on_cell_complete: sent)
        state["last_reply"], state["last_complete_at"] = cell_index, time.perf_counter()
        state["cell_seconds"][cell_index] = state["last_complete_at"] - state["cell_started"]

    client.on_cell_start = cell_start
    client.on_cell_executed = cell_executed
    client.on_cell_complete = lambda cell, cell_index: state.update(completed=cell_index)
    import nbclient.output_widget as ow

    publish = ow.OutputWidget._publish_msg

    def counted(self, *a, **k):
        state["comm_sent"] = state.get("comm_sent", 0) + 1
        return publish(self, *a, **k)

    ow.OutputWidget._publish_msg = counted
    t0 = time.perf_counter()
    try:
        with client.setup_kernel():
            kernel_pid = client.km.provisioner.pid if client.km.provisioner else None
            try:
                info = client.wait_for_reply(client.kc.kernel_info())
                client.nb.metadata["language_info"] = info["content"]["language_info"]
                for index, cell in enumerate(client.nb.cells):
                    client.execute_cell(cell, index)
            except CellTimeoutError as e:
                # where is the reply? messages already in the client's sockets, read with a plain zero-timeout
                # poll (no event-loop wake-up involved): an execute_reply waiting here was missed by the client
                pending = {name: _pending(getattr(client.kc, f"{name}_channel")) for name in ("shell", "iopub")}
                if kernel_pid:
                    os.kill(kernel_pid, signal.SIGUSR1)
                    time.sleep(2.0)
                cell = state["cell"]
                return {
                    "status": "hang",
                    "seconds": time.perf_counter() - t0,
                    "cell": cell,
                    "cell_source": nb.cells[cell].source[:300] if cell is not None else None,
                    "last_reply_cell": state.get("last_reply"),
                    "error": str(e).splitlines()[0],
                    "kernel_pid": kernel_pid,
                    "pending_in_client": pending,
                    "comm_msgs_sent_by_client": state.get("comm_sent", 0),
                }
    except Exception as e:  # an error in a cell is a failure, not a hang
        return {"status": "error", "seconds": time.perf_counter() - t0, "cell": state["cell"], "error": repr(e)[:500]}
    finally:
        ow.OutputWidget._publish_msg = publish
        os.environ.clear()
        os.environ.update(old)
    end = time.perf_counter()
    slowest = max(state["cell_seconds"], key=state["cell_seconds"].get, default=None)
    return {
        "status": "ok",
        "seconds": end - t0,
        "comm_msgs_sent_by_client": state.get("comm_sent", 0),
        # where a slow execution spent its time: starting the kernel, a cell, or shutting the kernel down
        "kernel_start_seconds": state.get("first_cell_at", end) - t0,
        "after_last_cell_seconds": end - state.get("last_complete_at", end),
        "slowest_cell": slowest,
        "slowest_cell_seconds": state["cell_seconds"].get(slowest),
        "slowest_cell_source": nb.cells[slowest].source[:200] if slowest is not None else None,
    }


def run_nbconvert(path: Path, workdir: Path, dump: Path, cell_timeout: float) -> dict:
    """One ``jupyter nbconvert --execute`` subprocess; a cell timeout (reported by nbconvert) is a hang."""
    jupyter = Path(sys.executable).with_name("jupyter")
    cmd = [
        str(jupyter),
        "nbconvert",
        "--to",
        "notebook",
        "--execute",
        f"--ExecutePreprocessor.timeout={int(cell_timeout)}",
        "--ExecutePreprocessor.kernel_name=python3",
        f"--ExecutePreprocessor.extra_arguments={[f'--IPKernelApp.exec_lines={[_FAULTHANDLER_LINE]!r}']!r}",
        "--output-dir",
        str(workdir),
        str(path),
    ]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=workdir, env=_env(workdir, dump), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        _, err = proc.communicate(timeout=cell_timeout * 40)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        return {"status": "hang", "seconds": time.perf_counter() - t0, "error": "whole execution timed out"}
    seconds = time.perf_counter() - t0
    if proc.returncode == 0:
        return {"status": "ok", "seconds": seconds}
    status = "hang" if "CellTimeoutError" in err or "timed out" in err else "error"
    return {"status": status, "seconds": seconds, "error": err.strip().splitlines()[-1][:500] if err else ""}


def _write(out: Path, args, versions: dict, records: list, load0: tuple) -> dict:
    """Write the loop's record so far to ``out``/notebook_hang_loop.json; returns the counts by status."""
    counts = {s: sum(r["status"] == s for r in records) for s in ("ok", "hang", "error")}
    summary = {
        "mode": args.mode,
        "runs": args.runs,
        "notebooks": args.notebooks,
        "busy": args.busy,
        "cell_timeout": args.cell_timeout,
        "versions": versions,
        "counts": counts,
        "load_average_start": load0,
        "load_average_now": os.getloadavg(),
        "records": records,
    }
    (out / "notebook_hang_loop.json").write_text(json.dumps(summary, indent=2))
    return counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=20, help="executions of each notebook (default 20)")
    p.add_argument("--notebooks", nargs="+", default=["03", "04"], help="notebook numbers (default 03 04)")
    p.add_argument("--busy", type=int, default=1, help="busy-loop processes beside the executions (default 1)")
    p.add_argument("--mode", choices=("nbclient", "nbconvert"), default="nbclient")
    p.add_argument("--cell-timeout", type=float, default=180.0, help="seconds before a cell counts as hung")
    p.add_argument("--out", default=None, help="folder for the JSON record and hang dumps (default: a temp dir)")
    args = p.parse_args(argv)
    if args.runs < 1:
        raise ValueError(f"--runs must be >= 1, got {args.runs}")
    if args.busy < 0:
        raise ValueError(f"--busy must be >= 0, got {args.busy}")
    paths = [_notebook(s) for s in args.notebooks]
    out = Path(args.out or tempfile.mkdtemp(prefix="notebook_hang_loop_"))
    out.mkdir(parents=True, exist_ok=True)
    runner = run_nbclient if args.mode == "nbclient" else run_nbconvert
    versions = {}
    for name in ("ipykernel", "jupyter_client", "nbclient", "pyzmq", "tornado", "ipywidgets", "comm"):
        from importlib.metadata import PackageNotFoundError, version

        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    print(f"versions: {versions}")
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))  # `kill PID` also stops the busy loops (finally:)
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    records, load0 = [], os.getloadavg()
    try:
        for i in range(args.runs):
            for path in paths:
                workdir = out / f"run{i:02d}_{path.stem}"
                workdir.mkdir(parents=True, exist_ok=True)
                dump = out / f"hang-{len(records):03d}.txt"
                r = runner(path, workdir, dump, args.cell_timeout)
                r.update(run=i, notebook=path.stem, load1=os.getloadavg()[0])
                if r["status"] == "hang":
                    r["dump"] = str(dump)
                    (out / f"hang-{len(records):03d}.json").write_text(json.dumps(r, indent=2))
                records.append(r)
                _write(out, args, versions, records, load0)  # after every execution: a partial loop keeps its record
                extra = f" cell {r.get('cell')}: {r.get('error', '')}" if r["status"] != "ok" else ""
                line = f"[{i + 1:2d}/{args.runs}] {path.stem:28s} {r['status']:5s} {r['seconds']:7.1f} s{extra}"
                print(line, flush=True)
    finally:
        for b in busy:
            b.kill()
            b.wait()
    counts = _write(out, args, versions, records, load0)
    load1 = os.getloadavg()
    print(
        f"{len(records)} executions ({args.mode}, {args.busy} busy core(s)): {counts['ok']} ok, {counts['hang']} hung, "
        f"{counts['error']} failed; load average {load0[0]:.1f} → {load1[0]:.1f} (1 min); record: {out}"
    )
    return 0 if counts["hang"] == 0 and counts["error"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
