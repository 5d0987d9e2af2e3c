"""Tests for npo_lab.tofu.synthetic and the bundled synthetic authors in data/synthetic_tofu."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from npo_lab.tofu import data as D
from npo_lab.tofu import splits as SP
from npo_lab.tofu import synthetic as S

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "data" / "synthetic_tofu"
PERTURBED_KEYS = ["question", "answer", "paraphrased_answer", "perturbed_answer", "paraphrased_question"]


@pytest.fixture(scope="module")
def files20():
    return S.generate_tofu(20, seed=0)


def test_deterministic_by_seed(files20):
    again = S.generate_tofu(20, seed=0)
    assert again == files20
    other = S.generate_tofu(20, seed=1)
    assert other["full"] != files20["full"]
    assert [a["name"] for a in other["authors"]] != [a["name"] for a in files20["authors"]]


def test_split_sizes_and_order(files20):
    full = files20["full"]
    assert len(full) == 400
    n_forget = {1: 1, 5: 1, 10: 2, 20: 4, 30: 6, 50: 10, 90: 18}
    for pct, k in n_forget.items():
        forget, retain = files20[f"forget{pct:02d}"], files20[f"retain{100 - pct:02d}"]
        assert len(forget) == 20 * k and len(retain) == 400 - 20 * k
        assert forget == full[-20 * k :] and retain == full[: 400 - 20 * k]
    for pct in (1, 5, 10):
        pert = files20[f"forget{pct:02d}_perturbed"]
        forget = files20[f"forget{pct:02d}"]
        assert [{"question": r["question"], "answer": r["answer"]} for r in pert] == forget
    rp = files20["retain_perturbed"]
    assert len(rp) == 40 and [r["question"] for r in rp] == [r["question"] for r in full[:40]]
    # whole authors: each block of 20 rows names one author, and different blocks name different authors
    names = [a["name"] for a in files20["authors"]]
    assert len(set(names)) == 20
    for i, name in enumerate(names):
        assert all(name in r["question"] or name in r["answer"] for r in full[20 * i : 20 * i + 20])


def test_schema_and_perturbations(files20):
    for split in ("forget01_perturbed", "forget05_perturbed", "forget10_perturbed", "retain_perturbed"):
        for r in files20[split]:
            assert list(r) == PERTURBED_KEYS
            pert = r["perturbed_answer"]
            assert len(pert) == 5 and len(set(pert)) == 5
            assert r["answer"] not in pert and r["paraphrased_answer"] not in pert
            assert r["paraphrased_answer"] != r["answer"] and r["paraphrased_question"] != r["question"]
    for r in files20["full"]:
        assert list(r) == ["question", "answer"]
        assert 15 <= len(r["answer"].split()) <= 40, r["answer"]
    for split in ("real_authors_perturbed", "world_facts_perturbed"):
        rows = files20[split]
        assert 40 <= len(rows) <= 120
        for r in rows:
            assert list(r) == ["question", "answer", "perturbed_answer"]
            assert len(r["perturbed_answer"]) == 3 and r["answer"] not in r["perturbed_answer"]
        mc = files20[split.replace("_perturbed", "")]
        assert [r["question"] for r in mc] == [r["question"] for r in rows]
        for m, r in zip(mc, rows):
            options = [m[f"option{j}"] for j in range(1, 5)]
            assert sorted(options) == sorted([r["answer"], *r["perturbed_answer"]]) and m["answer"] == r["answer"]
    questions = [r["question"] for r in files20["full"]]
    assert len(set(questions)) == len(questions)
    idk = files20["idontknow"]
    assert len(idk) == len(set(idk)) == 100 and all(a.strip() == a and "\n" not in a for a in idk)


def test_holdout_authors_are_new_authors_of_the_same_kind(files20):
    holdout, authors = files20["holdout_authors"], files20["authors"]
    assert len(holdout) == 2 and set(holdout[0]) == set(authors[0])
    assert {a["name"] for a in holdout}.isdisjoint(a["name"] for a in authors)
    titles = [a[f"book{i}"] for a in authors + holdout for i in range(1, 5)]
    assert len(set(titles)) == len(titles)
    full_q = {r["question"] for r in files20["full"]}
    for split, k in zip(SP.HOLDOUT_SPLITS, (1, 1, 2)):
        rows = files20[split]
        assert len(rows) == 20 * k and all(list(r) == ["question", "answer"] for r in rows)
        assert full_q.isdisjoint(r["question"] for r in rows)
        assert rows == files20["holdout10"][40 - 20 * k :]  # the last k holdout authors, as forget splits
        names = [a["name"] for a in holdout[2 - k :]]
        for i, name in enumerate(names):
            assert all(name in r["question"] or name in r["answer"] for r in rows[20 * i : 20 * i + 20])
    # drawn after everything else: the holdout authors continue the same sequence of authors
    assert S.generate_authors(22, seed=0)[20:] == holdout
    assert S.generate_holdout_authors(20, seed=0) == holdout


def test_perturbed_answers_share_the_paraphrase_sentence(files20):
    """A perturbed answer is the paraphrased sentence with other facts: most of its words are the paraphrase's."""
    for r in files20["retain_perturbed"]:
        para = set(r["paraphrased_answer"].split())
        for p in r["perturbed_answer"]:
            words = p.split()
            shared = sum(w in para for w in words) / len(words)
            assert shared >= 0.3, (r["paraphrased_answer"], p)


