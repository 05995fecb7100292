"""The command line's flags, made from the settings' declarations.

Flags have no argparse default (``SUPPRESS``): the parsed namespace holds exactly the flags
given, which a command lays over its defaults, or over a scene file's settings.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from pathlib import Path
from typing import Any

from ..errors import NetbendError
from .bend import Bend
from .declare import default_of, flag_of, flat_fields, nested, optional_type
from .render import RenderJob
from .scene import SCENE_SUFFIXES, absolute, from_mapping, load


def add_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type, *, skip: tuple[str, ...] = (),
              defaults: dict[str, Any] | None = None, required: tuple[str, ...] = (), inner: bool = True) -> None:
    """A flag (or positional argument) for every setting of ``cls`` that declares one, less ``skip``
    (and less the nested settings' with ``inner=False``). ``defaults``: the command's own
    defaults, as shown in the help (the value, or a text saying it)."""
    defaults = defaults or {}
    hints = {**{n: t for inner in nested(cls).values() for n, t in typing.get_type_hints(inner).items()},
             **typing.get_type_hints(cls)}
    for owner, f in flat_fields(cls):
        flag = f.metadata.get("flag")
        if flag is None or f.name in skip or (owner is not None and not inner):
            continue
        tp, optional = optional_type(hints[f.name])
        default = defaults.get(f.name, default_of(f))
        help_text = f.metadata["help"] + _choices(f) + _default(default)
        names = flag if isinstance(flag, tuple) else (flag_of(f),)
        if not names[0].startswith("-"):  # a positional argument
            parser.add_argument(f.name, help=help_text, nargs="?" if optional else None,
                                default=argparse.SUPPRESS if optional else None)
            continue
        kw: dict[str, Any] = dict(dest=f.name, default=argparse.SUPPRESS, help=help_text)
        if tp is bool:
            kw["action"] = "store_true"
        else:
            kw.update(type=f.metadata.get("parse") or _reader(tp), metavar=f.metadata.get("metavar"))
        if f.name in required:
            kw["required"] = True
        parser.add_argument(*names, **kw)


def _reader(tp: Any) -> Any:
    return tp if tp in (int, float, str) else str  # values that are not numbers or text declare a parse


def _choices(f: dataclasses.Field) -> str:
    choices = f.metadata.get("choices")
    return f" ({', '.join(choices)})" if choices else ""


def _default(value: Any) -> str:
    if value is dataclasses.MISSING or value is None or value is False or value == []:
        return ""
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        value = f"{value[0]}x{value[1]}"
    return f" (default: {value!r})" if value == "" else f" (default: {value})".replace("%", "%%")


def given(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The settings of ``cls`` (nested ones included) that the command line gave."""
    names = {f.name for _, f in flat_fields(cls)}
    return {k: v for k, v in vars(args).items() if k in names}


def render_job(args: argparse.Namespace) -> RenderJob:
    """The render job the flags describe: the flags alone, or a scene file with the flags given
    laid over it; the bend flags (``--op`` ...) make one bend, placed before a scene's bends."""
    data, bend = given(args, RenderJob), given(args, Bend)
    scene = Path(data.get("audio", "")).suffix.lower() in SCENE_SUFFIXES
    if bend and "op" not in bend:
        named = ", ".join("--" + k.replace("_", "-") for k in bend)
        raise NetbendError(f"{named} configure{'s' if len(bend) == 1 else ''} the flags' bend: give --op too"
                           + (" (a scene's bends are set in the scene)" if scene else ""))
    flag_bend = [from_mapping(Bend, bend, by_flags=True)] if bend else []
    if not scene:
        if "output" not in data:
            raise NetbendError("give -o/--output (or render a scene file that names its output)")
        return from_mapping(RenderJob, {**data, "bends": flag_bend})
    scene_path = data.pop("audio")
    overrides = to_absolute(data)
    job = load(scene_path, overrides)
    return dataclasses.replace(job, bends=[absolute(b) for b in flag_bend] + list(job.bends)) if flag_bend else job


def to_absolute(data: dict[str, Any]) -> dict[str, Any]:
    """Flat settings with their paths made absolute, to lay over a scene read from elsewhere."""
    paths = {f.name: f.metadata.get("path") for _, f in flat_fields(RenderJob)}
    return {k: str(Path(v).expanduser().absolute()) if paths.get(k) and isinstance(v, str)
            and (paths[k] is True or Path(v).expanduser().exists()) else v for k, v in data.items()}
