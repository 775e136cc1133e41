"""Charts for the reports, drawn on the server as SVG: no CDN, no script, nothing fetched.

Every chart is one ``<svg>`` element built from presentation attributes only (``fill``, ``stroke``,
``font-size`` ...), never a ``style`` attribute or element, so the Content-Security-Policy
(``style-src 'self'``) holds. Each reads without colour and prints in black and white: the value is
written on every bar and point, and the series of a grouped chart are told apart by a fill pattern as
well as a shade, with a legend. Text is escaped; ids (patterns) carry a per-chart prefix so several charts
can share a page.

The functions return a ``SafeString`` for templates::

    {{ chart }}  # where chart = bar_chart("Calls per week", ["W01", "W02"], [12, 7])
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from html import escape

from django.utils.safestring import SafeString, mark_safe

WIDTH = 720
HEIGHT = 300
MARGIN_TOP = 36
MARGIN_BOTTOM = 56
MARGIN_LEFT = 56
MARGIN_RIGHT = 16
FONT = 'font-family="sans-serif"'
INK = "#222222"
GRID = "#cccccc"
# Shades that differ in lightness, so they stay apart in grey; each series also gets a pattern.
SHADES = ("#1f4e79", "#8fb4d9", "#4d4d4d", "#c8c8c8", "#7a3b00", "#e0b070")
PATTERNS = ("solid", "diagonal", "dots", "cross", "horizontal", "vertical")

_ids = itertools.count(1)


def _text(value: object) -> str:
    return escape(str(value), quote=True)


def _fmt(value: float | int | None, value_format: str) -> str:
    if value is None:
        return ""
    return value_format.format(value)


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2, 2.5, 5 x 10^n)."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        candidate = step * 10**exponent
        if candidate >= value:
            return float(candidate)
    return float(10 ** (exponent + 1))


def _open(title: str, width: int, height: int) -> list[str]:
    label = _text(title)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="report-chart" role="img" aria-label="{label}" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet" {FONT}>',
        f"<title>{label}</title>",
        f'<text x="{width / 2:.1f}" y="20" text-anchor="middle" font-size="15" font-weight="bold" '
        f'fill="{INK}">{label}</text>',
    ]


def _close(parts: list[str]) -> SafeString:
    parts.append("</svg>")
    return mark_safe("".join(parts))


def _pattern_defs(prefix: str, count: int) -> str:
    """One <pattern> per series: its shade, plus lines or dots in white so it differs in black and white."""
    defs = ["<defs>"]
    for index in range(count):
        shade = SHADES[index % len(SHADES)]
        kind = PATTERNS[index % len(PATTERNS)]
        marks = {
            "solid": "",
            "diagonal": '<path d="M0,8 L8,0" stroke="#ffffff" stroke-width="2"/>',
            "dots": '<circle cx="4" cy="4" r="1.6" fill="#ffffff"/>',
            "cross": '<path d="M0,0 L8,8 M8,0 L0,8" stroke="#ffffff" stroke-width="1.2"/>',
            "horizontal": '<path d="M0,4 L8,4" stroke="#ffffff" stroke-width="2"/>',
            "vertical": '<path d="M4,0 L4,8" stroke="#ffffff" stroke-width="2"/>',
        }[kind]
        defs.append(
            f'<pattern id="{prefix}-s{index}" width="8" height="8" patternUnits="userSpaceOnUse">'
            f'<rect width="8" height="8" fill="{shade}"/>{marks}</pattern>'
        )
    defs.append("</defs>")
    return "".join(defs)


def _y_axis(parts: list[str], top: float, bottom: float, left: float, right: float, y_max: float, fmt: str) -> None:
    for step in range(5):
        value = y_max * step / 4
        y = bottom - (bottom - top) * step / 4
        parts.append(f'<line x1="{left:.1f}" y1="{y:.1f}" x2="{right:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(
            f'<text x="{left - 6:.1f}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="{INK}">'
            f"{_text(_fmt(value, fmt))}</text>"
        )
    parts.append(f'<line x1="{left:.1f}" y1="{bottom:.1f}" x2="{right:.1f}" y2="{bottom:.1f}" stroke="{INK}"/>')


def _x_label(parts: list[str], x: float, y: float, label: object, crowded: bool) -> None:
    if crowded:
        parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="end" font-size="10" fill="{INK}" '
            f'transform="rotate(-40 {x:.1f} {y:.1f})">{_text(label)}</text>'
        )
    else:
        parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle" font-size="11" fill="{INK}">{_text(label)}</text>'
        )


def _legend(parts: list[str], prefix: str, names: Sequence[str], width: int, y: float) -> None:
    x = MARGIN_LEFT
    for index, name in enumerate(names):
        parts.append(
            f'<rect x="{x:.1f}" y="{y - 10:.1f}" width="12" height="12" fill="url(#{prefix}-s{index})" stroke="{INK}" '
            f'stroke-width="0.5"/>'
        )
        parts.append(f'<text x="{x + 16:.1f}" y="{y:.1f}" font-size="11" fill="{INK}">{_text(name)}</text>')
        x += 28 + 7 * len(str(name))
        if x > width - 80:
            x = MARGIN_LEFT
            y += 16


def _empty(parts: list[str], width: int, height: int) -> SafeString:
    parts.append(
        f'<text x="{width / 2:.1f}" y="{height / 2:.1f}" text-anchor="middle" font-size="13" fill="{INK}">'
        "No data in this period</text>"
    )
    return _close(parts)


def bar_chart(
    title: str, labels: Sequence[object], values: Sequence[float | int | None], *, value_format: str = "{:g}"
) -> SafeString:
    """Vertical bars, one per label, each with its value written above it."""
    return grouped_bar_chart(title, labels, [("", list(values))], value_format=value_format)


def grouped_bar_chart(
    title: str,
    categories: Sequence[object],
    series: Sequence[tuple[str, Sequence[float | int | None]]],
    *,
    value_format: str = "{:g}",
) -> SafeString:
    """Bars grouped by category, one per series; a legend (with patterns) when there is more than one series."""
    width, height = WIDTH, HEIGHT + (16 * ((len(series) + 3) // 4) if len(series) > 1 else 0)
    parts = _open(title, width, height)
    values = [v for _, vals in series for v in vals if v is not None]
    if not categories or not series or not values:
        return _empty(parts, width, height)
    prefix = f"c{next(_ids)}"
    parts.append(_pattern_defs(prefix, len(series)))
    top, bottom = MARGIN_TOP + 8, HEIGHT - MARGIN_BOTTOM
    left, right = MARGIN_LEFT, width - MARGIN_RIGHT
    y_max = _nice_max(max(values))
    _y_axis(parts, top, bottom, left, right, y_max, value_format)
    group = (right - left) / len(categories)
    bar = max(2.0, group * 0.8 / len(series))
    crowded = len(categories) > 12
    for c, category in enumerate(categories):
        start = left + group * c + (group - bar * len(series)) / 2
        for s, (_, vals) in enumerate(series):
            value = vals[c] if c < len(vals) else None
            if value is None:
                continue
            h = (bottom - top) * (value / y_max) if y_max else 0
            x = start + bar * s
            parts.append(
                f'<rect x="{x:.1f}" y="{bottom - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="url(#{prefix}-s{s})" stroke="{INK}" stroke-width="0.5"/>'
            )
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{bottom - h - 3:.1f}" text-anchor="middle" '
                f'font-size="{10 if bar >= 14 else 8}" fill="{INK}">{_text(_fmt(value, value_format))}</text>'
            )
        _x_label(parts, left + group * (c + 0.5), bottom + 16, category, crowded)
    if len(series) > 1:
        _legend(parts, prefix, [name for name, _ in series], width, HEIGHT - 6)
    return _close(parts)


def line_chart(
    title: str,
    x_labels: Sequence[object],
    series: Sequence[tuple[str, Sequence[float | int | None]]],
    *,
    y_max: float | None = None,
    value_format: str = "{:g}",
) -> SafeString:
    """Lines over x labels, one per series, every point marked and labelled; None leaves a gap."""
    width, height = WIDTH, HEIGHT + (16 * ((len(series) + 3) // 4) if len(series) > 1 else 0)
    parts = _open(title, width, height)
    values = [v for _, vals in series for v in vals if v is not None]
    if not x_labels or not series or not values:
        return _empty(parts, width, height)
    top, bottom = MARGIN_TOP + 8, HEIGHT - MARGIN_BOTTOM
    left, right = MARGIN_LEFT, width - MARGIN_RIGHT
    axis_max = y_max if y_max is not None else _nice_max(max(values))
    _y_axis(parts, top, bottom, left, right, axis_max, value_format)
    step = (right - left) / len(x_labels)
    crowded = len(x_labels) > 12
    dashes = ("", ' stroke-dasharray="6 3"', ' stroke-dasharray="2 3"', ' stroke-dasharray="8 3 2 3"')
    for s, (_, vals) in enumerate(series):
        shade = SHADES[s % len(SHADES)]
        segment: list[str] = []
        points = []
        for i, value in enumerate(vals[: len(x_labels)]):
            if value is None:
                if len(segment) > 1:
                    points.append(segment)
                segment = []
                continue
            x = left + step * (i + 0.5)
            y = bottom - (bottom - top) * (min(value, axis_max) / axis_max if axis_max else 0)
            segment.append(f"{x:.1f},{y:.1f}")
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{shade}" stroke="{INK}" stroke-width="0.5"/>')
            parts.append(
                f'<text x="{x:.1f}" y="{y - 7:.1f}" text-anchor="middle" font-size="10" fill="{INK}">'
                f"{_text(_fmt(value, value_format))}</text>"
            )
        if len(segment) > 1:
            points.append(segment)
        for run in points:
            parts.append(
                f'<polyline points="{" ".join(run)}" fill="none" stroke="{shade}" stroke-width="2"'
                f"{dashes[s % len(dashes)]}/>"
            )
    for i, label in enumerate(x_labels):
        _x_label(parts, left + step * (i + 0.5), bottom + 16, label, crowded)
    if len(series) > 1:
        x, y = MARGIN_LEFT, HEIGHT - 6
        for s, (name, _) in enumerate(series):
            shade = SHADES[s % len(SHADES)]
            parts.append(
                f'<line x1="{x:.1f}" y1="{y - 4:.1f}" x2="{x + 24:.1f}" y2="{y - 4:.1f}" stroke="{shade}" '
                f'stroke-width="2"{dashes[s % len(dashes)]}/>'
                f'<circle cx="{x + 12:.1f}" cy="{y - 4:.1f}" r="3" fill="{shade}" stroke="{INK}" stroke-width="0.5"/>'
                f'<text x="{x + 30:.1f}" y="{y:.1f}" font-size="11" fill="{INK}">{_text(name)}</text>'
            )
            x += 44 + 7 * len(str(name))
            if x > width - 80:
                x, y = MARGIN_LEFT, y + 16
    return _close(parts)


def horizontal_bar_chart(
    title: str, items: Sequence[tuple[object, float | int | None]], *, value_format: str = "{:g}"
) -> SafeString:
    """One horizontal bar per item, its label on the left and its value at the bar's end."""
    row = 24
    width, height = WIDTH, MARGIN_TOP + 12 + row * max(1, len(items))
    parts = _open(title, width, height)
    values = [v for _, v in items if v is not None]
    if not items or not values:
        return _empty(parts, width, max(height, 80))
    label_width = min(240, 20 + 7 * max(len(str(label)) for label, _ in items))
    left, right = label_width, width - MARGIN_RIGHT - 60
    x_max = _nice_max(max(values))
    for i, (label, value) in enumerate(items):
        y = MARGIN_TOP + 8 + row * i
        parts.append(
            f'<text x="{left - 8:.1f}" y="{y + row / 2 + 4:.1f}" text-anchor="end" font-size="11" fill="{INK}">'
            f"{_text(label)}</text>"
        )
        w = (right - left) * ((value or 0) / x_max)
        parts.append(
            f'<rect x="{left:.1f}" y="{y + 3:.1f}" width="{w:.1f}" height="{row - 6:.1f}" fill="{SHADES[0]}" '
            f'stroke="{INK}" stroke-width="0.5"/>'
        )
        parts.append(
            f'<text x="{left + w + 6:.1f}" y="{y + row / 2 + 4:.1f}" font-size="11" fill="{INK}">'
            f"{_text(_fmt(value, value_format))}</text>"
        )
    return _close(parts)


