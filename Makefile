# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_PIN ?= torch==2.13.0

.PHONY: install demo test test-slow test-browser test-all lint format lab figures bench clean student

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install "$(TORCH_PIN)"
	$(PY) -m pip install -e ".[dev]" "$(TORCH_PIN)"
	$(PY) -m ipykernel install --user --name npo_lab --display-name "npo_lab" >/dev/null
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/npo-lab demo --out runs/demo

# Three tiers, each on every core (pytest-xdist; tests sharing a costly module fixture stay on one worker):
#   test          every test not marked slow or browser: the library, the CLI, the notebooks' pairing (minutes)
#   test-slow     the end-to-end tests (marked slow): every notebook and student copy executed in smoke mode,
#                 demo, audit, multi-process runs, the wheel
#   test-browser  the notebooks in JupyterLab in headless Chromium (tests/test_browser.py)
# `make test-all` runs the three in turn; .ci/run does the same, with one model cache for the three
PYTEST := HF_HUB_OFFLINE=1 $(PY) -m pytest -q --dist loadgroup
test: $(STAMP) lint
	$(PYTEST) -n auto --maxprocesses 4 -m "not slow and not browser" tests

test-slow: $(STAMP)
	$(PYTEST) -n auto --maxprocesses 3 -m "slow and not browser" tests

test-browser: $(STAMP)
	$(PYTEST) -m browser tests

test-all: test test-slow test-browser

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

# the notebooks for students: every worked solution replaced by a stub (docs/teaching.md)
student: $(STAMP)
	$(VENV)/bin/npo-lab student-notebooks student_notebooks --overwrite

# the mini-TOFU panel reads the demo run; `make demo` runs first only when its summary is missing
figures: $(STAMP)
	test -f runs/demo/demo_summary.json || $(MAKE) demo
	$(VENV)/bin/npo-lab figures --out docs/figures --minitofu runs/demo

bench: $(STAMP)
	$(PY) bench/bench_ref_cache.py
	$(PY) bench/bench_evaluate.py
	$(PY) bench/bench_widgets.py
	$(PY) bench/bench_demo.py

clean:
	rm -rf $(VENV) runs .pytest_cache
