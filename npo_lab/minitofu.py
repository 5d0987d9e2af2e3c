"""Mini-TOFU: a tiny byte-level BPE tokenizer and a tiny Llama-style model, trained on CPU in seconds.

The paper's TOFU setting (DESIGN.md §4–5) on a laptop: a randomly initialised ~1 M-parameter Llama-style causal LM
first learns a small set of (fictitious) authors plus a general-knowledge set that stands in for the real-authors /
world-facts knowledge a pretrained model would bring; this is the **fine-tuned** model (the reference model of
unlearning). A second model of the same size learns only the retain authors (plus the general set); this is the
**retain** model, the target that forget quality is measured against. Both are trained with the same
``transformers.Trainer`` machinery and cached on disk with ``save_pretrained`` under ``$NPO_LAB_CACHE`` (default
``~/.cache/npo_lab``), keyed by a hash of the configuration and the data, so a second run starts in seconds.

Data: a TOFU-format source (the bundled synthetic authors, a local directory of the TOFU JSON-lines files, or the
hub) is cut to its first ``n_authors`` authors and rewritten as a small TOFU-format directory
(:func:`write_subset_source`) in which ``full``, ``forgetXX``/``retainYY`` (the last / first rows, as in TOFU),
``forget01/05/10_perturbed`` and ``retain_perturbed`` (the first 10 % of the authors, as in TOFU where it is the
first 20 of 200 authors) all refer to that subset. Every downstream tool (``load_tofu``, ``evaluate``,
``unlearn``) then reads that directory unchanged.

The building blocks ``train_tokenizer`` and ``tiny_llama`` are also what the tests use as offline stand-ins for
hub models: no download is ever needed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch

__all__ = [
    "SPECIAL_TOKENS",
    "FORGET_PERCENTS",
    "QUESTIONS_PER_AUTHOR",
    "MiniTofuConfig",
    "MiniTofu",
    "train_tokenizer",
    "tiny_llama",
    "cache_root",
    "load_source_rows",
    "write_subset_source",
    "retain_split_name",
    "n_split_authors",
    "train_lm",
    "answer_probability",
    "prepare",
]

SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
QUESTIONS_PER_AUTHOR = 20
# TOFU's forget splits (percent of the authors; the *last* authors) and their retain complements.
FORGET_PERCENTS = {"forget01": 1, "forget05": 5, "forget10": 10, "forget20": 20, "forget30": 30,
                   "forget50": 50, "forget90": 90}
_PERTURBED_FORGET = ("forget01", "forget05", "forget10")
_GENERAL_SPLITS = ("real_authors_perturbed", "world_facts_perturbed")
_SUBSET_FORMAT = 1  # bump when write_subset_source changes what it writes


# --------------------------------------------------------------------------------------------------------------
# tokenizer and model
# --------------------------------------------------------------------------------------------------------------
def train_tokenizer(texts: Iterable[str], vocab_size: int = 2048, min_frequency: int = 2):
    """Train a byte-level BPE tokenizer on ``texts`` and wrap it as a ``transformers`` fast tokenizer.

    The tokenizer adds no BOS/EOS by itself (callers append EOS where the TOFU encoding needs it); it has
    ``<s>``, ``</s>``, ``<pad>`` and ``<unk>`` as special tokens and pads on the right by default.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < 300:
        raise ValueError(f"vocab_size must be >= 300 for a byte-level BPE (256 bytes + specials), got {vocab_size}")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **SPECIAL_TOKENS)
    fast.padding_side = "right"
    return fast


