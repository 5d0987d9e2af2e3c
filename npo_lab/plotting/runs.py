"""Plot helpers (runs)."""

__all__: list[str] = []
