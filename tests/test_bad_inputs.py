"""Bad input, as a hostile but realistic user gives it, across the API and every ``npo-lab`` command.

Every case asserts the exact kind of error (the exception type and a fragment naming the argument, or exit status
2 with one ``npo-lab <command>: error: ...`` line on stderr) and that nothing was lost: the user's files are still
there byte for byte, a run record is intact, no stray ``.tmp`` file or directory appeared. Nothing here trains a
model; the command-line cases stop before any model is loaded (a loader that fails the test guards each one).
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import time
import types
from pathlib import Path

import pytest
import torch

from npo_lab import cli
from npo_lab.errors import UsageError
from npo_lab.losses import (
    LossInputs,
    dpo_loss,
    ga_loss,
    get_method,
    kl_to_ref,
    nll_loss,
    npo_loss,
    npo_weight,
    sequence_logprob,
    simnpo_loss,
)

INF, NAN = math.inf, math.nan


# ----------------------------------------------------------------------------------------------------------------
# helpers: snapshots of a directory, and the command line run in-process
# ----------------------------------------------------------------------------------------------------------------
def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every entry under ``root``: file contents byte for byte, directories as ``None``."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def run_cli(argv: list[str], capsys) -> tuple[int, list[str]]:
    """``npo_lab.cli.main(argv)``: (exit status, stderr lines)."""
    capsys.readouterr()
    try:
        rc = cli.main([str(a) for a in argv])
    except SystemExit as e:  # argparse: a bad option
        rc = e.code
    return rc, capsys.readouterr().err.strip().splitlines()


def assert_refused(argv: list[str], capsys, root: Path, fragment: str) -> str:
    """Exit 2, exactly one stderr line ``npo-lab <command>: error: ...`` holding ``fragment``, and ``root``
    unchanged (no file lost or changed, nothing new: no ``.tmp`` left, no directory created)."""
    before = snapshot(root)
    rc, err = run_cli(argv, capsys)
    command = argv[0]
    assert rc == 2, (rc, err)
    assert len(err) == 1, err
    assert err[0].startswith(f"npo-lab {command}: error: "), err
    assert fragment in err[0], err
    assert snapshot(root) == before
    return err[0]


def _forbid(monkeypatch, module: str, name: str) -> None:
    """Make ``module.name`` fail the test: the command went past its checks into real work."""

    def forbidden(*a, **k):
        raise AssertionError(f"{module}.{name} was called: the bad input was not refused first")

    monkeypatch.setattr(importlib.import_module(module), name, forbidden)


def _user_files(root: Path) -> Path:
    """A directory of the user's own: checkpoints with weights, a metrics file, notes — nothing npo_lab wrote."""
    (root / "checkpoint-100").mkdir(parents=True)
    (root / "checkpoint-100" / "model.safetensors").write_bytes(b"\x00\x01user weights")
    (root / "checkpoint-200").mkdir()
    (root / "checkpoint-200" / "optimizer.pt").write_bytes(b"\x02state")
    (root / "metrics.jsonl").write_text('{"step": 1, "mine": true}\n', encoding="utf-8")
    (root / "full.json").write_text('{"question": "my own", "answer": "data"}\n', encoding="utf-8")
    (root / "notes.txt").write_text("my notes", encoding="utf-8")
    return root


