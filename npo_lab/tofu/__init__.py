"""TOFU data, metrics and evaluation."""
