"""Bending sites inside the networks: their names, shapes, hooks, and channel selections.

A site is ``latent`` (the paper's: the latent between denoising steps) or a module of the
UNet or of the VAE decoder, named as in PyTorch (``unet.mid_block``,
``unet.down_blocks.1.resnets.0``, ``vae.decoder.up_blocks.2``). A bend at a module acts on
its output (for a block that also returns skip connections, on its main output) through a
forward hook that `hooked` installs and always removes.

Channels of a site can be chosen: all, a list, a seeded random fraction, or a cluster of
channels whose feature maps look alike over a short calibration run (k-means, as Broad et
al. clustered StyleGAN2's feature maps).
"""

from __future__ import annotations

import difflib
import re
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from .bends import Clock, LayerBend
from .errors import NetbendError

LATENT = "latent"
# blocks, and the resnets / attentions / samplers inside them, of a diffusers UNet or VAE decoder
_BLOCKS = re.compile(r"^(conv_in|conv_out|mid_block(\.(resnets|attentions)\.\d+)?|"
                     r"(down|up)_blocks\.\d+(\.(resnets|attentions|downsamplers|upsamplers)\.\d+)?)$")
CALIBRATION_SAMPLES = 4  # noises of the calibration run
CALIBRATION_STEPS = 10  # its denoising steps (DDIM, no guidance)
CALIBRATION_POOL = 16  # feature maps are averaged down to at most this many pixels a side


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


def names(model) -> list[str]:
    """The model's bendable modules, as site names (in the order the modules are registered)."""
    out = ["unet." + n for n, _ in model.unet.named_modules() if _BLOCKS.match(n)]
    if getattr(model.vae, "post_quant_conv", None) is not None:
        out.append("vae.post_quant_conv")
    out += ["vae.decoder." + n for n, _ in model.vae.decoder.named_modules() if _BLOCKS.match(n)]
    return out


def module(model, site: str) -> torch.nn.Module:
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
def _hooks(model, hooks: list[tuple[str, Callable]], *, pre: bool = False) -> Iterator[None]:
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


def _recording(model, sites: list[str], record):
    """Hooks passing each site's feature map to ``record(site, map)``."""
    return _hooks(model, [(site, lambda mod, args, out, site=site: record(site, _main(out))) for site in sites])


def hooked(model, bends: list[LayerBend], clock: Clock):
    """The layer bends, as forward hooks for the duration of the block (see `_hooks`)."""
    return _hooks(model, [(b.site, _hook(b, clock)) for b in bends])


def _hook(b: LayerBend, clock: Clock):
    def hook(mod, args, output):
        if b.steps is not None and clock.step not in b.steps:
            return None  # output unchanged
        x = _main(output)
        if x is None or x.ndim != 4:
            raise NetbendError(f"site {b.site} gives no feature map to bend ({type(output).__name__})")
        return _replace_main(output, b.bending(x))

    return hook


@dataclass
class SiteInfo:
    name: str
    shape: tuple[int, int, int]  # (C, H, W) of one image at the probed size


@torch.no_grad()
def probe(model, size: tuple[int, int], sites: list[str] | None = None) -> dict[str, SiteInfo]:
    """Each site's output shape at ``size`` (W, H), in the order the modules start (a block
    before its parts): one UNet evaluation and one decode of a batch of one. Modules whose
    output is not a feature map are left out."""
    sites = names(model) if sites is None else [s for s in sites if s != LATENT]
    shapes: dict[str, tuple] = {}
    order: list[str] = []

    def record(site, out):
        if out is not None and out.ndim == 4 and site not in shapes:
            shapes[site] = tuple(out.shape[1:])

    c, h, w = model.latent_shape(*size)
    x = torch.zeros(1, c, h, w, device=model.device, dtype=model.dtype)
    starts = [(s, lambda mod, args, s=s: order.append(s)) for s in sites]
    with _hooks(model, starts, pre=True), _recording(model, sites, record):
        if any(s.startswith("unet.") for s in sites):
            model.unet(x, torch.tensor(999, device=model.device), encoder_hidden_states=model.encode_text([""]))
        if any(s.startswith("vae.") for s in sites):
            model.vae.decode(x)
    return {s: SiteInfo(s, shapes[s]) for s in dict.fromkeys(order) if s in shapes}


