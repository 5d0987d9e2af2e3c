"""Unlearning data: one example per forget row, paired with a retain row and an "I don't know" answer, and the
collator that turns examples into the three groups of token batches the losses read.

* An epoch is one pass over the **forget** set. Forget row ``i`` of epoch ``e`` meets retain row
  ``perm[(e·n_forget + i) mod n_retain]`` (a seeded permutation cycled, so every retain row is used before any
  repeats); the Trainer moves the epoch with :meth:`ForgetRetainDataset.set_epoch`.
* IDK and DPO methods answer the forget question with an "I don't know" answer, fixed per row (drawn by the seed)
  so that its reference log-prob can be cached like the forget answer's.
* The cached reference log-probs (paper Sec. 5: π_ref is fixed during unlearning) are two columns of the dataset,
  ``forget_ref_logp`` and ``idk_ref_logp``, filled once before training.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import torch

__all__ = ["qa_rows", "ForgetRetainDataset", "ForgetRetainCollator"]


def qa_rows(rows, name: str) -> list[dict]:
    """Rows (a ``datasets.Dataset``, a list of dicts or a DataFrame) → ``[{"question", "answer"}]``."""
    if rows is None:
        return []
    if hasattr(rows, "to_dict") and hasattr(rows, "columns") and not hasattr(rows, "features"):  # DataFrame
        rows = rows.to_dict("records")
    out = []
    for i, r in enumerate(rows):
        if not isinstance(r, Mapping) or "question" not in r or "answer" not in r:
            raise ValueError(f"{name}[{i}] must be a mapping with 'question' and 'answer'; got {r!r:.120}")
        out.append({"question": str(r["question"]), "answer": str(r["answer"])})
    return out


class ForgetRetainDataset(torch.utils.data.Dataset):
    """One item per forget row: ``{"forget": row, "retain": row | None, "idk_answer": str | None,
    "forget_ref_logp": float | None, "idk_ref_logp": float | None}``."""

    def __init__(
        self,
        forget_rows,
        retain_rows=None,
        idk_answers: Sequence[str] | None = None,
        *,
        seed: int = 0,
        with_retain: bool = True,
        with_idk: bool = True,
    ):
        self.forget = qa_rows(forget_rows, "forget_rows")
        self.retain = qa_rows(retain_rows, "retain_rows") if with_retain else []
        self.seed = int(seed)
        self.epoch = 0
        rng = random.Random(self.seed)
        self.retain_perm = list(range(len(self.retain)))
        rng.shuffle(self.retain_perm)
        self.idk = [str(a) for a in idk_answers] if (with_idk and idk_answers is not None) else []
        self.idk_index = [rng.randrange(len(self.idk)) for _ in self.forget] if self.idk else []
        self.forget_ref_logp: list[float] | None = None
        self.idk_ref_logp: list[float] | None = None

    def __len__(self) -> int:
        return len(self.forget)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def retain_index(self, i: int, epoch: int | None = None) -> int | None:
        if not self.retain:
            return None
        e = self.epoch if epoch is None else int(epoch)
        return self.retain_perm[(e * len(self.forget) + i) % len(self.retain)]

    def idk_answer(self, i: int) -> str | None:
        return self.idk[self.idk_index[i]] if self.idk else None

    def idk_rows(self) -> list[dict]:
        """(forget question, its IDK answer) rows, for the reference pass of DPO's chosen answers."""
        return [{"question": r["question"], "answer": self.idk_answer(i)} for i, r in enumerate(self.forget)]

    def __getitem__(self, i: int) -> dict:
        j = self.retain_index(i)
        return {
            "forget": self.forget[i],
            "retain": self.retain[j] if j is not None else None,
            "idk_answer": self.idk_answer(i),
            "forget_ref_logp": None if self.forget_ref_logp is None else self.forget_ref_logp[i],
            "idk_ref_logp": None if self.idk_ref_logp is None else self.idk_ref_logp[i],
        }


class ForgetRetainCollator:
    """Examples of :class:`ForgetRetainDataset` → ``{group: {"input_ids", "attention_mask", "labels"[, "ref_logp"]}}``.

    Groups: ``forget`` (the forget QA pairs), ``retain`` (when the examples have a retain row) and ``idk`` (the
    "I don't know" answer to the **forget question**, when they have one: IDK's target, DPO's chosen answer).
    Token tensors are ``(B, T)`` right-padded, labels ``-100`` on prompt and padding (:func:`encode_qa`);
    ``ref_logp`` is the cached ``(B,)`` float32 column when present. A field must be present in all examples of a
    batch or in none.
    """

    def __init__(self, tokenizer, template="qa", max_length: int = 256):
        from ..tofu.templates import get_template

        self.tokenizer = tokenizer
        self.template = get_template(template)
        self.max_length = int(max_length)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if pad is None:
            raise ValueError("the tokenizer has neither a pad nor an eos token id")
        self.pad_id = int(pad)

    def _encode(self, pairs: Sequence[tuple[str, str]]) -> dict[str, torch.Tensor]:
        from ..tofu.data import encode_qa, pad_batch

        feats = [encode_qa(self.tokenizer, q, a, self.template, self.max_length) for q, a in pairs]
        return pad_batch(feats, self.pad_id)

    @staticmethod
    def _present(examples, key: str) -> bool:
        have = [ex.get(key) is not None for ex in examples]
        if any(have) and not all(have):
            raise ValueError(f"field {key!r} is present in some examples of the batch but not in all")
        return bool(have) and all(have)

    def __call__(self, examples: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, torch.Tensor]]:
        if not examples:
            raise ValueError("examples must be a non-empty list")
        if not self._present(examples, "forget"):
            raise ValueError("every example needs a 'forget' row")
        forget = [ex["forget"] for ex in examples]
        batch = {"forget": self._encode([(f["question"], f["answer"]) for f in forget])}
        if self._present(examples, "retain"):
            batch["retain"] = self._encode([(ex["retain"]["question"], ex["retain"]["answer"]) for ex in examples])
        if self._present(examples, "idk_answer"):
            batch["idk"] = self._encode([(f["question"], ex["idk_answer"]) for f, ex in zip(forget, examples)])
        for group in ("forget", "idk"):
            if group in batch and self._present(examples, f"{group}_ref_logp"):
                values = [float(ex[f"{group}_ref_logp"]) for ex in examples]
                batch[group]["ref_logp"] = torch.tensor(values, dtype=torch.float32)
        return batch
