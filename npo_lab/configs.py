"""Configs: small frozen dataclasses with help text, validated on creation, saved as JSON.

Every config of the package declares its fields with :func:`option` (default, help text, allowed values) and
inherits :class:`Config`, which gives it

* validation on creation, from the field's type and its ``option`` bounds: numbers are finite, integer fields
  hold integers (``2.0`` is accepted as 2, ``2.5`` is not), booleans are booleans, strings come from ``choices``;
  the error names the field and what is allowed; a field annotated with a :class:`Config` class holds that
  config (given as the config or as a dict of its fields; saved as a nested JSON object);
* one JSON mechanism: :meth:`~Config.to_dict` / :meth:`~Config.from_dict`, :meth:`~Config.to_json` /
  :meth:`~Config.from_json` (JSON **text**), :meth:`~Config.save` / :meth:`~Config.load` (a **file**, UTF-8);
  unknown keys are refused by name;
* :meth:`~Config.help` (field → help text), :meth:`~Config.groups` (section → fields) and :meth:`~Config.replace`;
* :func:`flat_settings`: a field holding a :class:`~npo_lab.hyper.Settings` object (e.g. the loss's
  hyper-parameters) whose values are also given, read and saved at the top level (``cfg.beta``,
  ``UnlearnConfig(beta=0.2)``, ``"beta"`` in the JSON), so a hyper-parameter declared once in its registry is a
  field of every config that holds the settings, with no field written for it (a name the config declares as a
  field of its own stays that field).

Example::

    @dataclass(frozen=True)
    class ToyConfig(Config):
        lr: float = option(1e-3, "learning rate", gt=0)
        steps: int = option(100, "optimiser steps", ge=1)
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from .hyper import Settings

__all__ = ["Config", "option", "flat_settings"]

C = TypeVar("C", bound="Config")
_MISSING = dataclasses.MISSING


def option(default: Any, help: str, *, group: str = "", ge=None, gt=None, le=None, choices=None):
    """A dataclass field with help text and allowed values (``ge``/``gt``/``le`` bounds, ``choices``)."""
    meta = {"help": help, "group": group, "ge": ge, "gt": gt, "le": le, "choices": choices}
    if isinstance(default, (list, dict, set)):
        raise TypeError("use a tuple (immutable) as the default of a config field")
    return dataclasses.field(default=default, metadata=meta)


def _base_types(hint) -> tuple[set, bool]:
    """The plain types a field's annotation allows, and whether ``None`` is allowed."""
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    plain = {typing.get_origin(a) or a for a in args if a is not type(None)}
    return plain, type(None) in args


def _coerce(name: str, value: Any, hint) -> Any:
    kinds, optional = _base_types(hint)
    if value is None:
        if optional:
            return None
        raise ValueError(f"{name} must not be None")
    if kinds == {bool}:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")
        return value
    if kinds == {int}:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
            raise ValueError(f"{name} must be an integer, got {value!r}")
        return int(value)
    if kinds == {float}:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
        return float(value)
    if kinds == {str}:
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string, got {value!r}")
        return value
    if kinds == {dict}:
        if not isinstance(value, dict):
            raise ValueError(f"{name} must be a JSON object (a dict), got {value!r}")
        return value
    if kinds == {tuple}:  # tuple[str, ...]: a list (from JSON) or a single string is accepted
        value = (value,) if isinstance(value, str) else value
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{name} must be a list of strings, got {value!r}")
        return tuple(value)
    if len(kinds) == 1 and isinstance(cls := next(iter(kinds)), type) and issubclass(cls, Settings):
        try:
            return cls.of(value)
        except ValueError as e:
            raise ValueError(f"{name}: {e}") from None
    if len(kinds) == 1 and isinstance(cls := next(iter(kinds)), type) and issubclass(cls, Config):
        # a nested config: the config itself, or a JSON object of its fields (from a saved file)
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            try:
                return cls.from_dict(value)
            except ValueError as e:
                raise ValueError(f"{name}: {e}") from None
        raise ValueError(f"{name} must be a {cls.__name__} or a JSON object of its fields, got {value!r}")
    return value


def _check_bounds(name: str, value: Any, meta) -> None:
    if value is None:
        return
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")
    for key, ok, word in (
        ("ge", lambda v, b: v >= b, ">="),
        ("gt", lambda v, b: v > b, ">"),
        ("le", lambda v, b: v <= b, "<="),
    ):
        bound = meta.get(key)
        if bound is not None and not ok(value, bound):
            raise ValueError(f"{name} must be {word} {bound}, got {value!r}")