# -- channels ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Channels:
    """Which channels of a site a bend acts on (parse one with `parse_channels`)."""

    kind: str = "all"  # all, list, fraction, cluster
    text: str = "all"  # as the user wrote it
    indices: tuple[int, ...] = ()  # list
    fraction: float = 1.0  # fraction: of the channels, drawn at random from the render's seed
    cluster: int = 0  # cluster: this one (0 = the largest) ...
    k: int = 0  # ... of k clusters

    def __str__(self) -> str:
        return self.text

    def select(self, n: int, *, seed: int, site: str = LATENT, index: int = 0,
               clusters: Clusters | None = None) -> list[int] | None:
        """Indices among ``n`` channels (None = all). A fraction is drawn from ``seed``, the
        ``site`` and the bend's ``index`` among the bends at that site (two bends at one site
        draw different channels; editing a bend elsewhere changes nothing here); ``clusters``:
        the site's calibration, for kind cluster."""
        if self.kind == "all":
            return None
        if self.kind == "list":
            bad = [i for i in self.indices if not 0 <= i < n]
            if bad:
                raise NetbendError(f"channel {bad[0]} does not exist: the site has {n} channels (0..{n - 1})")
            return list(self.indices)
        if self.kind == "fraction":
            rng = np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(site.encode()), index, n]))
            return sorted(rng.choice(n, max(1, round(self.fraction * n)), replace=False).tolist())
        if clusters is None:
            raise ValueError("cluster channels need the site's calibration")
        return np.flatnonzero(clusters.labels == self.cluster).tolist()


def parse_channels(value: Any, where: str = "--channels") -> Channels:
    """``all`` / None, a list of indices (``[0, 5]``, ``"0,5"``, ``"0:64"`` half-open), a
    fraction in (0, 1) (``0.25``), or ``cluster:C/K`` (cluster C, 0 = the largest, of K).
    ``where``: how messages name the setting (``bends[1].channels`` in a scene)."""
    usage = "all, a list such as 0,5,7 or 0:64, a fraction such as 0.25, or cluster:C/K such as cluster:0/4"
    if value is None or (isinstance(value, str) and value.strip().lower() == "all"):
        return Channels()
    if isinstance(value, bool):
        raise NetbendError(f"{where} must be {usage}, got {value!r}")
    if isinstance(value, float) or isinstance(value, str) and re.fullmatch(r"\s*0?\.\d+\s*|\s*1\.0*\s*", value):
        f = float(value)
        if not 0 < f <= 1:
            raise NetbendError(f"{where}: a fraction must be in (0, 1], got {value!r}")
        return Channels() if f == 1 else Channels("fraction", f"{f:g}", fraction=f)
    if isinstance(value, int):
        value = [value]
    if isinstance(value, list):
        if not value or not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
            raise NetbendError(f"{where}: a list must hold channel indices (integers), got {value!r}")
        return _channel_list(value, ",".join(map(str, value)), where)
    text = str(value).strip()
    m = re.fullmatch(r"cluster:(\d+)/(\d+)", text)
    if m:
        c, k = int(m.group(1)), int(m.group(2))
        if not 0 <= c < k or k < 2:
            raise NetbendError(f"{where}: cluster:C/K needs K >= 2 clusters and C in 0..K-1, got {text!r}")
        return Channels("cluster", text, cluster=c, k=k)
    try:
        if re.fullmatch(r"\d+:\d+", text):
            a, b = map(int, text.split(":"))
            if not a < b:
                raise NetbendError(f"{where}: a range START:STOP needs START < STOP, got {text!r}")
            return _channel_list(list(range(a, b)), text, where)
        return _channel_list([int(v) for v in text.split(",") if v.strip()], text, where)
    except ValueError:
        raise NetbendError(f"{where} must be {usage}, got {value!r}") from None


def _channel_list(indices: list[int], text: str, where: str) -> Channels:
    if not indices or min(indices) < 0:
        raise NetbendError(f"{where} must list channel indices >= 0, got {text!r}")
    if len(set(indices)) != len(indices):
        raise NetbendError(f"{where} lists a channel twice: {text!r}")
    return Channels("list", text, indices=tuple(indices))


# -- calibration: clusters of channels --------------------------------------------------------

