"""TOFU (Maini et al. 2024): data, prompts, evaluation and metrics.

* :mod:`~npo_lab.tofu.splits` — split names and arithmetic (forget/retain percentages, authors per split).
* :mod:`~npo_lab.tofu.data` — loading the splits (local files, the hub, the bundled synthetic authors) and
  tokenising QA rows with the prompt masked.
* :mod:`~npo_lab.tofu.templates` — prompt templates; :mod:`~npo_lab.tofu.checkpoints` — the public TOFU
  checkpoints, the prompts they were fine-tuned with and their published numbers.
* :mod:`~npo_lab.tofu.evaluate` — a model over the eval splits → an eval log.
* :mod:`~npo_lab.tofu.logs` — eval-log files (validated on read); :mod:`~npo_lab.tofu.metrics` — model utility,
  forget quality and their parts.
* :mod:`~npo_lab.tofu.synthetic` — the synthetic authors generator.

The submodules are imported on use (``from npo_lab.tofu.metrics import model_utility``), so importing this
package stays cheap.
"""