def funnel_chart(title: str, steps: Sequence[tuple[object, int]]) -> SafeString:
    """Centred bars narrowing step by step; each shows its count and its share of the first step."""
    row = 34
    width, height = WIDTH, MARGIN_TOP + 12 + row * max(1, len(steps))
    parts = _open(title, width, height)
    if not steps:
        return _empty(parts, width, max(height, 80))
    first = steps[0][1] or 0
    label_width = min(240, 20 + 7 * max(len(str(label)) for label, _ in steps))
    left, right = label_width, width - MARGIN_RIGHT
    centre = (left + right) / 2
    for i, (label, count) in enumerate(steps):
        y = MARGIN_TOP + 8 + row * i
        share = (count / first) if first else 0.0
        w = max(2.0, (right - left) * share) if count else 2.0
        parts.append(
            f'<text x="{left - 8:.1f}" y="{y + row / 2 + 4:.1f}" text-anchor="end" font-size="11" fill="{INK}">'
            f"{_text(label)}</text>"
        )
        parts.append(
            f'<rect x="{centre - w / 2:.1f}" y="{y + 3:.1f}" width="{w:.1f}" height="{row - 6:.1f}" '
            f'fill="{SHADES[1]}" stroke="{INK}" stroke-width="0.5"/>'
        )
        caption = f"{count} ({share:.0%})" if first else str(count)
        # Inside the bar when it fits, else just right of it: never over the bar's edge.
        inside = w >= 8 * len(caption) + 12
        x, anchor = (centre, "middle") if inside else (centre + w / 2 + 6, "start")
        parts.append(
            f'<text x="{x:.1f}" y="{y + row / 2 + 4:.1f}" text-anchor="{anchor}" font-size="12" '
            f'font-weight="bold" fill="{INK}">{_text(caption)}</text>'
        )
    return _close(parts)
