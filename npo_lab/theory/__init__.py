"""Toy dynamics and the synthetic random-features experiment."""