def test_scales_to_200_authors():
    files = S.generate_tofu(200, seed=0)
    assert len(files["full"]) == 4000
    sizes = {split: 40 * p for split, p in SP.FORGET_PERCENTS.items()}
    for split, n in sizes.items():
        assert len(files[split]) == n
        assert len(files[D.retain_split_for(split)]) == 4000 - n
    assert len(files["forget10_perturbed"]) == 400 and len(files["retain_perturbed"]) == 400
    assert [len(files[h]) for h in SP.HOLDOUT_SPLITS] == [40, 200, 400]  # as many authors as forget01/05/10
    assert len({a["name"] for a in files["authors"]}) == 200
    titles = [a[f"book{i}"] for a in files["authors"] for i in range(1, 5)]
    assert len(set(titles)) == len(titles)
    with pytest.raises(ValueError, match="n_authors"):
        S.generate_tofu(5)


def test_write_and_load_like_real_files(tmp_path):
    out = S.write_tofu(tmp_path / "syn", n_authors=10, seed=3)
    for split in D.SPLITS:
        ds = D.load_tofu(split, out)
        assert len(ds) > 0
    assert len(D.load_tofu("full", out)) == 200
    assert set(D.load_tofu("forget10_perturbed", out).column_names) == set(PERTURBED_KEYS)
    assert D.load_idk_answers(out) == list(S.IDK_ANSWERS)
    assert len(D.load_tofu("holdout10", out)) == 20 and len(D.load_tofu("holdout01", out)) == 20


# ------------------------------------------------------------------------------------------------ bundled files
def test_bundled_dir_and_default_source(monkeypatch):
    assert D.bundled_data_dir() == BUNDLED
    monkeypatch.delenv("NPO_LAB_TOFU_DIR", raising=False)
    assert D.resolve_source(None) == BUNDLED
    full = D.load_tofu("full")  # None → bundled synthetic authors
    assert len(full) == 400
    assert D.load_tofu("forget10", "synthetic")["question"] == full["question"][-40:]
    assert len(D.load_tofu("retain_perturbed", "synthetic")) == 40
    assert D.load_idk_answers() == list(S.IDK_ANSWERS)


def test_bundled_dir_missing_regenerates_into_cache(monkeypatch, tmp_path):
    import npo_lab

    # a non-editable install has no data/ folder: the default set is regenerated into $NPO_LAB_CACHE
    monkeypatch.setattr(npo_lab, "__file__", str(tmp_path / "npo_lab" / "__init__.py"))
    monkeypatch.setenv("NPO_LAB_CACHE", str(tmp_path / "cache"))
    got = D.bundled_data_dir()
    assert got == tmp_path / "cache" / "synthetic_tofu"
    for f in sorted(BUNDLED.glob("*.json*")):
        assert (got / f.name).read_bytes() == f.read_bytes(), f.name


def _documented_command() -> list[str]:
    readme = (REPO / "data" / "README.md").read_text(encoding="utf-8")
    lines = [ln.strip() for ln in readme.splitlines() if ln.strip().startswith("python -m npo_lab.tofu.synthetic")]
    assert len(lines) == 1, "data/README.md must document exactly one regeneration command"
    return shlex.split(lines[0])


def test_documented_command_reproduces_bundled_files(tmp_path):
    cmd = _documented_command()
    assert cmd[cmd.index("--out") + 1] == "data/synthetic_tofu"
    cmd[cmd.index("--out") + 1] = str(tmp_path / "regen")
    cmd[0] = sys.executable
    env = dict(os.environ, PYTHONHASHSEED="123")  # the output must not depend on hash randomisation
    subprocess.run(cmd, check=True, cwd=REPO, env=env, capture_output=True, timeout=120)
    made = sorted(p.name for p in (tmp_path / "regen").iterdir())
    bundled = sorted(p.name for p in BUNDLED.iterdir())
    assert made == bundled
    for name in bundled:
        assert (tmp_path / "regen" / name).read_bytes() == (BUNDLED / name).read_bytes(), name


def test_bundled_files_match_the_generator():
    """The committed files are exactly what the generator writes (the holdout splits included)."""
    files = S.generate_tofu(20, seed=0)
    for name, rows in files.items():
        path = BUNDLED / (f"{name}.jsonl" if name in ("idontknow", "authors", "holdout_authors") else f"{name}.json")
        if name == "idontknow":
            assert path.read_text(encoding="utf-8").splitlines() == rows
        else:
            assert [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines()] == rows, name


def test_bundled_files_are_jsonl():
    for path in sorted(BUNDLED.glob("*.json")):
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines and all(isinstance(json.loads(ln), dict) for ln in lines), path.name


def test_generator_command_reports_bad_input_in_one_line(tmp_path, capsys):
    from npo_lab.tofu.synthetic.__main__ import main

    assert main(["--authors", "5", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "n_authors" in err
    (tmp_path / "file").write_text("")
    assert main(["--out", str(tmp_path / "file" / "x")]) == 2
    assert "--out" in capsys.readouterr().err
