"""Hyper-parameters declared once: :class:`Hyper` (name, default, help text, bounds or choices) and
:class:`Settings`, an immutable set of values for a registry of them, checked once on creation.

The loss's registry and its :class:`~npo_lab.losses.LossSettings` live in :mod:`npo_lab.losses`, beside the terms
that read them; configs hold a settings object whole and the command line generates one option per entry
(:func:`add_options`), so a new hyper-parameter is declared in one place.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

__all__ = ["Hyper", "Settings", "add_options"]


@dataclass(frozen=True)
class Hyper:
    """One hyper-parameter: its default (whose type is the type of every value), help text and allowed values."""

    name: str
    default: Any
    help: str
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    choices: tuple | None = None

    def check(self, value: Any) -> Any:
        """``value`` as this hyper-parameter's type; a ``ValueError`` naming it and what is allowed."""
        if self.choices is not None:
            if value not in self.choices:
                raise ValueError(f"{self.name} must be one of {', '.join(map(str, self.choices))}; got {value!r}")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{self.name} must be a finite number, got {value!r}")
        value = float(value)
        if self.ge is not None and not value >= self.ge:
            raise ValueError(f"{self.name} must be >= {self.ge:g}, got {value!r}")
        if self.gt is not None and not value > self.gt:
            raise ValueError(f"{self.name} must be > {self.gt:g}, got {value!r}")
        if self.le is not None and not value <= self.le:
            raise ValueError(f"{self.name} must be <= {self.le:g}, got {value!r}")
        return value

    def describe(self) -> str:
        """The help text with the allowed values and the default."""
        lo = f"> {self.gt:g}" if self.gt is not None else f">= {self.ge:g}" if self.ge is not None else ""
        hi = f"<= {self.le:g}" if self.le is not None else ""
        allowed = ", ".join(map(str, self.choices)) if self.choices else " and ".join(x for x in (lo, hi) if x)
        return f"{self.help} ({allowed + '; ' if allowed else ''}default: {self.default})"


class Settings(Mapping):
    """Immutable values of a registry of :class:`Hyper` (``registry()``): the given ones checked once, the others
    at their defaults. Reads as a mapping and by attribute (``s.beta``); equal when the values are equal."""

    __slots__ = ("_given", "_values")
    #: what the settings are of (for messages)
    what: ClassVar[str] = "setting"

    @classmethod
    def registry(cls) -> Mapping[str, Hyper]:  # pragma: no cover - every subclass names its registry
        raise NotImplementedError

    def __init__(self, values: Mapping[str, Any] | None = None, /, **kw: Any):
        given = {**dict(values or {}), **kw}
        known = self.registry()
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise ValueError(f"unknown {self.what}(s) {unknown}; allowed: {', '.join(known)}")
        checked = {k: known[k].check(v) for k, v in given.items()}
        object.__setattr__(self, "_given", MappingProxyType(checked))
        object.__setattr__(self, "_values", MappingProxyType({k: checked.get(k, h.default) for k, h in known.items()}))

    @classmethod
    def of(cls, value: Any = None, /, **changes: Any) -> Settings:
        """``value`` (settings, a mapping or ``None``) as settings of this class, with ``changes`` applied."""
        if isinstance(value, cls) and not changes:
            return value
        if value is not None and not isinstance(value, Mapping):
            raise ValueError(f"{cls.__name__} must be given as a mapping of {cls.what}s, got {value!r}")
        return cls({**dict(value or {}), **changes})

    def __getitem__(self, name: str) -> Any:
        if name in self._values:
            return self._values[name]
        return self.registry()[name].default  # registered after these settings were made: its default

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no {self.what} {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; use replace({name}=...)")

    def __iter__(self) -> Iterator[str]:
        return iter(self.registry())

    def __len__(self) -> int:
        return len(self.registry())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self) == dict(other)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.to_dict().items())))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.items())})"

    def __reduce__(self):  # pickle and deepcopy: made again from the given values (and checked again)
        return type(self), (dict(self._given),)

    def to_dict(self) -> dict[str, Any]:
        return dict(self)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some values changed (checked again)."""
        return type(self)({**self._given, **changes})


def add_options(parser, registry: Mapping[str, Hyper], defaults: Mapping[str, Any] | None = None) -> None:
    """One option ``--name`` (underscores as dashes) per hyper-parameter, with its help text, type and choices;
    left unset, its value is ``None`` (the settings' default, or ``defaults[name]``, is then used)."""
    for h in registry.values():
        default = (defaults or {}).get(h.name, h.default)
        kw: dict[str, Any] = {"choices": list(h.choices)} if h.choices else {"type": float}
        help_text = h.describe() if default == h.default else f"{h.help} (default: {default})"
        parser.add_argument("--" + h.name.replace("_", "-"), dest=h.name, default=None, help=help_text, **kw)
