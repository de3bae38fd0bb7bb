"""Small server-rendered SVG charts for the reports: no script, no library, CSP-safe.

Each returns markup for an inline <svg role="img"> with a text label; the page shows the same
numbers in a table beside it.
"""

from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 640, 220, 36
#: colours of the waterfall's movements (gains up, losses down)
MOVEMENT_COLOURS = {
    "new": "#2e7d32",
    "reactivation": "#66bb6a",
    "expansion": "#0b5cad",
    "contraction": "#f5a524",
    "voluntary_churn": "#c62828",
    "involuntary_churn": "#8e24aa",
}


def _svg(label: str, body: str, height: int = HEIGHT) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg">{body}</svg>'
    )


def _text(x: float, y: float, text: str, anchor: str = "middle", css: str = "tick") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" class="{css}">{escape(text)}</text>'


def line(label: str, points: Sequence[tuple[str, int]], show: Callable[[int], str]) -> Markup:
    """A line over labelled points, e.g. MRR at the end of each month."""
    if not points:
        return _svg(label, _text(WIDTH / 2, HEIGHT / 2, "No data yet"))
    values = [value for _, value in points]
    top = max(max(values), 1)
    step = (WIDTH - 2 * PAD) / max(len(points) - 1, 1)

    def y(value: int) -> float:
        return HEIGHT - PAD - (HEIGHT - 2 * PAD) * value / top

    coords = " ".join(f"{PAD + i * step:.1f},{y(v):.1f}" for i, v in enumerate(values))
    parts = [
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" class="axis"/>',
        f'<polyline points="{coords}" class="series"/>',
        _text(PAD, PAD - 12, show(top), "start"),
    ]
    for i, (name, value) in enumerate(points):
        parts.append(f'<circle cx="{PAD + i * step:.1f}" cy="{y(value):.1f}" r="3" class="dot"/>')
        parts.append(_text(PAD + i * step, HEIGHT - PAD + 16, name[2:]))
    return _svg(label, "".join(parts))


def waterfall(label: str, months: Sequence[tuple[str, dict[str, int]]], show: Callable[[int], str]) -> Markup:
    """Per month, gains stacked above the zero line and losses below it."""
    if not months:
        return _svg(label, _text(WIDTH / 2, HEIGHT / 2, "No data yet"))
    ups = [sum(v for v in moves.values() if v > 0) for _, moves in months]
    downs = [sum(-v for v in moves.values() if v < 0) for _, moves in months]
    scale = (HEIGHT - 2 * PAD) / max(max(ups) + max(downs), 1)
    zero = PAD + max(ups) * scale
    slot = (WIDTH - 2 * PAD) / len(months)
    parts = [f'<line x1="{PAD}" y1="{zero:.1f}" x2="{WIDTH - PAD}" y2="{zero:.1f}" class="axis"/>']
    for i, (name, moves) in enumerate(months):
        x, up, down = PAD + i * slot + slot * 0.15, zero, zero
        for movement, value in moves.items():
            if not value:
                continue
            height = abs(value) * scale
            top = up - height if value > 0 else down
            if value > 0:
                up -= height
            else:
                down += height
            parts.append(
                f'<rect x="{x:.1f}" y="{top:.1f}" width="{slot * 0.7:.1f}" height="{height:.1f}" '
                f'fill="{MOVEMENT_COLOURS[movement]}"><title>{escape(name)} {escape(movement)}: '
                f"{escape(show(value))}</title></rect>"
            )
        parts.append(_text(PAD + i * slot + slot / 2, HEIGHT - 8, name[2:]))
    return _svg(label, "".join(parts))


def heatmap(label: str, rows: Sequence[tuple[str, Sequence[float | None]]]) -> Markup:
    """Cohort retention: a row per cohort, a cell per month since, darker for more retained."""
    columns = max((len(cells) for _, cells in rows), default=0)
    if not columns:
        return _svg(label, _text(WIDTH / 2, HEIGHT / 2, "No data yet"))
    cell_w = (WIDTH - 80) / columns
    cell_h = 22
    height = cell_h * len(rows) + 30
    parts = []
    for r, (name, cells) in enumerate(rows):
        y = 20 + r * cell_h
        parts.append(_text(72, y + 15, name, "end"))
        for c, share in enumerate(cells):
            if share is None:
                continue
            lightness = 95 - int(share * 60)
            ink = "#fff" if lightness < 60 else "#1d1d1f"
            x = 80 + c * cell_w
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{cell_w - 1:.1f}" height="{cell_h - 1}" '
                f'fill="hsl(212, 70%, {lightness}%)"/>'
                f'<text x="{x + cell_w / 2:.1f}" y="{y + 15}" text-anchor="middle" fill="{ink}" '
                f'class="cell">{round(share * 100)}</text>'
            )
    for c in range(columns):
        parts.append(_text(80 + c * cell_w + cell_w / 2, 14, str(c)))
    return _svg(label, "".join(parts), height)


def bars(label: str, items: Sequence[tuple[str, int, int]], show: Callable[[int], str]) -> Markup:
    """Horizontal bars of value against goal, e.g. each live campaign's progress."""
    if not items:
        return _svg(label, _text(WIDTH / 2, 30, "No live campaign"), 60)
    row = 34
    parts = []
    for i, (name, value, goal) in enumerate(items):
        y = 10 + i * row
        share = min(1.0, value / goal) if goal else 0
        parts.append(_text(0, y + 12, name, "start"))
        parts.append(f'<rect x="0" y="{y + 16}" width="{WIDTH - 160}" height="10" class="track"/>')
        parts.append(
            f'<rect x="0" y="{y + 16}" width="{(WIDTH - 160) * share:.1f}" height="10" class="series-fill"/>'
        )
        parts.append(_text(WIDTH - 150, y + 26, f"{show(value)} of {show(goal)}", "start"))
    return _svg(label, "".join(parts), 10 + len(items) * row)
