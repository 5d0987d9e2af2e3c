"""Plot helpers (theory)."""

__all__: list[str] = []