# ================================================================================================================
# losses
# ================================================================================================================
def t(*values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def _unchanged(*tensors):
    """Clones, to check afterwards that a refused call changed no input (NaN-aware)."""
    return [(x, x.clone()) for x in tensors]


LOSS_NON_FINITE = [
    ("npo logp +inf", lambda x: npo_loss(x, t(-1.0, -1.0)), "logp contains non-finite", INF),
    ("npo logp -inf", lambda x: npo_loss(x, t(-1.0, -1.0)), "logp contains non-finite", -INF),
    ("npo logp nan", lambda x: npo_loss(x, t(-1.0, -1.0)), "logp contains non-finite", NAN),
    ("npo ref +inf", lambda x: npo_loss(t(-1.0, -1.0), x), "ref_logp contains non-finite", INF),
    ("npo ref -inf", lambda x: npo_loss(t(-1.0, -1.0), x), "ref_logp contains non-finite", -INF),
    ("npo_weight +inf", lambda x: npo_weight(x, t(0.0, 0.0)), "logp contains non-finite", INF),
    ("dpo chosen +inf", lambda x: dpo_loss(x, t(-1, -1), t(-1, -1), t(-1, -1)), "chosen_logp contains", INF),
    ("dpo rejected -inf", lambda x: dpo_loss(t(-1, -1), x, t(-1, -1), t(-1, -1)), "rejected_logp contains", -INF),
    ("dpo ref_chosen nan", lambda x: dpo_loss(t(-1, -1), t(-1, -1), x, t(-1, -1)), "ref_chosen_logp contains", NAN),
    ("dpo ref_rejected -inf", lambda x: dpo_loss(t(-1, -1), t(-1, -1), t(-1, -1), x), "ref_rejected_logp", -INF),
    ("ga -inf", lambda x: ga_loss(x), "logp contains non-finite", -INF),
    ("nll +inf", lambda x: nll_loss(x, torch.tensor([2, 3])), "logp contains non-finite", INF),
    ("simnpo -inf", lambda x: simnpo_loss(x, torch.tensor([2, 3]), beta=0.1), "logp contains non-finite", -INF),
]


@pytest.mark.parametrize("name,call,match,bad", LOSS_NON_FINITE, ids=[c[0] for c in LOSS_NON_FINITE])
def test_losses_refuse_non_finite_log_probs(name, call, match, bad):
    x = t(-2.0, bad)
    kept = _unchanged(x)
    with pytest.raises(ValueError, match=match):
        call(x)
    for now, before in kept:
        torch.testing.assert_close(now, before, equal_nan=True)


EMPTY = torch.zeros(0)
LOSS_EMPTY = [
    ("npo_loss", lambda: npo_loss(EMPTY, EMPTY)),
    ("npo_weight", lambda: npo_weight(EMPTY, EMPTY)),
    ("dpo_loss", lambda: dpo_loss(EMPTY, EMPTY, EMPTY, EMPTY)),
    ("ga_loss", lambda: ga_loss(EMPTY)),
    ("nll_loss", lambda: nll_loss(EMPTY, torch.zeros(0, dtype=torch.long))),
    ("simnpo_loss", lambda: simnpo_loss(EMPTY, torch.zeros(0, dtype=torch.long), beta=0.1)),
    ("sequence_logprob", lambda: sequence_logprob(torch.zeros(0, 4, 5), torch.zeros(0, 4, dtype=torch.long))),
    ("kl_to_ref", lambda: kl_to_ref(torch.zeros(0, 4, 5), torch.zeros(0, 4, 5), torch.zeros(0, 4, dtype=torch.long))),
]


@pytest.mark.parametrize("name,call", LOSS_EMPTY, ids=[c[0] for c in LOSS_EMPTY])
def test_losses_refuse_empty_batches(name, call):
    with pytest.raises(ValueError, match="empty"):
        call()


@pytest.mark.parametrize("beta", [1e300, 1e7, 0.0, -0.1, NAN, INF, True, "0.1", None])
@pytest.mark.parametrize("fn", ["npo_loss", "dpo_loss", "simnpo_loss", "method"])
def test_beta_out_of_range_is_refused(fn, beta):
    """β = 1e300: 2/β underflows and the loss would be 0 · softplus(huge) = NaN; bounded instead."""
    z = t(-1.0, -2.0)
    calls = {
        "npo_loss": lambda: npo_loss(z, z, beta=beta),
        "dpo_loss": lambda: dpo_loss(z, z, z, z, beta=beta),
        "simnpo_loss": lambda: simnpo_loss(z, torch.tensor([2, 3]), beta=beta),
        "method": lambda: get_method("NPO").loss(LossInputs(forget_logp=z, forget_ref_logp=z), beta=beta),
    }
    # the loss functions check their argument; a method checks its LossSettings (losses.HYPERS: beta in (0, max])
    with pytest.raises(ValueError, match="beta must be a finite number in" if fn != "method" else "beta must be"):
        calls[fn]()


def test_kl_to_ref_with_minus_inf_reference_logits_is_zero_not_nan():
    logits = torch.randn(2, 4, 5)
    ref = logits.clone()
    ref[..., 0] = -INF  # the reference never emits token 0
    labels = torch.tensor([[-100, 1, 2, 3], [-100, -100, 4, 1]])
    kl = kl_to_ref(logits, ref, labels)
    assert torch.isfinite(kl).all() and (kl >= 0).all()
    same = kl_to_ref(ref, ref, labels)  # -inf in both: 0 · (−inf − (−inf)) is 0, not NaN
    torch.testing.assert_close(same, torch.zeros(2), atol=1e-6, rtol=0)


KL_BAD = [
    ("all answers masked", torch.randn(1, 4, 5), torch.full((1, 4), -100), "no answer tokens"),
    ("float labels", torch.randn(1, 4, 5), torch.tensor([[-100.0, 1.0, 2.0, 3.0]]), "integer tensor"),
    ("label out of range", torch.randn(1, 4, 5), torch.tensor([[-100, 1, 2, 7]]), "token ids in [0, 5)"),
    ("NaN logits", torch.full((1, 4, 5), NAN), torch.tensor([[-100, 1, 2, 3]]), "not finite"),
]


@pytest.mark.parametrize("name,logits,labels,match", KL_BAD, ids=[c[0] for c in KL_BAD])
def test_kl_to_ref_refuses_bad_input(name, logits, labels, match):
    with pytest.raises(ValueError, match=match.replace("[", r"\[").replace(")", r"\)")):
        kl_to_ref(logits, torch.randn(logits.shape), labels)


def test_npo_on_all_masked_labels_is_an_error_not_a_constant():
    """NPO of a sequence without answer tokens would be the constant (2/β)·log 2 with zero gradient."""
    logits = torch.randn(2, 5, 7, requires_grad=True)
    labels = torch.tensor([[-100, 1, 2, 3, 4], [-100, -100, -100, -100, -100]])
    with pytest.raises(ValueError, match="no answer tokens"):
        npo_loss(sequence_logprob(logits, labels), t(-3.0, -3.0))


SEQ_BAD = [
    ("float labels", torch.randn(1, 4, 5), torch.tensor([[-100.0, 1.0, 2.0, 3.0]]), "integer tensor of token ids"),
    ("bool labels", torch.randn(1, 4, 5), torch.ones(1, 4, dtype=torch.bool), "integer tensor of token ids"),
    ("label >= vocab", torch.randn(1, 4, 5), torch.tensor([[-100, 1, 2, 5]]), "token ids in"),
    ("negative label", torch.randn(1, 4, 5), torch.tensor([[-100, 1, -3, 2]]), "token ids in"),
    ("labels shape", torch.randn(1, 4, 5), torch.tensor([[1, 2, 3]]), "labels must have shape"),
    ("logits 2-D", torch.randn(4, 5), torch.tensor([1, 2, 3, 4]), "logits must have shape (B, T, V)"),
    ("NaN logits", torch.full((1, 4, 5), NAN), torch.tensor([[-100, 1, 2, 3]]), "not finite"),
    ("target of zero probability", None, torch.tensor([[-100, 1, 2, 0]]), "not finite"),
]


@pytest.mark.parametrize("name,logits,labels,match", SEQ_BAD, ids=[c[0] for c in SEQ_BAD])
def test_sequence_logprob_refuses_bad_input(name, logits, labels, match):
    if logits is None:
        logits = torch.randn(1, 4, 5)
        logits[0, 2, 0] = -INF  # the target of the last position has probability 0
    with pytest.raises(ValueError, match=match.replace("(", r"\(").replace(")", r"\)")):
        sequence_logprob(logits, labels)


@pytest.mark.parametrize("dtype,expected", [(torch.float64, torch.float64), (torch.float16, torch.float32)])
def test_sequence_logprob_keeps_float64_and_upcasts_half(dtype, expected):
    logits = torch.randn(2, 4, 5).to(dtype)
    assert sequence_logprob(logits, torch.tensor([[-100, 1, 2, 3], [-100, -100, 4, 0]])).dtype == expected


COUNTS_BAD = [
    ("zero", torch.tensor([3, 0])),
    ("negative", torch.tensor([3, -1])),
    ("fractional", torch.tensor([3.0, 1.5])),
    ("NaN", torch.tensor([3.0, NAN])),
]


@pytest.mark.parametrize("name,n_tokens", COUNTS_BAD, ids=[c[0] for c in COUNTS_BAD])
def test_token_counts_must_be_positive_whole_numbers(name, n_tokens):
    with pytest.raises(ValueError, match="n_tokens must be > 0 for every sequence and whole"):
        nll_loss(t(-1.0, -2.0), n_tokens)


METHOD_BAD = [
    ("alpha < 0", {"alpha": -1.0}, "alpha must be >= 0"),
    ("alpha inf", {"alpha": INF}, "alpha must be a finite number"),
    ("gamma nan", {"gamma": NAN}, "gamma must be a finite number"),
    ("unknown hyper-parameter", {"lr": 1.0}, "unknown loss hyper-parameter(s) ['lr']"),
    ("ga_reduction", {"ga_reduction": "mean"}, "ga_reduction must be one of"),
]


@pytest.mark.parametrize("name,hyper,match", METHOD_BAD, ids=[c[0] for c in METHOD_BAD])
def test_method_loss_refuses_bad_hyper_parameters(name, hyper, match):
    x = LossInputs(forget_logp=t(-1.0), forget_ref_logp=t(-1.0), retain_logp=t(-2.0), retain_n_tokens=torch.tensor([2]))
    with pytest.raises(ValueError, match=match.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        get_method("NPO+RT").loss(x, **hyper)


@pytest.mark.parametrize("name", ["npo", "NPO-RT", "", None, ["NPO"]])
def test_unknown_method_lists_the_valid_ones(name):
    with pytest.raises(ValueError, match=r"unknown method .*; valid methods: GA, GA\+RT"):
        get_method(name)


# ================================================================================================================
# scoring
# ================================================================================================================
GOOD_ROW = {"question": "Who?", "answer": "Someone."}
SCORING_BAD = [
    ("no rows", {"rows": []}, "rows is empty"),
    ("rows None", {"rows": None}, "rows must be a list of mappings"),
    ("rows a string", {"rows": "question"}, "rows must be a list of mappings"),
    ("row without answer", {"rows": [{"question": "q"}]}, "rows[0] must be a mapping with 'question' and 'answer'"),
    ("row not a mapping", {"rows": ["q", GOOD_ROW]}, "rows[0] must be a mapping"),
    ("batch_size 0", {"batch_size": 0}, "batch_size must be an integer >= 1"),
    ("batch_size 2.5", {"batch_size": 2.5}, "batch_size must be an integer >= 1"),
    ("batch_size nan", {"batch_size": NAN}, "batch_size must be an integer >= 1"),
    ("max_length 1", {"max_length": 1}, "max_length must be an integer >= 2"),
    ("max_length inf", {"max_length": INF}, "max_length must be an integer >= 2"),
]


@pytest.mark.parametrize("name,kwargs,match", SCORING_BAD, ids=[c[0] for c in SCORING_BAD])
def test_score_answers_refuses_bad_rows_and_sizes_before_any_forward(name, kwargs, match):
    """Checked before the model or the tokenizer is touched (both are ``None`` here)."""
    from npo_lab.scoring import score_answers

    kw = {"rows": [GOOD_ROW], **kwargs}
    rows = kw.pop("rows")
    with pytest.raises(ValueError, match=match.replace("[", r"\[").replace("]", r"\]")):
        score_answers(None, None, rows, **kw)


# ================================================================================================================
# data loading: load_tofu on bad local directories
# ================================================================================================================
GOOD = json.dumps({"question": "Who wrote it?", "answer": "An author."})

TOFU_BAD = [
    # name, split, {file: bytes}, error fragment
    ("file missing", "forget05", {"forget01.json": GOOD}, "forget05.json not found"),
    ("non-UTF-8", "forget01", {"forget01.json": '{"question": "caf\xe9?", "answer": "x"}'.encode("latin-1")}, "UTF-8"),
    ("truncated line", "forget01", {"forget01.json": GOOD + "\n" + GOOD[:-7]}, "line 2: malformed JSON"),
    ("truncated array", "forget01", {"forget01.json": "[" + GOOD}, "malformed JSON array"),
    ("line not an object", "forget01", {"forget01.json": GOOD + "\n[1, 2]\n"}, "line 2: expected a JSON object"),
    ("array of non-objects", "forget01", {"forget01.json": "[1, 2]"}, "row 0 is not a JSON object"),
    ("answer missing", "forget01", {"forget01.json": json.dumps({"question": "Q?"})}, "field 'answer'"),
    ("question a number", "forget01", {"forget01.json": json.dumps({"question": 3, "answer": "A"})}, "'question'"),
    ("answer blank", "forget01", {"forget01.json": json.dumps({"question": "Q?", "answer": " "})}, "'answer'"),
    (
        "paraphrase not a string",
        "forget01",
        {"forget01.json": json.dumps({"question": "Q?", "answer": "A", "paraphrased_answer": ["A"]})},
        "'paraphrased_answer' must be a string",
    ),
    ("no rows", "forget01", {"forget01.json": "\n\n"}, "has no rows"),
    (
        "perturbed answers a string",
        "forget01_perturbed",
        {"forget01_perturbed.json": json.dumps({"question": "Q?", "answer": "A", "perturbed_answer": "B"})},
        "'perturbed_answer' must be a non-empty list of strings",
    ),
    (
        "perturbed answer a number",
        "world_facts_perturbed",
        {"world_facts_perturbed.json": json.dumps({"question": "Q?", "answer": "A", "perturbed_answer": ["B", 3]})},
        "'perturbed_answer' must be a non-empty list of strings",
    ),
    (
        "perturbed answers of different counts",
        "retain_perturbed",
        {
            "retain_perturbed.json": json.dumps({"question": "Q?", "answer": "A", "perturbed_answer": ["B", "C"]})
            + "\n"
            + json.dumps({"question": "Q?", "answer": "A", "perturbed_answer": ["B"]})
        },
        "row 1 of split 'retain_perturbed' has 1 perturbed answers, row 0 has 2",
    ),
]


@pytest.mark.parametrize("name,split,files,fragment", TOFU_BAD, ids=[c[0] for c in TOFU_BAD])
def test_load_tofu_names_the_file_and_the_problem(tmp_path, name, split, files, fragment):
    from npo_lab.tofu.data import load_tofu

    src = tmp_path / "tofu"
    src.mkdir()
    for fname, content in files.items():
        (src / fname).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    before = snapshot(tmp_path)
    with pytest.raises(ValueError) as err:
        load_tofu(split, src)
    assert fragment in str(err.value) and str(src) in str(err.value)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "source,fragment",
    [("missing", "is not a directory"), ("a_file", "is not a directory"), (3, "source must be None, 'hub'")],
)
def test_load_tofu_refuses_a_source_that_is_not_a_directory(tmp_path, source, fragment):
    from npo_lab.tofu.data import load_tofu

    (tmp_path / "a_file").write_text(GOOD)
    with pytest.raises(ValueError, match=fragment):
        load_tofu("forget01", tmp_path / source if isinstance(source, str) else source)


def test_load_tofu_refuses_an_unknown_split_and_a_bad_environment_directory(tmp_path, monkeypatch):
    from npo_lab.tofu.data import load_tofu

    with pytest.raises(ValueError, match="split must be one of"):
        load_tofu("forget07", "synthetic")
    monkeypatch.setenv("NPO_LAB_TOFU_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="NPO_LAB_TOFU_DIR="):
        load_tofu("forget01")


@pytest.mark.parametrize("content,fragment", [(b"\xff\xfe no", "UTF-8"), (b"\n  \n", "no 'I don't know' answers")])
def test_idk_answers_file_errors_name_the_file(tmp_path, content, fragment):
    from npo_lab.tofu.data import load_idk_answers

    (tmp_path / "idontknow.jsonl").write_bytes(content)
    with pytest.raises(ValueError, match=fragment) as err:
        load_idk_answers(tmp_path)
    assert "idontknow.jsonl" in str(err.value)


# ================================================================================================================
# eval logs: npo-lab metrics on impossible values
# ================================================================================================================
FORGET, RETAIN = "eval_log_forget.json", "eval_log.json"
SECTIONS = (RETAIN, "eval_real_author_wo_options.json", "eval_real_world_wo_options.json", FORGET)


def _section(n: int = 4, k: int = 3) -> dict:
    return {
        "avg_gt_loss": [0.5 + 0.1 * i for i in range(n)],
        "gt_loss": [5.0 + i for i in range(n)],
        "num_token_gt": [10] * n,
        "avg_paraphrased_loss": [1.0 + 0.1 * i for i in range(n)],
        "average_perturb_loss": [[1.5 + 0.1 * j for j in range(k)] for _ in range(n)],
        "rougeL_recall": [0.5] * n,
        "rouge1_recall": [0.75] * n,
        "generated_text": [[f"q{i}", f"g{i}", f"a{i}"] for i in range(n)],
    }


def eval_log() -> dict:
    return {key: _section() for key in SECTIONS}


def _keyed(values: list) -> dict:
    return {str(i): v for i, v in enumerate(values)}


METRICS_BAD = [
    # name, section, field, row, value, fragment
    ("loss -Infinity", FORGET, "avg_gt_loss", 1, -INF, "'avg_gt_loss' has losses that are not finite non-negative"),
    ("loss +Infinity", RETAIN, "avg_gt_loss", 0, INF, "'avg_gt_loss' has losses that are not finite non-negative"),
    ("negative loss", FORGET, "avg_gt_loss", 2, -0.5, "'avg_gt_loss' has losses that are not finite non-negative"),
    ("negative summed loss", RETAIN, "gt_loss", 0, -3.0, "'gt_loss' has losses"),
    ("NaN loss", FORGET, "avg_paraphrased_loss", 0, NAN, "'avg_paraphrased_loss' has NaN losses"),
    ("negative perturbed loss", FORGET, "average_perturb_loss", 1, [1.0, -2.0, 1.0], "'average_perturb_loss'"),
    ("ROUGE 5", FORGET, "rougeL_recall", 0, 5.0, "'rougeL_recall' has recalls outside [0, 1]"),
    ("ROUGE -1", RETAIN, "rougeL_recall", 3, -1.0, "'rougeL_recall' has recalls outside [0, 1]"),
    ("ROUGE-1 1.5", FORGET, "rouge1_recall", 1, 1.5, "'rouge1_recall' has recalls outside [0, 1]"),
    ("boolean loss", FORGET, "avg_gt_loss", 1, True, "'avg_gt_loss', row 1: expected a number"),
    ("boolean recall", RETAIN, "rougeL_recall", 0, False, "'rougeL_recall', row 0: expected a number"),
    ("string loss", FORGET, "avg_gt_loss", 0, "0.5", "'avg_gt_loss', row 0: expected a number"),
    ("null loss", FORGET, "avg_gt_loss", 0, None, "'avg_gt_loss', row 0: expected a number"),
    ("boolean perturbed loss", FORGET, "average_perturb_loss", 2, [1.0, True, 1.0], "expected a number"),
    ("fractional token count", RETAIN, "num_token_gt", 0, 2.5, "'num_token_gt' has counts that are not integers"),
    ("ragged perturbed losses", FORGET, "average_perturb_loss", 2, [1.0], "rows of different lengths"),
]


@pytest.mark.parametrize("name,section,field,row,value,fragment", METRICS_BAD, ids=[c[0] for c in METRICS_BAD])
def test_metrics_refuses_impossible_values(tmp_path, capsys, name, section, field, row, value, fragment):
    log = eval_log()
    log[section][field][row] = value
    path = tmp_path / "log.json"
    path.write_text(json.dumps(log), encoding="utf-8")  # json writes -Infinity / NaN, as a careless writer would
    line = assert_refused(["metrics", path], capsys, tmp_path, fragment)
    assert "log.json" in line and section in line


def test_metrics_refuses_fields_keyed_by_different_rows(tmp_path, capsys):
    """The worst finding: such a section used to be silently re-paired (forget quality 3.7e-15 for 1.8e-21)."""
    log = {k: {f: _keyed(v) for f, v in sec.items()} for k, sec in eval_log().items()}
    para = log[FORGET]["avg_paraphrased_loss"]
    log[FORGET]["avg_paraphrased_loss"] = {str(int(k) + 1): v for k, v in para.items()}
    path = tmp_path / "shifted.json"
    path.write_text(json.dumps(log), encoding="utf-8")
    assert_refused(["metrics", path], capsys, tmp_path, "field 'avg_paraphrased_loss' is keyed by other rows")


@pytest.mark.parametrize(
    "content,fragment",
    [
        ('{"eval_log.json": {"generated_text": ["caf\xe9"]}}'.encode("latin-1"), "is not UTF-8 text"),
        (json.dumps(eval_log())[:300].encode(), "is not valid JSON"),
        (b"[1, 2]", "log must be a dict"),
        (b'{"something": {}}', "has none of the eval-log sections"),
    ],
    ids=["non-UTF-8", "truncated", "a list", "no sections"],
)
def test_metrics_refuses_unreadable_logs_naming_the_file(tmp_path, capsys, content, fragment):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    line = assert_refused(["metrics", path], capsys, tmp_path, fragment)
    assert "bad.json" in line


def test_metrics_refuses_a_missing_log_and_an_impossible_retain_log(tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(eval_log()), encoding="utf-8")
    assert_refused(["metrics", tmp_path / "missing.json"], capsys, tmp_path, "no eval log at")
    bad = eval_log()
    bad[FORGET]["avg_gt_loss"][0] = -INF
    retain = tmp_path / "retain.json"
    retain.write_text(json.dumps(bad), encoding="utf-8")
    line = assert_refused(["metrics", good, "--retain", retain], capsys, tmp_path, "'avg_gt_loss'")
    assert "retain.json" in line


@pytest.mark.parametrize("with_retain", [False, True])
def test_metrics_json_is_strict_json(tmp_path, capsys, with_retain):
    path = tmp_path / "log.json"
    path.write_text(json.dumps(eval_log()), encoding="utf-8")
    argv = ["metrics", path, "--json"] + (["--retain", path] if with_retain else [])
    before = snapshot(tmp_path)
    capsys.readouterr()
    assert cli.main([str(a) for a in argv]) == 0
    out = capsys.readouterr().out

    def refuse(constant):
        raise AssertionError(f"non-strict JSON constant {constant}")

    numbers = json.loads(out, parse_constant=refuse)
    assert math.isfinite(numbers["model_utility"])
    assert (numbers["forget_quality"] is None) != with_retain
    assert snapshot(tmp_path) == before


# ================================================================================================================
# run records: load_run / load_runs
# ================================================================================================================
def _record(root: Path, name: str, metrics: bytes | str | None, config: bytes | str = '{"method": "NPO"}') -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "config.json").write_bytes(config if isinstance(config, bytes) else config.encode())
    if metrics is not None:
        (d / "metrics.jsonl").write_bytes(metrics if isinstance(metrics, bytes) else metrics.encode())
    return d


def _load_run(d):
    from npo_lab.runs import load_run

    return load_run(d)


def _lines(*rows) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


@pytest.mark.parametrize(
    "line", ["[1, 2]", "3", '"text"', "null", "true"], ids=["list", "number", "string", "null", "boolean"]
)
def test_load_run_skips_a_line_that_is_not_an_object_with_a_warning(tmp_path, line):
    d = _record(tmp_path, "run", _lines({"step": 1}) + line + "\n" + _lines({"step": 2}))
    before = snapshot(tmp_path)
    with pytest.warns(UserWarning, match="line 2 is not a JSON object; skipped"):
        df = _load_run(d)
    assert df["step"].tolist() == [1, 2]
    assert snapshot(tmp_path) == before


def test_load_run_drops_a_torn_last_line(tmp_path):
    d = _record(tmp_path, "run", _lines({"step": 1}, {"step": 2}) + '{"step": 3, "forget_q')
    before = snapshot(tmp_path)
    assert _load_run(d)["step"].tolist() == [1, 2]
    assert snapshot(tmp_path) == before  # the record is read, never repaired in place


RECORD_BAD = [
    ("torn middle line", _lines({"step": 1}) + '{"step": 2, "fo\n' + _lines({"step": 3}), None, "line 2 is not valid"),
    ("non-UTF-8 metrics", b'{"step": 1, "x": "caf\xe9"}\n', None, "is not UTF-8 text"),
    ("config a list", _lines({"step": 1}), "[1]", "must hold a JSON object, got list"),
    ("config truncated", _lines({"step": 1}), '{"method": ', "is not valid JSON"),
    ("config non-UTF-8", _lines({"step": 1}), b'{"method": "caf\xe9"}', "is not UTF-8 text"),
    ("step a string", _lines({"step": 1}, {"step": "two"}), None, "evaluation 2 has step 'two', not an integer"),
    ("step a boolean", _lines({"step": True}), None, "evaluation 1 has step True, not an integer"),
]


@pytest.mark.parametrize("name,metrics,config,fragment", RECORD_BAD, ids=[c[0] for c in RECORD_BAD])
def test_broken_record_is_an_error_for_load_run_and_skipped_by_load_runs(tmp_path, name, metrics, config, fragment):
    from npo_lab.runs import load_runs

    bad = _record(tmp_path / "runs", "broken", metrics, **({} if config is None else {"config": config}))
    _record(tmp_path / "runs", "good", _lines({"step": 0}, {"step": 5}))
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match=fragment) as err:
        _load_run(bad)
    assert "broken" in str(err.value)
    with pytest.warns(UserWarning, match="skipping run .*broken"):
        df = load_runs(tmp_path / "runs")
    assert df["run"].unique().tolist() == ["good"] and df["step"].tolist() == [0, 5]
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "what,fragment",
    [
        ("missing", "is not a directory"),
        ("empty", "run_dirs holds no run records"),
        ("number", "must be a directory or an iterable of run directories"),
    ],
)
def test_load_runs_refuses_what_holds_no_runs(tmp_path, what, fragment):
    from npo_lab.runs import load_runs

    (tmp_path / "empty").mkdir()
    arg = {"missing": tmp_path / "missing", "empty": tmp_path / "empty", "number": 3}[what]
    with pytest.raises(ValueError, match=fragment):
        load_runs(arg)


