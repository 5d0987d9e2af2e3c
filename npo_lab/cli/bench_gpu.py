"""``npo-lab bench-gpu``: NPO+RT step time, tokens/s, peak memory and MFU on a randomly initialised
Llama-3.2-1B-shaped model; cached vs recomputed reference, full fine-tuning vs LoRA (:mod:`npo_lab.gpu.bench`).

``--tiny`` runs the same code path on a small model on the CPU in seconds.
"""

from __future__ import annotations


def add_arguments(parser) -> None:
    from ..gpu.bench import add_arguments as bench_arguments

    bench_arguments(parser)


def run(args) -> int:
    from ..gpu.bench import run_benchmark

    run_benchmark(args)
    return 0
