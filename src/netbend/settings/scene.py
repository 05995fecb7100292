"""Settings as data: flat mappings (scene files, given flags, the sidecar) to settings objects and back.

A scene file (YAML) holds a render job's settings under their names, the generation's
beside the job's own; ``bends`` is a list of bends, ``panels`` a list of per-panel
settings. Paths are relative to the scene file. Example::

    audio: song.wav
    output: song.mp4
    model: CompVis/stable-diffusion-v1-4
    steps: 50
    prompts: |
      0:00 : a floating orb
      0:30 : a crane: origami, paper
    bends:
      - op: rotate_r1
        layer: 40
        feature: rms
        stem: drums.wav
        smooth: median:21,envelope:0.7,gate:0.05
      - op: threshold
        layers: [5, 15]          # before each of the steps 5..14
        constant: 0.5
        window: [30, 60]         # on from 0:30 to 1:00
      - op: add_slice:axis=row,index=32
        keyframes: [[0, 0], [10, 4], [20, 0]]   # (seconds, value) automation
      - op: dilate:k=3
        site: unet.up_blocks.1    # a UNet module's output (`netbend sites` lists them)
        steps_active: [10, 40]    # while the steps 10..39 run
        channels: 0.25            # a seeded quarter of its channels (or [0, 5], "0:64", "cluster:0/4")
        feature: onset
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

from .. import positions
from ..errors import NetbendError
from ..positions import Written
from .declare import default_of, fields_of, flat_fields, is_settings, nested, optional_type, plain, resolve_path, type_hints
from .presets import LINKED
from .render import PANEL_KEYS, Panel, RenderJob

T = typing.TypeVar("T")


# -- from data ----------------------------------------------------------------------------------

def from_mapping(cls: type[T], data: Any, *, where: str = "", base: Path | None = None, **context: Any) -> T:
    """A ``cls`` from flat data (nested settings' keys beside ``cls``'s own); every value's type
    is checked against the declaration, with messages naming ``where`` and the key. ``base``:
    the folder that relative paths start from (a scene file's)."""
    if not isinstance(data, dict):
        raise NetbendError(f"{where[:-1] or 'the scene'} must be a mapping of keys, got {data!r}")
    flat = {f.name: (owner, f) for owner, f in flat_fields(cls)}
    unknown = [k for k in data if k not in flat]
    if unknown:
        raise NetbendError(f"unknown key {where}{unknown[0]!r}; known keys: {', '.join(flat)}")
    hints = type_hints(cls)
    values: dict[str | None, dict[str, Any]] = {None: {}, **{owner: {} for owner in nested(cls)}}
    for key, value in data.items():
        owner, f = flat[key]
        if key == "panels":
            continue  # resolved once the job's own generation and bends are known
        parse = f.metadata.get("parse")
        if isinstance(value, str) and parse is not None and optional_type(hints[key])[0] is not str:
            value = _read_text(parse, value, f"{where}{key}")  # a scene may write a value as its flag does
        value = coerce(hints[key], value, f"{where}{key}", base=base)
        if base is not None:
            value = resolve_path(value, f.metadata.get("path"), base)
        values[owner][key] = value
    kwargs = values[None]
    for owner, inner in nested(cls).items():
        kwargs[owner] = inner(**values[owner])
    missing = [n for n, f in fields_of(cls).items() if default_of(f) is dataclasses.MISSING and n not in kwargs]
    if missing:
        raise NetbendError(f"{where[:-1] or 'the scene'} needs the key {missing[0]!r}")
    obj = cls(**kwargs, **context)
    if "panels" in data:
        obj = dataclasses.replace(obj, panels=_panels(obj, data["panels"], where, base))
    return obj


def _read_text(parse: Any, text: str, label: str) -> Any:
    try:
        return parse(text)
    except ValueError as e:
        raise NetbendError(f"{label}: {e}") from None


def _panels(job: RenderJob, data: Any, where: str, base: Path | None) -> list[Panel]:
    """Each panel: the job's generation with the panel's own values, its bends (or the job's), its stem."""
    if not isinstance(data, list):
        raise NetbendError(f"{where}panels must be a list of panels, got {data!r}")
    out = []
    for i, p in enumerate(data):
        at = f"{where}panels[{i}]."
        if not isinstance(p, dict):
            raise NetbendError(f"{at[:-1]} must be a mapping of settings, got {p!r}")
        bad = [k for k in p if k not in PANEL_KEYS]
        if bad:
            raise NetbendError(f"{at}{bad[0]} cannot differ between panels; a panel may set {', '.join(PANEL_KEYS)}")
        own = from_mapping(Panel, p, where=at, base=base)
        changes = {k: getattr(own.generation, k) for k in p if k in fields_of(type(job.generation))}
        for group in LINKED:  # a panel's own steps (or timesteps, prompts, cycle) replace the video's both
            if any(k in changes for k in group):
                changes.update({k: None for k in group if k not in changes})
        generation = dataclasses.replace(job.generation, **changes)
        out.append(Panel(generation, own.bends if "bends" in p else list(job.bends), own.stem))
    return out


def coerce(tp: Any, value: Any, label: str, *, base: Path | None = None) -> Any:
    """``value`` as the declared type ``tp``, or a `NetbendError` naming ``label``."""
    tp, optional = optional_type(tp)
    if value is None:
        if optional or tp is Any:
            return None
        raise NetbendError(f"{label} needs a value")
    if tp is Any:
        return value
    if tp == Written:  # a time or length: numbers are seconds, text may be musical (9.1, b32) or a clock (1:30)
        try:
            return positions.written(value) if isinstance(value, str) else positions.read(value).value
        except ValueError as e:
            raise NetbendError(f"{label}: {e}") from None
    if is_settings(tp):
        return value if isinstance(value, tp) else from_mapping(tp, value, where=f"{label}.", base=base)
    if tp is bool:
        if not isinstance(value, bool):
            raise NetbendError(f"{label} must be true or false, got {value!r}")
        return value
    if tp is int or tp is float:
        ok = isinstance(value, int if tp is int else (int, float)) and not isinstance(value, bool)
        if not ok:
            raise NetbendError(f"{label} must be {'an integer' if tp is int else 'a number'}, got {value!r}")
        return tp(value)
    if tp is str:
        if not isinstance(value, str):
            raise NetbendError(f"{label} must be text, got {value!r}")
        return value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is tuple:
        return _pair(args, value, label)
    if origin is list:
        return _list(args[0] if args else Any, value, label, base)
    return value


def _pair(args: tuple, value: Any, label: str) -> tuple:
    kinds = {"integers" if a is int else "numbers" if a is float else "values" for a in args}
    what = f"a pair of {kinds.pop()} [a, b]" if len(kinds) == 1 else "a pair [a, b]"
    if not isinstance(value, (list, tuple)) or len(value) != len(args):
        raise NetbendError(f"{label} must be {what}, got {value!r}")
    try:
        return tuple(coerce(a, v, label) for a, v in zip(args, value))
    except NetbendError:
        raise NetbendError(f"{label} must be {what}, got {value!r}") from None


def _list(item: Any, value: Any, label: str, base: Path | None) -> list:
    if not isinstance(value, list):
        what = "bends" if item is not Any and is_settings(item) else "values"
        raise NetbendError(f"{label} must be a list of {what}, got {value!r}")
    if is_settings(item):
        return [v if isinstance(v, item) else from_mapping(item, v, where=f"{label}[{i}].", base=base)
                for i, v in enumerate(value)]
    try:
        return [coerce(item, v, label) for v in value]
    except NetbendError:
        kind = "[time, value] pairs" if typing.get_origin(item) is tuple else "values of one kind"
        raise NetbendError(f"{label} must be a list of {kind}, got {value!r}") from None


# -- to data ------------------------------------------------------------------------------------

def to_mapping(obj: Any, *, defaults: bool = False) -> dict:
    """``obj``'s settings as flat plain data (what `from_mapping` reads back); values equal to
    their defaults are left out unless ``defaults``; settings not meant for files (overwrite) never."""
    out: dict[str, Any] = {}
    for owner, f in flat_fields(type(obj)):
        if not f.metadata.get("scene", True):
            continue
        holder = getattr(obj, owner) if owner else obj
        value = getattr(holder, f.name)
        derived = f.metadata.get("derived")  # a default that follows other settings (steps: the timesteps')
        if not defaults and value == (derived(holder) if derived else default_of(f)):
            continue
        if f.name == "panels":
            value = [_panel_mapping(p, obj) for p in value]
        elif isinstance(value, list) and value and is_settings(type(value[0])):
            value = [to_mapping(v, defaults=defaults) for v in value]
        out[f.name] = plain(value)
    return out


def _panel_mapping(panel: Panel, job: RenderJob) -> dict:
    """What a panel sets differently from the job."""
    out = {k: plain(getattr(panel.generation, k)) for k in fields_of(type(panel.generation))
           if getattr(panel.generation, k) != getattr(job.generation, k)}
    if panel.bends != job.bends:
        out["bends"] = [to_mapping(b) for b in panel.bends]
    if panel.stem:
        out["stem"] = panel.stem
    return out


def absolute(obj: T) -> T:
    """``obj`` with every declared path made absolute (a model only where it is a local path)."""
    changes = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            changes[f.name] = absolute(value)
        elif isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
            changes[f.name] = [absolute(v) for v in value]
        else:
            changes[f.name] = resolve_path(value, f.metadata.get("path"), None)
    return dataclasses.replace(obj, **changes)


# -- YAML files ---------------------------------------------------------------------------------

def _loader():
    """PyYAML's safe loader without YAML 1.1's base-60 numbers, which read ``channels: 1:30``
    as 90 and ``start: 1:30`` as 90 seconds; such values stay text (as in YAML 1.2)."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    numbers = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
    Loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in numbers]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    Loader.add_implicit_resolver(numbers[0], re.compile(
        r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"), list("-+0123456789"))
    Loader.add_implicit_resolver(numbers[1], re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"), list("-+0123456789."))
    return Loader


SCENE_SUFFIXES = (".yaml", ".yml")
HOW_TO_RUN = tuple(f.name for _, f in flat_fields(RenderJob) if not f.metadata.get("scene", True))  # flags only


def load(path: str | Path, overrides: dict[str, Any] | None = None, first_bends: list | None = None) -> RenderJob:
    """Read a YAML scene (see `read`)."""
    return read(path, overrides, first_bends)[0]


def read(path: str | Path, overrides: dict[str, Any] | None = None, first_bends: list | None = None,
         preset: str | None = None) -> tuple[RenderJob, list[str]]:
    """Read a YAML scene; relative paths are taken from the scene file's folder. ``overrides``:
    flat settings (the flags given with it) that replace the scene's top-level values, and
    ``first_bends`` bends placed before the scene's, both before the panels take them; their
    paths must be absolute (or relative to the scene's folder). ``preset`` (or the scene's key
    ``preset``) fills what neither sets. Also returns what the preset left out, one line each."""
    import yaml

    from .presets import expand, layered

    path = Path(path)
    if not path.is_file():
        raise NetbendError(f"scene file not found: {path}")
    try:
        data = yaml.load(path.read_text(), Loader=_loader())
    except yaml.YAMLError as e:
        raise NetbendError(f"scene {path} is not valid YAML: {' '.join(str(e).split())}") from None
    data = data if data is not None else {}
    notes: list[str] = []
    if isinstance(data, dict):
        how = [k for k in data if k in HOW_TO_RUN]
        if how:
            raise NetbendError(f"{how[0]} says how to run, not what to render: give it as a flag "
                               f"(--{how[0].replace('_', '-')}), not in the scene {path.name}")
        scene_preset = data.pop("preset", None)
        preset = preset or scene_preset  # the flag's over the scene's
        data = layered(data, overrides or {})
        scene_bends = data.get("bends") or []
        if first_bends and isinstance(scene_bends, list):  # anything else: reported as the scene's error
            data["bends"] = list(first_bends) + scene_bends
        data, notes = expand(preset, data, RenderJob)
    return from_mapping(RenderJob, data, base=path.parent, sources=(str(path),)), notes


def dump(job: RenderJob, path: str | Path) -> Path:
    """Write ``job`` as a scene (paths absolute, defaults left out); rendering it gives the same frames."""
    import yaml

    from ..paths import make_folder

    path = Path(path)
    make_folder(path.parent)
    path.write_text(yaml.safe_dump(to_mapping(absolute(job)), sort_keys=False, allow_unicode=True))
    return path
