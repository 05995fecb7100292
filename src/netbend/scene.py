"""A render's settings as data: flags, or a YAML scene file that holds several bends.

A scene file (YAML) has the keys of `RenderSettings`; ``bends`` is a list of `Bend`
mappings. Paths are relative to the scene file. Example::

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
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import features, mapping, models, operators, sites, smoothing
from .errors import NetbendError
from .paths import check_output
from .sampling import SCHEDULERS
from .sites import LATENT

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv")


@dataclass
class Bend:
    """One bend: an operator chain at a site, driven by a feature, a constant or keyframes."""

    op: str  # operator chain, e.g. "rotate_r1 | normalize_max"
    layer: int | None = None  # denoising step before which the latent is bent; None = steps (final latent)
    layers: tuple[int, int] | None = None  # or a half-open range of steps [a, b): bent before each
    feature: str = "rms"  # the driver: an audio feature ...
    stem: str | None = None  # ... read from a stem instead of the soundtrack
    smooth: str | None = None
    range: tuple[float, float] | None = None  # None = the operator's default range
    curve: str = "linear"
    invert: bool = False
    constant: float | None = None  # ... or a constant parameter
    keyframes: list[tuple[float, float]] | None = None  # ... or (seconds, value) points, linear between
    window: tuple[float, float] | None = None  # seconds [on, off): the bend acts only then
    site: str = LATENT  # or a module: unet.mid_block, vae.decoder.up_blocks.2, ... (`netbend sites`)
    steps_active: tuple[int, int] | None = None  # UNet sites: the steps [a, b) during which it acts; None = all
    channels: Any = None  # all (None), a list, "0:64", a fraction, or "cluster:C/K" (`netbend.sites.parse_channels`)

    def chain(self) -> operators.Chain:
        return operators.parse(self.op)

    def steps_bent(self, steps: int) -> range | None:
        """Latent: the loop indices k (0..steps) before which it is bent. UNet sites: the
        steps during which the module is bent. VAE sites: None (they act at decode time)."""
        where = sites.kind(self.site)
        if where == "vae":
            return None
        if where == "unet":
            return range(0, steps) if self.steps_active is None else range(*self.steps_active)
        if self.layers is not None:
            return range(*self.layers)
        k = steps if self.layer is None else self.layer
        return range(k, k + 1)

    def param_range(self) -> tuple[float, float] | None:
        chain = self.chain()
        if chain.param_shape is None:
            return None
        return self.range if self.range is not None else chain.default_range

    def check(self, steps: int, label: str) -> None:
        """``label``: how messages name this bend's keys ("--" for flags, "bends[1]." in a scene)."""
        chain = self.chain()
        key = (lambda k: label + k.replace("_", "-")) if label == "--" else (lambda k: label + k)
        where = sites.kind(self.site, key("site"))
        if where != LATENT and (self.layer is not None or self.layers is not None):
            raise NetbendError(f"{key('layer')} places a bend on the latent; at site {self.site} the bend acts while "
                               f"the steps of {key('steps_active')} run")
        if where == LATENT and self.steps_active is not None:
            raise NetbendError(f"{key('steps_active')} is for a UNet site; the latent is bent before {key('layer')} "
                               f"(or each of {key('layers')})")
        if where == "vae" and self.steps_active is not None:
            raise NetbendError(f"{key('steps_active')}: site {self.site} is in the VAE decoder, which runs once, "
                               "after the last step")
        if self.steps_active is not None:
            a, b = self.steps_active
            if not 0 <= a <= b <= steps:
                raise NetbendError(f"{key('steps_active')} must be START:STOP with 0 <= START <= STOP <= {steps} "
                                   f"(a half-open range of steps, empty when START = STOP), got {a}:{b}")
        chosen = sites.parse_channels(self.channels, key("channels"))
        if where == LATENT and chosen.kind == "cluster":
            raise NetbendError(f"{key('channels')} cluster:C/K clusters a network layer's channels; the latent has "
                               "4: list them")
        if self.layer is not None and self.layers is not None:
            raise NetbendError(f"{label}layer and {label}layers both given: choose one")
        if self.layers is not None:
            a, b = self.layers
            if not 0 <= a < b <= steps + 1:
                raise NetbendError(f"{label}layers must be START:STOP with START < STOP within [0, {steps + 1}], "
                                   f"got {a}:{b}")
        elif not 0 <= (steps if self.layer is None else self.layer) <= steps:
            raise NetbendError(f"{label}layer must be in [0, {steps}] (0 = initial noise, {steps} = final latent), "
                               f"got {self.layer}")
        drivers = [self.constant is not None, self.keyframes is not None]
        if sum(drivers) > 1:
            raise NetbendError(f"{label}constant and {label}keyframes both given: choose one driver")
        if self.range is not None and not all(math.isfinite(v) for v in self.range):
            raise NetbendError(f"{label}range must be two finite numbers, got {self.range[0]}:{self.range[1]}")
        if chain.param_shape is None and self.range is not None:
            raise NetbendError(f"{label}range has nothing to set: {chain} takes no parameter")
        if self.keyframes is not None:
            times = [t for t, _ in self.keyframes]
            if not times or any(b <= a for a, b in zip(times, times[1:])):
                raise NetbendError(f"{label}keyframes must be (seconds, value) points with increasing times")
        if self.window is not None and not self.window[0] < self.window[1]:
            raise NetbendError(f"{label}window must be [on, off) seconds with on < off, got {list(self.window)}")
        features.check(self.feature)
        smoothing.parse(self.smooth)
        if self.curve not in mapping.CURVES:
            raise NetbendError(f"{label}curve must be one of {', '.join(mapping.CURVES)}, got {self.curve!r}")


