"""The studio's form, made from the settings' declarations (as the flags are), and scenes to and from it.

Each setting becomes a field: its choices a dropdown, a flag switch a checkbox, a number a
number box, anything else a text box holding the flag's text (``512x512``, ``0:2pi``,
``999,679,359,99``). The form's values become a scene mapping, and a scene fills the form:
the same YAML that ``netbend render scene.yaml`` reads.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import Field
from typing import Any

from ..settings import Bend, Generation, RenderJob
from ..settings.declare import default_of, flag_of, flat_fields, optional_type, type_hints

# what the form shows of each class (flag=None fields, paths and how-to-run settings stay in scene files)
SECTIONS = {
    "generation": (Generation, ("device",)),
    "bend": (Bend, ("stem", "constant")),
    "video": (RenderJob, ("audio", "output", "frames_dir", "seeds", "overwrite", "workers", "ray")),
}


@dataclasses.dataclass(frozen=True)
class Item:
    """One field of the form: the setting it holds and how its value reads back."""

    section: str
    field: Field
    hint: Any

    @property
    def name(self) -> str:
        return self.field.name

    @property
    def elem_id(self) -> str:
        return f"{self.section}-{self.name}"


def items() -> list[Item]:
    out = []
    for section, (cls, skip) in SECTIONS.items():
        hints = type_hints(cls)
        for owner, f in flat_fields(cls):
            if owner is None and f.metadata.get("flag") is not None and f.name not in skip:
                out.append(Item(section, f, hints[f.name]))
    return out


def as_text(value: Any) -> str:
    """A value as its flag's text: ``(512, 512)`` -> ``512x512`` for a size, pairs ``a:b``, lists ``a,b``."""
    if value is None or value is dataclasses.MISSING:
        return ""
    if isinstance(value, (tuple, list)):
        if len(value) == 2 and all(isinstance(v, int) for v in value) and not isinstance(value, list):
            return f"{value[0]}x{value[1]}"
        sep = ":" if isinstance(value, tuple) else ","
        return sep.join(str(v) for v in value)
    return str(value)


def component(item: Item, default: Any = dataclasses.MISSING) -> Any:
    """The field of ``item``, holding ``default`` (else the declared default)."""
    import gradio as gr

    f, tp = item.field, optional_type(item.hint)[0]
    label, info = flag_of(f) or item.name, f.metadata["help"]
    default = default_of(f) if default is dataclasses.MISSING else default
    choices = f.metadata.get("choices")
    common = dict(label=label, info=info, elem_id=item.elem_id)
    if choices:
        return gr.Dropdown(list(choices), value=default, **common)
    if tp is bool:
        return gr.Checkbox(value=bool(default), **common)
    if tp in (int, float) and default is not None and not optional_type(item.hint)[1]:
        return gr.Number(value=default, precision=0 if tp is int else None, **common)
    return gr.Textbox(value=as_text(default), **common)


def to_mapping(values: dict[str, Any]) -> dict[str, Any]:
    """The form's values (by elem_id) as flat scene settings, leaving out what equals the default;
    the bend section as one bend (when it names an operator)."""
    flat, bend = {}, {}
    for item in items():
        value = values.get(item.elem_id)
        tp = optional_type(item.hint)[0]
        if isinstance(value, str):
            value = value.strip()
            if not value:
                continue
            if typing.get_origin(tp) is list and not item.field.metadata.get("parse"):
                value = [v.strip() for v in value.replace("\n", ",").split(",") if v.strip()]
            elif tp in (int, float):  # a number in a text box (a setting whose default is None)
                try:
                    value = tp(value)
                except ValueError:
                    pass  # left as text: reading the scene names the setting
        elif value is None:
            continue
        elif tp is int and isinstance(value, float):
            value = int(value)
        if value == default_of(item.field) or (isinstance(value, str) and value == as_text(default_of(item.field))):
            continue
        (bend if item.section == "bend" else flat)[item.name] = value
    if bend.get("op"):
        flat["bends"] = [bend]
    return flat


def from_mapping(data: dict[str, Any]) -> dict[str, Any]:
    """A scene's settings as the form's values (by elem_id): its first bend fills the bend section."""
    bends = data.get("bends") or []
    first = bends[0] if bends and isinstance(bends[0], dict) else {}
    out = {}
    for item in items():
        source = first if item.section == "bend" else data
        value = source.get(item.name, default_of(item.field))
        tp = optional_type(item.hint)[0]
        plain_number = tp in (int, float) and not optional_type(item.hint)[1] and default_of(item.field) is not None
        if isinstance(value, list) and typing.get_origin(tp) is tuple:
            value = tuple(value)
        out[item.elem_id] = value if (item.field.metadata.get("choices") or tp is bool or plain_number) else as_text(value)
    return out
