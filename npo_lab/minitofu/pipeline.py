"""The cached mini-TOFU pipeline: data subset → tokenizer → fine-tuned model and retain model (→ a quick check)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import read_json_file
from ..files import write_json
from ..progress import no_hf_widget_bars
from ..tofu.splits import (
    GENERAL_SPLITS,
    forget_percent,
    holdout_split_for,
    n_split_authors,
    retain_split_for,
)
from .cache import cache_entry, cache_root, content_hash, file_lock
from .config import MiniTofuConfig
from .model import tiny_llama, train_tokenizer
from .subset import SUBSET_FORMAT, load_source_rows, write_subset_source
from .train import answer_probability, train_lm

__all__ = ["MiniTofu", "prepare"]


def _rows(split: str, source_dir: Path) -> list[dict]:
    from ..tofu.data import load_tofu_rows

    return load_tofu_rows(split, source_dir)


def _general_qa(source_dir: Path) -> list[dict]:
    return [{"question": r["question"], "answer": r["answer"]} for s in GENERAL_SPLITS for r in _rows(s, source_dir)]


@dataclass
class MiniTofu:
    """The prepared mini-TOFU setting: tokenizer, fine-tuned ``model``, ``retain_model`` and their data.

    ``source_dir`` is a TOFU-format directory of the chosen authors (pass it as ``source=`` to ``load_tofu``,
    ``evaluate`` and ``unlearn``); ``log`` records timings, training losses and the memorisation check. The
    holdout authors (:attr:`holdout_rows`) are in neither model's training data.
    """

    config: MiniTofuConfig
    forget_split: str
    source_dir: Path
    run_dir: Path  # the cache entry: ``finetuned/``, ``retain-<forget_split>/``, ``tokenizer/``, ``log.json``
    tokenizer: Any
    model: Any = None
    retain_model: Any = None
    log: dict = field(default_factory=dict)

    @property
    def model_dir(self) -> Path:
        """Where the fine-tuned model is saved."""
        return self.run_dir / "finetuned"

    @property
    def retain_model_dir(self) -> Path:
        """Where the retain model of :attr:`forget_split` is saved."""
        return self.run_dir / f"retain-{self.forget_split}"

    @property
    def retain_split(self) -> str:
        return retain_split_for(self.forget_split)

    @property
    def holdout_split(self) -> str:
        """The holdout split as large as the forget rows an audit compares: ``holdoutXX`` for ``forgetXX`` up to
        10 %; ``holdout10`` for larger forget splits, whose forget-side metrics use the last 10 % of the authors."""
        return holdout_split_for(f"forget{min(forget_percent(self.forget_split), 10):02d}")

    def rows(self, split: str) -> list[dict]:
        """Rows of a split of this setting (``full``, ``forget10``, ``retain90``, ``holdout10``, ...)."""
        return _rows(split, self.source_dir)

    @property
    def forget_rows(self) -> list[dict]:
        return self.rows(self.forget_split)

    @property
    def retain_rows(self) -> list[dict]:
        return self.rows(self.retain_split)

    @property
    def holdout_rows(self) -> list[dict]:
        """QA rows of authors that no model of this setting was trained on (:attr:`holdout_split`)."""
        return self.rows(self.holdout_split)

    def general_rows(self) -> list[dict]:
        return _general_qa(self.source_dir) if self.config.include_general else []

    def idk_answers(self) -> list[str]:
        from ..tofu.data import load_idk_answers

        return list(load_idk_answers(self.source_dir))

    def fresh_model(self):
        """A new copy of the fine-tuned model (unlearning changes its model in place)."""
        return _load_model(self.model_dir)


def _load_model(path: Path):
    from transformers import LlamaForCausalLM

    with no_hf_widget_bars():
        model = LlamaForCausalLM.from_pretrained(path)
    model.eval()
    return model


def _resolve_source(source: str | Path | None) -> str | Path | None:
    if source in (None, "synthetic", "hub"):
        return source
    p = Path(source).expanduser()
    if not p.is_dir():
        raise ValueError(f"source must be 'synthetic', 'hub' or an existing directory of TOFU files, got {source!r}")
    return p.resolve()


def _check_forget_split(config: MiniTofuConfig, forget_split: str) -> None:
    if n_split_authors(config.n_authors, forget_percent(forget_split)) >= config.n_authors:
        raise ValueError(f"forget_split={forget_split} would forget all {config.n_authors} authors; use more authors")


def _tokenizer_texts(rows: dict[str, Any]) -> list[str]:
    """Every text of the subset: QA pairs, eval answers, holdout and general rows, IDK answers.

    The holdout rows are included so that forget and holdout answers are tokenised alike (as by a pretrained
    tokenizer, which has seen neither); the tokenizer learns no facts, and no model trains on the holdout rows.
    """
    qa = rows["full"] + rows.get("holdout", []) + [r for s in GENERAL_SPLITS for r in rows[s]]
    texts = [r["question"] + "\n" + r["answer"] for r in qa]
    texts += [a for r in qa for a in [r.get("paraphrased_answer", ""), *r.get("perturbed_answer", [])] if a]
    return texts + list(rows.get("idk", []))


def _tokenizer(rows: dict[str, Any], config: MiniTofuConfig, tok_dir: Path, log: dict, force: bool):
    from transformers import PreTrainedTokenizerFast

    t0 = time.perf_counter()

    def build(tmp: Path) -> None:
        train_tokenizer(_tokenizer_texts(rows), vocab_size=config.vocab_size).save_pretrained(tmp)

    cached = not cache_entry(tok_dir, build, force=force)
    if not cached:
        log["tokenizer_seconds"] = time.perf_counter() - t0
    tokenizer = PreTrainedTokenizerFast.from_pretrained(tok_dir)
    tokenizer.padding_side = "right"
    return tokenizer, cached


def _model(
    path: Path,
    tokenizer,
    train_rows: list[dict],
    config: MiniTofuConfig,
    seed_offset: int,
    *,
    log: dict,
    force: bool,
    progress: bool,
):
    """The model trained on ``train_rows``, loaded from ``path`` when cached; returns ``(model, cached)``."""
    built = {}

    def build(tmp: Path) -> None:
        model = tiny_llama(
            tokenizer,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            num_heads=config.num_heads,
            intermediate_size=config.intermediate_size,
            max_position_embeddings=max(512, config.max_length),
            seed=config.seed + seed_offset,
        )
        log[f"train_{path.name}"] = train_lm(
            model, tokenizer, train_rows, config, seed=config.seed + seed_offset, progress=progress, desc=path.name
        )
        with no_hf_widget_bars():
            model.save_pretrained(tmp)
        built["model"] = model

    if cache_entry(path, build, force=force):
        return built["model"], False
    return _load_model(path), True


def _memorisation_check(setting: MiniTofu) -> dict[str, float]:
    """Mean answer probability of both models on the forget, retain and (where present) holdout rows."""
    kw = dict(template=setting.config.template, max_length=setting.config.max_length)
    groups = {"forget": setting.forget_rows, "retain": setting.retain_rows}
    if (setting.source_dir / f"{setting.holdout_split}.json").is_file():
        groups["holdout"] = setting.holdout_rows
    out = {}
    for name, model in (("finetuned", setting.model), ("retain_model", setting.retain_model)):
        for group, rows in groups.items():
            probs = answer_probability(model, setting.tokenizer, rows, **kw)
            out[f"{name}_{group}_probability"] = float(sum(probs) / max(len(probs), 1))
    return out


def prepare(
    config: MiniTofuConfig | None = None,
    forget_split: str = "forget10",
    *,
    cache: str | Path | None = None,
    progress: bool = True,
    force: bool = False,
    check: bool = True,
) -> MiniTofu:
    """Tokenizer + fine-tuned model + retain model for ``config``, trained once and then loaded from the cache.

    The fine-tuned model learns the subset's ``full`` (+ the general set), the retain model its retain split of
    ``forget_split`` (+ the general set); neither sees the holdout authors. Cache layout under
    :func:`cache_root`: ``minitofu/data-<hash>/`` (the TOFU-format subset directory) and ``minitofu/<key>/`` with
    ``config.json``, ``tokenizer/``, ``finetuned/``, ``retain-<forget_split>/`` and ``log.json``; ``<key>`` hashes
    the configuration (the source aside) and the data, the retain model is keyed by the forget split too.
    ``force=True`` retrains. ``check=True`` records the mean answer probability of both models on the forget,
    retain and holdout rows (a memorisation check) in ``log``.
    """
    config = config or MiniTofuConfig()
    if not isinstance(config, MiniTofuConfig):
        raise ValueError(f"config must be a MiniTofuConfig, got {type(config).__name__}")
    _check_forget_split(config, forget_split)
    t_start = time.perf_counter()
    rows = load_source_rows(_resolve_source(config.source), config.n_authors, cache=cache)
    data_hash = content_hash({"rows": rows, "format": SUBSET_FORMAT})
    root = cache_root(cache) / "minitofu"
    source_dir = root / f"data-{data_hash}"
    cache_entry(source_dir, lambda d: write_subset_source(rows, d), force=force)
    trained = {k: v for k, v in config.to_dict().items() if k != "source"}  # the data hash stands for the source
    run_dir = root / content_hash({"config": trained, "data": data_hash})
    run_dir.mkdir(parents=True, exist_ok=True)
    # one process at a time prepares this setting; a second one waits, then finds it all cached
    with file_lock(run_dir.with_name(run_dir.name + ".lock")):
        return _prepare_locked(config, forget_split, rows, source_dir, run_dir, force, progress, check, t_start)


def _prepare_locked(config, forget_split, rows, source_dir, run_dir, force, progress, check, t_start) -> MiniTofu:
    config.save(run_dir / "config.json")
    log_path = run_dir / "log.json"
    log: dict = read_json_file(log_path, what="mini-TOFU cache log") if log_path.exists() and not force else {}
    log["data_hash"], log["cache_dir"] = source_dir.name.removeprefix("data-"), str(run_dir)

    general = _general_qa(source_dir) if config.include_general else []
    tokenizer, cached_tok = _tokenizer(rows, config, run_dir / "tokenizer", log, force)
    setting = MiniTofu(config, forget_split, source_dir, run_dir, tokenizer, log=log)
    kw = dict(log=log, force=force, progress=progress)
    setting.model, cached_ft = _model(setting.model_dir, tokenizer, setting.rows("full") + general, config, 0, **kw)
    train_rt = setting.retain_rows + general
    setting.retain_model, cached_rt = _model(setting.retain_model_dir, tokenizer, train_rt, config, 1, **kw)
    log["cached"] = {"tokenizer": cached_tok, "finetuned": cached_ft, setting.retain_model_dir.name: cached_rt}
    if check and f"check_{forget_split}" not in log:
        log[f"check_{forget_split}"] = _memorisation_check(setting)
    log["prepare_seconds"] = time.perf_counter() - t_start
    write_json(log_path, log)
    return setting