@dataclass
class RenderSettings:
    """Everything that decides a render. Two renders with equal settings give equal frames.

    The flags' one bend lives in the flat fields (``op``, ``feature``, ``layer``, ...);
    a scene's bends in ``bends``; `all_bends` gives both.
    """

    audio: str  # the soundtrack; its features drive the bends and it is muxed into the video
    output: str  # .mp4 (or .mov/.mkv); the sidecar JSON goes beside it
    prompt: str = "a floating orb"  # the paper's figure prompt; used when there is no schedule
    prompts: str | None = None  # a prompt schedule, lines "M:SS : prompt" (`netbend.prompts`)
    interpolation: str = "lerp"  # between scheduled prompts: lerp (the paper's) or slerp
    negative_prompt: str = ""
    op: str | None = None  # the flags' bend: operator chain (`netbend.operators.parse`); None: none
    feature: str = "rms"  # audio feature that drives the operator's parameter r (`netbend.features`)
    stem: str | None = None  # read the feature from this audio file (a stem) instead of the soundtrack
    smooth: str | None = None  # smoothing chain, e.g. "median:21,envelope:0.7,gate:0.05" (`netbend.smoothing`)
    curve: str = "linear"  # how the feature's range maps onto r: linear, exp, log
    invert: bool = False  # map the feature's largest value to the range's low end
    layer: int | None = None  # denoising step before which the latent is bent; None = steps (final latent)
    range: tuple[float, float] | None = None  # r range the feature is mapped onto; None = the operator's default
    site: str = LATENT  # where the flags' bend acts: the latent, or a UNet / VAE-decoder module
    steps_active: tuple[int, int] | None = None  # UNet sites: steps [a, b) during which the bend acts; None = all
    channels: Any = None  # the site's channels that are bent: all, a list, a fraction, cluster:C/K
    bends: list[Bend] = field(default_factory=list)  # more bends, each with its own driver (scene files)
    steps: int = 50  # the paper: DDIM, 50 steps
    guidance: float = 7.5  # the paper's classifier-free guidance scale; <= 1 turns guidance off
    scheduler: str = "ddim"
    model: str = models.DEFAULT_MODEL
    fps: float = 20.0  # the paper's frame rate
    seed: int = 42  # seeds the noise walk
    size: tuple[int, int] = (512, 512)  # width, height in pixels; multiples of 8
    walk: float = 0.2  # noise-walk extent: 2 is a full circle over the video (paper's JAES runs: 0.2)
    batch: int = 1  # frames per UNet call; frames equal those of batch 1 up to float rounding
    device: str = "auto"
    start: float = 0.0  # render the excerpt from here (seconds) ...
    duration: float | None = None  # ... this long (None: to the end); its frames equal the full render's
    frames_dir: str | None = None  # keep every frame as a PNG here; None: a work folder removed after encoding
    panels: list[dict] = field(default_factory=list)  # settings overrides, one per panel tiled side by side
    overwrite: bool = False

    def flag_bend(self) -> Bend | None:
        if self.op is None:
            return None
        return Bend(op=self.op, layer=self.layer, feature=self.feature, stem=self.stem, smooth=self.smooth,
                    range=self.range, curve=self.curve, invert=self.invert, site=self.site,
                    steps_active=self.steps_active, channels=self.channels)

    def all_bends(self) -> list[Bend]:
        flag = self.flag_bend()
        return ([flag] if flag else []) + list(self.bends)