def test_load_run_refuses_a_directory_without_a_record(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="holds no run record"):
        _load_run(tmp_path)


# ================================================================================================================
# output directories and resume (checked before any model is loaded)
# ================================================================================================================
@pytest.fixture(scope="module")
def rows():
    from npo_lab.tofu.data import load_tofu

    return {
        split: load_tofu(split, "synthetic").to_list() for split in ("forget10", "forget01", "retain90", "retain99")
    }


def _ucfg(out: Path, **kw):
    from npo_lab.unlearn import UnlearnConfig

    return UnlearnConfig(
        **{"method": "NPO+RT", "output_dir": str(out), "eval_every": -1, "forget_quality": False, **kw}
    )


@pytest.mark.parametrize(
    "mode,fragment",
    [
        ({}, "is not empty"),
        ({"overwrite": True}, "which no npo_lab run recorded in manifest.json"),
        ({"resume": True}, "holds no run record (config.json)"),
        ({"resume": True, "overwrite": True}, "exclude each other"),
    ],
    ids=["plain", "overwrite", "resume", "resume+overwrite"],
)
def test_output_dir_with_the_users_checkpoints_is_refused(tmp_path, rows, mode, fragment):
    """The worst finding: ``--out DIR`` holding the user's own checkpoint-* folders and metrics.jsonl."""
    from npo_lab.unlearn import check_run

    out = _user_files(tmp_path / "mine")
    before = snapshot(tmp_path)
    with pytest.raises(UsageError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        check_run(_ucfg(out), model_name="m", forget_rows=rows["forget10"], retain_rows=rows["retain90"], **mode)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "where,fragment",
    [("a_file", "exists and is not a directory"), ("a_file/sub/run", "is not a writable directory")],
)
def test_output_dir_that_cannot_be_a_directory_is_refused(tmp_path, where, fragment):
    from npo_lab.runs import check_output_dir

    (tmp_path / "a_file").write_text("the user's file")
    before = snapshot(tmp_path)
    with pytest.raises(UsageError, match=fragment):
        check_output_dir(tmp_path / where)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "manifest",
    [{"paths": ["..", "config.json"]}, {"paths": ["/etc"]}, {"paths": ["a/b"]}, [1], {"paths": "config.json"}],
    ids=["parent", "absolute", "nested", "a list", "a string"],
)
def test_a_tampered_manifest_claims_nothing(tmp_path, manifest):
    from npo_lab.runs import check_output_dir, clear_run

    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text("{}")
    (out / "manifest.json").write_text(json.dumps(manifest))
    before = snapshot(tmp_path)
    for call in (lambda: check_output_dir(out, overwrite=True), lambda: clear_run(out)):
        with pytest.raises(UsageError, match="is not a manifest written by npo_lab"):
            call()
    assert snapshot(tmp_path) == before


