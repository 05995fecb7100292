"""Declaring a setting once: its default, help, flag, choices, validation and where it matters.

A settings class is a frozen dataclass whose fields are made with `setting`. Everything
else reads these declarations: the command line (`netbend.settings.flags`), scene files
and the sidecar (`netbend.settings.scene`), the frame-store key (`frames_key`) and the
checks (`check_fields`). Adding a field to a settings class is a change in one place.

A field that holds another settings class (``RenderJob.generation``) is *nested*: its
fields appear beside the outer class's own on every flat surface (flags, scene keys).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import MISSING, Field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from ..errors import NetbendError

AUTO = "auto"  # flag=AUTO: "--" and the field's name with dashes
Check = Callable[[Any, str], None]  # check(value, label) raises NetbendError naming ``label``


def setting(default: Any = MISSING, *, help: str, flag: str | tuple[str, ...] | None = AUTO, metavar: str | None = None,
            parse: Callable[[str], Any] | None = None, choices: Sequence[str] | None = None, check: Check | None = None,
            frames: bool | Callable[[Any], Any] = True, panel: bool = False, path: bool | str | Callable = False,
            scene: bool = True, derived: Callable[[Any], Any] | None = None,
            default_factory: Callable[[], Any] | Any = MISSING) -> Any:
    """A dataclass field with its declaration.

    help : one line for ``--help``, the studio's form and the docs
    flag : the command-line flag(s); None: not a flag (scene files only); AUTO: ``--name``
    parse : how the flag's text becomes the value, raising ValueError (or `NetbendError`) for text it
        cannot read; default: by the field's type
    choices : the allowed values (read from a registry), checked by `check_fields`
    check : ``check(value, label)`` for anything else
    frames : whether the value decides the frames' pixels (part of the frame-store key);
        a function gives what the key records of it
    panel : may differ between the panels of one video
    path : a file path, read relative to a scene file's folder ("exists": only if it exists there;
        a function ``(value, base) -> value``: paths inside the value)
    scene : written to scene files and the sidecar (False: how to run, e.g. overwrite)
    derived : for a default of None that stands for a value following other settings: that value,
        from the settings object (scene files leave the value out where it equals it)
    """
    meta = dict(help=help, flag=flag, metavar=metavar, parse=parse, choices=tuple(choices) if choices else None,
                check=check, frames=frames, panel=panel, path=path, scene=scene, derived=derived)
    if default_factory is not MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def same_as(cls: type, name: str, **changes: Any) -> Any:
    """A field declared like ``cls``'s field ``name`` (a grid reusing a bend's ``site``), with
    ``changes`` to its declaration (``help=...``, ``default=...``)."""
    f = fields_of(cls)[name]
    default = changes.pop("default", f.default)
    meta = {**f.metadata, **changes}
    if default is MISSING and f.default_factory is not MISSING:
        return dataclasses.field(default_factory=f.default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def fields_of(cls: type) -> dict[str, Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


def is_settings(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def nested(cls: type) -> dict[str, type]:
    """The fields of ``cls`` that hold a settings class whose fields sit beside ``cls``'s own."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if is_settings(hints[f.name])}


def type_hints(cls: type) -> dict[str, Any]:
    """The declared type of every field of ``cls`` and of its nested settings, by name."""
    hints = {n: t for inner in nested(cls).values() for n, t in typing.get_type_hints(inner).items()}
    return {**hints, **typing.get_type_hints(cls)}


def flat_fields(cls: type) -> Iterator[tuple[str | None, Field]]:
    """(owner, field) for every setting of ``cls``, nested ones included (owner: the nesting
    field's name, None for ``cls``'s own); in declaration order, nested ones where they are.
    Fields made without `setting` (no help) are not settings and are left out."""
    inner = nested(cls)
    for f in dataclasses.fields(cls):
        if "help" not in f.metadata and f.name not in inner:
            continue
        if f.name in inner:
            yield from ((f.name, g) for g in dataclasses.fields(inner[f.name]))
        else:
            yield None, f


def flag_of(f: Field) -> str | None:
    """The field's main flag (its long form), or None."""
    flag = f.metadata.get("flag", None)
    if flag == AUTO:
        return "--" + f.name.replace("_", "-")
    if isinstance(flag, tuple):
        return flag[-1]
    return flag


def default_of(f: Field) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


