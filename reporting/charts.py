"""Server-rendered inline SVG charts: no JavaScript, no CDN, readable by screen readers.

Each chart is a <figure> with an <svg role="img"> named by its <title> and described by its <desc>, followed by
the same numbers as a table (in a <details>), so nobody depends on seeing the picture.
"""

from dataclasses import dataclass
from html import escape

from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

INK, LINE = "#1d2327", "#d5dadd"
GREEN, AMBER, BLUE, RED = "#0b5d4b", "#8a5300", "#1f4e8c", "#b3261e"
WIDTH = 720  # a chart beside another in a two-column grid
WIDE = 1280  # a chart alone in a full-width card: drawn wider, so the text keeps its size instead of growing with it


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    text: str  # the value as the page writes it
    highlight: bool = False


def _svg_open(chart_id: str, title: str, description: str, height: int, width: int = WIDTH) -> str:
    return (f'<svg class="chart-svg" role="img" viewBox="0 0 {width} {height}" preserveAspectRatio="xMinYMin meet" '
            f'aria-labelledby="{chart_id}-title {chart_id}-desc" focusable="false">'
            f'<title id="{chart_id}-title">{escape(title)}</title><desc id="{chart_id}-desc">{escape(description)}</desc>')


def _table(chart_id: str, headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f'<th scope="col"{" class=num" if i else ""}>{escape(h)}</th>' for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f'<th scope="row">{escape(c)}</th>' if i == 0 else f'<td class="num">{escape(c)}</td>'
                         for i, c in enumerate(row)) + "</tr>" for row in rows)
    summary = escape(_("Show the numbers as a table"))  # outside the f-string, where xgettext can find it
    return (f'<details class="chart-data"><summary>{summary}</summary>'
            f'<div class="table-wrap" tabindex="0" role="region" aria-labelledby="{chart_id}-title">'
            f'<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div></details>')


def _wrap(text: str, *, max_chars: int) -> list[str]:
    """A label in at most two lines of about max_chars (split at spaces; the second line is cut short if it must be)."""
    words, lines = text.split(), [""]
    for word in words:
        if lines[-1] and len(lines[-1]) + 1 + len(word) > max_chars and len(lines) < 2:
            lines.append(word)
        else:
            lines[-1] = f"{lines[-1]} {word}".strip()
    if len(lines[-1]) > max_chars + 2:
        lines[-1] = lines[-1][:max_chars + 1] + "…"
    return lines


def _figure(chart_id: str, title: str, svg: str, table: str) -> SafeString:
    return mark_safe(f'<figure class="chart" id="{chart_id}"><figcaption>{escape(title)}</figcaption>{svg}{table}</figure>')


def bar_chart(*, chart_id: str, title: str, description: str, bars: list[Bar], value_header: str,
              maximum: float | None = None, target: float | None = None, target_text: str = "",
              width: int = WIDTH) -> SafeString:
    """Horizontal bars, one per row; an optional dashed target line (the MAP)."""
    label_w, value_w, row_h, top = 210, 90, 30, 10
    plot_w = width - label_w - value_w
    height = top * 2 + row_h * max(len(bars), 1) + (22 if target is not None else 0)
    values = [b.value for b in bars if b.value is not None]
    top_value = max([maximum or 0, *(values or [0]), target or 0]) or 1
    parts = [_svg_open(chart_id, title, description, height, width)]
    for i, bar in enumerate(bars):
        y = top + i * row_h
        bar_w = 0 if bar.value is None else max(plot_w * bar.value / top_value, 1 if bar.value else 0)
        label = bar.label if len(bar.label) <= 28 else bar.label[:27] + "…"
        parts.append(f'<text x="{label_w - 8}" y="{y + 19}" text-anchor="end" fill="{INK}" font-size="13">{escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 5}" width="{bar_w:.1f}" height="{row_h - 10}" rx="3" '
                     f'fill="{AMBER if bar.highlight else GREEN}"/>')
        parts.append(f'<text x="{label_w + bar_w + 6:.1f}" y="{y + 19}" fill="{INK}" font-size="13">{escape(bar.text)}</text>')
    if target is not None:
        x = label_w + plot_w * target / top_value
        bottom = top + row_h * len(bars)
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="{RED}" stroke-width="2" '
                     f'stroke-dasharray="6 4"/>')
        parts.append(f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle" fill="{RED}" font-size="12">'
                     f'{escape(target_text)}</text>')
    parts.append("</svg>")
    table = _table(chart_id, [_("Name"), value_header], [[b.label, b.text] for b in bars])
    return _figure(chart_id, title, "".join(parts), table)