@pytest.fixture
def record(tmp_path, rows):
    """A run record (config.json with its experiment, a manifest, a claimed checkpoint) of NPO+RT, β 0.1,
    forget10, as an interrupted run leaves it; no training needed."""
    from npo_lab.runs import RunRecorder
    from npo_lab.unlearn import check_run

    out = tmp_path / "run"
    cfg = _ucfg(out)
    plan = check_run(
        cfg, model_name="m", forget_rows=rows["forget10"], retain_rows=rows["retain90"], forget_split="forget10"
    )
    rec = RunRecorder(out)
    rec.write_config({**cfg.to_dict(), "experiment": plan.experiment})
    rec.claim("checkpoint-1")
    (out / "checkpoint-1").mkdir()
    (out / "checkpoint-1" / "trainer_state.json").write_text('{"global_step": 1}')
    return out


RESUME_BAD = [
    # name, config changes, other changes, fragment naming the setting
    ("method", {"method": "NPO"}, {}, "method: 'NPO+RT' there, 'NPO' now"),
    ("beta", {"beta": 0.5}, {}, "beta: 0.1 there, 0.5 now"),
    ("alpha", {"alpha": 2.0}, {}, "alpha: 1.0 there, 2.0 now"),
    ("learning rate", {"learning_rate": 1e-4}, {}, "learning_rate: 1e-05 there, 0.0001 now"),
    ("seed", {"seed": 1}, {}, "seed: 0 there, 1 now"),
    ("forget split", {}, {"forget_split": "forget01"}, "forget_split: 'forget10' there, 'forget01' now"),
    ("forget rows", {}, {"forget": "forget01"}, "forget_rows_sha256"),
    ("retain rows", {}, {"retain": "retain99"}, "retain_rows_sha256"),
    ("model", {}, {"model_name": "another-model"}, "model: 'm' there, 'another-model' now"),
]


