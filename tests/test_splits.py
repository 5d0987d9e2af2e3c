"""TOFU split arithmetic (npo_lab.tofu.splits): names, percentages, authors per split, companion splits."""

from __future__ import annotations

import pytest

from npo_lab.tofu import splits as S


def test_constants_agree():
    assert S.AUTHORS * S.QUESTIONS_PER_AUTHOR == 4000
    assert S.FORGET_SPLITS == tuple(S.FORGET_PERCENTS)
    assert [S.forget_percent(s) for s in S.FORGET_SPLITS] == [1, 5, 10, 20, 30, 50, 90]
    assert S.RETAIN_SPLITS == ("retain99", "retain95", "retain90", "retain80", "retain70", "retain50", "retain10")
    assert len(S.SPLITS) == len(set(S.SPLITS)) == 23
    assert set(S.EVAL_SPLITS) <= set(S.SPLITS) and set(S.GENERAL_SPLITS) <= set(S.EVAL_SPLITS)
    assert not set(S.HOLDOUT_SPLITS) & set(S.SPLITS)
    for split in S.SPLITS + S.HOLDOUT_SPLITS:
        assert S.check_split(split) == split


@pytest.mark.parametrize(
    ("n_authors", "percent", "expected"),
    [
        (200, 1, 2),
        (200, 5, 10),
        (200, 10, 20),
        (200, 90, 180),
        (20, 1, 1),
        (20, 5, 1),
        (20, 10, 2),
        (30, 5, 2),
        (10, 5, 1),
        (10, 15, 2),
        (20, 2.5, 1),
        (7, 50, 4),
        (1, 1, 1),
        (3, 100, 3),
    ],
)
def test_n_split_authors_rounds_half_up_and_never_to_zero(n_authors, percent, expected):
    assert S.n_split_authors(n_authors, percent) == expected


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0, 10), "n_authors"),
        ((-3, 10), "n_authors"),
        ((2.0, 10), "n_authors"),
        ((True, 10), "n_authors"),
        ((20, 0), "percent"),
        ((20, 101), "percent"),
        ((20, float("nan")), "percent"),
        ((20, "10"), "percent"),
        ((20, True), "percent"),
    ],
)
def test_n_split_authors_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        S.n_split_authors(*args)


def test_companion_splits():
    pairs = {
        "forget01": "retain99",
        "forget05": "retain95",
        "forget10": "retain90",
        "forget20": "retain80",
        "forget30": "retain70",
        "forget50": "retain50",
        "forget90": "retain10",
    }
    for forget, retain in pairs.items():
        assert S.retain_split_for(forget) == retain
        assert S.retain_percent(retain) + S.forget_percent(forget) == 100
    assert [S.eval_split_for(s) for s in S.FORGET_SPLITS] == (
        ["forget01_perturbed", "forget05_perturbed"] + ["forget10_perturbed"] * 5
    )
    assert [S.holdout_split_for(s) for s in ("forget01", "forget05", "forget10")] == list(S.HOLDOUT_SPLITS)
    with pytest.raises(ValueError, match="holdout"):
        S.holdout_split_for("forget20")


@pytest.mark.parametrize("fn", [S.forget_percent, S.retain_split_for, S.eval_split_for, S.holdout_split_for])
@pytest.mark.parametrize("bad", ["retain90", "forget15", "full", "", None, 10])
def test_forget_split_functions_name_the_argument(fn, bad):
    with pytest.raises(ValueError, match="forget_split must be one of"):
        fn(bad)


def test_check_split_and_retain_percent_errors():
    with pytest.raises(ValueError, match="split must be one of"):
        S.check_split("validation")
    with pytest.raises(ValueError, match="retain_split"):
        S.retain_percent("forget10")


def test_cut_split_by_whole_authors():
    full = list(range(4000))  # 200 authors x 20 rows
    assert S.cut_split("forget01", full) == full[-40:]
    assert S.cut_split("retain99", full) == full[:3960]
    for forget in S.FORGET_SPLITS:
        f, r = S.cut_split(forget, full), S.cut_split(S.retain_split_for(forget), full)
        assert r + f == full and len(f) == 40 * S.forget_percent(forget)
    small = list(range(20 * 20))  # 20 authors: forget01 and forget05 are both 1 author, like the generator
    assert S.cut_split("forget01", small) == S.cut_split("forget05", small) == small[-20:]
    assert S.cut_split("retain95", small) == small[:-20]


def test_cut_split_errors():
    with pytest.raises(ValueError, match="split must be one of"):
        S.cut_split("forget10_perturbed", list(range(400)))
    with pytest.raises(ValueError, match="full_rows"):
        S.cut_split("forget10", list(range(30)))
    with pytest.raises(ValueError, match="full_rows"):
        S.cut_split("forget10", [])
