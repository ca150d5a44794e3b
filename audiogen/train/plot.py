"""Training curves as a PNG, drawn with numpy and the standard library's zlib only.

    ┌ loss: cross-entropy (nats) ──────────┐   train (mean over codebooks) and valid
    ├ perplexity per codebook (log scale) ─┤   train q0..qK-1, valid dashed
    └──────────────────────────── step ────┘

Plotting libraries stay out of the install: lines are rasterised here, text uses a 3x5 pixel
font, and `audiogen.eval.images.write_png` writes the file.
"""

from __future__ import annotations

import math
import os

import numpy as np

from audiogen.eval.images import write_png

_FONT = {  # 3x5 glyphs, rows top to bottom, '#' = ink
    "0": "### #.# #.# #.# ###", "1": ".#. ##. .#. .#. ###", "2": "### ..# ### #.. ###",
    "3": "### ..# .## ..# ###", "4": "#.# #.# ### ..# ..#", "5": "### #.. ### ..# ###",
    "6": "### #.. ### #.# ###", "7": "### ..# .#. .#. .#.", "8": "### #.# ### #.# ###",
    "9": "### #.# ### ..# ###", "A": ".#. #.# ### #.# #.#", "B": "##. #.# ##. #.# ##.",
    "C": ".## #.. #.. #.. .##", "D": "##. #.# #.# #.# ##.", "E": "### #.. ##. #.. ###",
    "F": "### #.. ##. #.. #..", "G": ".## #.. #.# #.# .##", "H": "#.# #.# ### #.# #.#",
    "I": "### .#. .#. .#. ###", "J": "..# ..# ..# #.# .#.", "K": "#.# #.# ##. #.# #.#",
    "L": "#.. #.. #.. #.. ###", "M": "#.# ### ### #.# #.#", "N": "##. #.# #.# #.# #.#",
    "O": ".#. #.# #.# #.# .#.", "P": "##. #.# ##. #.. #..", "Q": ".#. #.# #.# ##. .##",
    "R": "##. #.# ##. #.# #.#", "S": ".## #.. .#. ..# ##.", "T": "### .#. .#. .#. .#.",
    "U": "#.# #.# #.# #.# ###", "V": "#.# #.# #.# #.# .#.", "W": "#.# #.# ### ### #.#",
    "X": "#.# #.# .#. #.# #.#", "Y": "#.# #.# .#. .#. .#.", "Z": "### ..# .#. #.. ###",
    ".": "... ... ... ... .#.", "-": "... ... ### ... ...", "+": "... .#. ### .#. ...",
    "(": ".#. #.. #.. #.. .#.", ")": ".#. ..# ..# ..# .#.", ",": "... ... ... .#. #..",
    ":": "... .#. ... .#. ...", "/": "..# ..# .#. #.. #..", " ": "... ... ... ... ...",
    "=": "... ### ... ### ...",
}
COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34)]
VALID = (255, 127, 14)


def draw_text(img: np.ndarray, x: int, y: int, text: str, colour=(0, 0, 0), scale: int = 2) -> int:
    """Draw `text` (upper-cased) with its top-left corner at (x, y); returns the end x."""
    for ch in text.upper():
        rows = _FONT.get(ch, _FONT[" "]).split()
        for r, row in enumerate(rows):
            for col, bit in enumerate(row):
                if bit == "#":
                    y0, x0 = y + r * scale, x + col * scale
                    img[max(y0, 0):y0 + scale, max(x0, 0):x0 + scale] = colour
        x += 4 * scale
    return x


