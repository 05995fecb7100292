"""Drawing the scenes of `scenes.py`: the backgrounds and the seven objects, with Pillow at
``K`` times the size (box-filtered down by `scenes.render`), all coordinates rounded to whole
pixels so that the same parameters give the same pixels on every machine."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

K = 4  # supersampling factor: draw at K*size, then box-downsample
BACKGROUNDS = ("sky", "sea", "night", "forest")

_TRUNK = (105, 68, 34)
_SNOW = (246, 247, 252)


# --------------------------------------------------------------------------- helpers

def _as_rng(rng) -> np.random.Generator:
    if rng is None:
        return np.random.default_rng(0)
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _clip8(v: float) -> int:
    return 0 if v < 0 else 255 if v > 255 else int(math.floor(v + 0.5))


def _shade(col, f: float):
    return tuple(_clip8(c * f) for c in col)


def _mix(col, other, t: float):
    return tuple(_clip8(a + (b - a) * t) for a, b in zip(col, other))


_TWO_PI = 2.0 * math.pi


def _sin(x: float) -> float:
    """sin(x) from basic arithmetic only (libm's sin may differ in the last bit between machines)."""
    x = math.fmod(x, _TWO_PI)
    if x > math.pi:
        x -= _TWO_PI
    elif x < -math.pi:
        x += _TWO_PI
    if x > 0.5 * math.pi:
        x = math.pi - x
    elif x < -0.5 * math.pi:
        x = -math.pi - x
    x2 = x * x
    return x * (1 - x2 / 6 * (1 - x2 / 20 * (1 - x2 / 42 * (1 - x2 / 72 * (1 - x2 / 110 * (1 - x2 / 156))))))


class _Pen:
    """Draws in output-pixel float coordinates on the supersampled image and object mask."""

    __slots__ = ("d", "m", "k")

    def __init__(self, image: Image.Image, mask: Image.Image, k: int = K):
        self.d = ImageDraw.Draw(image)
        self.m = ImageDraw.Draw(mask) if mask is not None else None
        self.k = k

    def _p(self, pts):
        k = self.k
        return [(int(math.floor(x * k + 0.5)), int(math.floor(y * k + 0.5))) for x, y in pts]

    def _w(self, w: float) -> int:
        return max(1, int(math.floor(w * self.k + 0.5)))

    def poly(self, pts, fill, mask=True):
        q = self._p(pts)
        self.d.polygon(q, fill=fill)
        if mask and self.m is not None:
            self.m.polygon(q, fill=255)

    def ellipse(self, cx, cy, rx, ry, fill, mask=True):
        (x0, y0), (x1, y1) = self._p([(cx - rx, cy - ry), (cx + rx, cy + ry)])
        box = (x0, y0, max(x0, x1 - 1), max(y0, y1 - 1))
        self.d.ellipse(box, fill=fill)
        if mask and self.m is not None:
            self.m.ellipse(box, fill=255)

    def annulus(self, cx, cy, r, width, fill, mask=True):
        (x0, y0), (x1, y1) = self._p([(cx - r, cy - r), (cx + r, cy + r)])
        box = (x0, y0, x1 - 1, y1 - 1)
        w = self._w(width)
        self.d.ellipse(box, outline=fill, width=w)
        if mask and self.m is not None:
            self.m.ellipse(box, outline=255, width=w)

    def arc(self, cx, cy, r, start, end, width, fill):
        (x0, y0), (x1, y1) = self._p([(cx - r, cy - r), (cx + r, cy + r)])
        self.d.arc((x0, y0, x1 - 1, y1 - 1), start, end, fill=fill, width=self._w(width))

    def line(self, pts, fill, width, mask=True):
        q = self._p(pts)
        w = self._w(width)
        self.d.line(q, fill=fill, width=w, joint="curve")
        if mask and self.m is not None:
            self.m.line(q, fill=255, width=w, joint="curve")

    def rect(self, x0, y0, x1, y1, fill, mask=True):
        (a, b), (c, d) = self._p([(x0, y0), (x1, y1)])
        box = (a, b, max(a, c - 1), max(b, d - 1))
        self.d.rectangle(box, fill=fill)
        if mask and self.m is not None:
            self.m.rectangle(box, fill=255)


# --------------------------------------------------------------------------- backgrounds

_GRADIENTS: dict = {}

_GRAD_SPECS = {  # name: (top colour, bottom colour)
    "sky": ((38, 92, 192), (178, 212, 242)),
    "water": ((62, 118, 196), (8, 26, 86)),
    "night": ((3, 5, 22), (20, 27, 64)),
    "haze": ((150, 186, 204), (200, 218, 208)),
    "ground": ((112, 178, 82), (16, 58, 22)),
}


def _gradient(name: str, S: int):
    """(cached PIL image S x S, rows uint8 (S, 3)) of a vertical gradient."""
    key = (name, S)
    hit = _GRADIENTS.get(key)
    if hit is None:
        top, bottom = _GRAD_SPECS[name]
        t = np.arange(S, dtype=np.float64) / max(1, S - 1)
        rows = (np.asarray(top, np.float64)[None, :] * (1.0 - t)[:, None]
                + np.asarray(bottom, np.float64)[None, :] * t[:, None])
        rows = np.floor(rows + 0.5).astype(np.uint8)
        arr = np.ascontiguousarray(np.broadcast_to(rows[:, None, :], (S, S, 3)))
        hit = (Image.fromarray(arr), rows)
        _GRADIENTS[key] = hit
    return hit


def _clouds(pen: _Pen, W: int, rng: np.random.Generator, y_max: float):
    n = int(rng.integers(1, 4))
    for _ in range(n):
        cx = rng.uniform(0.05, 0.95) * W
        cy = rng.uniform(0.08, y_max) * W
        w = rng.uniform(0.10, 0.22) * W
        puffs = [(cx + (i - 1) * w * 0.45 + rng.uniform(-0.1, 0.1) * w,
                  cy - rng.uniform(0.05, 0.3) * w, rng.uniform(0.28, 0.45) * w) for i in range(3)]
        pen.ellipse(cx, cy, w, 0.22 * w, (206, 222, 244), mask=False)
        for px, py, r in puffs:
            pen.ellipse(px, py, r, r * 0.8, (214, 228, 246), mask=False)
        for px, py, r in puffs:
            pen.ellipse(px - 0.08 * r, py - 0.08 * r, 0.75 * r, 0.6 * r, (238, 243, 250), mask=False)


def _background(name: str, W: int, rng: np.random.Generator) -> Image.Image:
    S = W * K
    if name == "sky":
        img = _gradient("sky", S)[0].copy()
        pen = _Pen(img, None)
        if rng.random() < 0.6:
            _clouds(pen, W, rng, 0.6)
    elif name == "sea":
        img = _gradient("sky", S)[0].copy()
        hz = int(math.floor(rng.uniform(0.40, 0.55) * S))
        img.paste(_gradient("water", S)[0].crop((0, hz, S, S)), (0, hz))
        pen = _Pen(img, None)
        if rng.random() < 0.35:
            _clouds(pen, W, rng, hz / S * 0.6)
        h = hz / K
        for _ in range(int(rng.integers(5, 10))):
            y = rng.uniform(h + 0.04 * W, 0.97 * W)
            depth = (y - h) / (W - h)  # 0 at the horizon, 1 at the bottom
            length = (0.06 + 0.2 * depth) * W * rng.uniform(0.7, 1.3)
            x = rng.uniform(-0.05, 0.95) * W
            pen.rect(x, y, x + length, y + 0.5 + 0.5 * depth, (88, 138, 206), mask=False)
    elif name == "night":
        img, rows = _gradient("night", S)
        img = img.copy()
        pen = _Pen(img, None)
        for _ in range(int(rng.integers(18, 40))):
            x, y = rng.uniform(0, W), rng.uniform(0, W)
            b = int(rng.integers(150, 256))
            r = rng.uniform(0.28, 0.6)
            pen.rect(x - r, y - r, x + r, y + r, (b, b, min(255, b + 12)), mask=False)
        if rng.random() < 0.35:  # a faint crescent moon
            r = rng.uniform(2.2, 3.6) * W / 64
            x, y = rng.uniform(0.1, 0.9) * W, rng.uniform(0.08, 0.4) * W
            pen.ellipse(x, y, r, r, (178, 178, 158), mask=False)
            dx = _pick(rng, (-1.0, 1.0)) * 0.45 * r
            bgc = tuple(int(v) for v in rows[min(S - 1, int(y * K))])
            pen.ellipse(x + dx, y - 0.25 * r, r, r, bgc, mask=False)
    elif name == "forest":
        img = _gradient("haze", S)[0].copy()
        hz = int(math.floor(rng.uniform(0.18, 0.32) * S))
        img.paste(_gradient("ground", S)[0].crop((0, hz, S, S)), (0, hz))
        pen = _Pen(img, None)
        h = hz / K
        n = int(rng.integers(9, 17))
        for i in range(n):  # distant conifer silhouettes along the horizon
            x = (i + rng.uniform(0, 1)) / n * W * 1.1 - 0.05 * W
            base = h + rng.uniform(0.0, 0.1) * W
            th = rng.uniform(0.1, 0.22) * W
            hw = th * rng.uniform(0.25, 0.38)
            g = int(rng.integers(0, 18))
            pen.poly([(x - hw, base), (x, base - th), (x + hw, base)], (22 + g, 62 + g, 32 + g), mask=False)
    else:
        raise ValueError(f"unknown background {name!r}; expected one of {BACKGROUNDS}")
    return img


# --------------------------------------------------------------------------- objects

def _draw_orb(pen, cx, cy, s, col, rng, W):
    r = s / 2
    pen.ellipse(cx, cy, r, r, _shade(col, 0.55))
    pen.ellipse(cx - 0.1 * r, cy - 0.1 * r, 0.86 * r, 0.86 * r, col, mask=False)
    pen.ellipse(cx - 0.28 * r, cy - 0.28 * r, 0.46 * r, 0.46 * r, _mix(col, (255, 255, 255), 0.28), mask=False)
    pen.ellipse(cx - 0.36 * r, cy - 0.36 * r, 0.18 * r, 0.18 * r, _mix(col, (255, 255, 255), 0.75), mask=False)


def _draw_cube(pen, cx, cy, s, col, rng, W):
    a, d = 0.72 * s, 0.28 * s  # front face side, depth
    x0, y0 = cx - s / 2, cy - s / 2
    sgn = _pick(rng, (1.0, -1.0))  # side face on the right (1) or left (-1)

    def X(u):  # u measured from the left edge for sgn=1, mirrored otherwise
        return x0 + u if sgn > 0 else x0 + s - u

    top = _mix(col, (255, 255, 255), 0.45)
    side = _shade(col, 0.58)
    front = col
    pen.poly([(X(0), y0 + d), (X(d), y0), (X(s), y0), (X(s), y0 + a), (X(a), y0 + s), (X(0), y0 + s)], front)
    pen.poly([(X(0), y0 + d), (X(d), y0), (X(s), y0), (X(a), y0 + d)], top, mask=False)
    pen.poly([(X(a), y0 + d), (X(s), y0), (X(s), y0 + a), (X(a), y0 + s)], side, mask=False)


def _draw_ring(pen, cx, cy, s, col, rng, W):
    r = s / 2
    t = max(0.34 * r, 1.6 * W / 64)
    pen.annulus(cx, cy, r, t, col)
    pen.arc(cx, cy, r, -20, 110, 0.4 * t, _shade(col, 0.68))  # shadow on the lower right
    pen.arc(cx - 0.04 * r, cy - 0.04 * r, r - 0.3 * t, 190, 260, 0.25 * t, _mix(col, (255, 255, 255), 0.5))


def _draw_tree(pen, cx, cy, s, col, rng, W):
    h = 1.1 * s
    top, bottom = cy - h / 2, cy + h / 2
    trunk_top = bottom - 0.3 * h
    tw = max(0.16 * s, 1.4 * W / 64)
    pen.rect(cx - tw / 2, trunk_top - 0.05 * h, cx + tw / 2, bottom, _TRUNK)
    hw = 0.42 * s
    dark = _shade(col, 0.72)
    # two stacked triangles (a conifer): lower tier first, upper tier over it
    tiers = [(top + 0.28 * h, trunk_top, hw), (top, top + 0.5 * h, 0.78 * hw)]
    for ty, by, w in tiers:
        pen.poly([(cx - w, by), (cx, ty), (cx + w, by)], col)
        pen.poly([(cx, ty), (cx + 0.1 * w, by), (cx + w, by)], dark, mask=False)


def _draw_wave(pen, cx, cy, s, col, rng, W):
    large = s > 0.35 * W
    amp = (0.1 if large else 0.06) * W
    thick = (0.17 if large else 0.1) * W
    x0 = rng.uniform(0.03, 0.08) * W
    x1 = W - rng.uniform(0.03, 0.08) * W
    cycles = rng.uniform(1.2, 2.0)
    phase = rng.uniform(0.0, _TWO_PI)
    n = 28
    top = []
    for i in range(n + 1):
        x = x0 + (x1 - x0) * i / n
        y = cy - thick / 2 + amp * _sin(phase + _TWO_PI * cycles * (x - x0) / (x1 - x0))
        top.append((x, y))
    bottom = [(x, y + thick) for x, y in reversed(top)]
    pen.poly(top + bottom, col)
    pen.line(bottom, _shade(col, 0.7), 0.22 * thick, mask=False)
    pen.line([(x, y + 0.12 * thick) for x, y in top], _mix(col, (255, 255, 255), 0.45), 0.16 * thick, mask=False)


def _draw_mountain(pen, cx, cy, s, col, rng, W):
    large = s > 0.35 * W
    h = (0.75 if large else 0.45) * W * rng.uniform(0.92, 1.08)
    bw = h * rng.uniform(0.9, 1.25)
    peak = W - h
    base = W + 1
    pen.poly([(cx - bw, base), (cx, peak), (cx + bw, base)], col)
    pen.poly([(cx, peak), (cx + 0.15 * bw, base), (cx + bw, base)], _shade(col, 0.72), mask=False)
    if min(col) < 160:  # not white: a white snow cap
        f = 0.3  # snow cap: the top 30 % with a jagged lower edge
        cap = [(cx, peak), (cx + f * bw, peak + f * h), (cx + 0.5 * f * bw, peak + 0.78 * f * h),
               (cx + 0.1 * f * bw, peak + 1.02 * f * h), (cx - 0.35 * f * bw, peak + 0.8 * f * h),
               (cx - f * bw, peak + f * h)]
        pen.poly(cap, _SNOW, mask=False)


def _draw_crane(pen, cx, cy, s, col, rng, W):
    sgn = _pick(rng, (1.0, -1.0))  # facing right (1) or left (-1)
    h = 1.1 * s  # height, head to feet

    def P(u, v):
        return (cx + sgn * u * h, cy + v * h)

    lw = max(0.07 * h, 1.6 * W / 64)
    dark = _shade(col, 0.68)
    # legs (behind the body), a little apart
    leg = max(0.5 * lw, 1.15 * W / 64)
    pen.line([P(-0.03, 0.06), P(-0.07, 0.3), P(-0.1, 0.5)], col, leg)
    pen.line([P(0.05, 0.06), P(0.09, 0.3), P(0.13, 0.5)], dark, leg)
    # body: a tilted teardrop with a drooping tail
    body = [P(-0.44, 0.05), P(-0.22, -0.08), P(0.06, -0.09), P(0.16, -0.04), P(0.13, 0.04),
            P(0.0, 0.09), P(-0.2, 0.08), P(-0.36, 0.07)]
    pen.poly(body, col)
    pen.poly([P(-0.38, 0.03), P(-0.14, -0.07), P(0.05, -0.06), P(-0.1, 0.02), P(-0.3, 0.04)], dark, mask=False)
    # neck, head, beak
    pen.line([P(0.12, -0.05), P(0.19, -0.22), P(0.16, -0.4)], col, lw)
    hr = max(0.055 * h, 1.3 * W / 64)
    pen.ellipse(*P(0.17, -0.43), hr, hr, col)
    bw = max(0.5 * hr, 0.9 * W / 64)
    pen.poly([P(0.18, -0.43 - bw / h), P(0.46, -0.39), P(0.18, -0.43 + bw / h)], dark)


_DRAW = {
    "orb": _draw_orb, "cube": _draw_cube, "ring": _draw_ring, "tree": _draw_tree,
    "wave": _draw_wave, "mountain": _draw_mountain, "crane": _draw_crane,
}
