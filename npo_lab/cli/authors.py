"""``npo-lab authors [--authors N] [--seed S] [--out DIR]``: write the synthetic TOFU authors into a directory.

The same files as the bundled ``data/synthetic_tofu`` (which is ``--authors 20 --seed 0``): every TOFU split, the
holdout splits, the "I don't know" answers and the fact tables. Also ``python -m npo_lab.tofu.synthetic``
(:mod:`npo_lab.tofu.synthetic.command`).
"""

from __future__ import annotations

from ..tofu.synthetic.command import add_arguments, run

__all__ = ["add_arguments", "run"]
