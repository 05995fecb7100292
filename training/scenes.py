"""Procedural, captioned scenes for training a tiny text-to-image latent diffusion model.

Each scene is one object (orb, cube, ring, tree, wave, mountain, crane) of one colour and
size at one position over one background (sky, sea, night, forest), rendered at ``size``
pixels (default 64) with 4x supersampling and a box-filter downsample, plus a caption
generated from the parameters with templates that vary which attributes are mentioned.

Only numpy and Pillow are needed. Everything is seeded: the same seed gives the same
images and captions bit for bit (all geometry goes through IEEE basic arithmetic and is
rounded to integer pixel coordinates before Pillow draws it; the downsample and the
outline blend are integer arithmetic; the one transcendental, a sine, is a polynomial
here rather than libm's).

API::

    images, captions, params = dataset(n, seed, size=64, workers=1)
    image, mask = scene({'object': 'orb', 'colour': 'red', 'size': 'large',
                         'position': 'centre', 'background': 'sky'})
    p = sample_params(rng); image, mask, info = render(p, 64, rng); text = caption(info, rng)

Run ``python training/scenes.py --n 16 --out /tmp/scenes.png`` for a contact sheet
(``--check`` adds the determinism / worker-count checks and a timing).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import sys
import time

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "OBJECTS", "COLOURS", "SIZES", "POSITIONS", "BACKGROUNDS", "WORDS",
    "sample_params", "render", "scene", "caption", "dataset", "contact_sheet",
]

from drawing import BACKGROUNDS, K, _DRAW, _Pen, _as_rng, _background, _pick, _shade  # noqa: E402

OBJECTS = ("orb", "cube", "ring", "tree", "wave", "mountain", "crane")

COLOURS = {  # base RGB; each scene jitters the brightness
    "red": (215, 35, 35),
    "orange": (245, 135, 20),
    "yellow": (248, 220, 30),
    "green": (45, 170, 45),
    "blue": (35, 75, 220),
    "purple": (140, 50, 190),
    "white": (242, 242, 242),
    "black": (22, 22, 22),
}

SIZES = {"small": 0.25, "large": 0.45}  # fraction of the image width (compact objects)

POSITIONS = {  # where the object's centre lies, as fractions of (width, height)
    "left": (0.29, 0.5),
    "right": (0.71, 0.5),
    "top": (0.5, 0.29),
    "bottom": (0.5, 0.71),
    "centre": (0.5, 0.5),
}
# landscape objects honour only one axis, so they are only given the positions they show
LANDSCAPE_POSITIONS = {
    "wave": ("top", "centre", "bottom"),
    "mountain": ("left", "centre", "right"),
}
_WAVE_Y = {"top": 0.3, "centre": 0.5, "bottom": 0.7}
_MOUNTAIN_X = {"left": 0.3, "centre": 0.5, "right": 0.7}


PREPOSITIONS = {"sky": "in the sky", "sea": "on the sea", "night": "at night",
                "forest": "in the forest"}
POSITION_PHRASES = {"left": "on the left", "right": "on the right", "top": "at the top",
                    "bottom": "at the bottom", "centre": "in the centre"}

# caption template probabilities
P_FLOATING = 0.3   # an orb in the sky is called "floating"
P_SIZE = 0.4
P_COLOUR = 0.85
P_POSITION = 0.45
P_BACKGROUND = 0.7

WORDS = tuple(sorted(
    {"a", "an", "floating"} | set(SIZES) | set(COLOURS) | set(OBJECTS)
    | {w for s in PREPOSITIONS.values() for w in s.split()}
    | {w for s in POSITION_PHRASES.values() for w in s.split()}
))

CHUNK = 64  # scenes per seeded chunk in dataset(); fixed so results ignore the worker count



# --------------------------------------------------------------------------- scenes

def sample_params(rng: np.random.Generator) -> dict:
    """Random scene parameters: object, colour, size, position, background."""
    obj = _pick(rng, OBJECTS)
    colour = _pick(rng, tuple(COLOURS))
    size = _pick(rng, tuple(SIZES))
    position = _pick(rng, LANDSCAPE_POSITIONS.get(obj, tuple(POSITIONS)))
    background = _pick(rng, BACKGROUNDS)
    return {"object": obj, "colour": colour, "size": size, "position": position, "background": background}


def _complete(params: dict, rng: np.random.Generator) -> dict:
    p = dict(params)
    obj = p.get("object") or _pick(rng, OBJECTS)
    if obj not in OBJECTS:
        raise ValueError(f"unknown object {obj!r}; expected one of {OBJECTS}")
    p["object"] = obj
    for key, options in (("colour", tuple(COLOURS)), ("size", tuple(SIZES)),
                         ("position", LANDSCAPE_POSITIONS.get(obj, tuple(POSITIONS))),
                         ("background", BACKGROUNDS)):
        if p.get(key) is None:
            p[key] = _pick(rng, options)
    if p["colour"] not in COLOURS:
        raise ValueError(f"unknown colour {p['colour']!r}; expected one of {tuple(COLOURS)}")
    if p["size"] not in SIZES:
        raise ValueError(f"unknown size {p['size']!r}; expected one of {tuple(SIZES)}")
    if p["position"] not in POSITIONS:
        raise ValueError(f"unknown position {p['position']!r}; expected one of {tuple(POSITIONS)}")
    if p["background"] not in BACKGROUNDS:
        raise ValueError(f"unknown background {p['background']!r}; expected one of {BACKGROUNDS}")
    return p


def _outline(img: np.ndarray, cov: np.ndarray, rim, alpha: int = 200) -> np.ndarray:
    """Blend a 1-px rim of colour `rim` just outside the object (coverage `cov`, 0..255)."""
    c = cov.astype(np.int32)
    pad = np.pad(c, 1, mode="edge")
    h, w = c.shape
    dil = c.copy()
    for dy in range(3):
        for dx in range(3):
            np.maximum(dil, pad[dy:dy + h, dx:dx + w], out=dil)
    a = ((dil - c) * alpha // 255)[..., None]  # 0..alpha of 255
    out = (img.astype(np.int32) * (255 - a) + np.asarray(rim, np.int32) * a + 127) // 255
    return out.astype(np.uint8)


def render(params: dict, size: int = 64, rng=None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Render one scene: (uint8 image (size, size, 3), bool mask (size, size), full params).

    Missing keys of `params` are drawn at random. The returned params have object, colour,
    size, position, background, bbox (x0, y0, x1, y1: pixels, x1/y1 exclusive, of the mask)
    and rgb (the jittered colour).
    """
    rng = _as_rng(rng)
    p = _complete(params, rng)
    W = int(size)
    S = W * K
    obj = p["object"]
    img = _background(p["background"], W, rng)
    mimg = Image.new("L", (S, S), 0)
    pen = _Pen(img, mimg)

    f = rng.uniform(0.9, 1.1)
    col = _shade(COLOURS[p["colour"]], f)
    s = SIZES[p["size"]] * W * rng.uniform(0.92, 1.08)
    jx, jy = rng.uniform(-3.0, 3.0, 2) * (W / 64)
    if obj == "wave":
        cx, cy = 0.5 * W + jx, _WAVE_Y[p["position"]] * W + jy
    elif obj == "mountain":
        cx, cy = _MOUNTAIN_X[p["position"]] * W + jx, W
    else:
        fx, fy = POSITIONS[p["position"]]
        cx, cy = fx * W + jx, fy * W + jy
    _DRAW[obj](pen, float(cx), float(cy), float(s), col, rng, W)

    out = np.array(img.reduce(K))
    cov = np.array(mimg.reduce(K))
    if p["colour"] == "black" and p["background"] in ("night", "forest"):
        rim, alpha = (165, 165, 180), 255  # black on a dark ground: a light rim
    else:
        rim, alpha = _shade(col, 0.42), 200
    out = _outline(out, cov, rim, alpha)
    mask = cov >= 128
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    bbox = (int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1) if len(xs) else (0, 0, 0, 0)
    info = {k: p[k] for k in ("object", "colour", "size", "position", "background")}
    info["bbox"] = bbox
    info["rgb"] = col
    return out, mask, info


