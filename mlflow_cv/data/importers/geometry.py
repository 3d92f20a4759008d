"""Plain geometry for the importers: polygon area, clipping to the image, one outline from several parts,
and the one number format every YOLO label line is written with.

Points are flat ``[x1, y1, x2, y2, ...]`` lists in pixels. Nothing here knows a file format or an option.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["EDGE_TOLERANCE", "clip_polygon", "fmt", "join_parts", "outlines", "polygon_area", "rotated_box"]

# A coordinate this close past an edge (as a fraction of the image size) is on the edge: labelling tools
# that store percentages write 100.00000000000001, which is rounding, not a box outside the image.
EDGE_TOLERANCE = 1e-6


def fmt(value: float) -> str:
    """A normalized coordinate as written in a label: six decimals, trailing zeros dropped (``0.5``, ``1``)."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def polygon_area(xy: Sequence[float]) -> float:
    """The area enclosed by the polygon (shoelace formula, absolute value)."""
    xs, ys = xy[0::2], xy[1::2]
    n = len(xs)
    twice = sum(xs[i] * ys[(i + 1) % n] - xs[(i + 1) % n] * ys[i] for i in range(n))
    return abs(twice) / 2.0


def clip_polygon(xy: Sequence[float], width: float, height: float) -> list[float]:
    """The part of the polygon inside ``[0, width] x [0, height]`` (Sutherland-Hodgman); empty when none is.

    Unlike clamping each point to the image, this keeps the shape of the part that is inside.
    """
    points = list(zip(xy[0::2], xy[1::2], strict=True))
    for axis, limit, keep_above in ((0, 0.0, True), (0, width, False), (1, 0.0, True), (1, height, False)):
        points = _clip_edge(points, axis, limit, keep_above)
        if not points:
            return []
    kept: list[tuple[float, float]] = []
    for p in points:  # an edge crossing at a vertex yields the same point twice
        if not kept or p != kept[-1]:
            kept.append(p)
    if len(kept) > 1 and kept[0] == kept[-1]:
        kept.pop()
    return [c for p in kept for c in p]


def _clip_edge(
    points: list[tuple[float, float]], axis: int, limit: float, keep_above: bool
) -> list[tuple[float, float]]:
    def inside(p: tuple[float, float]) -> bool:
        return p[axis] >= limit if keep_above else p[axis] <= limit

    def crossing(p: tuple[float, float], q: tuple[float, float]) -> tuple[float, float]:
        t = (limit - p[axis]) / (q[axis] - p[axis])
        other = p[1 - axis] + t * (q[1 - axis] - p[1 - axis])
        return (limit, other) if axis == 0 else (other, limit)

    out: list[tuple[float, float]] = []
    for i, cur in enumerate(points):
        prev = points[i - 1]
        if inside(cur):
            if not inside(prev):
                out.append(crossing(prev, cur))
            out.append(cur)
        elif inside(prev):
            out.append(crossing(prev, cur))
    return out


def join_parts(parts: Sequence[Sequence[float]]) -> list[float]:
    """One outline from several (an object split by an occluder): each next part is joined to the outline at
    their closest pair of points by a zero-width bridge there and back, so the area is the parts' sum.

    YOLO segment labels hold one polygon per object; this keeps every part instead of the largest.
    """
    import numpy as np  # here: most imports never see a multi-part outline

    merged = np.asarray(parts[0], dtype=np.float64).reshape(-1, 2)
    for part in parts[1:]:
        pts = np.asarray(part, dtype=np.float64).reshape(-1, 2)
        squared = ((merged[:, None, :] - pts[None, :, :]) ** 2).sum(-1)
        i, j = (int(k) for k in np.unravel_index(int(np.argmin(squared)), squared.shape))
        merged = np.concatenate([merged[: i + 1], pts[j:], pts[: j + 1], merged[i:]])
    return [float(c) for c in merged.ravel()]


def rotated_box(
    x1: float, y1: float, x2: float, y2: float, degrees: float, *, about: tuple[float, float]
) -> list[float]:
    """The corners of the box rotated clockwise on screen (y points down) by ``degrees`` about ``about``
    (CVAT turns boxes about their centre, Label Studio about their top-left corner)."""
    import math

    cx, cy = about
    cos, sin = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    out: list[float] = []
    for x, y in ((x1, y1), (x2, y1), (x2, y2), (x1, y2)):
        dx, dy = x - cx, y - cy
        out += [cx + dx * cos - dy * sin, cy + dx * sin + dy * cos]
    return out


def outlines(mask: Any) -> list[list[float]]:
    """The outer contours of a binary mask (``cv2.findContours``, external only, so holes are filled), each
    as a flat point list in pixel coordinates. Contours of fewer than 3 points (a lone pixel, a 1-pixel
    line) enclose nothing and are left out."""
    import cv2
    import numpy as np

    found, _ = cv2.findContours(np.ascontiguousarray(mask, dtype=np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [[float(v) for v in c.reshape(-1)] for c in found if len(c) >= 3]