def draw_line(img: np.ndarray, xs: np.ndarray, ys: np.ndarray, colour, dashed: bool = False,
              width: int = 2) -> None:
    """Polyline through pixel coordinates, sampled densely enough to leave no gaps."""
    h, w, _ = img.shape
    for i in range(len(xs) - 1):
        n = int(max(abs(xs[i + 1] - xs[i]), abs(ys[i + 1] - ys[i]))) + 1
        t = np.linspace(0, 1, n + 1)
        px = np.round(xs[i] + t * (xs[i + 1] - xs[i])).astype(int)
        py = np.round(ys[i] + t * (ys[i + 1] - ys[i])).astype(int)
        if dashed:
            keep = (np.arange(len(px)) // 6) % 2 == 0
            px, py = px[keep], py[keep]
        for dy in range(width):
            for dx in range(width):
                ok = (py + dy < h) & (px + dx < w)
                img[py[ok] + dy, px[ok] + dx] = colour
    if len(xs) == 1:  # a single record: a dot
        x, y = int(xs[0]), int(ys[0])
        img[max(y - 2, 0):y + 3, max(x - 2, 0):x + 3] = colour


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-2:
        return f"{v:.1e}".replace("e+0", "e").replace("e-0", "e-")
    return f"{v:.3g}"


def _panel(img: np.ndarray, box: tuple[int, int, int, int], title: str,
           series: list[tuple[str, np.ndarray, np.ndarray, tuple, bool]], x_range: tuple,
           log_y: bool) -> None:
    """One chart inside box (left, top, right, bottom): frame, ticks, lines, legend."""
    left, top, right, bottom = box
    draw_text(img, left, top - 16, title)
    img[top:bottom + 1, left] = img[bottom, left:right + 1] = 0
    img[top, left:right + 1] = img[top:bottom + 1, right] = 160
    values = [v for _, _, ys, _, _ in series for v in ys if math.isfinite(v) and (v > 0 or
                                                                                 not log_y)]
    if not values:
        draw_text(img, left + 10, (top + bottom) // 2, "NO DATA")
        return
    tr = (lambda v: np.log10(v)) if log_y else (lambda v: np.asarray(v, dtype=float))
    lo, hi = float(tr(min(values))), float(tr(max(values)))
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.05 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    x0, x1 = x_range
    x1 = x1 if x1 > x0 else x0 + 1

    def px(x):
        return left + (np.asarray(x, float) - x0) / (x1 - x0) * (right - left)

    def py(y):
        return bottom - (tr(y) - lo) / (hi - lo) * (bottom - top)

    for k in range(5):  # y ticks
        f = lo + (hi - lo) * k / 4
        y = round(float(bottom - (f - lo) / (hi - lo) * (bottom - top)))
        img[y, left - 4:left] = 0
        img[y, left + 1:right:4] = 200
        draw_text(img, 6, y - 5, _fmt(10 ** f if log_y else f))
    for k in range(5):  # x ticks
        s = x0 + (x1 - x0) * k / 4
        x = round(float(px(s)))
        img[bottom:bottom + 4, x] = 0
        draw_text(img, x - 10, bottom + 8, _fmt(round(s)))
    legend_x = left + 10
    for name, xs, ys, colour, dashed in series:
        ok = np.isfinite(ys) & ((ys > 0) if log_y else True)
        if ok.any():
            draw_line(img, px(xs[ok]), py(ys[ok]), colour, dashed)
        img[top + 10:top + 14, legend_x:legend_x + 16] = colour
        legend_x = draw_text(img, legend_x + 20, top + 7, name, colour) + 16


def plot_curves(records: list[dict], path: str | os.PathLike, width: int = 960,
                height: int = 720) -> None:
    """Draw the loss and perplexity curves of metrics records (`read_metrics`) to a PNG."""
    train = [r for r in records if r["split"] == "train"]
    valid = [r for r in records if r["split"] == "valid"]
    img = np.full((height, width, 3), 255, dtype=np.uint8)

    def column(rows: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
        rows = [r for r in rows if key in r]
        ys = [float(r[key]) if not isinstance(r[key], str) else math.nan for r in rows]
        return np.array([r["step"] for r in rows], float), np.array(ys, float)

    steps = [r["step"] for r in records] or [0]
    x_range = (min(steps), max(steps))
    codebooks = sorted({k for r in train for k in r if k.startswith("ppl/q")},
                       key=lambda k: int(k[5:]))
    loss = [("train", *column(train, "ce"), COLOURS[0], False),
            ("valid", *column(valid, "ce"), VALID, False)]
    ppl = [(k[4:], *column(train, k), COLOURS[i % len(COLOURS)], False)
           for i, k in enumerate(codebooks)]
    ppl += [(f"valid {k[4:]}", *column(valid, k), COLOURS[i % len(COLOURS)], True)
            for i, k in enumerate(codebooks) if any(k in r for r in valid)]
    left, right = 90, width - 20
    half = (height - 60) // 2
    _panel(img, (left, 30, right, 30 + half - 40), "loss: cross-entropy (nats)", loss,
           x_range, log_y=False)
    _panel(img, (left, 30 + half + 10, right, height - 50), "perplexity per codebook (log)",
           ppl, x_range, log_y=True)
    draw_text(img, (left + right) // 2 - 16, height - 22, "step")
    write_png(path, img)
