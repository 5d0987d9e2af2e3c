"""The GPU estimator (npo_lab.gpu.plan), the session helpers (npo_lab.gpu.session) and loading (npo_lab.gpu.load):
constants derived from their parts, counts consistent with the settings that are run, the default plan of a free
T4 session within its budget. No GPU and no download needed (models are built on the meta device)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch

from npo_lab.errors import UsageError
from npo_lab.gpu import load, plan, session
from npo_lab.tofu.checkpoints import CHECKPOINTS
from npo_lab.unlearn import UnlearnConfig

LLAMA_1B = "open-unlearning/tofu_Llama-3.2-1B-Instruct_full"
PHI = "locuslab/tofu_ft_phi-1.5"


# --------------------------------------------------------------------------------------------------------------
# constants and cards
# --------------------------------------------------------------------------------------------------------------
def test_memory_constants_are_derived_from_their_parts():
    assert plan.TRAINED_PARAM_BYTES == 4 + 4 + 4 + 4  # fp32 weight, gradient, Adam m and v
    assert plan.FROZEN_PARAM_BYTES == 2
    assert plan.LOGIT_BYTES == 2 + 4 + 4
    assert plan.TOFU_ROWS_PER_PERCENT * 100 == 200 * 20  # 200 authors × 20 questions
    assert plan.forget_rows("forget10") == 400 and plan.forget_rows("forget01") == 40
    with pytest.raises(ValueError, match="forget_split"):
        plan.forget_rows("forget11")


@pytest.mark.parametrize(
    "device,card",
    [
        ("NVIDIA H100 80GB HBM3", "H100 80GB"),
        ("NVIDIA A100-SXM4-40GB", "A100 40GB"),  # not an A10
        ("NVIDIA A100-SXM4-80GB", "A100 80GB"),
        ("NVIDIA L40S", "L40S 48GB"),  # not an L4
        ("NVIDIA L4", "L4 24GB"),
        ("Tesla T4", "T4 16GB"),
    ],
)
def test_cards_are_matched_by_whole_words(device, card):
    assert plan.find_card(device).name == card
    assert plan.peak_flops(device) == plan.CARDS[card].peak_flops


def test_unknown_card():
    assert plan.find_card("cpu") is None and math.isnan(plan.peak_flops("cpu"))
    assert plan.get_card("T4").name == "T4 16GB"
    with pytest.raises(ValueError, match="card must be one of"):
        plan.get_card("Voodoo 2")


# --------------------------------------------------------------------------------------------------------------
# model sizes
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("hub_id", sorted(CHECKPOINTS))
def test_architecture_counts_the_registry_parameters(hub_id):
    assert plan.model_size(hub_id).n_params == CHECKPOINTS[hub_id].n_params


def test_lora_parameters():
    size = plan.model_size(LLAMA_1B)
    # per layer: q, o (2048 → 2048), k, v (2048 → 512), gate, up (2048 → 8192), down (8192 → 2048)
    per_layer = 2 * (2048 + 2048) + 2 * (2048 + 512) + 3 * (2048 + 8192)
    assert size.lora_per_rank == 16 * per_layer
    phi = plan.model_size(PHI)  # the registry's targets: attention and both MLP matrices
    assert phi.lora_per_rank == 24 * (3 * (2048 + 2048) + (2048 + 2048) + 2 * (2048 + 8192))


# --------------------------------------------------------------------------------------------------------------
# the work of an evaluation and of a run: consistent with the settings
# --------------------------------------------------------------------------------------------------------------
def test_eval_work_follows_rows_batch_size_and_generation_length():
    w = plan.eval_work("forget10", max_rows=300, batch_size=16, max_new_tokens=50)
    assert w.questions == 300 + 300 + 100 + 117  # retain, forget (capped at 300), real authors, world facts
    assert w.scored_answers == 300 * 7 * 2 + 100 * 5 + 117 * 5  # answer + paraphrase + 5 (or 3) perturbed
    assert w.generation_batches == 19 + 19 + 7 + 8
    assert w.decode_steps == w.generation_batches * 50
    small = plan.eval_work("forget10", max_rows=300, batch_size=64, max_new_tokens=50)
    assert small.generation_batches == 5 + 5 + 2 + 2  # bigger batches: fewer decoding steps
    auto = plan.eval_work("forget10", max_rows=300, batch_size=16)  # longest answer + 16, per eval set

    def new(split: str) -> int:
        return math.ceil(plan.TOFU_EVAL_SPLITS[split].longest_answer_words * plan.ASSUMED_TOKENS_PER_WORD) + 16

    batches = {
        "retain_perturbed": 19,
        "forget10_perturbed": 19,
        "real_authors_perturbed": 7,
        "world_facts_perturbed": 8,
    }
    assert auto.decode_steps == sum(n * new(s) for s, n in batches.items())
    with pytest.raises(ValueError, match="batch_size"):
        plan.eval_work(batch_size=0)


def test_steps_and_evaluations_of_the_paper_plan():
    paper = session.SESSION_PLANS[0]
    cfg = paper.unlearn_config("NPO+RT", 400)
    assert cfg.gradient_accumulation_steps * cfg.batch_size == 32
    assert plan.steps_per_epoch(cfg, 400) == 13 and plan.total_steps(cfg, 400) == 130
    assert plan.evaluations(cfg, 400) == 10  # one per epoch; the fine-tuned model is evaluated once, apart
    every2 = session.SESSION_PLANS[1].unlearn_config("GA", 400)
    assert every2.eval_every == 26 and plan.evaluations(every2, 400) == 5
    est = plan.estimate(LLAMA_1B, "A100 40GB", paper.configs(400), extra_evaluations=2)
    assert est.evaluations == 3 * 10 + 2  # three methods × 10 epochs + the fine-tuned and retain models


def test_estimate_follows_the_settings():
    paper = session.SESSION_PLANS[0]
    base = plan.estimate(LLAMA_1B, "T4", paper.configs(400, lora_r=16, gradient_checkpointing=True))
    smaller_batches = plan.estimate(
        LLAMA_1B, "T4", paper.replace(eval_batch_size=8).configs(400, lora_r=16, gradient_checkpointing=True)
    )
    assert smaller_batches.minutes_per_evaluation > base.minutes_per_evaluation
    # GA trains on the forget half only, NPO+RT on forget and retain: twice the training tokens
    assert base.train_minutes["NPO+RT"] == pytest.approx(2 * base.train_minutes["GA"], rel=0.05)
    full = plan.estimate(LLAMA_1B, "T4", paper.configs(400, gradient_checkpointing=True))
    assert base.fits and not full.fits and full.memory_gib > 16  # 16 bytes × 1.24 B parameters alone
    assert base.trainable == 16 * plan.model_size(LLAMA_1B).lora_per_rank
    assert "ESTIMATE" in base.summary() and base.row()["evaluations"] == base.evaluations
    with pytest.raises(ValueError, match="configs"):
        plan.estimate(LLAMA_1B, "T4", [])


def test_free_t4_default_plan_fits_90_minutes_with_lora():
    settings = session.run_settings(LLAMA_1B, lora_r=16)
    chosen, est = session.choose_plan(LLAMA_1B, "T4", **settings)
    assert est.lora and est.fits
    assert est.total_minutes <= session.FREE_COLAB_MINUTES == 90
    paper = plan.estimate(LLAMA_1B, "T4", session.SESSION_PLANS[0].configs(400, **settings), extra_evaluations=2)
    assert paper.total_minutes > 90 and chosen != session.SESSION_PLANS[0]  # the paper's plan would not fit
    a100, _ = session.choose_plan(LLAMA_1B, "A100 40GB", **session.run_settings(LLAMA_1B))
    assert a100 == session.SESSION_PLANS[0]


@pytest.mark.slow
def test_evaluation_count_matches_a_real_run(tmp_path):
    """The estimator counts the evaluations the engine really makes (a tiny model, the bundled data)."""
    from npo_lab.minitofu import tiny_llama, train_tokenizer
    from npo_lab.runs import load_run
    from npo_lab.tofu.data import load_tofu
    from npo_lab.unlearn import unlearn

    torch.set_num_threads(1)
    forget = load_tofu("forget10", "synthetic").select(range(4))
    retain = load_tofu("retain90", "synthetic").select(range(4))
    tok = train_tokenizer([r["question"] + " " + r["answer"] for r in list(forget) + list(retain)], vocab_size=512)
    for every, at_start in ((3, True), (0, False)):
        cfg = UnlearnConfig(
            method="NPO",
            epochs=3,
            batch_size=2,
            eval_every=every,
            eval_at_start=at_start,
            eval_max_rows=2,
            eval_batch_size=2,
            eval_max_new_tokens=2,
            forget_quality=False,
            max_length=256,
            save_every=-1,
            output_dir=str(tmp_path / f"run{every}"),
            disable_tqdm=True,
        )
        model = tiny_llama(tok, hidden_size=32, num_layers=1, num_heads=2, seed=0)
        unlearn(model, tok, forget, retain, cfg, eval_source="synthetic")
        assert len(load_run(cfg.output_dir)) == plan.evaluations(cfg, len(forget)), (every, at_start)


# --------------------------------------------------------------------------------------------------------------
# session helpers
# --------------------------------------------------------------------------------------------------------------
def test_run_settings_from_the_registry():
    full = session.run_settings(LLAMA_1B)
    assert full["template"] == "llama3" and full["save_every"] == -1  # a 1 B full checkpoint is ≈ 14 GiB
    assert plan.checkpoint_gib(LLAMA_1B, UnlearnConfig(**{k: v for k, v in full.items()})) > 10
    lora = session.run_settings(LLAMA_1B, lora_r=16, learning_rate=1e-4)
    assert lora["save_every"] == 0 and lora["learning_rate"] == 1e-4  # checkpoints at every evaluation
    phi = session.run_settings(PHI, lora_r=16)
    assert phi["template"] == "qa" and "dense" in phi["lora_target_modules"]
    assert session.needs_lora(LLAMA_1B, 15.0) and not session.needs_lora(LLAMA_1B, 39.4)


def test_configs_write_one_directory_per_method(tmp_path):
    configs = session.SESSION_PLANS[0].configs(400, runs_dir=tmp_path, lora_r=16)
    assert [c.output_dir for c in configs] == [str(tmp_path / d) for d in ("GA", "NPO", "NPO_RT")]
    assert all(c.lora_r == 16 and not c.eval_at_start for c in configs)
    with pytest.raises(ValueError, match="multiple of batch_size"):
        session.SessionPlan("bad", effective_batch=30, batch_size=4)


def test_run_state(tmp_path):
    cfg = UnlearnConfig(output_dir=str(tmp_path / "r"))
    d = tmp_path / "r"
    assert session.run_state(d, cfg) == "new"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({**cfg.to_dict(), "experiment": {}}))
    assert session.run_state(d, cfg) == "restart"  # stopped before its first checkpoint
    (d / "checkpoint-13").mkdir()
    assert session.run_state(d, cfg) == "resume"
    (d / "summary.json").write_text(json.dumps({"status": "completed"}))
    assert session.run_state(d, cfg) == "completed"
    other = UnlearnConfig(output_dir=str(d), learning_rate=1e-4)
    with pytest.raises(UsageError, match="learning_rate"):
        session.run_state(d, other)
    assert session.run_or_resume(cfg, lambda: pytest.fail("no model is loaded for a completed run"), None, []) is None


def test_compare_with_published():
    ours = {
        "finetuned": {"forget_quality": 1e-20, "model_utility": 0.6, "n_forget": 400},
        "NPO+RT": {"forget_quality": 0.1, "model_utility": 0.5, "n_forget": 400},
        "GA": {"forget_quality": 0.2, "model_utility": 0.0, "n_forget": 400},
    }
    t = session.compare_with_published(LLAMA_1B, ours)
    assert t.loc["NPO+RT", "published as"] == "NPO" and t.loc["NPO+RT", "published forget quality"] == 0.02
    assert "repro.md" in t.loc["finetuned", "source"]
    assert pd.isna(t.loc["GA", "published as"])  # open-unlearning publishes no plain GA row


def test_precision_and_dtype_on_the_cpu():
    assert load.pick_dtype("cpu") == torch.float32 and load.pick_dtype("cpu", "bf16") == torch.bfloat16
    assert load.precision_for(lora=True, device="cpu") == ("fp32", torch.float32)
    with pytest.raises(ValueError, match="requested"):
        load.pick_dtype("cpu", "int8")


def test_mount_drive_outside_colab_says_so():
    with pytest.raises(RuntimeError, match="Colab"):
        session.mount_drive()
