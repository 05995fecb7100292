"""Bending sites inside the networks: their names, shapes and hooks.

A site is ``latent`` (the paper's: the latent between denoising steps) or a module of the
UNet or of the decoder in use, named as in PyTorch (``unet.mid_block``,
``unet.down_blocks.1.resnets.0``, ``vae.decoder.up_blocks.2``; with TAESD
``vae.decoder.layers.4``). A bend at a module acts on
its output (for a block that also returns skip connections, on its main output) through a
forward hook that `hooked` installs and always removes. Which of a site's channels are
bent is `netbend.generation.channels`' business.
"""

from __future__ import annotations

import difflib
import re
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator

import torch

from ..errors import NetbendError
from .bending import LATENT, Clock, PlacedBend

if TYPE_CHECKING:
    from .models import StableDiffusion
# blocks, and the resnets / attentions / samplers inside them, of a diffusers UNet or VAE decoder;
# the layers of a tiny decoder (TAESD's, one sequence of convolutions, blocks and upsamplers)
_BLOCKS = re.compile(r"^(conv_in|conv_out|mid_block(\.(resnets|attentions)\.\d+)?|"
                     r"(down|up)_blocks\.\d+(\.(resnets|attentions|downsamplers|upsamplers)\.\d+)?|layers\.\d+)$")


def kind(site: str, where: str = "--site") -> str:
    """``latent``, ``unet`` or ``vae``; a `NetbendError` for anything else (checked before a model
    loads). ``where``: how the message names the setting (``bends[1].site`` in a scene)."""
    if site == LATENT:
        return LATENT
    root = site.split(".", 1)[0]
    if root in ("unet", "vae") and "." in site:
        return root
    raise NetbendError(f"{where}: a site must be 'latent' or a module of the UNet or VAE decoder such as "
                       f"unet.mid_block or vae.decoder.up_blocks.2, got {site!r}; `netbend sites` lists them")


def names(model: StableDiffusion) -> list[str]:
    """The model's bendable modules, as site names (in the order the modules are registered)."""
    out = ["unet." + n for n, _ in model.unet.named_modules() if _BLOCKS.match(n)]
    if getattr(model.vae, "post_quant_conv", None) is not None:
        out.append("vae.post_quant_conv")
    out += ["vae.decoder." + n for n, _ in model.vae.decoder.named_modules() if _BLOCKS.match(n)]
    return out


def module(model: StableDiffusion, site: str) -> torch.nn.Module:
    """The module a site names; an unknown name is an error suggesting the nearest names."""
    known = names(model)
    if site not in known:
        close = difflib.get_close_matches(site, known + [LATENT], n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        raise NetbendError(f"unknown site {site!r} in model {model.source}; {hint}"
                           f"`netbend sites --model {model.source}` lists the {len(known)} sites")
    root, path = site.split(".", 1)
    return getattr(model, root).get_submodule(path)


def _main(output: Any) -> torch.Tensor | None:
    """The feature map a module returns: the tensor, or a tuple's / output object's first tensor."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, tuple) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    sample = getattr(output, "sample", None)
    return sample if isinstance(sample, torch.Tensor) else None


def _replace_main(output: Any, new: torch.Tensor) -> Any:
    if isinstance(output, torch.Tensor):
        return new
    if isinstance(output, tuple):
        return (new, *output[1:])
    output.sample = new
    return output


@contextmanager
def _hooks(model: StableDiffusion, hooks: list[tuple[str, Callable]], *, pre: bool = False) -> Iterator[None]:
    """Forward hooks ``(site, fn)`` (pre-hooks with ``pre``) installed for the duration of the
    block and removed however it ends: a finished batch, an error in an operator, an interrupt."""
    handles = []
    try:
        for site, fn in hooks:
            m = module(model, site)
            handles.append(m.register_forward_pre_hook(fn) if pre else m.register_forward_hook(fn))
        yield
    finally:
        for h in handles:
            h.remove()


def recording(model: StableDiffusion, sites: list[str],
              record: Callable[[str, torch.Tensor | None], None]) -> AbstractContextManager[None]:
    """Hooks passing each site's feature map (N, C, H, W), or None, to ``record(site, map)``
    for the duration of the block."""
    return _hooks(model, [(site, lambda mod, args, out, site=site: record(site, _main(out))) for site in sites])


def hooked(model: StableDiffusion, bends: list[PlacedBend], clock: Clock) -> AbstractContextManager[None]:
    """The module bends, as forward hooks for the duration of the block (see `_hooks`);
    ``clock`` tells them which denoising step runs."""
    return _hooks(model, [(b.site, _hook(b, clock)) for b in bends])


def _hook(b: PlacedBend, clock: Clock) -> Callable:
    def hook(mod: torch.nn.Module, args: tuple, output: Any) -> Any:
        if b.steps is not None and clock.step not in b.steps:
            return None  # output unchanged
        x = _main(output)
        if x is None or x.ndim != 4:
            raise NetbendError(f"site {b.site} gives no feature map to bend ({type(output).__name__})")
        return _replace_main(output, b.bend(x))

    return hook


@dataclass
class SiteInfo:
    name: str
    shape: tuple[int, int, int]  # (C, H, W) of one image at the probed size


@torch.no_grad()
def probe(model: StableDiffusion, size: tuple[int, int], sites: list[str] | None = None) -> dict[str, SiteInfo]:
    """Each site's output shape at ``size`` (W, H), in the order the modules start (a block
    before its parts): one UNet evaluation and one decode of a batch of one. Modules whose
    output is not a feature map are left out."""
    sites = names(model) if sites is None else [s for s in sites if s != LATENT]
    shapes: dict[str, tuple] = {}
    order: list[str] = []

    def record(site: str, out: torch.Tensor | None) -> None:
        if out is not None and out.ndim == 4 and site not in shapes:
            shapes[site] = tuple(out.shape[1:])

    c, h, w = model.latent_shape(*size)
    x = torch.zeros(1, c, h, w, device=model.device, dtype=model.dtype)
    starts = [(s, lambda mod, args, s=s: order.append(s)) for s in sites]
    with _hooks(model, starts, pre=True), recording(model, sites, record):
        if any(s.startswith("unet.") for s in sites):
            model.unet(x, torch.tensor(999, device=model.device), encoder_hidden_states=model.encode_text([""]))
        if any(s.startswith("vae.") for s in sites):
            model.decode(x)
    return {s: SiteInfo(s, shapes[s]) for s in dict.fromkeys(order) if s in shapes}