def tiny_llama(
    tokenizer=None,
    *,
    vocab_size: int | None = None,
    hidden_size: int = 128,
    num_layers: int = 2,
    num_heads: int = 4,
    intermediate_size: int | None = None,
    max_position_embeddings: int = 512,
    seed: int = 0,
):
    """A randomly initialised Llama-style causal LM built from a ``transformers`` config (no download).

    ``vocab_size`` defaults to ``len(tokenizer)``; special token ids are taken from the tokenizer when given.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    if vocab_size is None:
        if tokenizer is None:
            raise ValueError("give a tokenizer or vocab_size")
        vocab_size = len(tokenizer)
    ids = {}
    if tokenizer is not None:
        ids = dict(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                   pad_token_id=tokenizer.pad_token_id)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or 4 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        **ids,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


# --------------------------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MiniTofuConfig:
    """Everything that determines the mini-TOFU tokenizer, fine-tuned model and retain model (saved as JSON).

    The defaults follow a feasibility measurement (DESIGN.md §5): a 2-layer, 128-wide model with a 2 048-token
    vocabulary (~1 M parameters) memorises 20 authors + the general set in a few dozen epochs on 2 CPU cores.
    A schedule that decays the learning rate early (cosine) stalls memorisation, hence a constant rate after a
    short warm-up.
    """

    source: str = field(default="synthetic", metadata={"help": "'synthetic' (bundled authors), 'hub', or a "
                                                                 "directory of TOFU JSON-lines files"})
    n_authors: int = field(default=20, metadata={"help": "use the first n authors of `full` (20 QA rows each)"})
    include_general: bool = field(default=True, metadata={"help": "train on the real-authors / world-facts "
                                                                  "stand-in set too (both models)"})
    vocab_size: int = field(default=2048, metadata={"help": "byte-level BPE vocabulary size"})
    hidden_size: int = field(default=128, metadata={"help": "model width"})
    num_layers: int = field(default=2, metadata={"help": "transformer blocks"})
    num_heads: int = field(default=4, metadata={"help": "attention heads"})
    intermediate_size: int = field(default=512, metadata={"help": "MLP width"})
    template: str = field(default="qa", metadata={"help": "prompt template name (npo_lab.tofu.data.get_template)"})
    max_length: int = field(default=160, metadata={"help": "max tokens per QA pair"})
    epochs: int = field(default=24, metadata={"help": "training epochs (both models)"})
    learning_rate: float = field(default=3e-3, metadata={"help": "AdamW peak learning rate"})
    batch_size: int = field(default=16, metadata={"help": "examples per step"})
    warmup_ratio: float = field(default=0.05, metadata={"help": "fraction of steps of linear warm-up"})
    lr_scheduler_type: str = field(default="constant_with_warmup", metadata={"help": "transformers schedule name"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    seed: int = field(default=0, metadata={"help": "seed of the tokenizer-independent randomness (init, order)"})

    def __post_init__(self):
        if self.n_authors < 2:
            raise ValueError(f"n_authors must be >= 2, got {self.n_authors}")
        for name in ("vocab_size", "hidden_size", "num_layers", "num_heads", "epochs", "batch_size", "max_length"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text

    @classmethod
    def from_json(cls, path_or_text: str | Path) -> "MiniTofuConfig":
        p = Path(path_or_text)
        text = p.read_text() if (len(str(path_or_text)) < 4096 and p.exists()) else str(path_or_text)
        data = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown MiniTofuConfig fields {sorted(unknown)}; allowed: {sorted(known)}")
        return cls(**data)

    def replace(self, **changes) -> "MiniTofuConfig":
        return dataclasses.replace(self, **changes)

    @classmethod
    def smoke(cls, **changes) -> "MiniTofuConfig":
        """A configuration small enough for tests (seconds): 10 authors, a small vocabulary, few epochs."""
        base = dict(n_authors=10, vocab_size=512, hidden_size=64, intermediate_size=256, epochs=4, batch_size=32)
        base.update(changes)
        return cls(**base)


# --------------------------------------------------------------------------------------------------------------
# data: the first n authors of a TOFU-format source, rewritten as a small TOFU-format directory
# --------------------------------------------------------------------------------------------------------------
def cache_root(cache: str | Path | None = None) -> Path:
    """The on-disk cache: ``cache`` if given, else ``$NPO_LAB_CACHE``, else ``~/.cache/npo_lab``."""
    if cache is not None:
        return Path(cache).expanduser()
    env = os.environ.get("NPO_LAB_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "npo_lab"


def _rows(dataset) -> list[dict]:
    return [dict(r) for r in dataset]


def _try_load(split: str, source):
    from npo_lab.tofu.data import load_tofu

    try:
        return _rows(load_tofu(split, source))
    except (ValueError, FileNotFoundError):
        return None


def load_source_rows(source: str | Path | None = "synthetic", n_authors: int = 20, *,
                     cache: str | Path | None = None) -> dict[str, Any]:
    """The first ``n_authors`` authors of a TOFU-format source, with paraphrased/perturbed answers where it has them.

    Returns ``{"full": [...], "real_authors_perturbed": [...], "world_facts_perturbed": [...], "idk": [...]}``;
    ``full`` rows carry ``question, answer`` and, where one of the source's ``*_perturbed`` splits has the same
    question, ``paraphrased_answer, perturbed_answer`` (+ ``paraphrased_question``). Real TOFU has them for the
    first 20 authors (``retain_perturbed``) and the last 10 %; the bundled synthetic set for its first and last
    10 % of authors. Raises ValueError when the source has fewer authors than asked.
    """
    from npo_lab.tofu.data import load_idk_answers, load_tofu

    if n_authors < 2:
        raise ValueError(f"n_authors must be >= 2, got {n_authors}")
    source = _synthetic_source(source, n_authors, cache)
    full = _rows(load_tofu("full", source))
    n = n_authors * QUESTIONS_PER_AUTHOR
    if len(full) < n:
        raise ValueError(f"n_authors={n_authors} asks for {n} rows of `full` but the source has {len(full)} "
                         f"({len(full) // QUESTIONS_PER_AUTHOR} authors)")
    lookup: dict[str, dict] = {}
    for split in ("retain_perturbed",) + tuple(f"{s}_perturbed" for s in _PERTURBED_FORGET):
        for r in _try_load(split, source) or []:
            lookup.setdefault(r["question"], r)
    rows = []
    for r in full[:n]:
        row = {"question": r["question"], "answer": r["answer"]}
        p = lookup.get(r["question"])
        if p is not None and p.get("perturbed_answer"):
            row["paraphrased_answer"] = p.get("paraphrased_answer") or r["answer"]
            row["perturbed_answer"] = list(p["perturbed_answer"])
            if p.get("paraphrased_question"):
                row["paraphrased_question"] = p["paraphrased_question"]
        rows.append(row)
    out: dict[str, Any] = {"full": rows}
    for split in _GENERAL_SPLITS:
        out[split] = [{k: v for k, v in r.items() if k in ("question", "answer", "paraphrased_answer",
                                                           "perturbed_answer", "paraphrased_question")}
                      for r in _rows(load_tofu(split, source))]
    try:
        out["idk"] = list(load_idk_answers(source))
    except (ValueError, FileNotFoundError):
        out["idk"] = []
    return out


def _synthetic_source(source, n_authors: int, cache=None):
    """``"synthetic"`` with another number of authors than the bundled set: the generator's set of exactly
    ``n_authors`` authors (seed 0; written once into the cache), whose first and last 10 % carry perturbed answers
    as the subset needs. Any other source is returned unchanged."""
    if not (isinstance(source, str) and source == "synthetic"):
        return source
    from npo_lab.tofu.data import bundled_data_dir

    bundled = bundled_data_dir()
    with open(bundled / "full.json", encoding="utf-8") as f:
        n_bundled = sum(1 for line in f if line.strip()) // QUESTIONS_PER_AUTHOR
    if n_bundled == n_authors:
        return source
    from npo_lab.tofu.synthetic import write_tofu

    d = cache_root(cache) / "minitofu" / f"synthetic-{n_authors}authors-seed0"
    if not (d / ".complete").exists():
        _atomic_save(lambda t: (write_tofu(t, n_authors=n_authors, seed=0), (t / ".complete").write_text("ok\n")), d)
    return d


def n_split_authors(percent: float, n_authors: int) -> int:
    """Authors in a split of ``percent`` % of ``n_authors``: ``max(1, round-half-up)`` (TOFU counts whole authors)."""
    return max(1, int(math.floor(percent / 100 * n_authors + 0.5)))


def retain_split_name(forget_split: str) -> str:
    """``forget10`` → ``retain90`` (the complement; TOFU's naming)."""
    if forget_split not in FORGET_PERCENTS:
        raise ValueError(f"forget_split must be one of {sorted(FORGET_PERCENTS)}, got {forget_split!r}")
    return f"retain{100 - FORGET_PERCENTS[forget_split]:02d}"


def _hash(obj: Any, n: int = 16) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:n]


