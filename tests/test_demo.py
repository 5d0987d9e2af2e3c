"""`npo-lab demo` (npo_lab.experiments): the demo summary's form, the config, the CLI's one-line user errors, the
forget KL metric, and the whole job in smoke mode (outputs, a rerun into the same directory, Ctrl-C)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from npo_lab.experiments import (
    DemoConfig,
    forget_kl,
    load_demo,
    repetition_rate,
    results_table,
    run_demo,
    summarize_runs,
    write_figures,
)

# the notebooks' smoke models (DemoConfig.smoke's): trained once per test run in the session cache (conftest.py)
SMOKE_MINITOFU = {"epochs": DemoConfig.smoke().minitofu_config().epochs}


@pytest.fixture(scope="module")
def shared_cache(npo_lab_cache):
    return npo_lab_cache


@pytest.fixture
def smoke(monkeypatch, tmp_path, shared_cache):
    monkeypatch.setenv("NPO_LAB_SMOKE", "1")
    monkeypatch.setenv("NPO_LAB_CACHE", str(shared_cache))
    return tmp_path


def _frames():
    return {
        "NPO+RT": pd.DataFrame(
            {
                "step": [0, 5, 10, 15],
                "epoch": [0.0, 1.0, 2.0, 3.0],
                "forget_quality": [1e-9, 0.2, 0.7, 0.4],
                "model_utility": [0.6, 0.5, 0.45, 0.58],
                "forget_probability": [0.9, 0.3, 0.2, 0.2],
                "forget_kl": [0.0, 1.0, 2.0, 2.5],
            }
        ),
        "GA": pd.DataFrame(
            {
                "step": [5, 10],
                "epoch": [1.0, 2.0],
                "forget_quality": [0.01, 0.3],
                "model_utility": [0.55, 0.1],
                "forget_probability": [0.1, 0.0],
            }
        ),
    }


def test_summarize_runs_form_peak_collapse_and_matched_utility():
    s = summarize_runs(_frames(), {"forget_quality": 1e-9, "model_utility": 0.6}, {"model_utility": 0.59}, 12.5)
    assert set(s) == {"finetuned", "retain", "thresholds", "methods", "wall_seconds", "claims"}
    m = s["methods"]["NPO+RT"]
    assert [e["step"] for e in m["evaluations"]] == [5, 10, 15]  # step 0 is the fine-tuned model
    assert [e["epoch"] for e in m["evaluations"]] == [1, 2, 3]
    assert set(m["evaluations"][0]) == {
        "step",
        "epoch",
        "forget_quality",
        "model_utility",
        "forget_probability",
        "forget_kl",
    }
    assert (m["peak_forget_quality"], m["step_of_peak"], m["epoch_of_peak"], m["model_utility_at_peak"]) == (
        0.7,
        10,
        2,
        0.45,
    )
    assert m["steps_to_collapse"] is None  # 0.45 >= 0.5 * 0.6
    assert m["forget_quality_at_matched_utility"] == 0.4  # utility >= 0.48 at steps 5 and 15
    ga = s["methods"]["GA"]
    assert ga["steps_to_collapse"] == 10 and ga["forget_quality_at_matched_utility"] == 0.01
    assert "forget_kl" not in ga["evaluations"][0]
    json.dumps(s, allow_nan=False)
    t = results_table(s)
    row = t[t["method"] == "NPO+RT"].iloc[0]
    assert row["first_good_epoch"] == 1 and row["utility_ratio_at_peak"] == pytest.approx(0.45 / 0.6)
    assert t[t["method"] == "GA"].iloc[0]["steps_to_collapse"] == 10


def test_summary_without_finetuned_utility_and_nonfinite_numbers():
    frames = {
        "GA": pd.DataFrame(
            {"step": [3], "epoch": [1.0], "forget_quality": [float("nan")], "model_utility": [float("inf")]}
        )
    }
    s = summarize_runs(frames, {}, {}, 1.0)
    ga = s["methods"]["GA"]
    assert ga["evaluations"][0]["forget_quality"] is None and ga["evaluations"][0]["model_utility"] is None
    assert ga["peak_forget_quality"] is None and ga["steps_to_collapse"] is None
    json.dumps(s, allow_nan=False)


def test_repetition_rate_separates_degenerate_from_fluent_text():
    fluent = "Wilhelmina Blackwood was born in Recife, Brazil, and her books are widely read."
    assert repetition_rate(fluent) < 0.1
    assert repetition_rate("DarioDarioDarioDarioDarioDarioDarioDario") > 0.7
    assert repetition_rate("the the the the the the the the the") > 0.7
    assert repetition_rate("") == 0.0


def test_figures_use_no_pyplot_state(tmp_path):
    import matplotlib
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend()
    before = plt.get_fignums()
    paths = write_figures(tmp_path, _frames(), {"forget_quality": 1e-9, "model_utility": 0.6}, {"model_utility": 0.59})
    assert [p.name for p in paths] == ["forget_quality_vs_utility.png", "over_epochs.png", "utility_vs_step.png"]
    assert all(p.stat().st_size > 0 for p in paths)
    assert plt.get_fignums() == before and matplotlib.get_backend() == backend


def test_config_validation_smoke_and_json(tmp_path):
    with pytest.raises(ValueError, match="unknown method"):
        DemoConfig(methods=("GA", "NOPE"))
    with pytest.raises(ValueError, match="forget_split"):
        DemoConfig(forget_split="forget11")
    with pytest.raises(ValueError, match="beta"):
        DemoConfig(beta=0)
    with pytest.raises(ValueError, match="epochs"):
        DemoConfig(epochs=-1)
    with pytest.raises(ValueError, match="device"):
        DemoConfig(device="tpu")
    with pytest.raises(ValueError, match="hidden_sise"):
        DemoConfig(minitofu={"hidden_sise": 3})
    assert DemoConfig(forget_split="forget90").resolved_alpha == 12.0
    small = DemoConfig.smoke(epochs=1, minitofu={"epochs": 1})
    assert (small.n_authors, small.epochs, small.eval_max_rows) == (10, 1.0, 8)
    mt = small.minitofu_config()
    assert mt.epochs == 1 and mt.hidden_size < DemoConfig().minitofu_config().hidden_size
    assert DemoConfig.load(small.save(tmp_path / "demo_config.json")) == small
    assert DemoConfig.from_dict({**small.to_dict(), "seed": 3}).seed == 3
    u = DemoConfig().unlearn_config("GA", tmp_path, n_forget=40)  # 5 steps per epoch: every 8th epoch's end
    assert (u.early_eval_every, u.early_eval_until, u.eval_every) == (0, 0, 40)
    assert DemoConfig(eval_every_epochs=1).unlearn_config("GA", tmp_path, n_forget=40).eval_every == 0
    u = DemoConfig(early_eval_every=1, early_eval_epochs=4, eval_every_epochs=2).unlearn_config(
        "GA", tmp_path, n_forget=40
    )
    assert (u.early_eval_every, u.early_eval_until, u.eval_every) == (1, 20, 10)
    u = DemoConfig(lr_scheduler="linear", warmup_epochs=1, ga_reduction="sum").unlearn_config("GA", tmp_path)
    assert (u.lr_scheduler, u.warmup_epochs, u.ga_reduction, u.beta) == ("linear", 1.0, "sum", DemoConfig().beta)


def test_config_nests_the_model_and_audit_configs_and_reads_demo_json(tmp_path):
    from npo_lab.audit import AuditConfig
    from npo_lab.minitofu import MiniTofuConfig

    cfg = DemoConfig(seed=2, n_authors=12, minitofu={"epochs": 3}, audit_config={"relearn_steps": 3})
    assert isinstance(cfg.minitofu, MiniTofuConfig) and isinstance(cfg.audit_config, AuditConfig)
    assert (cfg.minitofu.epochs, cfg.minitofu.seed, cfg.minitofu.n_authors) == (3, 2, 12)  # follows the demo
    assert cfg.audit_overrides() == {"relearn_steps": 3}
    assert cfg.to_dict()["minitofu"]["epochs"] == 3 and cfg.to_dict()["audit_config"]["relearn_steps"] == 3
    assert DemoConfig.from_json(cfg.to_json()) == cfg
    record = {"config": cfg.to_dict(), "status": "completed", "environment": {}, "defaults": {}, "methods": {}}
    (tmp_path / "demo.json").write_text(json.dumps(record))
    assert DemoConfig.load(tmp_path / "demo.json") == cfg  # a demo.json is a config file
    with pytest.raises(ValueError, match="minitofu: .*hidden_sise"):
        DemoConfig(minitofu={"hidden_sise": 3})
    with pytest.raises(ValueError, match="audit_config"):
        DemoConfig(audit_config=3)
    assert DemoConfig.smoke(audit_config={"seed": 4}).audit_config == AuditConfig.smoke().replace(seed=4)
    d = DemoConfig().record()
    assert (
        d["paper"]["learning_rate"] == 1e-5
        and d["used"]["beta"] == DemoConfig().beta
        and not d["changed_from_defaults"]
    )
    assert DemoConfig(beta=0.5).record()["changed_from_defaults"] == ["beta"]


def test_real_tofu_preset_is_chosen_for_a_directory_and_recorded(tmp_path, monkeypatch):
    import argparse

    from npo_lab.cli.demo import add_arguments, demo_config

    monkeypatch.delenv("NPO_LAB_SMOKE", raising=False)
    real = DemoConfig.from_preset("real-tofu", beta=0.03)
    assert (real.preset, real.beta, real.minitofu.epochs) == ("real-tofu", 0.03, 36)
    with pytest.raises(ValueError, match="preset"):
        DemoConfig(preset="nope")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    cfg = demo_config(parser.parse_args(["--data", str(tmp_path), "--ft-epochs", "30"]))
    assert (cfg.preset, cfg.beta, cfg.minitofu.epochs) == ("real-tofu", DemoConfig().beta, 30)  # explicit options win
    assert demo_config(parser.parse_args(["--data", str(tmp_path), "--preset", "none"])).preset is None
    assert demo_config(parser.parse_args([])).preset is None  # the bundled synthetic authors


def _cli(*argv):
    from npo_lab.cli import main

    return main(["demo", *argv])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--epochs", "-1"], "epochs"),
        (["--methods", "GA", "NOPE"], "unknown method"),
        (["--device", "tpu"], "device"),
        (["--time-budget", "-5"], "time_budget"),
        (["--eval-max-rows", "0"], "eval_max_rows"),
        (["--ft-epochs", "0"], "epochs"),
        (["--data", "/nonexistent/tofu"], "data"),
        (["--config", "/nonexistent/demo_config.json"], "does not exist"),
        (["--threads", "-1"], "threads"),
        (["--workers", "0"], "workers"),
        (["--lr-scheduler", "cosine"], "lr_scheduler"),
    ],
)
def test_cli_user_errors_are_one_line_before_any_work(argv, message, tmp_path, capsys):
    out = tmp_path / "demo"
    assert _cli("--out", str(out), *argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("npo-lab demo: error:") and message in err[0], err
    assert not out.exists()


def test_cli_refuses_an_out_that_is_a_file_or_a_foreign_directory(tmp_path, capsys):
    f = tmp_path / "notes.txt"
    f.write_text("mine")
    assert _cli("--out", str(f)) == 2
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "table.csv").write_text("my table")
    assert _cli("--out", str(foreign)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "existing file" in err[0] and "demo.json" in err[1]
    assert f.read_text() == "mine" and (foreign / "table.csv").read_text() == "my table"


def test_cli_unavailable_cuda_is_a_user_error(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert _cli("--out", str(tmp_path / "d"), "--device", "cuda") == 2
    assert "not available" in capsys.readouterr().err


def test_forget_kl_is_zero_against_itself_and_positive_after_a_change(smoke):
    import torch

    from npo_lab.minitofu import prepare

    s = prepare(DemoConfig.smoke(minitofu=SMOKE_MINITOFU).minitofu_config(), "forget10", progress=False, check=False)
    assert forget_kl(s.model, s.model, s.tokenizer, s.forget_rows) == pytest.approx(0.0, abs=1e-6)
    other = s.fresh_model()
    with torch.no_grad():
        other.lm_head.weight.mul_(1.5)
    v = forget_kl(other, s.model, s.tokenizer, s.forget_rows, batch_size=3)
    assert v > 0 and math.isfinite(v)
    assert v == pytest.approx(forget_kl(other, s.model, s.tokenizer, s.forget_rows, batch_size=64), rel=1e-4)


@pytest.mark.slow
def test_demo_smoke_end_to_end(smoke, capsys):
    out = smoke / "demo"
    rc = _cli(
        "--out",
        str(out),
        "--methods",
        "GA",
        "NPO+RT",
        "IDK+RT",
        "--time-budget",
        "inf",
        "--ft-epochs",
        str(SMOKE_MINITOFU["epochs"]),
    )
    assert rc == 0
    s = json.loads((out / "demo_summary.json").read_text())
    assert set(s["methods"]) == {"GA", "NPO+RT", "IDK+RT"}
    assert 0 <= s["finetuned"]["model_utility"] <= 1 and 0 <= s["finetuned"]["forget_quality"] <= 1
    assert 0 <= s["retain"]["model_utility"] <= 1 and s["wall_seconds"] > 0
    for name, m in s["methods"].items():
        # 20 forget rows, 8 per step: 3 steps per epoch; each epoch's end, and the steps the probes marked
        marked = {m[k] for k in ("matched_forgetting_step", "probe_collapse_step") if m[k] is not None}
        assert [e["step"] for e in m["evaluations"]] == sorted({3, 6} | marked)
        assert m["steps_to_collapse"] is None or m["steps_to_collapse"] in {3, 6} | marked
        assert all(e["step"] > 0 and e["forget_kl"] > 0 for e in m["evaluations"])
        probes = [json.loads(line) for line in (out / "runs" / name.replace("+", "_") / "probes.jsonl").open()]
        assert [p["step"] for p in probes] == list(range(7))  # step 0 and every optimiser step
        assert m["probes"]["steps"] == 6
        assert m["peak_forget_quality"] == max(e["forget_quality"] for e in m["evaluations"])
    for name in (
        "table.csv",
        "answers.csv",
        "answers.md",
        "demo.json",
        "figures/forget_quality_vs_utility.png",
        "figures/over_epochs.png",
        "figures/utility_vs_step.png",
        "runs/NPO_RT/forget_log_ratios.json",
        "eval_logs/retain.json",
        "eval_logs/finetuned.json",
        "runs/NPO_RT/metrics.jsonl",
        "runs/NPO_RT/summary.json",
        "runs/GA/samples.jsonl",
    ):
        assert (out / name).exists(), name
    assert not list(out.rglob("forget_kl.jsonl"))  # the forget KL lives in the run records' metrics.jsonl
    rows = [json.loads(line) for line in (out / "runs" / "GA" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [e["step"] for e in s["methods"]["GA"]["evaluations"]]
    ratios = json.loads((out / "runs" / "NPO_RT" / "forget_log_ratios.json").read_text())
    evaluated = [e["step"] for e in s["methods"]["NPO+RT"]["evaluations"]]
    assert [r["step"] for r in ratios] == evaluated and all(len(r["log_ratios"]) == 20 for r in ratios)
    assert all(x < 0 for x in ratios[-1]["log_ratios"])  # unlearning lowered every forget answer's log-prob
    info = json.loads((out / "demo.json").read_text())
    assert info["status"] == "completed" and info["config"]["n_authors"] == 10
    env = info["environment"]
    # smoke: torch's own thread count (the suite's workers share the cores); the full demo fixes 2
    assert info["config"]["threads"] == 0 and DemoConfig().threads == 2
    assert env["torch_threads"] >= 1 and env["cpu"] and env["versions"]["torch"]
    assert info["defaults"]["paper"]["beta"] == 0.1 and info["defaults"]["reason"]
    assert DemoConfig.load(out / "demo.json").seed == 0  # demo.json can be given back to --config
    # the claims the methods run allow (NPO+RT's needs a fine-tuned utility > 0, which smoke models may lack)
    assert "ga_collapses" in s["claims"] and set(s["claims"]) <= {"ga_collapses", "npo_rt_quality"}
    printed = capsys.readouterr().out
    assert "peak_forget_quality" in printed and "NPO+RT" in printed and "\r" not in printed
    summary, frames = load_demo(out)
    assert summary == s and set(frames) == set(s["methods"]) and "forget_kl" in frames["GA"].columns
    # a second run into the same directory reuses the cached models and replaces its own run record
    run_demo(
        DemoConfig.smoke(out=str(out), methods=("GA",), epochs=1, progress=False, minitofu=SMOKE_MINITOFU),
        print_fn=lambda *a: None,
    )
    info = json.loads((out / "demo.json").read_text())
    assert all(info["minitofu"]["log"]["cached"].values())
    assert list(json.loads((out / "demo_summary.json").read_text())["methods"]) == ["GA"]
    ga = json.loads((out / "demo_summary.json").read_text())["methods"]["GA"]
    assert [e["step"] for e in ga["evaluations"]][-1] == 3  # the 1-epoch run: its 3 steps
    assert (out / "runs" / "NPO_RT" / "metrics.jsonl").exists()  # the demo deletes nothing


def test_methods_run_in_one_process_with_the_audit_a_single_method_or_one_worker():
    from npo_lab.experiments.minitofu_demo import _method_workers

    assert DemoConfig().workers == 2 and DemoConfig.smoke().workers == 1
    assert _method_workers(DemoConfig(device="cpu")) == 2
    assert _method_workers(DemoConfig(device="cpu", workers=8)) == len(DemoConfig().methods)
    assert _method_workers(DemoConfig(device="cpu", audit=True)) == 1  # the audit needs the models in memory
    assert _method_workers(DemoConfig(device="cpu", methods=("NPO",))) == 1
    assert _method_workers(DemoConfig(device="cpu", workers=1)) == 1
    with pytest.raises(ValueError, match="workers"):
        DemoConfig(workers=0)


@pytest.mark.slow
def test_methods_in_worker_processes_give_the_numbers_of_one_process(smoke):
    """Two processes with 1 torch thread each compute what one process with 1 thread computes, to the bit."""
    runs = {}
    for workers, threads in ((1, 1), (2, 2)):
        out = smoke / f"demo_{workers}"
        cfg = DemoConfig.smoke(
            out=str(out), methods=("GA", "NPO+RT", "IDK+RT"), epochs=1, progress=False, minitofu=SMOKE_MINITOFU
        )
        runs[workers] = run_demo(cfg.replace(workers=workers, threads=threads), print_fn=lambda *a: None)
        info = json.loads((out / "demo.json").read_text())
        assert info["status"] == "completed" and set(info["methods"]) == {"GA", "NPO+RT", "IDK+RT"}
    assert info["method_workers"] == {"processes": 2, "torch_threads_each": 1}
    assert list(runs[2]["methods"]) == ["GA", "NPO+RT", "IDK+RT"]  # the configured order, whatever finished first

    def numbers(summary):
        return {m: {k: v for k, v in r.items() if "second" not in k} for m, r in summary["methods"].items()}

    assert numbers(runs[1]) == numbers(runs[2])


@pytest.mark.slow
def test_ctrl_c_with_worker_processes_keeps_the_runs_in_flight(smoke):
    """Ctrl-C to `npo-lab demo` (the parent only, as a terminal sends it: the workers have process groups of their
    own) reaches each worker once; the runs in flight stop, keep their evaluations and are summarised; exit 130."""
    import signal
    import subprocess
    import sys
    import time

    out = smoke / "demo"
    argv = ["--smoke", "--out", str(out), "--workers", "2", "--threads", "2", "--epochs", "30", "--no-progress"]
    argv += ["--methods", "GA", "NPO", "NPO+RT", "--ft-epochs", str(SMOKE_MINITOFU["epochs"])]
    # SIGINT as in a terminal, also when the suite runs as a background job (which ignores it, and passes that on)
    proc = subprocess.Popen(
        [sys.executable, "-m", "npo_lab.cli", "demo", *argv],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 300
    while not list(out.glob("runs/*/metrics.jsonl")):  # the first evaluation of a run in flight is written
        assert proc.poll() is None and time.monotonic() < deadline, "the demo ended before any evaluation"
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=300)
    assert proc.returncode == 130, stdout
    info = json.loads((out / "demo.json").read_text())
    assert info["status"] == "interrupted" and info["interrupted"] is True
    assert "NPO+RT" not in info["methods"]  # nothing new started after Ctrl-C
    stopped = {m: r["status"] for m, r in info["methods"].items()}
    assert stopped == {"GA": "interrupted", "NPO": "interrupted"}, stdout
    summary = json.loads((out / "demo_summary.json").read_text())  # the runs with a completed evaluation
    assert summary["methods"] and set(summary["methods"]) <= {"GA", "NPO"}
    for name, m in summary["methods"].items():  # what each run evaluated is kept
        rows = (out / "runs" / name / "metrics.jsonl").read_text().splitlines()
        assert m["evaluations"] and len(m["evaluations"]) == len(rows)


@pytest.mark.slow
def test_demo_ctrl_c_keeps_what_is_done(smoke, monkeypatch):
    import npo_lab.unlearn as U

    real = U.unlearn
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(U, "unlearn", flaky)
    out = smoke / "demo"
    s = run_demo(
        DemoConfig.smoke(
            out=str(out), methods=("GA", "NPO", "NPO+RT"), epochs=1, progress=False, minitofu=SMOKE_MINITOFU
        ),
        print_fn=lambda *a: None,
    )
    assert list(s["methods"]) == ["GA"]
    assert json.loads((out / "demo_summary.json").read_text())["methods"]["GA"]["evaluations"]
    info = json.loads((out / "demo.json").read_text())
    assert info["interrupted"] is True and info["status"] == "interrupted"


def _method(steps_utility, collapse=None, matched=None, fq=None):
    ev = [
        {"step": s, "epoch": s / 5, "model_utility": u, "forget_quality": (fq or {}).get(s)} for s, u in steps_utility
    ]
    return {"evaluations": ev, "steps_to_collapse": collapse, "matched_forgetting_step": matched}


def test_claims_are_computed_from_the_numbers_and_can_fail():
    from npo_lab.experiments import claims_table, demo_claims, seed_table

    summary = {
        "finetuned": {"model_utility": 0.5},
        "methods": {
            "GA": _method([(5, 0.3), (10, 0.1)], collapse=10, matched=5),
            "GA+RT": _method([(5, 0.45), (10, 0.4)]),
            "NPO": _method([(5, 0.48), (10, 0.46), (15, 0.4)], collapse=None, matched=10),
            "NPO+RT": _method([(5, 0.45), (10, 0.3)], fq={5: 0.2, 10: 0.9}),
        },
    }
    c = demo_claims(summary)
    assert c["ga_collapses"]["holds"] and c["npo_slower"]["holds"]  # never collapses, reaches the target
    assert c["npo_utility"]["ratio"] == pytest.approx(0.46 / 0.3) and c["npo_utility"]["holds"]
    # the 0.9 comes with 60 % utility: not counted; 0.2 at 90 % is
    assert c["npo_rt_quality"]["best_forget_quality_at_kept_utility"] == 0.2 and c["npo_rt_quality"]["holds"]
    assert c["npo_rt_quality"]["evaluations_looked_at"] == 1
    assert c["ga_rt_differs"]["largest_utility_difference_over_finetuned"] == pytest.approx(0.6)
    # NPO collapsing at 1.5x GA's step fails the claim; NPO never reaching the retain level fails it too
    summary["methods"]["NPO"] = _method([(5, 0.4), (15, 0.2)], collapse=15, matched=5)
    assert demo_claims(summary)["npo_slower"]["holds"] is False
    summary["methods"]["NPO"] = _method([(5, 0.4)], collapse=None, matched=None)
    c2 = demo_claims(summary)
    assert c2["npo_slower"]["holds"] is False and c2["npo_utility"]["holds"] is None
    assert list(claims_table(c2)["verdict"][:3]) == ["reproduces", "does not reproduce", "not measured"]
    t = seed_table({0: c, 1: c2})
    row = t[t["claim"].str.startswith("NPO collapses")].iloc[0]
    assert (row["reproduces_on"], row["verdict"]) == (1, "does not reproduce")


def test_claims_are_not_measured_without_a_finetuned_utility():
    from npo_lab.experiments import demo_claims

    c = demo_claims({"finetuned": {"model_utility": 0.0}, "methods": {"GA": _method([(3, 0.0)])}})
    assert c["ga_collapses"]["holds"] is None  # untrained (smoke-size) models: undefined, not refuted