def check_size(size: tuple[int, int]) -> None:
    w, h = size
    if w <= 0 or h <= 0 or w % 8 or h % 8:
        raise NetbendError(f"--size must be positive multiples of 8, got {w}x{h}")


def check_generation(s: Any, label: str = "--") -> None:
    """The settings that say how an image is generated (of a render, a panel or a figure grid);
    ``label`` names them in messages (``--`` for flags, ``panels[1].`` in a scene)."""
    if not 0 <= s.seed < 2**63:
        raise NetbendError(f"{label}seed must be in [0, 2**63), got {s.seed}")
    if s.steps < 1:
        raise NetbendError(f"{label}steps must be at least 1, got {s.steps}")
    check_size(s.size)
    if not (math.isfinite(s.guidance) and s.guidance >= 0):
        raise NetbendError(f"{label}guidance must be a non-negative number, got {s.guidance}")
    if s.batch < 1:
        raise NetbendError(f"{label}batch must be at least 1, got {s.batch}")
    if s.scheduler not in SCHEDULERS:
        which = "scheduler" if label == "--" else f"{label}scheduler"
        raise NetbendError(f"unknown {which} {s.scheduler!r}; known schedulers: {', '.join(SCHEDULERS)}")


def _check_frames(s: RenderSettings, label: str) -> None:
    """What may differ between panels: generation, noise walk, prompts and every bend."""
    from . import prompts

    check_generation(s, label)
    if not math.isfinite(s.walk):
        raise NetbendError(f"{label}walk must be a finite number, got {s.walk}")
    if s.prompts is not None:
        prompts.parse(s.prompts)
    if s.interpolation not in prompts.MODES:
        raise NetbendError(f"{label}interpolation must be {' or '.join(prompts.MODES)}, got {s.interpolation!r}")
    for bend, bend_label in zip(s.all_bends(), bend_labels(s, "" if label == "--" else label)):
        bend.check(s.steps, bend_label)


def bend_labels(s: RenderSettings, prefix: str = "") -> list[str]:
    """How messages name each bend's keys: ``--`` for the flags' bend, ``bends[i].`` for a
    scene's, ``panels[k].bends[i].`` within a panel (``prefix``)."""
    n = len(s.all_bends())
    if prefix:
        return [f"{prefix}bends[{i}]." for i in range(n)]
    return ["--" if s.op and i == 0 else f"bends[{i - bool(s.op)}]." for i in range(n)]


