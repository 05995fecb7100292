"""Which channels of a site a bend acts on: all, a list, a seeded fraction, or a cluster.

Clusters group a site's channels whose feature maps look alike over a short calibration
run (k-means, as Broad et al. clustered StyleGAN2's feature maps).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch

from ..errors import NetbendError
from . import sites as sites_module
from .bending import LATENT

if TYPE_CHECKING:
    from ..operators import Chain
    from .models import StableDiffusion

CALIBRATION_SAMPLES = 4  # noises of the calibration run
CALIBRATION_STEPS = 10  # its denoising steps (DDIM, no guidance)
CALIBRATION_POOL = 16  # feature maps are averaged down to at most this many pixels a side


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
def calibrate(model: StableDiffusion, sites: list[str], k: int, *, prompt: str, size: tuple[int, int], seed: int,
              report: Callable[[int, int], None] | None = None) -> dict[str, Clusters]:
    """Cluster each site's channels into ``k`` groups by their feature maps over a short run:
    `CALIBRATION_SAMPLES` noises from ``seed``, `CALIBRATION_STEPS` DDIM steps without
    guidance, UNet maps averaged over the steps; then k-means (seeded) per site.
    ``report(done, total)`` hears of each step."""
    from ..settings import Generation
    from .pipeline import Pipeline

    sites = [s for s in sites if s != LATENT]
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}

    def record(site: str, out: torch.Tensor | None) -> None:  # out: (N, C, H, W)
        if out is None or out.ndim != 4:
            return
        pooled = torch.nn.functional.adaptive_avg_pool2d(
            out.float(), (min(out.shape[2], CALIBRATION_POOL), min(out.shape[3], CALIBRATION_POOL))).cpu()
        sums[site] = pooled if site not in sums else sums[site] + pooled
        counts[site] = counts.get(site, 0) + 1

    total = CALIBRATION_STEPS + 1
    done = 0

    def step(n: int) -> None:
        nonlocal done
        done += 1
        if report is not None:
            report(done, total)

    run = Generation(model=model.source, prompt=prompt, scheduler="ddim", steps=CALIBRATION_STEPS, guidance=1.0,
                     size=size, seed=seed)
    pipe = Pipeline(model, run, on_evaluation=step)
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(CALIBRATION_SAMPLES, *model.latent_shape(*size), generator=g)
    with sites_module.recording(model, sites, record):
        latents = pipe.denoise(pipe.start(torch.zeros(CALIBRATION_SAMPLES, dtype=torch.long), noise=noise)).x
        if any(s.startswith("vae.") for s in sites):
            pipe.decode(latents)
        step(0)
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


def pick_channels(model: StableDiffusion, requests: list[tuple[str, Channels]], *, size: tuple[int, int], seed: int,
                  prompt: str, labels: list[str] | None = None, report: Callable[[int, int], None] | None = None
                  ) -> tuple[dict[str, tuple[int, int, int]], list[list[int] | None]]:
    """Each site's shape (C, H, W) at ``size``, and the channels each request (site, channels)
    picks (None: all). Network sites are probed once, and clustered by one calibration run
    per K. ``labels``: how errors name each request (``bends[1].`` in a scene)."""
    labels = labels or ["--"] * len(requests)
    for (site, _), label in zip(requests, labels):
        if site != LATENT:
            try:
                sites_module.module(model, site)  # an unknown name fails here, with suggestions
            except NetbendError as e:
                raise NetbendError(f"{label}site: {e}") from None
    network = list(dict.fromkeys(site for site, _ in requests if site != LATENT))
    shapes = {name: info.shape for name, info in (sites_module.probe(model, size, network) if network else {}).items()}
    shapes[LATENT] = model.latent_shape(*size)
    for (site, c), label in zip(requests, labels):
        if c.kind == "cluster" and c.k > shapes[site][0]:  # before any calibration runs
            raise NetbendError(f"{label}channels {c}: site {site} has {shapes[site][0]} channels, too few for "
                               f"{c.k} clusters")
    clusters: dict[tuple[str, int], Clusters] = {}
    for k in sorted({c.k for _, c in requests if c.kind == "cluster"}):
        wanted = sorted({site for site, c in requests if c.kind == "cluster" and c.k == k})
        for site, cl in calibrate(model, wanted, k, prompt=prompt, size=size, seed=seed, report=report).items():
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


def check_op(chain: Chain, n_selected: int, site: str, shape: tuple[int, int, int], r: torch.Tensor | None) -> None:
    """The chain can act on ``n_selected`` channels of a site of ``shape``: a 4-channel operator
    needs a group of 4; options that do not fit fail here, before any frame."""
    if chain.channels is not None and n_selected != chain.channels:
        raise NetbendError(
            f"{chain} is defined on {chain.channels} channels (the latent's); site {site} has {shape[0]} and "
            f"{n_selected} {'are' if n_selected != 1 else 'is'} chosen: choose a group of {chain.channels} with "
            "--channels I,J,K,L, or use a channel-agnostic operator")
    chain(torch.zeros(1, n_selected, *shape[1:]), None if r is None else r[:1])


def check_on_latent(chain: Chain, chosen: Channels, size: tuple[int, int], r: torch.Tensor | None,
                    where: str = "--channels") -> None:
    """Before a model loads: a latent bend's channels exist (the latent has 4, never clustered)
    and the chain acts on them at ``size`` (W, H) pixels, with the parameter ``r`` (1, ...)."""
    if chosen.kind == "cluster":
        raise NetbendError(f"{where} cluster:C/K clusters a network layer's channels; the latent has 4: list them")
    idx = chosen.select(4, seed=0)  # how many, and that they exist; which of a fraction is drawn later
    w, h = size
    check_op(chain, 4 if idx is None else len(idx), LATENT, (4, h // 8, w // 8), r)