def _write_jsonl(path: Path, rows: Sequence[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def _with_perturbed(rows: Sequence[dict], what: str) -> list[dict]:
    for r in rows:
        if not r.get("perturbed_answer"):
            raise ValueError(f"{what}: row {r['question'][:60]!r} has no paraphrased/perturbed answers in the "
                             f"source's *_perturbed splits; choose another n_authors")
    return list(rows)


def write_subset_source(rows: dict[str, Any], directory: str | Path) -> Path:
    """Write ``rows`` (from :func:`load_source_rows`) as a TOFU-format directory that refers to the subset only.

    With n authors (20 rows each): ``full``; ``forgetXX`` = the last ``max(1, round(XX/100·n))`` authors and
    ``retainYY`` = the other (first) authors, XX in 1, 5, 10, 20, 30, 50, 90; ``forget01/05/10_perturbed`` =
    those forget rows with their paraphrased/perturbed answers; ``retain_perturbed`` = the first 10 % of the
    authors (as TOFU's first 20 of 200, so it never overlaps a forget split up to 90 %);
    ``real_authors_perturbed``, ``world_facts_perturbed`` copied; ``idontknow.jsonl`` when the source has IDK
    answers. A forget split that would take every author (e.g. ``forget90`` of 5 authors) is not written.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    full = rows["full"]
    n_rows = len(full)
    n_authors = n_rows // QUESTIONS_PER_AUTHOR
    qa = [{"question": r["question"], "answer": r["answer"]} for r in full]
    _write_jsonl(d / "full.json", qa)
    for split, pct in FORGET_PERCENTS.items():
        k = n_split_authors(pct, n_authors) * QUESTIONS_PER_AUTHOR
        if k >= n_rows:  # e.g. forget90 of 5 authors: not written (loading it then names the missing file)
            continue
        _write_jsonl(d / f"{split}.json", qa[n_rows - k:])
        _write_jsonl(d / f"{retain_split_name(split)}.json", qa[: n_rows - k])
        if split in _PERTURBED_FORGET:
            _write_jsonl(d / f"{split}_perturbed.json", _with_perturbed(full[n_rows - k:], f"{split}_perturbed"))
    k = n_split_authors(10, n_authors) * QUESTIONS_PER_AUTHOR
    _write_jsonl(d / "retain_perturbed.json", _with_perturbed(full[:k], "retain_perturbed"))
    for split in _GENERAL_SPLITS:
        _write_jsonl(d / f"{split}.json", rows[split])
    if rows.get("idk"):
        (d / "idontknow.jsonl").write_text("".join(a.strip() + "\n" for a in rows["idk"] if a.strip()))
    return d


# --------------------------------------------------------------------------------------------------------------
# training and a quick memorisation check
# --------------------------------------------------------------------------------------------------------------
class _ListDataset(torch.utils.data.Dataset):
    def __init__(self, rows):
        self.rows = list(rows)

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


def train_lm(model, tokenizer, rows: Sequence[dict], config: MiniTofuConfig, *, seed: int | None = None,
             progress: bool = True, desc: str = "train") -> dict:
    """Fine-tune ``model`` on QA ``rows`` (answer tokens + EOS are the targets) with a ``transformers.Trainer``.

    Loss: mean token NLL of the answers given the prompt (prompt tokens masked), AdamW, ``config``'s schedule.
    Returns a log ``{"seconds", "steps", "tokens", "tokens_per_second", "train_loss", "loss_history"}``.
    """
    from transformers import Trainer, TrainingArguments

    from npo_lab.tofu.data import QACollator

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
        t0 = time.perf_counter()
        out = trainer.train()
        seconds = time.perf_counter() - t0
        history = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    model.eval()
    return {"desc": desc, "seconds": seconds, "steps": int(out.global_step), "tokens": n_tokens * config.epochs,
            "tokens_per_second": n_tokens * config.epochs / max(seconds, 1e-9),
            "train_loss": float(out.training_loss), "loss_history": history}


@torch.no_grad()
def answer_probability(model, tokenizer, rows: Sequence[dict], *, template: str = "qa", max_length: int = 256,
                       batch_size: int = 32, answer_key: str = "answer") -> list[float]:
    """Per-row TOFU probability P̃ = exp(−mean answer-token NLL) of ``row[answer_key]`` (EOS target included)."""
    from npo_lab.losses import sequence_logprob, token_count
    from npo_lab.tofu.data import QACollator

    collator = QACollator(tokenizer, template=template, max_length=max_length, answer_key=answer_key)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    probs: list[float] = []
    for i in range(0, len(rows), batch_size):
        batch = {k: v.to(device) for k, v in collator(list(rows[i:i + batch_size])).items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        logp = sequence_logprob(logits.float(), batch["labels"])
        probs.extend(torch.exp(logp / token_count(batch["labels"]).clamp(min=1)).tolist())
    model.train(was_training)
    return probs


# --------------------------------------------------------------------------------------------------------------
# the cached pipeline
# --------------------------------------------------------------------------------------------------------------
@dataclass
class MiniTofu:
    """The prepared mini-TOFU setting: tokenizer, fine-tuned ``model``, ``retain_model`` and their data.

    ``source_dir`` is a TOFU-format directory of the chosen authors (pass it as ``source=`` to ``load_tofu``,
    ``evaluate`` and ``unlearn``); ``log`` records timings, training losses and the memorisation check.
    """

    config: MiniTofuConfig
    forget_split: str
    source_dir: Path
    tokenizer: Any
    model: Any
    retain_model: Any
    model_dir: Path
    retain_model_dir: Path
    log: dict = field(default_factory=dict)

    @property
    def retain_split(self) -> str:
        return retain_split_name(self.forget_split)

    def rows(self, split: str) -> list[dict]:
        """Rows of a split of this setting (``full``, ``forget10``, ``retain90``, ``forget10_perturbed``, ...)."""
        from npo_lab.tofu.data import load_tofu

        return _rows(load_tofu(split, self.source_dir))

    @property
    def forget_rows(self) -> list[dict]:
        return self.rows(self.forget_split)

    @property
    def retain_rows(self) -> list[dict]:
        return self.rows(self.retain_split)

    def general_rows(self) -> list[dict]:
        if not self.config.include_general:
            return []
        return [{"question": r["question"], "answer": r["answer"]}
                for s in _GENERAL_SPLITS for r in self.rows(s)]

    def idk_answers(self) -> list[str]:
        from npo_lab.tofu.data import load_idk_answers

        return list(load_idk_answers(self.source_dir))

    def fresh_model(self):
        """A new copy of the fine-tuned model (unlearning changes its model in place)."""
        return _load_model(self.model_dir)


def _load_model(path: Path):
    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(path)
    model.eval()
    return model


def _atomic_save(save, final: Path) -> None:
    tmp = final.with_name(final.name + f".tmp{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save(tmp)
    if final.exists():
        shutil.rmtree(final)
    try:
        tmp.rename(final)
    except OSError:  # another process finished the same entry first: keep theirs
        if not final.exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True)


def _resolve_source(source: str | Path | None) -> str | Path | None:
    if source in (None, "synthetic", "hub"):
        return source
    p = Path(source).expanduser()
    if not p.is_dir():
        raise ValueError(f"source must be 'synthetic', 'hub' or an existing directory of TOFU files, got {source!r}")
    return p.resolve()


def prepare(config: MiniTofuConfig | None = None, forget_split: str = "forget10", *, cache: str | Path | None = None,
            progress: bool = True, force: bool = False, check: bool = True) -> MiniTofu:
    """Tokenizer + fine-tuned model + retain model for ``config``, trained once and then loaded from the cache.

    Cache layout under :func:`cache_root`: ``minitofu/data-<hash>/`` (the TOFU-format subset directory) and
    ``minitofu/<key>/`` with ``config.json``, ``tokenizer/``, ``finetuned/``, ``retain-<forget_split>/`` and
    ``log.json``; ``<key>`` hashes the configuration and the data, the retain model is keyed by the forget split
    too. ``force=True`` retrains. ``check=True`` records the mean answer probability of both models on the
    forget and retain rows (a memorisation check) in ``log``.
    """
    config = config or MiniTofuConfig()
    if forget_split not in FORGET_PERCENTS:
        raise ValueError(f"forget_split must be one of {sorted(FORGET_PERCENTS)}, got {forget_split!r}")
    if n_split_authors(FORGET_PERCENTS[forget_split], config.n_authors) >= config.n_authors:
        raise ValueError(f"forget_split={forget_split} would forget all {config.n_authors} authors; use more authors")
    t_start = time.perf_counter()
    source = _resolve_source(config.source)
    rows = load_source_rows(source, config.n_authors, cache=cache)
    data_hash = _hash({"rows": rows, "format": _SUBSET_FORMAT})
    root = cache_root(cache) / "minitofu"
    source_dir = root / f"data-{data_hash}"
    if force or not (source_dir / ".complete").exists():
        _atomic_save(lambda d: (write_subset_source(rows, d), (d / ".complete").write_text("ok\n")), source_dir)
    model_hash = _hash({"config": {k: v for k, v in config.to_dict().items() if k != "source"}, "data": data_hash})
    run_dir = root / model_hash
    run_dir.mkdir(parents=True, exist_ok=True)
    config.to_json(run_dir / "config.json")
    log_path = run_dir / "log.json"
    log: dict = json.loads(log_path.read_text()) if log_path.exists() and not force else {}
    log["data_hash"], log["cache_dir"] = data_hash, str(run_dir)

    from transformers import PreTrainedTokenizerFast

    from npo_lab.tofu.data import load_tofu

    split_rows = lambda s: _rows(load_tofu(s, source_dir))  # noqa: E731
    general = ([{"question": r["question"], "answer": r["answer"]} for s in _GENERAL_SPLITS for r in split_rows(s)]
               if config.include_general else [])
    full = split_rows("full")

    tok_dir = run_dir / "tokenizer"
    cached = {"tokenizer": tok_dir.exists() and not force}
    if not cached["tokenizer"]:
        t0 = time.perf_counter()
        texts = [r["question"] + "\n" + r["answer"] for r in rows["full"]]
        texts += [a for r in rows["full"] for a in [r.get("paraphrased_answer", ""), *r.get("perturbed_answer", [])]]
        texts += [r["question"] + "\n" + r["answer"] for s in _GENERAL_SPLITS for r in rows[s]]
        texts += [a for s in _GENERAL_SPLITS for r in rows[s] for a in r.get("perturbed_answer", [])]
        texts += list(rows.get("idk", []))
        tok = train_tokenizer(texts, vocab_size=config.vocab_size)
        _atomic_save(tok.save_pretrained, tok_dir)
        log["tokenizer_seconds"] = time.perf_counter() - t0
    tokenizer = PreTrainedTokenizerFast.from_pretrained(tok_dir)
    tokenizer.padding_side = "right"

    def build(name: str, train_rows: list[dict], seed_offset: int):
        path = run_dir / name
        if path.exists() and not force:
            cached[name] = True
            return _load_model(path)
        cached[name] = False
        model = tiny_llama(tokenizer, hidden_size=config.hidden_size, num_layers=config.num_layers,
                           num_heads=config.num_heads, intermediate_size=config.intermediate_size,
                           max_position_embeddings=max(512, config.max_length), seed=config.seed + seed_offset)
        log[f"train_{name}"] = train_lm(model, tokenizer, train_rows, config, seed=config.seed + seed_offset,
                                        progress=progress, desc=name)
        _atomic_save(model.save_pretrained, path)
        return model

    model = build("finetuned", full + general, 0)
    retain_name = f"retain-{forget_split}"
    retain_model = build(retain_name, split_rows(retain_split_name(forget_split)) + general, 1)
    log["cached"] = cached
    setting = MiniTofu(config=config, forget_split=forget_split, source_dir=source_dir, tokenizer=tokenizer,
                       model=model, retain_model=retain_model, model_dir=run_dir / "finetuned",
                       retain_model_dir=run_dir / retain_name, log=log)
    if check and f"check_{forget_split}" not in log:
        kw = dict(template=config.template, max_length=config.max_length)
        fr, rr = setting.forget_rows, setting.retain_rows
        mean = lambda xs: float(sum(xs) / max(len(xs), 1))  # noqa: E731
        log[f"check_{forget_split}"] = {
            "finetuned_forget_probability": mean(answer_probability(model, tokenizer, fr, **kw)),
            "finetuned_retain_probability": mean(answer_probability(model, tokenizer, rr, **kw)),
            "retain_model_forget_probability": mean(answer_probability(retain_model, tokenizer, fr, **kw)),
            "retain_model_retain_probability": mean(answer_probability(retain_model, tokenizer, rr, **kw)),
        }
    log["prepare_seconds"] = time.perf_counter() - t_start
    log_path.write_text(json.dumps(log, indent=2) + "\n")
    return setting


def n_parameters(model) -> int:
    """Number of distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


__all__.append("n_parameters")