def check_inputs(s: RenderSettings) -> None:
    """Reject bad settings up front, with a message that names the bad value."""
    from .audio import check_path

    check_path(s.audio)  # the first thing a newcomer gets wrong; cheaper to say before anything else
    for stem in {b.stem for b in s.all_bends() if b.stem} | {p["stem"] for p in s.panels if p.get("stem")}:
        check_path(stem)
    for name in ("fps", "guidance"):
        if not math.isfinite(getattr(s, name)):
            raise NetbendError(f"--{name} must be a finite number, got {getattr(s, name)}")
    if s.op is None and (s.layer is not None or s.range is not None or s.site != LATENT
                         or s.steps_active is not None or s.channels is not None):
        raise NetbendError("--layer, --range, --site, --steps-active and --channels configure a bend: give --op too")
    if not s.fps > 0:
        raise NetbendError(f"--fps must be positive, got {s.fps}")
    if not (math.isfinite(s.start) and s.start >= 0):
        raise NetbendError(f"--start must be a time >= 0 seconds, got {s.start}")
    if s.duration is not None and not (math.isfinite(s.duration) and s.duration > 0):
        raise NetbendError(f"--duration must be positive seconds, got {s.duration}")
    features.check(s.feature)
    _check_frames(s, "--")
    for i, panel in enumerate(s.panels):  # every panel, before the first one renders
        bad = [k for k in panel if k not in PANEL_KEYS]
        if bad:
            raise NetbendError(f"panels[{i}].{bad[0]} cannot differ between panels")
        own = {k: v for k, v in panel.items() if k != "stem"}
        _check_frames(dataclasses.replace(s, panels=[], **own), f"panels[{i}].")
    out = Path(s.output)
    check_output(out, overwrite=s.overwrite)
    if out.suffix.lower() not in VIDEO_SUFFIXES:
        raise NetbendError(f"output must end in {', '.join(VIDEO_SUFFIXES)}, got {out.name}")


# --- scene files --------------------------------------------------------------------------

_PATHS = {"audio", "output", "stem", "frames_dir"}
# fields without a default value, and what they hold when given
_OPTIONAL = {"layer": int, "prompts": str, "stem": str, "op": str, "constant": float, "duration": float,
             "frames_dir": str, "smooth": str, "audio": str, "output": str}
_PAIR_OF = {"size": int, "layers": int, "range": float, "window": float, "steps_active": int}


def _coerce(where: str, key: str, value: Any, default: Any) -> Any:
    if key in ("bends", "keyframes", "panels", "channels"):  # checked where they are read
        return value
    if value is None:
        if default is not None or key in ("audio", "output"):
            raise NetbendError(f"{where}{key} needs a value")
        return value
    if key in _PAIR_OF:  # the keys that hold a pair [a, b]
        kind = _PAIR_OF[key]
        ok = isinstance(value, (list, tuple)) and len(value) == 2 and all(
            not isinstance(v, bool) and (isinstance(v, int) if kind is int else isinstance(v, (int, float))) for v in value)
        if not ok:
            raise NetbendError(f"{where}{key} must be a pair of {'integers' if kind is int else 'numbers'} [a, b], "
                               f"got {value!r}")
        return tuple(kind(v) for v in value)
    kind = type(default) if default is not None else _OPTIONAL.get(key)
    if kind is bool and not isinstance(value, bool):
        raise NetbendError(f"{where}{key} must be true or false, got {value!r}")
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise NetbendError(f"{where}{key} must be an integer, got {value!r}")
    if kind is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise NetbendError(f"{where}{key} must be a number, got {value!r}")
    if kind is str and not isinstance(value, str):
        raise NetbendError(f"{where}{key} must be text, got {value!r}")
    return float(value) if kind is float else value


