"""npo_lab: a Jupyter-first teaching and analysis package for LLM unlearning with NPO."""

__version__ = "0.1.0"
