"""A bend: an operator chain at a site, driven by an audio feature, a constant or keyframes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import positions
from ..audio.mapping import CURVES
from ..errors import NetbendError
from ..parsing import parse_number
from ..positions import Written
from .declare import Names, check_fields, finite, pair_of, setting

if TYPE_CHECKING:
    from ..operators import Chain

LATENT = "latent"  # the site of the paper's bends: the latent between denoising steps


def _check_op(text: str, label: str) -> None:
    from .. import operators

    operators.parse(text)  # its errors name the operator and the option


def _check_feature(text: str, label: str) -> None:
    from ..audio import features

    features.check(text)


def _check_smooth(text: str, label: str) -> None:
    from ..audio import smoothing

    smoothing.parse(text)


def _check_trigger(text: str, label: str) -> None:
    from ..audio.events import parse_trigger

    parse_trigger(text, label)


def _check_envelope(text: str, label: str) -> None:
    from ..audio.envelopes import parse_envelope

    try:
        parse_envelope(text)
    except NetbendError as e:
        raise NetbendError(f"{label}: {e}") from None


def _check_positive(value: float, label: str) -> None:
    finite(value, label)
    if not value > 0:
        raise NetbendError(f"{label} must be above 0, got {value}")


def _check_site(text: str, label: str) -> None:
    from ..generation.sites import kind

    kind(text, label)


def _check_channels(value: Any, label: str) -> None:
    from ..generation.channels import parse_channels

    parse_channels(value, label)


def _check_range(value: tuple[float, float], label: str) -> None:
    if not all(math.isfinite(v) for v in value):
        raise NetbendError(f"{label} must be two finite numbers, got {value[0]}:{value[1]}")


def _check_keyframes(value: list[tuple[Written, float]], label: str) -> None:
    if not value or any(len(p) != 2 for p in value):
        raise NetbendError(f"{label} must be [time, value] points, got {value!r}")
    for t, v in value:
        positions.check(t, f"{label}: time")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise NetbendError(f"{label} values must be finite numbers, got {v!r}")
    times = [t for t, _ in value]
    if all(not positions.is_musical(t) for t in times) and any(b <= a for a, b in zip(times, times[1:])):
        raise NetbendError(f"{label} must be (time, value) points with increasing times")


def _check_window(value: tuple[Written, Written], label: str) -> None:
    for t in value:
        positions.check(t, label)
    if all(not positions.is_musical(t) for t in value) and not value[0] < value[1]:
        raise NetbendError(f"{label} must be [on, off) times with on < off, got {list(value)}")


@dataclass(frozen=True)
class Bend:
    """One bend. On the command line the flags give one (``--op`` ...); a scene's ``bends`` any number."""

    op: str = setting(metavar="CHAIN", check=_check_op,
                      help="operator(s) bending the latent (or the --site): NAME[:key=value,...] joined by '|', e.g. "
                           "rotate_r1 or 'dilate:k=4 | normalize_mean:axis=0'; list them with `netbend ops`")
    site: str = setting(LATENT, check=_check_site,
                        help="where the bend acts: latent (the paper's), or a module of the UNet or VAE decoder such "
                             "as unet.mid_block or vae.decoder.up_blocks.2, bent on its output (list: netbend sites)")
    layer: int | None = setting(None, help="denoising step before which the latent is bent: 0 = initial noise, "
                                           "STEPS = final latent (default: STEPS)")
    layers: tuple[int, int] | None = setting(None, flag=None, help="or a half-open range of steps [a, b): the latent "
                                                                   "is bent before each")
    steps_active: tuple[int, int] | None = setting(
        None, parse=pair_of(int, "START:STOP such as 10:40"), metavar="START:STOP",
        help="UNet sites: the denoising steps during which the bend acts, a half-open range like a Python slice "
             "(10:40 = steps 10..39; empty bends nothing) (default: all)")
    channels: Any = setting(None, check=_check_channels, metavar="WHICH",
                            help="the site's channels that are bent: all, a list 0,5,7, a range 0:64, a fraction 0.25 "
                                 "(seeded), or cluster:C/K (cluster C, 0 = largest, of K by k-means over a calibration "
                                 "run; see netbend sites --clusters K) (default: all)")
    feature: str = setting("rms", check=_check_feature,
                           help="audio feature driving the operator's parameter, e.g. rms, percussive.onset, "
                                "encodec:d=6 (list: netbend features --list)")
    stem: str | None = setting(None, path=True, frames=False, metavar="FILE",  # its content is in the drives
                               help="read the feature from this audio file (a stem) instead of the soundtrack")
    smooth: str | None = setting(None, check=_check_smooth, metavar="STEPS",
                                 help="smoothing, in order, e.g. median:21,envelope:0.7,gate:0.05 (the paper's)")
    range: tuple[float, float] | None = setting(
        None, parse=pair_of(parse_number, "LO:HI such as 0:5 or 0:2pi"), metavar="LO:HI", check=_check_range,
        help="parameter range the feature is mapped onto, pi allowed (default: the operator's, e.g. 0:2pi for "
             "rotations); write --range=-1:1 when LO is negative")
    curve: str = setting("linear", choices=CURVES, help="shape of the mapping from feature to parameter")
    invert: bool = setting(False, help="map the feature's largest value to the range's low end")
    trigger: str | None = setting(
        None, check=_check_trigger, metavar="EVENTS",
        help="or drive it with an envelope started on each event: onset, beat, downbeat, or FEATURE>LEVEL (the "
             "feature rising through LEVEL, a fraction of its range, e.g. rms>0.5); of the --stem where given")
    envelope: str = setting("0,0.2", check=_check_envelope, metavar="A,D[,S,R]",
                            help="--trigger's envelope: attack seconds (linear), decay time constant, and optionally "
                                 "sustain level (held while a threshold event lasts, or until the next event) and "
                                 "release time constant")
    strength: str | None = setting(None, check=_check_feature, metavar="FEATURE",
                                   help="--trigger: scale each event's envelope by this feature at the event "
                                        "(e.g. onset), relative to its largest value in the song (default: all 1)")
    accumulate: bool = setting(False, help="integrate the driven parameter over time, as a rate per second from the "
                                           "operator's identity (zoom multiplies): loudness keeps the picture "
                                           "zooming or spinning instead of pulsing")
    wrap: float | None = setting(None, check=_check_positive, parse=parse_number, metavar="PERIOD",
                                 help="--accumulate: wrap the accumulated parameter with this period (360 for spin; "
                                      "for zoom a factor such as 2, an endless zoom)")
    limit: float | None = setting(None, check=_check_positive, parse=parse_number, metavar="MAX",
                                  help="--accumulate: stop the accumulated parameter this far from the identity "
                                       "(for zoom a factor)")
    constant: float | None = setting(None, flag=None, check=finite, help="or drive the parameter with this constant")
    keyframes: list[tuple[Written, float]] | None = setting(
        None, flag=None, check=_check_keyframes,
        help="or with these (time, value) points, linear between them and held outside; a time is seconds, "
             "'M:SS', '9.1' (bar 9, beat 1) or 'b32' (beat 32)")
    window: tuple[Written, Written] | None = setting(None, flag=None, check=_check_window,
                                                     help="[on, off) times (as for keyframes): the bend acts only then")
    # not a setting: a bend given by flags is named by its flags in messages
    by_flags: bool = field(default=False, compare=False, repr=False)

    def chain(self) -> Chain:
        from .. import operators

        return operators.parse(self.op)

    def steps_bent(self, steps: int) -> range | None:
        """Latent: the loop indices k (0..steps) before which it is bent. UNet sites: the
        steps during which the module is bent. VAE sites: None (they act at decode time)."""
        where = self.where()
        if where == "vae":
            return None
        if where == "unet":
            return range(0, steps) if self.steps_active is None else range(*self.steps_active)
        if self.layers is not None:
            return range(*self.layers)
        k = steps if self.layer is None else self.layer
        return range(k, k + 1)

    def where(self) -> str:
        """``latent``, ``unet`` or ``vae``."""
        from ..generation.sites import kind

        return kind(self.site)

    def param_range(self) -> tuple[float, float] | None:
        """The range the driver is mapped onto; None when the chain takes no parameter."""
        chain = self.chain()
        if chain.param_shape is None:
            return None
        return self.range if self.range is not None else chain.default_range

    def driver(self) -> str:
        """What drives it, in words: a feature (of a stem), a constant or keyframes."""
        from pathlib import Path

        of = f" of {Path(self.stem).name}" if self.stem else ""
        if self.constant is not None:
            head = f"constant {self.constant:g}"
        elif self.keyframes is not None:
            head = "keyframes"
        elif self.trigger is not None:
            head = f"{self.trigger} envelope {self.envelope}{of}" + (f" x {self.strength}" if self.strength else "")
        else:
            head = self.feature + of
        return head + (", accumulated" if self.accumulate else "")

    def check(self, steps: int, names: Names) -> None:
        """Every rule of a bend, for a render of ``steps`` steps; messages name keys by ``names``."""
        check_fields(self, names)
        chain, key = self.chain(), names.key
        where = self.where()
        if where != LATENT and (self.layer is not None or self.layers is not None):
            raise NetbendError(f"{key('layer')} places a bend on the latent; at site {self.site} the bend acts while "
                               f"the steps of {key('steps_active')} run")
        if where == LATENT and self.steps_active is not None:
            raise NetbendError(f"{key('steps_active')} is for a UNet site; the latent is bent before {key('layer')} "
                               f"(or each of {key('layers')})")
        if where == "vae" and self.steps_active is not None:
            raise NetbendError(f"{key('steps_active')}: site {self.site} is in the VAE decoder, which runs once, "
                               "after the last step")
        self._check_steps(steps, key)
        if where == LATENT and str(self.channels).startswith("cluster:"):
            raise NetbendError(f"{key('channels')} cluster:C/K clusters a network layer's channels; the latent has "
                               "4: list them")
        drivers = [k for k in ("constant", "keyframes", "trigger") if getattr(self, k) is not None]
        if len(drivers) > 1:
            raise NetbendError(f"{' and '.join(map(key, drivers))} both given: choose one driver")
        self._check_accumulate(chain, key)
        if chain.param_shape is None and self.range is not None:
            raise NetbendError(f"{key('range')} has nothing to set: {chain} takes no parameter")

    def _check_accumulate(self, chain: Chain, key: Any) -> None:
        if not self.accumulate:
            for k in ("wrap", "limit"):
                if getattr(self, k) is not None:
                    raise NetbendError(f"{key(k)} bounds an accumulated parameter: give {key('accumulate')} too")
            return
        if chain.param_shape != ():
            raise NetbendError(f"{key('accumulate')}: {chain} takes "
                               f"{'no parameter' if chain.param_shape is None else 'a matrix or a vector'}; "
                               "only a one-number parameter accumulates")
        for k in ("wrap", "limit"):
            if chain.accumulate == "multiply" and getattr(self, k) is not None and getattr(self, k) <= 1:
                raise NetbendError(f"{key(k)} of {chain}, which multiplies as it accumulates, is a factor above 1, "
                                   f"got {getattr(self, k)}")

    def _check_steps(self, steps: int, key: Any) -> None:
        if self.steps_active is not None:
            a, b = self.steps_active
            if not 0 <= a <= b <= steps:
                raise NetbendError(f"{key('steps_active')} must be START:STOP with 0 <= START <= STOP <= {steps} "
                                   f"(a half-open range of steps, empty when START = STOP), got {a}:{b}")
        if self.layer is not None and self.layers is not None:
            raise NetbendError(f"{key('layer')} and {key('layers')} both given: choose one")
        if self.layers is not None:
            a, b = self.layers
            if not 0 <= a < b <= steps + 1:
                raise NetbendError(f"{key('layers')} must be START:STOP with START < STOP within [0, {steps + 1}], "
                                   f"got {a}:{b}")
        elif not 0 <= (steps if self.layer is None else self.layer) <= steps:
            raise NetbendError(f"{key('layer')} must be in [0, {steps}] (0 = initial noise, {steps} = final latent), "
                               f"got {self.layer}")