def _build(cls, data: dict, where: str, base: Path):
    if not isinstance(data, dict):
        raise NetbendError(f"{where or 'the scene'} must be a mapping of keys, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in data if k not in fields]
    if unknown:
        raise NetbendError(f"unknown key {where}{unknown[0]!r}; known keys: {', '.join(fields)}")
    kwargs = {}
    for key, value in data.items():
        f = fields[key]
        default = f.default if f.default is not dataclasses.MISSING else None
        value = _coerce(where, key, value, default)
        if key in _PATHS and value is not None:
            value = str(base / Path(value).expanduser())
        if key == "model" and (base / value).exists():  # a local model folder or file next to the scene
            value = str(base / value)
        if key == "keyframes" and value is not None:
            try:
                value = [(float(t), float(v)) for t, v in value]
            except (TypeError, ValueError):
                raise NetbendError(f"{where}keyframes must be a list of [seconds, value] pairs, got {value!r}") from None
        if key == "bends":
            if not isinstance(value, list):
                raise NetbendError(f"{where}bends must be a list of bends, got {value!r}")
            value = [_build(Bend, b, f"{where}bends[{i}].", base) for i, b in enumerate(value)]
        if key == "panels":
            value = [_panel(p, f"panels[{i}].", base) for i, p in enumerate(value or [])]
        kwargs[key] = value
    missing = [n for n, f in fields.items() if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
               and n not in kwargs]
    if missing:
        raise NetbendError(f"{where or 'the scene'} needs the key {missing[0]!r}")
    return cls(**kwargs)


PANEL_KEYS = ("prompt", "prompts", "interpolation", "negative_prompt", "bends", "stem", "seed", "walk", "guidance",
              "scheduler", "steps", "model")  # what may differ between panels of one video


def _panel(data: Any, where: str, base: Path) -> dict:
    if not isinstance(data, dict):
        raise NetbendError(f"{where[:-1]} must be a mapping of settings, got {data!r}")
    bad = [k for k in data if k not in PANEL_KEYS]
    if bad:
        raise NetbendError(f"{where}{bad[0]} cannot differ between panels; a panel may set {', '.join(PANEL_KEYS)}")
    built = _build(RenderSettings, {"audio": ".", "output": ".", **data}, where, base)
    return {k: getattr(built, k) for k in data}


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


def load(path: str | Path, **overrides: Any) -> RenderSettings:
    """Read a YAML scene; relative paths are taken from the scene file's folder."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise NetbendError(f"scene file not found: {path}")
    try:
        data = yaml.load(path.read_text(), Loader=_loader())
    except yaml.YAMLError as e:
        raise NetbendError(f"scene {path} is not valid YAML: {' '.join(str(e).split())}") from None
    settings = _build(RenderSettings, data or {}, "", path.parent)
    return dataclasses.replace(settings, **overrides)


def dump(s: RenderSettings, path: str | Path) -> Path:
    """Write ``s`` as a scene: the flags' bend becomes the first of ``bends``; defaults are left out."""
    import yaml

    flat = ("op", "feature", "stem", "smooth", "curve", "invert", "layer", "range", "site", "steps_active", "channels")
    scene = dataclasses.replace(s, bends=s.all_bends(), **{k: RenderSettings.__dataclass_fields__[k].default for k in flat})
    data = {}
    for f in dataclasses.fields(RenderSettings):
        value = getattr(scene, f.name)
        if f.name in ("overwrite",) or (f.default is not dataclasses.MISSING and value == f.default):
            continue
        if f.name == "bends":
            if not value:
                continue
            value = _bends_data(value)
        if f.name == "panels":
            if not value:
                continue
            value = [{k: _bends_data(v) if k == "bends" else _plain(v) for k, v in p.items()} for p in value]
        data[f.name] = _plain(value)
    for key in ("audio", "output"):
        data[key] = str(Path(data[key]).absolute())
    for bend in data.get("bends", []) + [b for p in data.get("panels", []) for b in p.get("bends", [])]:
        if bend.get("stem"):
            bend["stem"] = str(Path(bend["stem"]).absolute())
    for panel in data.get("panels", []):
        if panel.get("stem"):
            panel["stem"] = str(Path(panel["stem"]).absolute())
    if data.get("frames_dir"):
        data["frames_dir"] = str(Path(data["frames_dir"]).absolute())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def _bends_data(bends: list[Bend]) -> list[dict]:
    return [{k: _plain(v) for k, v in dataclasses.asdict(b).items() if v != Bend.__dataclass_fields__[k].default}
            for b in bends]


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