def scene(params: dict, size: int = 64, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """One image (uint8 (size, size, 3)) and the object's boolean mask for chosen parameters."""
    img, mask, _ = render(params, size, rng)
    return img, mask


def _caption(params: dict, rng: np.random.Generator) -> tuple[str, list[str]]:
    u = rng.random(5)  # always five draws, whatever is mentioned
    obj, bg = params["object"], params["background"]
    words, mentions = [], []
    if obj == "orb" and bg == "sky" and u[0] < P_FLOATING:
        words.append("floating")
    if u[1] < P_SIZE:
        words.append(params["size"])
        mentions.append("size")
    if u[2] < P_COLOUR:
        words.append(params["colour"])
        mentions.append("colour")
    words.append(obj)
    if u[3] < P_POSITION:
        words.append(POSITION_PHRASES[params["position"]])
        mentions.append("position")
    if u[4] < P_BACKGROUND:
        words.append(PREPOSITIONS[bg])
        mentions.append("background")
    article = "an" if words[0][0] in "aeiou" else "a"
    return " ".join([article] + words), mentions


def caption(params: dict, rng=None) -> str:
    """A caption for scene parameters; which attributes it mentions is random."""
    return _caption(params, _as_rng(rng))[0]


def _chunk(args) -> tuple[np.ndarray, list[str], list[dict]]:
    seed, index, count, size = args
    rng = np.random.default_rng([int(seed), int(index)])
    images = np.empty((count, size, size, 3), np.uint8)
    captions, infos = [], []
    for i in range(count):
        p = sample_params(rng)
        images[i], _, info = render(p, size, rng)
        text, mentions = _caption(info, rng)
        info["mentions"] = mentions
        captions.append(text)
        infos.append(info)
    return images, captions, infos


def dataset(n: int, seed: int, size: int = 64, workers: int = 1) -> tuple[np.ndarray, list[str], list[dict]]:
    """n random scenes: uint8 images (n, size, size, 3), captions, and each scene's params.

    Scenes come in chunks of CHUNK, chunk i seeded from (seed, i), so the result depends on
    neither the worker count nor n (dataset(m, s) is a prefix of dataset(n, s) for m < n).
    The params dicts hold object, colour, size, position, background, bbox (x0, y0, x1, y1),
    rgb and mentions (which attributes the caption names).
    """
    n, size = int(n), int(size)
    tasks = [(seed, i, min(CHUNK, n - i * CHUNK), size) for i in range((n + CHUNK - 1) // CHUNK)]
    if workers > 1 and len(tasks) > 1:
        with multiprocessing.get_context().Pool(min(workers, len(tasks))) as pool:
            parts = pool.map(_chunk, tasks, chunksize=max(1, len(tasks) // (8 * workers)))
    else:
        parts = [_chunk(t) for t in tasks]
    images = np.concatenate([p[0] for p in parts]) if parts else np.empty((0, size, size, 3), np.uint8)
    captions = [c for p in parts for c in p[1]]
    infos = [d for p in parts for d in p[2]]
    return images, captions, infos


# --------------------------------------------------------------------------- contact sheet

def _wrap(text: str, width: int) -> list[str]:
    lines, cur = [], ""
    for w in text.split():
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    return lines + ([cur] if cur else [])


def contact_sheet(images: np.ndarray, labels: list[str], zoom: int = 4, cols: int | None = None) -> Image.Image:
    """A grid of the images, scaled up `zoom` times (nearest), each with its label below."""
    n = len(images)
    cols = cols or max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    tile = images.shape[1] * zoom
    try:
        font = ImageFont.load_default(size=13)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    chars = max(12, tile // 7)
    wrapped = [_wrap(t, chars) for t in labels]
    text_h = 16 * max(1, max((len(w) for w in wrapped), default=1)) + 6
    pad = 6
    sheet = Image.new("RGB", (cols * (tile + pad) + pad, rows * (tile + text_h + pad) + pad), (255, 255, 255))
    d = ImageDraw.Draw(sheet)
    for i in range(n):
        r, c = divmod(i, cols)
        x, y = pad + c * (tile + pad), pad + r * (tile + text_h + pad)
        sheet.paste(Image.fromarray(images[i]).resize((tile, tile), Image.NEAREST), (x, y))
        for j, line in enumerate(wrapped[i]):
            d.text((x, y + tile + 3 + 16 * j), line, fill=(0, 0, 0), font=font)
    return sheet


def _self_check(size: int) -> None:
    t0 = time.perf_counter()
    a = dataset(200, 7, size)
    b = dataset(200, 7, size)
    assert np.array_equal(a[0], b[0]) and a[1] == b[1] and a[2] == b[2], "not deterministic"
    c = dataset(200, 7, size, workers=2)
    assert np.array_equal(a[0], c[0]) and a[1] == c[1] and a[2] == c[2], "depends on the worker count"
    d = dataset(70, 7, size)
    assert np.array_equal(a[0][:70], d[0]) and a[1][:70] == d[1], "not prefix-stable"
    for cap in a[1]:
        assert set(cap.split()) <= set(WORDS), cap
    for info in a[2]:
        x0, y0, x1, y1 = info["bbox"]
        assert 0 <= x0 < x1 <= size and 0 <= y0 < y1 <= size, info
    img, mask = scene({"object": "orb", "colour": "red", "size": "large", "position": "centre",
                       "background": "sky"}, size)
    assert img.shape == (size, size, 3) and img.dtype == np.uint8 and mask.dtype == bool
    assert mask[size // 2, size // 2] and not mask[0, 0]
    print(f"self-check passed ({time.perf_counter() - t0:.2f} s)")

    n = 3000
    _chunk((1, 0, 8, size))  # warm the gradient caches
    t0 = time.perf_counter()
    dataset(n, 1, size)
    dt = (time.perf_counter() - t0) / n
    print(f"time per {size}x{size} scene, one core: {dt * 1e3:.3f} ms ({1 / dt:.0f} scenes/s)")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=16, help="scenes on the sheet")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--zoom", type=int, default=4)
    ap.add_argument("--out", default="scenes.png", help="contact sheet PNG")
    ap.add_argument("--grid", choices=BACKGROUNDS, help="instead: every object x colour over one background")
    ap.add_argument("--check", action="store_true", help="also run the determinism checks and time it")
    args = ap.parse_args(argv)
    if args.grid:
        rng = np.random.default_rng(args.seed)
        imgs, labels = [], []
        for obj in OBJECTS:
            for colour in COLOURS:
                p = {"object": obj, "colour": colour, "background": args.grid}
                imgs.append(render(p, args.size, rng)[0])
                labels.append(f"{colour} {obj}")
        sheet = contact_sheet(np.stack(imgs), labels, args.zoom, cols=len(COLOURS))
    else:
        images, captions, _ = dataset(args.n, args.seed, args.size)
        sheet = contact_sheet(images, captions, args.zoom)
    sheet.save(args.out)
    print(f"wrote {args.out} ({sheet.size[0]}x{sheet.size[1]})")
    if args.check:
        _self_check(args.size)


if __name__ == "__main__":
    main(sys.argv[1:])
