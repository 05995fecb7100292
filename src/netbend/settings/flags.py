"""The command line's flags, made from the settings' declarations.

Flags have no argparse default (``SUPPRESS``): the parsed namespace holds exactly the flags
given, which a command lays over its defaults, or over a scene file's settings. Each flag's
destination is ``Class.field`` of the class that declares it, so that two commands' settings
never mix however their fields are named.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any, Callable

from ..errors import NetbendError
from .bend import Bend
from .declare import default_of, flag_of, flat_fields, nested, optional_type, resolve_path, type_hints
from .render import RenderJob
from .scene import SCENE_SUFFIXES, from_mapping, read


def add_flags(parser: argparse.ArgumentParser, cls: type, *, group: str | None = None, skip: tuple[str, ...] = (),
              defaults: dict[str, Any] | None = None, required: tuple[str, ...] = (), inner: bool = True) -> None:
    """A flag (or positional argument) for every setting of ``cls`` that declares one, less ``skip``
    (and less the nested settings' with ``inner=False``), in the help ``group``. ``defaults``:
    the command's own defaults, as the help shows them (the value, or a text saying it)."""
    defaults = defaults or {}
    target = parser.add_argument_group(group) if group else parser
    owners = {None: cls, **nested(cls)}
    hints = type_hints(cls)
    for owner, f in flat_fields(cls):
        flag = f.metadata.get("flag")
        if flag is None or f.name in skip or (owner is not None and not inner):
            continue
        tp, optional = optional_type(hints[f.name])
        dest = f"{owners[owner].__name__}.{f.name}"
        help_text = f.metadata["help"] + _default(defaults.get(f.name, default_of(f)))
        names = flag if isinstance(flag, tuple) else (flag_of(f),)
        if not names[0].startswith("-"):  # a positional argument, outside the groups
            parser.add_argument(dest, metavar=f.name, help=help_text, nargs="?" if optional else None,
                                default=argparse.SUPPRESS if optional else None)
            continue
        choices = f.metadata.get("choices")
        kw: dict[str, Any] = dict(dest=dest, default=argparse.SUPPRESS, help=help_text, required=f.name in required)
        if tp is bool:
            kw["action"] = "store_true"
        elif typing.get_origin(tp) is list and not f.metadata.get("parse"):  # a flag given once per item
            kw.update(action="append", type=_reading(names[-1], str), metavar=f.metadata.get("metavar"))
            kw["help"] += " (repeatable)"
        else:
            kw["type"] = _reading(names[-1], f.metadata.get("parse") or (tp if tp in (int, float) else str))
            kw["metavar"] = "{" + ",".join(choices) + "}" if choices else f.metadata.get("metavar") or f.name.upper()
        target.add_argument(*names, **kw)


def _reading(flag: str, parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse`` for argparse: text it cannot read is a one-line `NetbendError` naming the flag."""
    kinds = {int: "an integer", float: "a number"}

    def read(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as e:
            raise NetbendError(f"{flag} must be {kinds[parse]}, got {text!r}" if parse in kinds
                               else f"{flag}: {e}") from None

    return read


def _default(value: Any) -> str:
    if value is dataclasses.MISSING or value is None or value is False or value == "" or value == []:
        return ""
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        value = f"{value[0]}x{value[1]}"
    return f" (default: {value})".replace("%", "%%")


def given(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The settings of ``cls`` (nested ones included) that the command line gave, by name."""
    owners = {cls, *nested(cls).values()}
    out = {}
    for dest, value in vars(args).items():
        owner, _, name = dest.partition(".")
        if name and owner in {c.__name__ for c in owners}:
            out[name] = value
    return out


def render_job(args: argparse.Namespace) -> tuple[RenderJob, list[str]]:
    """The render job the flags describe: the flags alone, or a scene file with the flags given
    laid over it, over the ``--preset`` if one is given; the bend flags (``--op`` ...) make one
    bend, placed before a scene's bends. Also what the preset left out, one line each."""
    from .presets import PresetChoice, expand

    data, bend = given(args, RenderJob), given(args, Bend)
    preset = given(args, PresetChoice).get("preset")
    scene = str(data.get("audio", "")).lower().endswith(SCENE_SUFFIXES)
    if bend and "op" not in bend:
        named = ", ".join("--" + k.replace("_", "-") for k in bend)
        raise NetbendError(f"{named} configure{'s' if len(bend) == 1 else ''} the flags' bend: give --op too"
                           + (" (a scene's bends are set in the scene)" if scene else ""))
    flag_bend = [from_mapping(Bend, bend, by_flags=True)] if bend else []
    if not scene:
        if "output" not in data:
            raise NetbendError("give -o/--output (or render a scene file that names its output)")
        data, notes = expand(preset, data, RenderJob)
        return from_mapping(RenderJob, {**data, "bends": flag_bend}), notes
    path = data.pop("audio")
    paths = {f.name: f.metadata.get("path") for _, f in flat_fields(RenderJob)}
    overrides = {k: resolve_path(v, paths.get(k), None) for k, v in data.items()}  # the flags' paths are the shell's
    return read(path, overrides, preset=preset,
                first_bends=[dataclasses.replace(b, stem=resolve_path(b.stem, True, None)) for b in flag_bend])
