"""The ``npo-lab`` command line: one error contract for every command (one line on stderr, exit 2), and
``npo-lab unlearn``'s checks before any model is loaded; progress as lines when the output is not a terminal."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

import npo_lab.cli as cli
from npo_lab.errors import UsageError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_unlearn import tiny_setup  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------------------------------------------
# the contract of main()
# ----------------------------------------------------------------------------------------------------------------
@pytest.fixture
def fake_command(monkeypatch):
    mod = types.ModuleType("npo_lab_fake_command")
    mod.add_arguments = lambda p: p.add_argument("--raise", dest="what", default="none")
    errors = {
        "usage": UsageError("--x must be > 0,\n got -1"),
        "value": ValueError("bad value"),
        "missing": FileNotFoundError("data file 'd.json' does not exist"),
        "interrupt": KeyboardInterrupt(),
    }

    def run(args):
        if args.what in errors:
            raise errors[args.what]
        return 0

    mod.run = run
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setitem(cli.COMMANDS, "fake", (mod.__name__, "a test command"))
    return mod


@pytest.mark.parametrize(
    "what,rc,line",
    [
        ("none", 0, None),
        ("usage", 2, "npo-lab fake: error: --x must be > 0, got -1"),
        ("value", 2, "npo-lab fake: error: bad value"),
        ("missing", 2, "npo-lab fake: error: data file 'd.json' does not exist"),
        ("interrupt", 130, "npo-lab fake: interrupted"),
    ],
)
def test_main_turns_user_errors_into_one_line(fake_command, capsys, what, rc, line):
    assert cli.main(["fake", "--raise", what]) == rc
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ([line] if line else [])


def test_traceback_on_request(fake_command, monkeypatch):
    monkeypatch.setenv("NPO_LAB_TRACEBACK", "1")
    with pytest.raises(ValueError, match="bad value"):
        cli.main(["fake", "--raise", "value"])


def test_unknown_command_and_help():
    with pytest.raises(SystemExit) as e:
        cli.main(["nope"])
    assert e.value.code == 2
    proc = subprocess.run(
        [sys.executable, "-m", "npo_lab.cli", "--help"], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert proc.returncode == 0 and all(name in proc.stdout for name in cli.COMMANDS)
    assert issubclass(cli.UsageError, ValueError)


# ----------------------------------------------------------------------------------------------------------------
# npo-lab unlearn: bad input is refused before the model is loaded
# ----------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("tiny_cli")
    src, tok, make_model, _, _ = tiny_setup(root / "data")
    make_model().save_pretrained(root / "model")
    tok.save_pretrained(root / "model")
    return src, root / "model"


@pytest.fixture
def no_model_load(monkeypatch):
    import npo_lab.cli.unlearn as U

    def refuse(*a, **k):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(U, "_load_model", refuse)


def _unlearn(src, model, out, *extra):
    return [
        "unlearn",
        "--model",
        str(model),
        "--data",
        str(src),
        "--forget",
        "forget01",
        "--lr",
        "1e-3",
        "--batch-size",
        "4",
        "--epochs",
        "1",
        "--eval-every",
        "-1",
        "--no-forget-quality",
        "--out",
        str(out),
        *extra,
    ]


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--epochs", "inf"], "epochs must be a finite number"),
        (["--max-steps", "-5"], "max_steps must be >= -1"),
        (["--lr", "nan"], "learning_rate must be a finite number"),
        (["--lr", "inf"], "learning_rate must be a finite number"),
        (["--weight-decay", "nan"], "weight_decay must be a finite number"),
        (["--beta", "0"], "beta must be > 0"),
        (["--batch-size", "0"], "batch_size must be >= 1"),
        (["--template", "nope"], "template must be one of"),
        (["--retain-log", "missing.json", "--eval-every", "0", "--no-eval-at-start"], "retain_log"),
        (["--resume"], "holds no checkpoint"),
        (["--resume", "--overwrite"], "exclude each other"),
    ],
)
def test_unlearn_cli_bad_settings(tiny, tmp_path, capsys, no_model_load, extra, message):
    src, model = tiny
    argv = _unlearn(src, model, tmp_path / "out", *extra)
    if "--retain-log" in extra:  # forget quality on, so the retain log is needed
        argv.remove("--no-forget-quality")
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("npo-lab unlearn: error: ") and message in err[0], err
    assert not (tmp_path / "out" / "config.json").exists()


def test_unlearn_cli_protects_out(tiny, tmp_path, capsys, no_model_load):
    src, model = tiny
    (tmp_path / "file").write_text("x")
    assert cli.main(_unlearn(src, model, tmp_path / "file")) == 2
    assert "is not a directory" in capsys.readouterr().err
    mine = tmp_path / "mine"
    (mine / "checkpoint-7").mkdir(parents=True)
    (mine / "checkpoint-7" / "w.bin").write_bytes(b"w")
    for extra in ([], ["--overwrite"]):
        assert cli.main(_unlearn(src, model, mine, *extra)) == 2
        assert "npo-lab unlearn: error:" in capsys.readouterr().err
    assert (mine / "checkpoint-7" / "w.bin").read_bytes() == b"w"


def test_unlearn_cli_bad_model_is_one_line(tiny, tmp_path, capsys):
    src, _ = tiny
    assert cli.main(_unlearn(src, tmp_path / "no_such_model", tmp_path / "out")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot load" in err[0]


def test_unlearn_cli_progress_lines_without_a_terminal(tiny, tmp_path, capsys):
    src, model = tiny
    out = tmp_path / "run"
    assert cli.main(_unlearn(src, model, out, "--max-steps", "2")) == 0
    captured = capsys.readouterr()
    assert "completed: NPO+RT" in captured.out
    assert "\r" not in captured.err and "npo-lab unlearn: training: 2 steps" in captured.err
    assert len(captured.err.splitlines()) < 20
    # a second run into the same directory needs --overwrite, and then replaces the record
    assert cli.main(_unlearn(src, model, out, "--max-steps", "1")) == 2
    assert "not empty" in capsys.readouterr().err
    assert cli.main(_unlearn(src, model, out, "--max-steps", "1", "--overwrite")) == 0


def test_unlearn_cli_resume_of_another_experiment_is_refused(tiny, tmp_path, capsys, no_model_load):
    """An interrupted NPO+RT run, resumed with another method and β: refused, naming both, before any loading."""
    from test_unlearn import _InterruptAt
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from npo_lab.tofu.data import load_tofu
    from npo_lab.unlearn import UnlearnConfig, unlearn

    src, model_dir = tiny
    out = tmp_path / "run"
    cfg = UnlearnConfig(
        method="NPO+RT",
        output_dir=str(out),
        batch_size=4,
        epochs=2,
        learning_rate=1e-3,
        eval_every=-1,
        forget_quality=False,
        disable_tqdm=True,
        save_every=1,
    )
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    res = unlearn(
        model,
        AutoTokenizer.from_pretrained(model_dir),
        load_tofu("forget01", src),
        load_tofu("retain99", src),
        cfg,
        eval_source=src,
        forget_split="forget01",
        callbacks=[_InterruptAt(1)],
    )
    assert res.interrupted
    before = (out / "config.json").read_text()
    capsys.readouterr()
    argv = _unlearn(src, model_dir, out, "--resume", "--method", "NPO", "--beta", "0.5")
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "different experiment" in err[0], err
    assert "method: 'NPO+RT' there, 'NPO' now" in err[0] and "beta: 0.1 there, 0.5 now" in err[0]
    assert (out / "config.json").read_text() == before and (out / "checkpoint-1").is_dir()
