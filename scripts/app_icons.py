"""Render the app's PNG icons (manifest, notifications) from static/icons/icon.svg's shapes with Pillow.

The SVG is two shapes: a rounded green square and a white check mark. Drawn at 4x and scaled down for smooth edges.
Run after changing the SVG: `python scripts/app_icons.py` (Pillow is a dev dependency; the PNGs are committed).
"""

from pathlib import Path

from PIL import Image, ImageDraw

ICONS = Path(__file__).resolve().parents[1] / "static" / "icons"
GREEN, WHITE = "#0b5d4b", "#ffffff"
CHECK = [(18, 34), (27, 43), (46, 22)]  # the SVG's path, in its 64-unit viewBox
STROKE = 7


def render(size: int, *, maskable: bool = False, badge: bool = False) -> Image.Image:
    scale = 4
    big = size * scale
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if maskable:  # full-bleed background; the mark sits inside the 80 % safe zone a launcher may crop to
        draw.rectangle([0, 0, big, big], fill=GREEN)
        unit, offset = big * 0.62 / 64, big * 0.19
    elif badge:  # Android's status-bar badge: a white mark on transparent, nothing else
        unit, offset = big / 64, 0
    else:
        unit, offset = big / 64, 0
        draw.rounded_rectangle([0, 0, big - 1, big - 1], radius=14 * unit, fill=GREEN)
    points = [(offset + x * unit, offset + y * unit) for x, y in CHECK]
    width = round(STROKE * unit * (1.3 if badge else 1))
    draw.line(points, fill=WHITE, width=width, joint="curve")
    for x, y in (points[0], points[-1]):  # round caps
        draw.ellipse([x - width / 2, y - width / 2, x + width / 2, y + width / 2], fill=WHITE)
    return image.resize((size, size), Image.LANCZOS)


if __name__ == "__main__":
    render(192).save(ICONS / "icon-192.png", optimize=True)
    render(512).save(ICONS / "icon-512.png", optimize=True)
    render(512, maskable=True).save(ICONS / "icon-maskable-512.png", optimize=True)
    render(192, maskable=True).save(ICONS / "icon-maskable-192.png", optimize=True)
    render(96, badge=True).save(ICONS / "badge-96.png", optimize=True)
    render(180, maskable=True).convert("RGB").save(ICONS / "apple-touch-icon.png", optimize=True)  # iOS: no transparency
    print("written to", ICONS)
