"""A JupyterLab server and a headless Chromium page driving it, for tests/test_browser.py.

The server runs from the virtual environment that runs the tests, on a free port of 127.0.0.1, with a random token,
over a copy of the notebooks in a temporary folder (saving never touches the repository). Its configuration,
settings, workspaces and kernels live in that folder too: a student's defaults, nothing from the user's home. Two
kernels exist: ``python3`` and ``npo_lab_smoke`` (the same Python with ``NPO_LAB_SMOKE=1``), so that one server
runs some notebooks at full size and the long ones in smoke mode.

Chromium is Debian's (``/usr/bin/chromium``, or ``$NPO_LAB_CHROMIUM``) started by playwright with a fresh profile;
playwright downloads no browser. The machine needs no network.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

CHROMIUM = os.environ.get("NPO_LAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SMOKE_KERNEL = "npo_lab_smoke"
_PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
#: texts that must appear nowhere on a page (JupyterLab's and ipywidgets' own messages)
ERROR_TEXTS = ("model not found", "Error displaying widget", "Traceback (most recent call last)")

# JavaScript run in the page ------------------------------------------------------------------------------------
_JS_STATE = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const prompts = panel ? [...panel.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
    .map(p => p.textContent.trim()) : [];
  const status = [...document.querySelectorAll('.jp-StatusBar-TextItem')].map(e => e.textContent).join(' | ');
  return {prompts, status};
}"""
# every output of the open notebook: its cell's index, its MIME type and its text
_JS_OUTPUTS = """() => {
  const cells = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell')];
  const out = [];
  cells.forEach((cell, i) => cell.querySelectorAll('.jp-OutputArea-output').forEach(o => out.push(
    {cell: i, mime: o.getAttribute('data-mime-type') || '', text: o.innerText.slice(0, 2000)})));
  return out;
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def missing_requirements() -> str | None:
    """Why the browser test cannot run here (``None`` when it can)."""
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set NPO_LAB_CHROMIUM)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright)"
    if shutil.which("jupyter", path=str(Path(sys.executable).parent)) is None:
        return f"no jupyter next to {sys.executable} (pip install jupyterlab)"
    return None


class LabServer:
    """``jupyter lab`` over copies of ``notebooks`` in ``work``; a context manager. ``env`` adds to the server's
    environment (and so to every kernel's)."""

    def __init__(self, work: Path, notebooks: list[Path], env: dict[str, str] | None = None, smoke=()):
        self.work, self.port, self.token = Path(work), free_port(), secrets.token_hex(16)
        self.root = self.work / "notebooks"
        self.root.mkdir(parents=True)
        for path in notebooks:  # the smoke-mode ones get the smoke kernel
            nb = json.loads(path.read_text(encoding="utf-8"))
            nb["metadata"].pop("jupytext", None)  # no paired .py written next to the copy on every (auto)save
            if path.name[:2] in smoke:
                nb["metadata"]["kernelspec"] = {"name": SMOKE_KERNEL, "display_name": "npo_lab (smoke)"}
            (self.root / path.name).write_text(json.dumps(nb, indent=1), encoding="utf-8")
        self.env = dict(os.environ, **(env or {}))
        for key in ("MPLBACKEND", "NPO_LAB_SMOKE", "JUPYTER_PATH", "JUPYTER_CONFIG_PATH"):
            self.env.pop(key, None)  # the notebooks' inline backend; smoke mode only through the smoke kernel
        dirs = {k: self.work / k.lower() for k in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR")}
        self.env.update({k: str(v) for k, v in dirs.items()})
        self.env["IPYTHONDIR"] = str(self.work / "ipython")
        labconfig = dirs["JUPYTER_CONFIG_DIR"] / "labconfig"
        labconfig.mkdir(parents=True)  # no "get notified about Jupyter news?" pop-up (it would fetch from the web)
        disabled = {"@jupyterlab/apputils-extension:announcements": True}
        (labconfig / "page_config.json").write_text(json.dumps({"disabledExtensions": disabled}))
        tracker = self.work / "settings" / "@jupyterlab" / "notebook-extension"
        tracker.mkdir(parents=True)  # every cell in the page, so that its outputs can be read and shot
        (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
        kernel = dirs["JUPYTER_DATA_DIR"] / "kernels" / SMOKE_KERNEL
        kernel.mkdir(parents=True)
        spec = {
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "npo_lab (smoke)",
            "language": "python",
            "env": {"NPO_LAB_SMOKE": "1"},
        }
        (kernel / "kernel.json").write_text(json.dumps(spec))
        self.proc = None
        self.log = self.work / "jupyter.log"

    def url(self, path: str = "lab") -> str:
        return f"http://127.0.0.1:{self.port}/{path}?token={self.token}"

    def api(self, path: str, method: str = "GET"):
        """A call of the server's REST API; returns the decoded JSON (``None`` for an empty reply)."""
        import urllib.request

        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=60) as reply:
            body = reply.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        for kernel in self.api("kernels"):
            self.api(f"kernels/{kernel['id']}", method="DELETE")

    def __enter__(self) -> LabServer:
        cmd = [
            str(Path(sys.executable).parent / "jupyter"),
            "lab",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            f"--LabApp.user_settings_dir={self.work / 'settings'}",
            f"--LabApp.workspaces_dir={self.work / 'workspaces'}",
            "--LabApp.extension_manager=readonly",  # no package index queries
        ]
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    log = self.log.read_text()[-3000:]
                    raise RuntimeError(f"jupyter lab did not listen within 120 s:\n{log}") from None
                time.sleep(0.3)

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # the server shuts its kernels down
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def launch_chromium(playwright, profile: Path, width: int = 1600, height: int = 1000):
    """Debian's Chromium with a fresh profile; returns (context, page)."""
    context = playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": width, "height": height},
    )
    page = context.pages[0] if context.pages else context.new_page()
    return context, page


class Notebook:
    """One notebook open in JupyterLab on ``page``."""

    def __init__(self, page, server: LabServer, name: str, shots: Path):
        self.page, self.server, self.name, self.shots = page, server, name, shots
        self.shots.mkdir(parents=True, exist_ok=True)

    # -- opening, running, saving --------------------------------------------------------------------------------
    def open(self, timeout: float = 120) -> None:
        # a workspace of its own: the tabs of the notebooks opened before are not restored (nor their kernels)
        self.page.goto(self.server.url(f"lab/workspaces/{Path(self.name).stem[:2]}/tree/{self.name}"))
        self.page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=timeout * 1000)
        self.wait_kernel_idle(timeout)

    def wait_kernel_idle(self, timeout: float) -> None:
        self.page.wait_for_function(
            "() => /\\|\\s*Idle/.test([...document.querySelectorAll('.jp-StatusBar-TextItem')]"
            ".map(e => e.textContent).join(' '))",
            timeout=timeout * 1000,
        )

    def menu(self, top: str, item: str) -> None:
        self.page.locator(".lm-MenuBar-itemLabel", has_text=top).first.click()
        self.page.locator(".lm-Menu-itemLabel", has_text=item).first.click()

    def run_all(self, timeout: float, settle: float = 1.5) -> float:
        """Run → Run All Cells; waits until no visible cell is running and the kernel has been idle for ``settle``
        seconds (the cells whose source is hidden show no prompt: :meth:`saved_notebook` tells whether they ran).
        Returns the seconds."""
        t0 = time.monotonic()
        self.menu("Run", "Run All Cells")
        running = (
            f"[...document.querySelectorAll('{_PANEL} .jp-InputArea-prompt')].some(p => p.textContent.includes('*'))"
        )
        self.page.wait_for_function(f"() => {running}", timeout=30_000)
        idle_since = None
        while True:
            state = self.page.evaluate(_JS_STATE)
            idle = "Idle" in state["status"] and not any("*" in p for p in state["prompts"])
            now = time.monotonic()
            idle_since = (idle_since or now) if idle else None
            if idle_since is not None and now - idle_since >= settle:
                return idle_since - t0
            if now - t0 > timeout:
                raise TimeoutError(f"{self.name}: Run All did not finish in {timeout:.0f} s: {state['prompts']}")
            time.sleep(0.25)

    def prompts(self) -> list[str]:
        return self.page.evaluate(_JS_STATE)["prompts"]

    def save(self) -> None:
        self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").first.click(position={"x": 5, "y": 5})
        self.menu("File", "Save Notebook")
        self.page.wait_for_function(
            "() => !document.querySelector('.jp-mod-current.jp-mod-dirty, .lm-TabBar-tab.lm-mod-current.jp-mod-dirty')",
            timeout=30_000,
        )

    def saved_code_cells(self) -> list[dict]:
        """The code cells of the notebook file as saved on disk."""
        nb = json.loads((self.server.root / self.name).read_text(encoding="utf-8"))
        return [c for c in nb["cells"] if c["cell_type"] == "code"]

    def reload(self, timeout: float = 120) -> None:
        self.page.reload()
        self.page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=timeout * 1000)
        self.wait_kernel_idle(timeout)
        time.sleep(2.0)  # widget views restore asynchronously after the kernel connects

    def close_and_shutdown(self) -> None:
        """Shut every kernel of the server down (through its REST API, whatever state the page is in), so the next
        notebook gets the CPU and memory."""
        self.server.shutdown_kernels()

    # -- reading the page ----------------------------------------------------------------------------------------
    def outputs(self) -> list[dict]:
        return self.page.evaluate(_JS_OUTPUTS)

    def page_text(self) -> str:
        return self.page.evaluate("() => document.body.innerText")

    def widgets(self):
        """The top-level widget views of the notebook's outputs (locators)."""
        sel = f"{_PANEL} .jp-OutputArea-output:has(> .jupyter-widgets)"
        return [self.page.locator(sel).nth(i) for i in range(self.page.locator(sel).count())]

    def shoot_notebook(self, tag: str, max_height: int = 16_000) -> Path:
        """A screenshot of the whole notebook, for a person to look at: the window is made as tall as the notebook
        (up to ``max_height`` pixels) for the shot."""
        path = self.shots / f"{Path(self.name).stem}_{tag}.png"
        size = self.page.viewport_size
        outer = f"document.querySelector('{_PANEL} .jp-WindowedPanel-outer')"
        height = self.page.evaluate(f"() => {{ const e = {outer}; e.scrollTop = 0; return e.scrollHeight; }}")
        self.page.set_viewport_size({"width": size["width"], "height": min(max_height, height + 200)})
        try:
            time.sleep(0.5)
            self.page.screenshot(path=str(path))
        finally:
            self.page.set_viewport_size(size)
        return path


def image_difference(a: bytes, b: bytes) -> float:
    """The fraction of pixels that differ between two PNGs (1.0 when their sizes differ)."""
    import numpy as np
    from PIL import Image

    x = np.asarray(Image.open(io.BytesIO(a)).convert("RGB"), dtype=np.int16)
    y = np.asarray(Image.open(io.BytesIO(b)).convert("RGB"), dtype=np.int16)
    if x.shape != y.shape:
        return 1.0
    return float((np.abs(x - y).max(axis=2) > 8).mean())


def ink_on_border(png: bytes, width: int = 3, background_tolerance: int = 24) -> dict[str, int]:
    """Pixels within ``width`` pixels of each image edge that are not the background colour (the top-left pixel's):
    a text or line cut at the image's edge leaves some (Agg leaves the outermost two pixels blank, so a cut title
    shows from the third). ``{"left": n, "right": n, "top": n, "bottom": n}``."""
    import numpy as np
    from PIL import Image

    x = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
    ink = np.abs(x - x[0, 0]).max(axis=2) > background_tolerance
    return {
        "left": int(ink[:, :width].sum()),
        "right": int(ink[:, -width:].sum()),
        "top": int(ink[:width, :].sum()),
        "bottom": int(ink[-width:, :].sum()),
    }