@pytest.mark.parametrize("name,changes,other,fragment", RESUME_BAD, ids=[c[0] for c in RESUME_BAD])
def test_resume_of_another_experiment_is_refused_naming_the_setting(record, rows, name, changes, other, fragment):
    """The worst finding: NPO+RT / β 0.1 / forget10 resumed as NPO / β 0.5 / forget01 used to mix the two."""
    from npo_lab.unlearn import check_run

    before = snapshot(record)
    kw = {
        "model_name": other.get("model_name", "m"),
        "forget_rows": rows[other.get("forget", "forget10")],
        "retain_rows": rows[other.get("retain", "retain90")],
        "forget_split": other.get("forget_split", "forget10"),
    }
    with pytest.raises(UsageError, match="holds a different experiment") as err:
        check_run(_ucfg(record, **changes), resume=True, **kw)
    assert fragment in str(err.value)
    assert snapshot(record) == before


def test_resume_of_the_same_experiment_passes_and_a_record_without_identity_is_refused(record, rows):
    from npo_lab.unlearn import check_run

    kw = {"model_name": "m", "forget_rows": rows["forget10"], "retain_rows": rows["retain90"]}
    assert check_run(_ucfg(record, eval_batch_size=3), resume=True, forget_split="forget10", **kw).mode == "resume"
    config = json.loads((record / "config.json").read_text())
    del config["experiment"]
    (record / "config.json").write_text(json.dumps(config))
    before = snapshot(record)
    with pytest.raises(UsageError, match="has no experiment record"):
        check_run(_ucfg(record), resume=True, forget_split="forget10", **kw)
    assert snapshot(record) == before


# ================================================================================================================
# configs: validated when created
# ================================================================================================================
UNLEARN_CONFIG_BAD = [
    ("max_steps", -5, "max_steps must be >= -1"),
    ("max_steps", 0, "max_steps must be -1 (run all epochs) or >= 1"),
    ("max_steps", 2.5, "max_steps must be an integer"),
    ("batch_size", 2.5, "batch_size must be an integer"),
    ("batch_size", 0, "batch_size must be >= 1"),
    ("batch_size", True, "batch_size must be an integer"),
    ("batch_size", "4", "batch_size must be an integer"),
    ("epochs", INF, "epochs must be a finite number"),
    ("epochs", -1, "epochs must be > 0"),
    ("epochs", 1e7, "epochs must be <="),
    ("learning_rate", INF, "learning_rate must be a finite number"),
    ("learning_rate", NAN, "learning_rate must be a finite number"),
    ("learning_rate", 0, "learning_rate must be > 0"),
    ("weight_decay", NAN, "weight_decay must be a finite number"),
    ("weight_decay", -0.1, "weight_decay must be >= 0"),
    ("beta", 1e300, "beta must be <="),
    ("beta", 0, "beta must be > 0"),
    ("alpha", -1, "alpha must be >= 0"),
    ("gamma", NAN, "gamma must be a finite number"),
    ("warmup_epochs", INF, "warmup_epochs must be a finite number"),
    ("max_grad_norm", NAN, "max_grad_norm must be a finite number"),
    ("gradient_accumulation_steps", 1.5, "gradient_accumulation_steps must be an integer"),
    ("seed", -1, "seed must be >= 0"),
    ("lora_dropout", 1.5, "lora_dropout must be <= 1"),
    ("max_length", 1, "max_length must be >= 2"),
    ("method", "npo", "unknown method 'npo'"),
    ("precision", "fp8", "precision must be one of fp32, bf16, fp16"),
    ("template", "nope", "template must be one of"),
    ("ga_reduction", "mean", "ga_reduction must be one of"),
    ("lr_scheduler", "nope", "lr_scheduler must be one of"),
    ("optim", "nope", "optim must be one of"),
    ("eval_splits", ("nope",), "eval_splits must be a non-empty subset"),
    ("eval_every", -2, "eval_every must be >= -1"),
    ("output_dir", " ", "output_dir must not be empty"),
    ("disable_tqdm", "yes", "disable_tqdm must be true or false"),
]


@pytest.mark.parametrize(
    "field,value,fragment", UNLEARN_CONFIG_BAD, ids=[f"{f}={v!r}" for f, v, _ in UNLEARN_CONFIG_BAD]
)
def test_unlearn_config_refuses_impossible_settings(field, value, fragment):
    from npo_lab.unlearn import UnlearnConfig

    with pytest.raises(ValueError) as err:
        UnlearnConfig(**{field: value})
    assert fragment in str(err.value)


def test_config_files_unknown_keys_and_json_text(tmp_path):
    from npo_lab.unlearn import UnlearnConfig

    with pytest.raises(ValueError, match=r"unknown UnlearnConfig field\(s\) \['lr'\]"):
        UnlearnConfig.from_dict({"lr": 1e-5})
    with pytest.raises(ValueError, match="use load"):
        UnlearnConfig.from_json("config.json")
    for content, fragment in [(b"\xff{}", "is not UTF-8 text"), (b'{"beta": ', "is not valid JSON"), (b"[1]", "JSON")]:
        p = tmp_path / "config.json"
        p.write_bytes(content)
        with pytest.raises(ValueError, match=fragment):
            UnlearnConfig.load(p)
        assert p.read_bytes() == content


DEMO_CONFIG_BAD = [
    ("epochs", -1, "epochs must be > 0"),
    ("epochs", INF, "epochs must be a finite number"),
    ("learning_rate", NAN, "learning_rate must be a finite number"),
    ("beta", 0, "beta must be > 0"),
    ("methods", (), "methods must name at least one method"),
    ("methods", ("NOPE",), "unknown method 'NOPE'"),
    ("methods", ("NPO", "NPO"), "methods must not repeat a method"),
    ("n_authors", 2.5, "n_authors must be an integer"),
    ("device", "tpu", "device must be one of auto, cpu, cuda, mps"),
    ("forget_split", "forget7", "forget_split must be one of"),
    ("eval_max_rows", 0, "eval_max_rows must be >= 1"),
    ("time_budget", NAN, "time_budget must be a finite number"),
    ("minitofu", {"epochs": 0}, "epochs must be >= 1"),
    ("minitofu", {"nope": 1}, "unknown MiniTofuConfig field(s) ['nope']"),
    ("minitofu", [1], "minitofu must be a MiniTofuConfig or a JSON object of its fields"),
    ("data", " ", "data must be 'synthetic', 'hub' or a directory"),
]


@pytest.mark.parametrize("field,value,fragment", DEMO_CONFIG_BAD, ids=[f"{f}={v!r}" for f, v, _ in DEMO_CONFIG_BAD])
def test_demo_config_refuses_impossible_settings(field, value, fragment):
    from npo_lab.experiments import DemoConfig

    with pytest.raises(ValueError) as err:
        DemoConfig(**{field: value})
    assert fragment in str(err.value)


