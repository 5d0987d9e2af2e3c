"""A byte-level BPE tokenizer and a tiny, randomly initialised Llama-style causal LM (no download needed).

Also the offline stand-ins for hub models in the tests and benchmarks.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

__all__ = ["SPECIAL_TOKENS", "train_tokenizer", "tiny_llama", "n_parameters"]

SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}


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

    ``vocab_size`` defaults to ``len(tokenizer)``; special token ids are taken from the tokenizer when given;
    input and output embeddings are tied.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    if vocab_size is None:
        if tokenizer is None:
            raise ValueError("give a tokenizer or vocab_size")
        vocab_size = len(tokenizer)
    ids = {}
    if tokenizer is not None:
        ids = dict(
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
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


def n_parameters(model) -> int:
    """Number of distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
