"""Training a tiny model on QA rows, and the answer probability that checks what it memorised."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from ..progress import trainer_progress
from ..runtime import quiet_trainer

if TYPE_CHECKING:
    from .config import MiniTofuConfig

__all__ = ["train_lm", "answer_probability"]


class _ListDataset(torch.utils.data.Dataset):
    def __init__(self, rows):
        self.rows = list(rows)

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


def train_lm(
    model,
    tokenizer,
    rows: Sequence[dict],
    config: MiniTofuConfig,
    *,
    seed: int | None = None,
    progress: bool = True,
    desc: str = "train",
) -> dict:
    """Fine-tune ``model`` on QA ``rows`` (answer tokens + EOS are the targets) with a ``transformers.Trainer``.

    Loss: mean token NLL of the answers given the prompt (prompt tokens masked), AdamW, ``config``'s schedule.
    Returns a log ``{"desc", "seconds", "steps", "tokens", "tokens_per_second", "train_loss", "loss_history"}``.
    """
    from transformers import Trainer, TrainingArguments

    from ..tofu.data import QACollator

    if not rows:
        raise ValueError("rows must not be empty")
    collator = QACollator(tokenizer, template=config.template, max_length=config.max_length)
    n_tokens = sum(int(collator([r])["attention_mask"].sum()) for r in rows)
    with tempfile.TemporaryDirectory(prefix="npo_lab_train_") as tmp:
        args = TrainingArguments(
            output_dir=tmp,
            num_train_epochs=config.epochs,
            per_device_train_batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            lr_scheduler_type=config.lr_scheduler_type,
            warmup_steps=float(config.warmup_ratio),  # a float in [0, 1) is a ratio of the total steps
            weight_decay=config.weight_decay,
            logging_strategy="epoch",
            save_strategy="no",
            report_to=[],
            seed=config.seed if seed is None else seed,
            use_cpu=not torch.cuda.is_available(),
            disable_tqdm=not progress,
            remove_unused_columns=False,
            dataloader_num_workers=0,
        )
        trainer = Trainer(model=model, args=args, train_dataset=_ListDataset(rows), data_collator=collator)
        trainer_progress(quiet_trainer(trainer, progress))  # in a notebook: a bar that leaves nothing behind
        t0 = time.perf_counter()
        out = trainer.train()
        seconds = time.perf_counter() - t0
        history = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    model.eval()
    tokens = n_tokens * config.epochs
    return {
        "desc": desc,
        "seconds": seconds,
        "steps": int(out.global_step),
        "tokens": tokens,
        "tokens_per_second": tokens / max(seconds, 1e-9),
        "train_loss": float(out.training_loss),
        "loss_history": history,
    }


def answer_probability(model, tokenizer, rows: Sequence[dict], *, batch_size: int = 32, **options) -> list[float]:
    """Per-row TOFU probability P̃ = exp(−mean answer-token NLL) of ``row[answer_key]`` (EOS target included);
    ``options``: ``template``, ``max_length``, ``answer_key``, ... of :class:`npo_lab.scoring.ForwardOptions`."""
    from ..scoring import score_answers

    return score_answers(model, tokenizer, rows, batch_size=batch_size, **options).probability().tolist()