def test_demo_config_bounds_beta_like_the_losses():
    from npo_lab.experiments import DemoConfig

    with pytest.raises(ValueError, match="beta"):
        DemoConfig(beta=1e300)


MINITOFU_CONFIG_BAD = [
    ("n_authors", 1, "n_authors must be >= 2"),
    ("hidden_size", 30, "hidden_size must be a multiple of num_heads"),
    ("epochs", 2.5, "epochs must be an integer"),
    ("learning_rate", INF, "learning_rate must be a finite number"),
    ("warmup_ratio", 1.0, "warmup_ratio must be <= 0.999"),
    ("lr_scheduler_type", "nope", "lr_scheduler_type must be one of"),
    ("weight_decay", NAN, "weight_decay must be a finite number"),
]


@pytest.mark.parametrize(
    "field,value,fragment", MINITOFU_CONFIG_BAD, ids=[f"{f}={v!r}" for f, v, _ in MINITOFU_CONFIG_BAD]
)
def test_minitofu_config_refuses_impossible_settings(field, value, fragment):
    from npo_lab.minitofu import MiniTofuConfig

    with pytest.raises(ValueError) as err:
        MiniTofuConfig(**{field: value})
    assert fragment in str(err.value)


SPEC_BAD = [
    ({"method": "nope", "learning_rate": 0.1}, "unknown method 'nope'"),
    ({"method": "NPO", "learning_rate": INF}, "learning_rate must be a finite number"),
    ({"method": "NPO", "learning_rate": 0.1, "beta": 1e300}, "beta must be <="),
    ({"method": "NPO", "learning_rate": 0.1, "alpha": -1}, "alpha must be >= 0"),
]


@pytest.mark.parametrize("kw,fragment", SPEC_BAD, ids=["method", "lr", "beta", "alpha"])
def test_synthetic_unlearn_spec_refuses_impossible_settings(kw, fragment):
    from npo_lab.theory.synthetic import UnlearnSpec

    with pytest.raises(ValueError) as err:
        UnlearnSpec(**kw)
    assert fragment in str(err.value)


def test_audit_config_refuses_an_infinite_learning_rate():
    from npo_lab.audit import AuditConfig

    with pytest.raises(ValueError, match="relearn_learning_rate"):
        AuditConfig(relearn_learning_rate=INF)


# ================================================================================================================
# the command line: npo-lab unlearn
# ================================================================================================================
@pytest.fixture
def no_unlearn_loading(monkeypatch, tmp_path):
    """``npo-lab unlearn`` in ``tmp_path``: a stand-in tokenizer, and loading the model fails the test."""
    import npo_lab.cli.unlearn as U

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(U, "_load_tokenizer", lambda args: object())
    _forbid(monkeypatch, "npo_lab.cli.unlearn", "_load_model")


def unlearn_argv(out, *extra) -> list:
    base = ["unlearn", "--model", "my-model", "--data", "synthetic", "--forget", "forget10", "--template", "qa"]
    return base + ["--eval-every", "-1", "--no-forget-quality", "--no-progress", "--out", out, *extra]


UNLEARN_CLI_BAD = [
    (["--method", "NOPE"], "argument --method: invalid choice: 'NOPE'"),
    (["--max-steps", "-5"], "max_steps must be >= -1, got -5"),
    (["--batch-size", "2.5"], "argument --batch-size: invalid int value: '2.5'"),
    (["--batch-size", "0"], "batch_size must be >= 1"),
    (["--epochs", "inf"], "epochs must be a finite number, got inf"),
    (["--epochs", "-1"], "epochs must be > 0"),
    (["--lr", "inf"], "learning_rate must be a finite number, got inf"),
    (["--lr", "nan"], "learning_rate must be a finite number, got nan"),
    (["--weight-decay", "nan"], "weight_decay must be a finite number, got nan"),
    (["--beta", "1e300"], "beta must be <="),
    (["--eval-max-rows", "0"], "eval_max_rows must be >= 1"),
    (["--precision", "fp8"], "argument --precision: invalid choice"),
    (["--forget", "forget07"], "argument --forget: invalid choice"),
    (["--lora-target-modules", ","], "lora_target_modules must name at least one module"),
    (["--data", "no_such_dir"], "source='no_such_dir' is not a directory"),
    (["--retain", "retain07"], "split must be one of"),
    (["--resume"], "holds no checkpoint"),
    (["--resume", "--overwrite"], "exclude each other"),
]


@pytest.mark.parametrize("extra,fragment", UNLEARN_CLI_BAD, ids=[" ".join(e) for e, _ in UNLEARN_CLI_BAD])
def test_unlearn_cli_refuses_bad_settings_before_loading(tmp_path, capsys, no_unlearn_loading, extra, fragment):
    assert_refused(unlearn_argv(tmp_path / "new_run", *extra), capsys, tmp_path, fragment)


@pytest.mark.parametrize("extra", [[], ["--overwrite"], ["--resume"]], ids=["plain", "overwrite", "resume"])
def test_unlearn_cli_into_the_users_checkpoints_is_refused(tmp_path, capsys, no_unlearn_loading, extra):
    """The worst finding: it used to exit 0, having deleted the user's checkpoint-* folders and metrics.jsonl."""
    out = _user_files(tmp_path / "mine")
    assert_refused(unlearn_argv(out, *extra), capsys, tmp_path, str(out))


@pytest.mark.parametrize(
    "out,fragment", [("a_file", "exists and is not a directory"), ("a_file/run", "is not a writable directory")]
)
def test_unlearn_cli_out_under_or_at_a_file_is_refused(tmp_path, capsys, no_unlearn_loading, out, fragment):
    (tmp_path / "a_file").write_text("the user's file")
    assert_refused(unlearn_argv(tmp_path / out), capsys, tmp_path, fragment)


@pytest.mark.parametrize(
    "content,fragment",
    [(b"\xff\xfe", "is not UTF-8 text"), (b'{"eval_log_forget.json": {"avg_gt_loss": [-Infinity]}}', "avg_gt_loss")],
    ids=["non-UTF-8", "-Infinity"],
)
def test_unlearn_cli_refuses_a_bad_retain_log(tmp_path, capsys, no_unlearn_loading, content, fragment):
    log = tmp_path / "retain_log.json"
    log.write_bytes(content)
    argv = [a for a in unlearn_argv(tmp_path / "run", "--retain-log", log) if a != "--no-forget-quality"]
    argv[argv.index("--eval-every") + 1] = "0"
    line = assert_refused(argv, capsys, tmp_path, fragment)
    assert "retain_log.json" in line


def test_unlearn_cli_resume_of_another_experiment_is_refused(tmp_path, capsys, no_unlearn_loading, rows):
    """An NPO+RT / β 0.1 / forget10 record resumed with --method NPO --forget forget01 --beta 0.5."""
    from npo_lab.runs import RunRecorder
    from npo_lab.unlearn import check_run

    out = tmp_path / "run"
    cfg = _ucfg(out, disable_tqdm=True)
    plan = check_run(
        cfg, model_name="my-model", forget_rows=rows["forget10"], retain_rows=rows["retain90"], eval_source="synthetic"
    )
    rec = RunRecorder(out)
    rec.write_config({**cfg.to_dict(), "experiment": plan.experiment})
    rec.claim("checkpoint-1")
    (out / "checkpoint-1").mkdir()
    argv = unlearn_argv(out, "--resume", "--method", "NPO", "--beta", "0.5")
    argv[argv.index("--forget") + 1] = "forget01"
    line = assert_refused(argv, capsys, tmp_path, "holds a different experiment")
    for setting in ("method: 'NPO+RT' there, 'NPO' now", "beta: 0.1 there, 0.5 now", "forget_split: 'forget10'"):
        assert setting in line


def test_unlearn_cli_missing_model_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = unlearn_argv(tmp_path / "run")
    argv[argv.index("--model") + 1] = str(tmp_path / "no_such_model")
    assert_refused(argv, capsys, tmp_path, "cannot load the tokenizer")


