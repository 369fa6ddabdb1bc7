"""The geometry of the usage dashboard's small SVG charts, drawn by templates/admin/chat/dashboard/chart.html.

Hand-written rather than a vendored chart library, on purpose: the charts are drawn on the server as
plain SVG, so the page needs no JavaScript for them (nothing to load or keep up to date, nothing for a
Content-Security-Policy to allow), each bar and point carries its figure as an SVG <title>, and tests
read the drawn charts from the HTML like any other figure (tests/test_dashboard.py). Two shapes
(columns or lines over days, horizontal bars per model, code or user) do not need a library.
"""

import math

from chat.dashboard.queries import Usage, money
from chat.dashboard.tables import html_rows

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 14, 34
MAX_X_LABELS = 12


def compact(value) -> str:
    """1234 -> 1.2k, 2500000 -> 2.5M; small numbers keep up to one decimal."""
    if value is None:
        return "–"
    number = float(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(number) >= limit:
            return f"{number / limit:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{number:.1f}".rstrip("0").rstrip(".") if number % 1 else str(int(number))


def nice_scale(maximum: float, ticks: int = 4) -> tuple[float, float]:
    """A round top for the axis and its step (1, 2 or 5 times a power of ten)."""
    if maximum <= 0:
        return 1.0, 0.25
    rough = maximum / ticks
    magnitude = 10 ** math.floor(math.log10(rough))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= rough)
    return step * math.ceil(maximum / step), step


def column_chart(labels: list[str], series: list[tuple[str, list]], *, kind: str = "bar", fmt=compact) -> dict | None:
    """A vertical bar chart (series side by side) or line chart over `labels`; None when all is zero."""
    values = [value or 0 for _, points in series for value in points]
    if not labels or not any(values):
        return None
    top, step = nice_scale(max(values))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(labels)

    def y_of(value):
        return TOP + plot_h - (value or 0) / top * plot_h

    y_ticks = [{"y": round(y_of(step * i), 1), "label": fmt(step * i)} for i in range(int(round(top / step)) + 1)]
    every = math.ceil(len(labels) / MAX_X_LABELS)
    x_labels = [{"x": round(LEFT + slot * (i + 0.5), 1), "label": label}
                for i, label in enumerate(labels) if i % every == 0]
    bars, lines = [], []
    if kind == "bar":
        bar_w = slot * 0.8 / len(series)
        for s, (name, points) in enumerate(series):
            for i, value in enumerate(points):
                y = y_of(value)
                bars.append({"x": round(LEFT + slot * (i + 0.1) + bar_w * s, 1), "y": round(y, 1), "w": round(max(bar_w - 1, 1), 1),
                             "h": round(TOP + plot_h - y, 1), "series": s, "title": f"{labels[i]} · {name}: {fmt(value)}"})
    else:
        for s, (name, points) in enumerate(series):
            markers = [{"x": round(LEFT + slot * (i + 0.5), 1), "y": round(y_of(value), 1),
                        "title": f"{labels[i]} · {name}: {fmt(value)}"} for i, value in enumerate(points)]
            lines.append({"series": s, "points": " ".join(f"{m['x']},{m['y']}" for m in markers), "markers": markers})
    return {
        "bars_svg": bars_svg(bars), "lines_svg": lines_svg(lines),
        "width": WIDTH, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT, "top": TOP, "bottom": TOP + plot_h,
        "label_y": HEIGHT - 12, "y_ticks": y_ticks, "x_labels": x_labels, "bars": bars, "lines": lines,
        "legend": [{"series": s, "name": name} for s, (name, _) in enumerate(series)] if len(series) > 1 else [],
    }


def bars_svg(bars: list[dict]):
    """The columns as SVG, built here: a year of days is ~1,100 shapes, too many for template nodes (escaped)."""
    return html_rows('<rect class="series-{}" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>',
                            ((b["series"], b["x"], b["y"], b["w"], b["h"], b["title"]) for b in bars))


def lines_svg(lines: list[dict]):
    return html_rows('<polyline class="line series-{}" points="{}"/>{}', (
        (line["series"], line["points"], html_rows(
            '<circle class="series-{}" cx="{}" cy="{}" r="3"><title>{}</title></circle>',
            ((line["series"], m["x"], m["y"], m["title"]) for m in line["markers"])))
        for line in lines))


ROW_H, LABEL_W = 22, 150


def bar_list_chart(labels: list[str], series: list[tuple[str, list]], *, fmt=compact) -> dict | None:
    """Horizontal bars, one group per label (e.g. p50 and p95 for each model); None when all is zero."""
    values = [value or 0 for _, points in series for value in points]
    if not labels or not any(values):
        return None
    top, _ = nice_scale(max(values))
    group_h = ROW_H * len(series) + 8
    height = TOP + group_h * len(labels) + 6
    plot_w = WIDTH - LABEL_W - 70
    bars, names = [], []
    for i, label in enumerate(labels):
        group_y = TOP + group_h * i
        names.append({"y": round(group_y + ROW_H * len(series) / 2 + 4, 1), "label": label if len(label) <= 22 else label[:21] + "…"})
        for s, (name, points) in enumerate(series):
            value = points[i] or 0
            width = value / top * plot_w
            bars.append({"x": LABEL_W, "y": group_y + ROW_H * s, "w": round(max(width, 1 if value else 0), 1), "h": ROW_H - 4,
                         "series": s, "value": fmt(points[i]), "value_x": round(LABEL_W + width + 6, 1),
                         "value_y": group_y + ROW_H * s + ROW_H / 2 + 2, "title": f"{label} · {name}: {fmt(points[i])}"})
    return {
        "width": WIDTH, "height": height, "label_x": LABEL_W - 8, "names": names, "bars": bars,
        "legend": [{"series": s, "name": name} for s, (name, _) in enumerate(series)] if len(series) > 1 else [],
    }


def charts(report: Usage) -> dict:
    day_labels = [day.strftime("%b %d") for day, _ in report.days]
    models = report.models
    model_labels = [m["key"] for m in models]
    result = {
        "requests": column_chart(day_labels, [("requests", [t.requests for _, t in report.days])]),
        "tokens": column_chart(day_labels, [("input tokens", [t.input_tokens for _, t in report.days]),
                                            ("output tokens", [t.output_tokens for _, t in report.days])], kind="line"),
        "errors": bar_list_chart([row["error_code"] or "(no code)" for row in report.errors],
                                 [("errors", [row["count"] for row in report.errors])]),
        "ttft": bar_list_chart(model_labels, [("p50", [m["ttft_p50"] for m in models]), ("p95", [m["ttft_p95"] for m in models])],
                               fmt=lambda v: "–" if v is None else f"{v:,.0f} ms"),
        "tps": bar_list_chart(model_labels, [("p50", [m["tps_p50"] for m in models]), ("p95", [m["tps_p95"] for m in models])],
                              fmt=lambda v: "–" if v is None else f"{v:,.1f}/s"),
        "users": bar_list_chart([row["user__username"] for row in report.top_users],
                                [("tokens", [row["tokens"] for row in report.top_users])]),
        "cost": None,
    }
    if report.priced:
        result["cost"] = column_chart(day_labels, [("estimated cost", [float(t.cost or 0) for _, t in report.days])], fmt=money)
    return result