@dataclass
class Clusters:
    """k-means of one site's channels by their feature maps; cluster 0 is the largest."""

    labels: np.ndarray  # (C,) cluster of each channel
    means: np.ndarray  # (K, h, w) each cluster's mean (normalised) feature map, first calibration sample

    @property
    def sizes(self) -> list[int]:
        return np.bincount(self.labels, minlength=len(self.means)).tolist()


@torch.no_grad()
def calibrate(model, sites: list[str], k: int, *, prompt: str, size: tuple[int, int], seed: int,
              progress: bool = False) -> dict[str, Clusters]:
    """Cluster each site's channels into ``k`` groups by their feature maps over a short run:
    `CALIBRATION_SAMPLES` noises from ``seed``, `CALIBRATION_STEPS` DDIM steps without
    guidance, UNet maps averaged over the steps; then k-means (seeded) per site."""
    from tqdm.auto import tqdm

    from .sampling import guided_denoiser, make_scheduler, sample

    sites = [s for s in sites if s != LATENT]
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}

    def record(site, out):
        if out is None or out.ndim != 4:
            return
        pooled = torch.nn.functional.adaptive_avg_pool2d(
            out.float(), (min(out.shape[2], CALIBRATION_POOL), min(out.shape[3], CALIBRATION_POOL))).cpu()
        sums[site] = pooled if site not in sums else sums[site] + pooled
        counts[site] = counts.get(site, 0) + 1

    c, h, w = model.latent_shape(*size)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(CALIBRATION_SAMPLES, c, h, w, generator=g).to(model.device, model.dtype)
    scheduler = make_scheduler("ddim", model.scheduler_config, CALIBRATION_STEPS)
    scheduler.set_timesteps(CALIBRATION_STEPS, device=model.device)
    cond = model.encode_text([prompt]).expand(CALIBRATION_SAMPLES, -1, -1)
    with _recording(model, sites, record), tqdm(total=CALIBRATION_STEPS + 1, desc="calibrating channels",
                                                  unit="step", disable=not progress) as bar:
        denoise = guided_denoiser(model.unet, cond, None, 1.0)

        def counted(x_in, t):
            bar.update()
            return denoise(x_in, t)

        latents = sample(counted, scheduler, x * scheduler.init_noise_sigma)
        if any(s.startswith("vae.") for s in sites):
            model.vae.decode(latents / model.vae.config.scaling_factor)
        bar.update()
    return {site: cluster_maps((sums[site] / counts[site]).numpy(), k, seed=seed) for site in sites}


def cluster_maps(maps: np.ndarray, k: int, *, seed: int) -> Clusters:
    """k-means of channels by their feature maps ``maps`` (N samples, C channels, h, w): each
    channel is one vector of its N maps, centred and scaled to unit length, so channels
    group by the shape of what they respond to, not by their scale."""
    from sklearn.cluster import KMeans

    n, ch = maps.shape[:2]
    if k > ch:
        raise NetbendError(f"{ch} channels cannot make {k} clusters")
    vectors = maps.transpose(1, 0, 2, 3).reshape(ch, -1).astype(np.float64)
    vectors = vectors - vectors.mean(1, keepdims=True)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    state = int(np.random.SeedSequence(seed).generate_state(1)[0])  # any seed netbend takes; k-means wants < 2**32
    labels = KMeans(n_clusters=k, n_init=10, random_state=state).fit_predict(vectors)
    order = sorted(range(k), key=lambda j: (-np.sum(labels == j), np.argmax(labels == j)))
    labels = np.argsort(order)[labels]  # cluster 0 = the largest, ties: the one holding the lowest channel
    first = vectors.reshape(ch, n, *maps.shape[2:])[:, 0]
    return Clusters(labels, np.stack([first[labels == j].mean(0) for j in range(k)]))