# ================================================================================================================
# npo-lab evaluate
# ================================================================================================================
@pytest.fixture
def no_eval_loading(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    _forbid(monkeypatch, "npo_lab.cli.evaluate", "_load")


def eval_argv(out, *extra) -> list:
    return ["evaluate", "--model", "my-model", "--data", "synthetic", "--template", "qa", "--out", out, *extra]


EVAL_CLI_BAD = [
    (["--max-rows", "0"], "argument --max-rows: expected a positive integer, got '0'"),
    (["--max-rows", "2.5"], "argument --max-rows: expected a positive integer"),
    (["--batch-size", "-1"], "argument --batch-size: expected a positive integer"),
    (["--device", "nope"], "--device 'nope' is not a device"),
    (["--device", "cuda:7"], "--device 'cuda:7'"),
    (["--template", "nope"], "argument --template: invalid choice"),
    (["--forget", "forget07"], "argument --forget: invalid choice"),
    (["--splits", "nope"], "argument --splits: invalid choice"),
    (["--data", "no_such_dir"], "source='no_such_dir' is not a directory"),
]


@pytest.mark.parametrize("extra,fragment", EVAL_CLI_BAD, ids=[" ".join(e) for e, _ in EVAL_CLI_BAD])
def test_evaluate_cli_refuses_bad_settings_before_loading(tmp_path, capsys, no_eval_loading, extra, fragment):
    assert_refused(eval_argv(tmp_path / "log.json", *extra), capsys, tmp_path, fragment)


@pytest.mark.parametrize(
    "out,fragment",
    [
        ("existing.json", "already exists; choose another file or pass --overwrite"),
        ("a_dir", "is a directory"),
        ("existing.json/log.json", "is not a directory"),
    ],
)
def test_evaluate_cli_refuses_an_unusable_out(tmp_path, capsys, no_eval_loading, out, fragment):
    (tmp_path / "existing.json").write_text('{"the user": "eval log"}')
    (tmp_path / "a_dir").mkdir()
    (tmp_path / "a_dir" / "kept.txt").write_text("x")
    assert_refused(eval_argv(tmp_path / out), capsys, tmp_path, fragment)


def test_evaluate_cli_unknown_option_is_one_line(tmp_path, capsys, no_eval_loading):
    assert_refused(eval_argv(tmp_path / "log.json", "--method", "NPO"), capsys, tmp_path, "unrecognized arguments")


def test_evaluate_cli_failed_overwrite_keeps_the_old_log_and_leaves_no_tmp(tmp_path, capsys, monkeypatch):
    """Evaluation that ends in an impossible log: the old file stays as it was and no .tmp is left behind."""
    monkeypatch.chdir(tmp_path)
    import npo_lab.cli.evaluate as E

    monkeypatch.setattr(E, "_load", lambda args, device: (object(), object()))
    bad = eval_log()
    bad[FORGET]["avg_gt_loss"][0] = -INF
    monkeypatch.setattr(importlib.import_module("npo_lab.tofu.evaluate"), "evaluate", lambda *a, **k: bad)
    (tmp_path / "log.json").write_text('{"the user": "eval log"}')
    assert_refused(eval_argv(tmp_path / "log.json", "--overwrite", "--device", "cpu"), capsys, tmp_path, "avg_gt_loss")


def test_evaluate_cli_missing_model_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = eval_argv(tmp_path / "log.json", "--device", "cpu")
    argv[argv.index("--model") + 1] = str(tmp_path / "no_such_model")
    assert_refused(argv, capsys, tmp_path, "cannot load --model")


# ================================================================================================================
# npo-lab demo
# ================================================================================================================
@pytest.fixture
def no_demo_work(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    importlib.import_module("npo_lab.cli.demo")
    _forbid(monkeypatch, "npo_lab.experiments.minitofu_demo", "_prepare")


DEMO_CLI_BAD = [
    (["--epochs", "-1"], "epochs must be > 0, got -1.0"),
    (["--epochs", "inf"], "epochs must be a finite number, got inf"),
    (["--lr", "nan"], "learning_rate must be a finite number, got nan"),
    (["--methods", "NOPE"], "unknown method 'NOPE'"),
    (["--methods", "NPO", "NPO"], "methods must not repeat a method"),
    (["--device", "nope"], "device must be one of auto, cpu, cuda, mps; got 'nope'"),
    (["--authors", "1"], "n_authors must be >= 2"),
    (["--eval-max-rows", "0"], "eval_max_rows must be >= 1"),
    (["--ft-epochs", "0"], "epochs must be >= 1"),
    (["--forget", "forget07"], "argument --forget: invalid choice"),
    (["--time-budget", "abc"], "argument --time-budget: expected a number of seconds"),
    (["--data", "no_such_dir"], "data 'no_such_dir' is neither 'synthetic', 'hub' nor an existing directory"),
    (["--config", "missing.json"], "DemoConfig file 'missing.json' does not exist"),
]


@pytest.mark.parametrize("extra,fragment", DEMO_CLI_BAD, ids=[" ".join(e) for e, _ in DEMO_CLI_BAD])
def test_demo_cli_refuses_bad_settings_before_training(tmp_path, capsys, no_demo_work, extra, fragment):
    assert_refused(["demo", "--smoke", "--out", tmp_path / "demo", *extra], capsys, tmp_path, fragment)


def test_demo_cli_negative_epochs_fails_fast(tmp_path, capsys, no_demo_work):
    """It used to fail after 110 s of model training, without a summary."""
    start = time.perf_counter()
    assert_refused(["demo", "--epochs", "-1", "--out", tmp_path / "demo"], capsys, tmp_path, "epochs must be > 0")
    assert time.perf_counter() - start < 5.0


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here: --device cuda is valid")
def test_demo_cli_unavailable_device(tmp_path, capsys, no_demo_work):
    assert_refused(["demo", "--smoke", "--device", "cuda"], capsys, tmp_path, "'cuda' is not available")


@pytest.mark.parametrize(
    "out,fragment",
    [("a_file", "is an existing file"), ("mine", "is a non-empty directory without demo.json")],
)
def test_demo_cli_refuses_an_unusable_out(tmp_path, capsys, no_demo_work, out, fragment):
    (tmp_path / "a_file").write_text("the user's file")
    _user_files(tmp_path / "mine")
    assert_refused(["demo", "--smoke", "--out", tmp_path / out], capsys, tmp_path, fragment)


@pytest.mark.parametrize(
    "content,fragment",
    [
        (b"\xff\xfe{}", "is not UTF-8 text"),
        (b'{"epochs": ', "is not valid JSON"),
        (b'{"epochs": 2, "lr": 1}', "unknown DemoConfig field(s) ['lr']"),
        (b'{"minitofu": [1]}', "minitofu must be a MiniTofuConfig or a JSON object of its fields"),
        (b'{"epochs": -1}', "epochs must be > 0"),
    ],
    ids=["non-UTF-8", "truncated", "unknown key", "minitofu a list", "negative epochs"],
)
def test_demo_cli_refuses_a_bad_config_file(tmp_path, capsys, no_demo_work, content, fragment):
    (tmp_path / "my_demo.json").write_bytes(content)
    line = assert_refused(["demo", "--config", tmp_path / "my_demo.json"], capsys, tmp_path, fragment)
    assert "my_demo.json" in line


# ================================================================================================================
# npo-lab synthetic, figures, authors, audit, colab-links, bench-gpu
# ================================================================================================================
SYNTHETIC_CLI_BAD = [
    (["--seeds", "0"], "--seeds must be an integer >= 1, got 0"),
    (["--seeds", "2.5"], "argument --seeds: invalid int value"),
    (["--steps", "-1"], "--steps must be an integer >= 0"),
    (["--eval-every", "0"], "--eval-every must be an integer >= 1"),
    (["--workers", "0"], "--workers must be an integer >= 1"),
    (["--pretrain-steps", "-1"], "--pretrain-steps must be an integer >= 0"),
    (["--input-gap", "2"], "argument --input-gap: invalid choice"),
]


@pytest.mark.parametrize("extra,fragment", SYNTHETIC_CLI_BAD, ids=[" ".join(e) for e, _ in SYNTHETIC_CLI_BAD])
def test_synthetic_cli_refuses_bad_settings(tmp_path, capsys, monkeypatch, extra, fragment):
    monkeypatch.chdir(tmp_path)
    _forbid(monkeypatch, "npo_lab.theory", "make_task")
    assert_refused(["synthetic", "--out", tmp_path / "out", *extra], capsys, tmp_path, fragment)


def test_synthetic_cli_out_that_is_a_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _forbid(monkeypatch, "npo_lab.theory", "make_task")
    (tmp_path / "a_file").write_text("the user's file")
    assert_refused(["synthetic", "--out", tmp_path / "a_file"], capsys, tmp_path, "exists and is not a directory")


FIGURES_CLI_BAD = [
    (["--seeds", "0"], "--seeds must be an integer >= 1"),
    (["--out", "a_file"], "exists and is not a directory"),
    (["--minitofu", "no_such_dir"], "--minitofu 'no_such_dir' is not a directory"),
    (["--eval-logs", "missing.json", "missing2.json"], "no eval log at"),
    (["--eval-logs", "bad_log.json", "bad_log.json"], "'avg_gt_loss' has losses"),
]


@pytest.mark.parametrize("extra,fragment", FIGURES_CLI_BAD, ids=[" ".join(e) for e, _ in FIGURES_CLI_BAD])
def test_figures_cli_refuses_bad_settings(tmp_path, capsys, monkeypatch, extra, fragment):
    monkeypatch.chdir(tmp_path)
    _forbid(monkeypatch, "npo_lab.gallery", "make_gallery")
    (tmp_path / "a_file").write_text("the user's file")
    bad = eval_log()
    bad[FORGET]["avg_gt_loss"][0] = -INF
    (tmp_path / "bad_log.json").write_text(json.dumps(bad))
    assert_refused(["figures", "--quick", *extra], capsys, tmp_path, fragment)


@pytest.mark.parametrize(
    "authors,fragment", [("5", "between 10 and 1000, got 5"), ("-3", "between 10 and 1000"), ("x", "invalid int")]
)
def test_authors_cli_refuses_a_bad_count(tmp_path, capsys, monkeypatch, authors, fragment):
    monkeypatch.chdir(tmp_path)
    rc, err = run_cli(["authors", "--authors", authors, "--out", tmp_path / "authors"], capsys)
    assert rc == 2 and len(err) == 1 and err[0].startswith("npo-lab authors: error: ") and fragment in err[0], err


def test_authors_cli_bad_count_creates_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_refused(["authors", "--authors", "5", "--out", tmp_path / "authors"], capsys, tmp_path, "between 10")


def test_authors_cli_out_that_is_a_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("the user's file")
    assert_refused(["authors", "--out", tmp_path / "a_file"], capsys, tmp_path, "cannot write there")


def test_authors_cli_refuses_a_non_empty_foreign_directory(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _user_files(tmp_path / "mine")
    assert_refused(["authors", "--out", tmp_path / "mine"], capsys, tmp_path, "mine")


@pytest.fixture
def no_audit_loading(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    _forbid(monkeypatch, "npo_lab.cli.audit", "_load")
    for name in ("model", "retain"):  # two model directories (a config.json is all resolve_model_dir looks at)
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")


def audit_argv(*extra) -> list:
    return ["audit", "model", "--reference", "retain", "--data", "synthetic", "--out", "audit.json", *extra]


AUDIT_CLI_BAD = [
    (["--device", "nope"], "--device 'nope' is not a device"),
    (["--max-rows", "0"], "argument --max-rows: expected a positive integer"),
    (["--max-rows", "1"], "max_rows must be >= 2"),
    (["--relearn-lr", "nan"], "relearn_learning_rate must be > 0"),
    (["--bits", "1"], "bits must be a non-empty list of integers in [2, 16]"),
    (["--seed", "-1"], "seed must be an integer >= 0"),
    (["--attack", "nope"], "argument --attack: invalid choice"),
    (["--reference", "no_such_model"], "--reference 'no_such_model' is not a directory"),
    (["--out", "a_file"], "--out 'a_file' already exists"),
    (["--out", "model"], "--out 'model' is a directory"),
    (["--data", "no_such_dir"], "no_such_dir"),
]


@pytest.mark.parametrize("extra,fragment", AUDIT_CLI_BAD, ids=[" ".join(e) for e, _ in AUDIT_CLI_BAD])
def test_audit_cli_refuses_bad_settings_before_loading(tmp_path, capsys, no_audit_loading, extra, fragment):
    (tmp_path / "a_file").write_text("the user's file")
    assert_refused(audit_argv(*extra), capsys, tmp_path, fragment)


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "repo" / "notebooks").mkdir(parents=True)
    (tmp_path / "repo" / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[project.urls]\nRepository = "https://github.com/owner/name"\n'
    )
    return tmp_path / "repo"


@pytest.mark.parametrize(
    "extra,fragment",
    [
        (["--root", "no_such_dir"], "no checkout at 'no_such_dir'"),
        (["--check", "--repo", "a/b"], "--check and --repo exclude each other"),
        (["--repo", "not a repo"], "repo must look like OWNER/NAME"),
    ],
    ids=["root missing", "check+repo", "bad repo"],
)
def test_colab_links_cli_refuses_bad_settings_and_changes_nothing(tmp_path, capsys, checkout, extra, fragment):
    argv = ["colab-links", *(["--root", checkout] if "--root" not in extra else []), *extra]
    assert_refused(argv, capsys, tmp_path, fragment)


@pytest.fixture
def no_benchmark(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    _forbid(monkeypatch, "npo_lab.gpu.bench", "run_config")


BENCH_CLI_BAD = [
    (["--batch", "0"], "--batch must be >= 1, got 0"),
    (["--seq", "1"], "--seq must be >= 2"),
    (["--steps", "0"], "--steps must be >= 1"),
    (["--warmup", "-1"], "--warmup must be >= 0"),
    (["--dtype", "fp8"], "argument --dtype: invalid choice"),
    (["--out", "no_such_dir/bench.json"], "does not exist"),
]


@pytest.mark.parametrize("extra,fragment", BENCH_CLI_BAD, ids=[" ".join(e) for e, _ in BENCH_CLI_BAD])
def test_bench_gpu_cli_refuses_bad_settings_before_benchmarking(tmp_path, capsys, no_benchmark, extra, fragment):
    assert_refused(["bench-gpu", "--tiny", *extra], capsys, tmp_path, fragment)


def test_bench_gpu_cli_out_that_is_a_directory(tmp_path, capsys, no_benchmark):
    _user_files(tmp_path / "mine")
    assert_refused(["bench-gpu", "--tiny", "--out", tmp_path / "mine"], capsys, tmp_path, "--out")


def test_unknown_command_and_missing_arguments_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, err = run_cli(["nope"], capsys)
    assert rc == 2 and len(err) == 1 and err[0].startswith("npo-lab: error: unknown command 'nope'"), err
    assert_refused(["metrics"], capsys, tmp_path, "the following arguments are required: LOG")
    assert_refused(["unlearn", "--model", "m"], capsys, tmp_path, "the following arguments are required: --out")


# ================================================================================================================
# progress when the output is not a terminal: lines per stage, not carriage returns
# ================================================================================================================
def test_progress_callback_writes_a_line_per_interval_not_per_step():
    from npo_lab.unlearn import ProgressLogCallback

    logger = logging.getLogger("npo_lab.unlearn")
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        cb = ProgressLogCallback(every_s=10.0)
        state = types.SimpleNamespace(is_world_process_zero=True, max_steps=2000, global_step=0, epoch=0.0)
        cb.on_train_begin(None, state, None)
        for step in range(1, 2001):
            state.global_step, state.epoch = step, step / 200
            cb.on_step_end(None, state, None)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert records[0] == "training: 2000 steps (from step 0)"
    assert len(records) <= 3 and not any("\r" in r for r in records)  # 2 000 steps in well under 10 s


def test_cli_without_a_terminal_uses_progress_lines_not_bars(tmp_path, monkeypatch):
    """``npo-lab unlearn`` / ``demo`` with stdout a pipe or a log file (as under pytest): no bars; unlearn logs a
    line every few seconds instead (``--no-progress``: nothing)."""
    import npo_lab.cli.demo as D
    import npo_lab.cli.unlearn as U
    from npo_lab.cli import build_parser

    monkeypatch.chdir(tmp_path)
    argv = [str(a) for a in unlearn_argv(tmp_path / "run")]
    cfg = U._config(build_parser("unlearn").parse_args([a for a in argv if a != "--no-progress"]))
    assert cfg.disable_tqdm and cfg.progress_every_s == U.PROGRESS_EVERY_S > 0
    quiet = U._config(build_parser("unlearn").parse_args(argv))
    assert quiet.disable_tqdm and quiet.progress_every_s == 0
    demo = D.demo_config(build_parser("demo").parse_args(["demo", "--smoke", "--out", str(tmp_path / "demo")]))
    assert demo.progress is False
    assert list(tmp_path.iterdir()) == []
