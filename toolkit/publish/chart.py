"""The card's articles-per-month chart, as a PNG that is byte-identical on every run.

Drawn on an Agg canvas without pyplot (no global backend switch, no display needed), with the
bundled DejaVu font and no Software/date metadata in the PNG.
"""

from __future__ import annotations

from pathlib import Path

CHART_FILE = "articles_per_month.png"


def month_range(months: tuple[tuple[int, int, int], ...]) -> list[tuple[int, int, int]]:
    """Every month from the first to the last, zero-filled, so gaps in the archive stay visible."""
    if not months:
        return []
    counts = {(y, m): n for y, m, n in months}
    (y, m), end = (months[0][0], months[0][1]), (months[-1][0], months[-1][1])
    out = []
    while (y, m) <= end:
        out.append((y, m, counts.get((y, m), 0)))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def draw_articles_per_month(months: tuple[tuple[int, int, int], ...], path: Path, title: str) -> None:
    """Bar chart of articles per month; an empty snapshot gets an explicit 'no articles' chart."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    series = month_range(months)
    style = {"font.family": "DejaVu Sans", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
             "svg.hashsalt": "newsarchive", "path.simplify": True}
    with rc_context(style):
        figure = Figure(figsize=(10, 3.6), dpi=100)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        if series:
            positions = list(range(len(series)))
            axes.bar(positions, [n for _, _, n in series], width=0.85, color="#3b6ea5")
            step = max(1, len(series) // 24)
            ticks = positions[::step]
            axes.set_xticks(ticks, [f"{series[i][0]}-{series[i][1]:02d}" for i in ticks], rotation=60, ha="right")
            axes.set_xlim(-0.6, len(series) - 0.4)
        else:
            axes.text(0.5, 0.5, "no articles", ha="center", va="center", transform=axes.transAxes)
            axes.set_xticks([])
        axes.set_ylabel("articles")
        axes.set_title(title)
        axes.yaxis.get_major_locator().set_params(integer=True)
        figure.tight_layout()
        figure.savefig(path, format="png", metadata={"Software": None})