def save_previews(clusters: dict[str, Clusters], folder: Path) -> list[Path]:
    """One PNG per site: each cluster's mean feature map, with its size."""
    from matplotlib.figure import Figure

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for site, cl in clusters.items():
        k = len(cl.means)
        fig = Figure(figsize=(1.6 * k + 0.4, 2.1), layout="constrained")
        axes = fig.subplots(1, k, squeeze=False)[0]
        for j, ax in enumerate(axes):
            ax.imshow(cl.means[j], cmap="magma", interpolation="nearest")
            ax.set_title(f"cluster {j}: {cl.sizes[j]} ch", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.suptitle(f"{site}: mean feature map of each cluster", fontsize=10)
        path = folder / f"{site}.png"
        fig.savefig(path, dpi=110)
        paths.append(path)
    return paths


def describe(shapes: dict[str, tuple[int, int, int]], clusters: dict[str, Clusters] | None = None) -> str:
    """The sites as a text table: name, output shape (C, H, W), channels (and cluster sizes)."""
    rows = [("site", "output (C x H x W)", "channels") + (("clusters (channels each)",) if clusters else ())]
    for name, shape in shapes.items():
        row = (name, " x ".join(map(str, shape)), str(shape[0]))
        if clusters:
            row += (" ".join(map(str, clusters[name].sizes)) if name in clusters else "-",)
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(v.ljust(wd) for v, wd in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * wd for wd in widths))
    return "\n".join(lines)


def pick_channels(model, requests: list[tuple[str, Channels]], *, size: tuple[int, int], seed: int, prompt: str,
                  labels: list[str] | None = None) -> tuple[dict[str, tuple[int, int, int]], list[list[int] | None]]:
    """Each site's shape (C, H, W) at ``size``, and the channels each request (site, channels)
    picks (None: all). Network sites are probed once, and clustered by one calibration run
    per K. ``labels``: how errors name each request (``bends[1].`` in a scene)."""
    labels = labels or ["--"] * len(requests)
    for (site, _), label in zip(requests, labels):
        if site != LATENT:
            try:
                module(model, site)  # an unknown name fails here, with suggestions
            except NetbendError as e:
                raise NetbendError(f"{label}site: {e}") from None
    network = list(dict.fromkeys(site for site, _ in requests if site != LATENT))
    shapes = {name: info.shape for name, info in (probe(model, size, network) if network else {}).items()}
    shapes[LATENT] = model.latent_shape(*size)
    for (site, c), label in zip(requests, labels):
        if c.kind == "cluster" and c.k > shapes[site][0]:  # before any calibration runs
            raise NetbendError(f"{label}channels {c}: site {site} has {shapes[site][0]} channels, too few for "
                               f"{c.k} clusters")
    clusters: dict[tuple[str, int], Clusters] = {}
    for k in sorted({c.k for _, c in requests if c.kind == "cluster"}):
        wanted = sorted({site for site, c in requests if c.kind == "cluster" and c.k == k})
        for site, cl in calibrate(model, wanted, k, prompt=prompt, size=size, seed=seed).items():
            clusters[site, k] = cl
    picked, seen = [], []
    for (site, c), label in zip(requests, labels):
        try:
            picked.append(c.select(shapes[site][0], seed=seed, site=site, index=seen.count(site),
                                   clusters=clusters.get((site, c.k))))
        except NetbendError as e:
            raise NetbendError(f"{label}channels {c} at site {site}: {e}") from None
        seen.append(site)
    return shapes, picked


def check_op(chain, n_selected: int, site: str, shape: tuple[int, int, int], r: torch.Tensor | None) -> None:
    """The chain can act on ``n_selected`` channels of a site of ``shape``: a 4-channel operator
    needs a group of 4; options that do not fit fail here, before any frame."""
    if chain.channels is not None and n_selected != chain.channels:
        raise NetbendError(
            f"{chain} is defined on {chain.channels} channels (the latent's); site {site} has {shape[0]} and "
            f"{n_selected} {'are' if n_selected != 1 else 'is'} chosen: choose a group of {chain.channels} with "
            "--channels I,J,K,L, or use a channel-agnostic operator")
    chain(torch.zeros(1, n_selected, *shape[1:]), None if r is None else r[:1])


def check_on_latent(chain, chosen: Channels, size: tuple[int, int], r: torch.Tensor | None,
                    where: str = "--channels") -> None:
    """Before a model loads: a latent bend's channels exist (the latent has 4, never clustered)
    and the chain acts on them at ``size`` (W, H) pixels, with the parameter ``r`` (1, ...)."""
    if chosen.kind == "cluster":
        raise NetbendError(f"{where} cluster:C/K clusters a network layer's channels; the latent has 4: list them")
    idx = chosen.select(4, seed=0)  # how many, and that they exist; which of a fraction is drawn later
    w, h = size
    check_op(chain, 4 if idx is None else len(idx), LATENT, (4, h // 8, w // 8), r)