def histogram(*, chart_id: str, title: str, description: str, bars: list[Bar], value_header: str,
              width: int = WIDTH) -> SafeString:
    """Vertical bars over ordered bands (speed-to-lead); highlighted bands are within the deadline."""
    left, bottom_h, top, plot_h = 10, 62, 24, 200
    height = top + plot_h + bottom_h
    band = (width - left * 2) / max(len(bars), 1)
    top_value = max([b.value or 0 for b in bars] + [1])
    parts = [_svg_open(chart_id, title, description, height, width),
             f'<line x1="{left}" y1="{top + plot_h}" x2="{width - left}" y2="{top + plot_h}" stroke="{LINE}"/>']
    for i, bar in enumerate(bars):
        h = plot_h * (bar.value or 0) / top_value
        x = left + i * band
        parts.append(f'<rect x="{x + 4:.1f}" y="{top + plot_h - h:.1f}" width="{band - 8:.1f}" height="{h:.1f}" rx="2" '
                     f'fill="{GREEN if bar.highlight else BLUE}"/>')
        parts.append(f'<text x="{x + band / 2:.1f}" y="{top + plot_h - h - 6:.1f}" text-anchor="middle" fill="{INK}" '
                     f'font-size="12">{escape(bar.text)}</text>')
        lines = _wrap(bar.label, max_chars=max(int(band / 6.5), 4))
        spans = "".join(f'<tspan x="{x + band / 2:.1f}" dy="{0 if n == 0 else 13}">{escape(line)}</tspan>'
                        for n, line in enumerate(lines))
        parts.append(f'<text x="{x + band / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle" fill="{INK}" '
                     f'font-size="11">{spans}</text>')
    legend_y = top + plot_h + 44
    for offset, color, text in ((left, GREEN, _("within the deadline")), (left + 200, BLUE, _("later, or none"))):
        parts.append(f'<rect x="{offset}" y="{legend_y}" width="12" height="12" fill="{color}"/>'
                     f'<text x="{offset + 18}" y="{legend_y + 11}" fill="{INK}" font-size="12">{escape(text)}</text>')
    parts.append("</svg>")
    table = _table(chart_id, [_("Band"), value_header], [[b.label, b.text] for b in bars])
    return _figure(chart_id, title, "".join(parts), table)


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float | None]
    texts: list[str]
    color: str
    dashed: bool = False


def trend_chart(*, chart_id: str, title: str, description: str, labels: list[str], series: list[Series],
                maximum: float = 1.0, target: float | None = None, target_text: str = "", axis_text=str,
                width: int = WIDTH) -> SafeString:
    """Lines over weeks (rates on a 0–max scale), a dashed target line and a legend."""
    left, right, top, plot_h, bottom_h = 56, 16, 16, 200, 56
    height = top + plot_h + bottom_h
    plot_w = width - left - right
    n = max(len(labels), 1)
    top_value = max([maximum, *[v for s in series for v in s.values if v is not None]]) or 1

    def x(i):
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v):
        return top + plot_h - plot_h * v / top_value

    parts = [_svg_open(chart_id, title, description, height, width)]
    for step in range(5):
        v = top_value * step / 4
        parts.append(f'<line x1="{left}" y1="{y(v):.1f}" x2="{width - right}" y2="{y(v):.1f}" stroke="{LINE}"/>'
                     f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" fill="{INK}" font-size="11">'
                     f'{escape(axis_text(v))}</text>')
    every = max(1, round(n / 8))
    for i, label in enumerate(labels):
        if i % every == 0:
            parts.append(f'<text x="{x(i):.1f}" y="{top + plot_h + 16}" text-anchor="middle" fill="{INK}" font-size="11">'
                         f'{escape(label)}</text>')
    if target is not None:
        parts.append(f'<line x1="{left}" y1="{y(target):.1f}" x2="{width - right}" y2="{y(target):.1f}" stroke="{RED}" '
                     f'stroke-width="1.5" stroke-dasharray="6 4"/>')
    for s in series:
        points, segment = [], []
        for i, v in enumerate(s.values):
            if v is None:  # a week without leads breaks the line instead of dropping to zero
                if segment:
                    points.append(segment)
                segment = []
            else:
                segment.append(f"{x(i):.1f},{y(v):.1f}")
        if segment:
            points.append(segment)
        dash = ' stroke-dasharray="4 3"' if s.dashed else ""
        for seg in points:
            if len(seg) == 1:
                cx, cy = seg[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{s.color}"/>')
            else:
                parts.append(f'<polyline points="{" ".join(seg)}" fill="none" stroke="{s.color}" stroke-width="2.5"{dash}/>')
    legend_y = top + plot_h + 40
    offset = left
    for s in [*series, *([Series(target_text, [], [], RED, True)] if target is not None else [])]:
        dash = ' stroke-dasharray="4 3"' if s.dashed else ""
        parts.append(f'<line x1="{offset}" y1="{legend_y - 4}" x2="{offset + 22}" y2="{legend_y - 4}" stroke="{s.color}" '
                     f'stroke-width="3"{dash}/>'
                     f'<text x="{offset + 28}" y="{legend_y}" fill="{INK}" font-size="12">{escape(s.name)}</text>')
        offset += 40 + 7 * len(s.name)
    parts.append("</svg>")
    rows = [[label, *[s.texts[i] for s in series]] for i, label in enumerate(labels)]
    return _figure(chart_id, title, "".join(parts), _table(chart_id, [_("Week"), *[s.name for s in series]], rows))