# -- names in messages ------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Names:
    """How messages name a settings object's fields: by their flags (``--steps-active``, the
    command line's; ``prefix=None``) or as keys under a prefix (``bends[1].steps_active``)."""

    prefix: str | None = None

    def __call__(self, f: Field) -> str:
        if self.prefix is not None:
            return self.prefix + f.name
        return flag_of(f) or self.key(f.name)

    def key(self, name: str) -> str:
        """A field by its name alone (a flag is ``--`` and the name with dashes)."""
        return self.prefix + name if self.prefix is not None else "--" + name.replace("_", "-")

    @property
    def label(self) -> str:
        """What goes before a key's name: ``--`` or the prefix."""
        return "--" if self.prefix is None else self.prefix


# -- checks -----------------------------------------------------------------------------------

def check_fields(obj: Any, names: Names) -> None:
    """Run every field's declared choices and check on ``obj``; nested settings by their own
    ``check(names)`` where they have one (their rules across fields), else field by field."""
    inner = nested(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.name in inner:
            if hasattr(value, "check"):
                value.check(names)
            else:
                check_fields(value, names)
            continue
        if "help" not in f.metadata:
            continue
        label = names(f)
        choices = f.metadata.get("choices")
        if choices and value is not None and value not in choices:
            raise NetbendError(choice_message(label, value, choices, f.name))
        check = f.metadata.get("check")
        if check is not None and value is not None:
            check(value, label)


def choice_message(label: str, value: Any, choices: Sequence[str], name: str) -> str:
    """``--curve must be linear, exp or log, got 'x'``; a long list: ``unknown scheduler 'x'; known schedulers: ...``."""
    if len(choices) <= 3:  # short lists read best in the sentence
        head = ", ".join(choices[:-1])
        return f"{label} must be {head + ' or ' if head else ''}{choices[-1]}, got {value!r}"
    return f"unknown {label.removeprefix('--')} {value!r}; known {name}s: {', '.join(choices)}"


def at_least(low: int) -> Check:
    def check(value: Any, label: str) -> None:
        if value < low:
            raise NetbendError(f"{label} must be at least {low}, got {value}")
    return check


def finite(value: float, label: str) -> None:
    if not math.isfinite(value):
        raise NetbendError(f"{label} must be a finite number, got {value}")


def seed_range(value: int, label: str) -> None:
    if not 0 <= value < 2**63:
        raise NetbendError(f"{label} must be in [0, 2**63), got {value}")


def pair_of(read: Callable[[str], Any], example: str) -> Callable[[str], tuple]:
    """A flag's ``A:B``, each part read by ``read``; a ValueError saying what was expected otherwise."""

    def parse(text: str) -> tuple:
        a, sep, b = text.partition(":")
        try:
            if not sep:
                raise ValueError
            return read(a), read(b)
        except ValueError:
            raise ValueError(f"expected {example}, got {text!r}") from None

    return parse


def resolve_path(value: Any, kind: bool | str | Callable[[Any, Path | None], Any] | None, base: Path | None) -> Any:
    """A value declared a path (``kind`` True), or a path where it exists (``"exists"``: a local
    model, not a hub id), made absolute from ``base`` (None: the working folder); else unchanged.
    ``kind`` may also be a function ``(value, base) -> value`` (paths inside a value, e.g. LoRA specs)."""
    if callable(kind):
        return kind(value, base)
    if not kind or not isinstance(value, str):
        return value
    path = (base if base is not None else Path.cwd()) / Path(value).expanduser()
    return str(path) if kind is True or path.exists() else value


# -- the frame-store key ----------------------------------------------------------------------

def frames_key(obj: Any, *, inner: bool = True) -> dict:
    """What of ``obj`` decides the pixels of its frames: the fields declared ``frames``, as
    plain data; nested settings flattened beside them (left out with ``inner=False``)."""
    out = {}
    for owner, f in flat_fields(type(obj)):
        wanted = f.metadata.get("frames", True)
        if not wanted or (owner is not None and not inner):
            continue
        value = getattr(getattr(obj, owner) if owner else obj, f.name)
        out[f.name] = plain(wanted(value) if callable(wanted) else value)
    return out


def plain(value: Any) -> Any:
    """Settings as JSON/YAML data: tuples as lists, settings objects as mappings (of the fields
    that compare, i.e. not a bend's ``by_flags``)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.compare}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return str(value)  # not a subclass (a schedule's text that remembers its file)
    return value


def optional_type(tp: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); anything else -> (tp, False)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) < len(typing.get_args(tp)):
            return (args[0] if len(args) == 1 else typing.Union[tuple(args)]), True
    return tp, False
