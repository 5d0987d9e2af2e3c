"""The run schedule computed once (npo_lab.unlearn.schedule): the trainer's evaluation callback and the GPU
planner read the same steps, early evaluations included."""

from __future__ import annotations

import pytest

from npo_lab.gpu import plan
from npo_lab.unlearn import UnlearnConfig
from npo_lab.unlearn.schedule import eval_steps, is_eval_step, steps_per_epoch, total_steps


@pytest.mark.parametrize(
    "settings,n_forget,expected",
    [
        # 20 rows, 8 per step: 3 steps per epoch; early evaluations every 2 steps up to step 2 (the demo's schedule)
        ({"batch_size": 8, "epochs": 2, "early_eval_every": 2, "early_eval_until": 2}, 20, [2, 3, 6]),
        ({"batch_size": 8, "epochs": 2, "eval_at_start": True}, 20, [0, 3, 6]),
        ({"batch_size": 4, "epochs": 1, "eval_every": 2}, 20, [2, 4, 5]),
        ({"batch_size": 4, "epochs": 2.5, "gradient_accumulation_steps": 2}, 20, [3, 6, 8]),
        ({"batch_size": 4, "epochs": 1, "eval_every": -1}, 20, []),
        ({"batch_size": 4, "max_steps": 4, "early_eval_every": 1, "early_eval_until": 2}, 20, [1, 2, 4]),
    ],
)
def test_eval_steps_and_the_planner_agree(settings, n_forget, expected):
    cfg = UnlearnConfig(**{"eval_at_start": False, **settings})
    assert eval_steps(cfg, n_forget) == expected
    assert plan.evaluations(cfg, n_forget) == len(expected)  # the planner counts the early evaluations too
    assert [s for s in expected if s and is_eval_step(cfg, s)] == [
        s for s in range(1, total_steps(cfg, n_forget) + 1) if is_eval_step(cfg, s)
    ]


def test_steps_per_epoch_counts_processes_and_accumulation():
    cfg = UnlearnConfig(batch_size=4, gradient_accumulation_steps=2)
    assert steps_per_epoch(cfg, 400) == 50 and steps_per_epoch(cfg, 400, world_size=4) == 13
    assert total_steps(cfg.replace(epochs=2.5), 20) == 8  # ⌈2.5 × 3⌉, as the Trainer counts
