"""Plot helpers (tofu)."""

__all__: list[str] = []