class Config:
    """Mixin for frozen dataclass configs: validation from :func:`option` metadata and JSON save/load."""

    #: extra top-level keys tolerated (and dropped) by :meth:`from_dict`, e.g. a run record's other sections
    record_keys: ClassVar[tuple[str, ...]] = ()
    #: ``(field, Settings class)`` set by :func:`flat_settings`
    _flat: ClassVar[tuple[str, type[Settings]] | None] = None

    def __getattr__(self, name: str) -> Any:  # only for names that are not fields: a flat setting
        flat = type(self)._flat
        if flat is not None and not name.startswith("_") and name in flat[1].registry():
            return getattr(self, flat[0])[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    @classmethod
    def _flat_names(cls) -> list[str]:
        """The settings' entries given, read and saved at the top level: all but those the class declares itself."""
        if not cls._flat:
            return []
        own = {f.name for f in dataclasses.fields(cls)}
        return [n for n in cls._flat[1].registry() if n not in own]

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = _coerce(f.name, getattr(self, f.name), hints[f.name])
            _check_bounds(f.name, value, f.metadata)
            object.__setattr__(self, f.name, value)

    # -------------------------------------------------------------------------------------------- dict / JSON
    def to_dict(self) -> dict:
        """Field name → value (tuples as lists, nested configs as dicts): plain JSON-able values."""

        def plain(v):
            return list(v) if isinstance(v, tuple) else v.to_dict() if isinstance(v, Config) else v

        out = {f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self)}
        if self._flat:  # the settings' values at the top level, in the field's place
            field, names = self._flat[0], self._flat_names()
            flat = [(n, out[field][n]) for n in names]
            out = {k2: v2 for k, v in out.items() for k2, v2 in (flat if k == field else [(k, v)])}
        return out

    @classmethod
    def from_dict(cls: type[C], data: dict) -> C:
        if not isinstance(data, dict):
            raise ValueError(f"a {cls.__name__} must be a JSON object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)} | set(cls._flat_names())
        unknown = sorted(set(data) - names - set(cls.record_keys))
        if unknown:
            raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; valid fields: {', '.join(sorted(names))}")
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_json(self) -> str:
        """The config as JSON text."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    @classmethod
    def from_json(cls: type[C], text: str) -> C:
        """A config from JSON **text** (use :meth:`load` for a file)."""
        if not isinstance(text, str):
            raise ValueError(
                f"from_json takes JSON text, got {type(text).__name__}; use {cls.__name__}.load(path) to read a file"
            )
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(
                f"{cls.__name__}.from_json: not valid JSON text ({e.msg}); use load(path) to read a file"
            ) from None
        return cls.from_dict(data)

    def save(self, path: str | Path) -> Path:
        """Write the config to ``path`` as JSON (UTF-8); returns the path."""
        from .files import write_text

        return write_text(path, self.to_json() + "\n")

    @classmethod
    def load(cls: type[C], path: str | Path) -> C:
        """Read a config saved by :meth:`save` (or a run record's ``config.json``)."""
        from .errors import UsageError, read_json_file

        data = read_json_file(path, what=f"{cls.__name__} file")
        try:
            return cls.from_dict(data)
        except ValueError as e:  # name the file, not only the field
            raise UsageError(f"{cls.__name__} file {str(path)!r}: {e}") from None

    # --------------------------------------------------------------------------------------------- helpers
    @classmethod
    def help(cls) -> dict[str, str]:
        """Field name → help text (a flat setting's: its :class:`~npo_lab.hyper.Hyper` description, with the
        default of the field that holds the settings)."""
        out = {}
        for f in dataclasses.fields(cls):
            if cls._flat and f.name == cls._flat[0]:  # the settings' entries in the field's place
                hypers, default = cls._flat[1].registry(), cls._flat[1].of(_field_default(f))
                for n in cls._flat_names():
                    out[n] = dataclasses.replace(hypers[n], default=default[n]).describe()
            else:
                out[f.name] = f.metadata.get("help", "")
        return out

    @classmethod
    def groups(cls) -> dict[str, list[str]]:
        """Section name → field names, in declaration order."""
        out: dict[str, list[str]] = {}
        for f in dataclasses.fields(cls):
            names = cls._flat_names() if cls._flat and f.name == cls._flat[0] else [f.name]
            out.setdefault(f.metadata.get("group", ""), []).extend(names)
        return out

    def replace(self: C, **changes) -> C:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def _field_default(f: dataclasses.Field) -> Any:
    """A dataclass field's default (``None`` when it has none)."""
    if f.default is not _MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not _MISSING else None


def flat_settings(field: str, positional: tuple[str, ...] = ()):
    """Class decorator (above ``@dataclass``): the :class:`~npo_lab.hyper.Settings` held in ``field`` are also
    given, read and saved at the top level: ``Cfg(beta=0.2)`` sets ``cfg.loss.beta``, ``cfg.beta`` reads it,
    :meth:`Config.to_dict` writes ``"beta"`` in place of ``"loss"`` and :meth:`Config.from_dict` reads it back.

    Top-level values change the settings given in ``field``, or else the field's default (so a config whose
    default settings differ from the registry's keeps them: ``Cfg(alpha=2.0).beta`` is the field default's β).
    A name the class declares as a field of its own is that field, not the settings' entry: the entry is then
    neither set, read nor saved at the top level (the class decides what its own field means).
    ``positional``: the names, in order, that positional arguments fill (settings entries included), for a
    class whose positional signature predates ``field``: ``("method", "learning_rate", "beta")`` makes
    ``Cfg("NPO", 0.1, 2.0)`` mean ``Cfg(method="NPO", learning_rate=0.1, beta=2.0)``."""

    def wrap(cls):
        settings = typing.get_type_hints(cls)[field]
        own = {f.name for f in dataclasses.fields(cls)}
        default = _field_default(next(f for f in dataclasses.fields(cls) if f.name == field))
        init = cls.__init__

        @functools.wraps(init)
        def __init__(self, *args, **kw):
            if positional:
                if len(args) > len(positional):
                    raise TypeError(f"{cls.__name__}() takes at most {len(positional)} positional arguments")
                for name, value in zip(positional, args):
                    if name in kw:
                        raise TypeError(f"{cls.__name__}() got multiple values for argument {name!r}")
                    kw[name] = value
                args = ()
            flat = {k: kw.pop(k) for k in list(kw) if k in settings.registry() and k not in own}
            if flat:
                kw[field] = settings.of(kw.get(field, default), **flat)
            init(self, *args, **kw)

        cls.__init__, cls._flat = __init__, (field, settings)
        return cls

    return wrap
