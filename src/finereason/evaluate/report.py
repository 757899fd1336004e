"""Self-contained HTML reports for a run and for a grid: tables, and matplotlib (Agg) PNGs as data URIs.

One file that opens anywhere (a laptop, a CI artefact viewer) with nothing to fetch.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%}
.small{color:#666;font-size:90%}code{background:#f3f3f3;padding:1px 3px}
"""


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _img(uri: str | None, alt: str) -> str:
    return f'<p><img alt="{html.escape(alt)}" src="{uri}"></p>' if uri else ""


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _ci(ci: Sequence[float] | None) -> str:
    return "–" if not ci else f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>")


def _write(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


# ---------------------------------------------------------------------------------- plots
def accuracy_bars(rows: list[dict], title: str) -> str | None:
    """Horizontal bars of accuracy per group with their bootstrap intervals."""
    rows = [r for r in rows if r.get("accuracy") is not None]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(rows) + 1.2))
    names = [r["name"] for r in rows][::-1]
    acc = [100 * r["accuracy"] for r in rows][::-1]
    lo = [100 * (r["accuracy"] - r["ci"][0]) if r.get("ci") else 0 for r in rows][::-1]
    hi = [100 * (r["ci"][1] - r["accuracy"]) if r.get("ci") else 0 for r in rows][::-1]
    ax.barh(names, acc, xerr=[lo, hi], color="#3a6ea5", capsize=3)
    ax.set_xlim(0, 100)
    ax.set_xlabel("accuracy (%)")
    ax.set_title(title)
    return _png(fig)


def length_vs_accuracy(lines: list[dict]) -> str | None:
    """Accuracy by description-length quartile: does the text bottleneck lose what longer texts keep?"""
    points = [(line["description_words"], line["verdict"] == "correct") for line in lines
              if "description_words" in line and line["verdict"] != "error"]
    if len(points) < 2:
        return None
    points.sort()
    bins = min(4, len(points))
    fig, ax = plt.subplots(figsize=(6, 3))
    xs, ys = [], []
    for b in range(bins):
        chunk = points[b * len(points) // bins:(b + 1) * len(points) // bins]
        if chunk:
            xs.append(sum(p[0] for p in chunk) / len(chunk))
            ys.append(100 * sum(p[1] for p in chunk) / len(chunk))
    ax.scatter([p[0] for p in points], [100 * p[1] for p in points], alpha=0.25, color="#999", label="items")
    ax.plot(xs, ys, marker="o", color="#c0504d", label="quantile bins")
    ax.set_xlabel("description length (words)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-5, 105)
    ax.legend(loc="best", fontsize=8)
    return _png(fig)


def heatmap(matrix: list[list[float | None]], rows: list[str], cols: list[str], title: str, *,
            label: str = "accuracy (%)", diverging: bool = False) -> str | None:
    """A perceiver × reasoner matrix in points; ``diverging`` centres the colours on 0 (drops)."""
    if not rows or not cols:
        return None
    fig, ax = plt.subplots(figsize=(1.6 * len(cols) + 2, 0.8 * len(rows) + 1.5))
    data = [[float("nan") if v is None else 100 * v for v in row] for row in matrix]
    bound = 100.0
    if diverging:
        bound = max([abs(v) for row in data for v in row if v == v] + [1.0])
        image = ax.imshow(data, cmap="RdBu_r", vmin=-bound, vmax=bound)
    else:
        image = ax.imshow(data, cmap="viridis", vmin=0, vmax=100)
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("reasoner")
    ax.set_ylabel("perceiver")
    for i, row in enumerate(data):
        for j, v in enumerate(row):
            if v == v:  # not NaN
                dark = abs(v) > 0.6 * bound if diverging else v < 60
                ax.text(j, i, f"{v:.1f}", ha="center", va="center", color="white" if dark else "black")
    fig.colorbar(image, ax=ax, label=label)
    ax.set_title(title)
    return _png(fig)


def drop_bars(rows: list[dict], series: Sequence[tuple[str, str]], title: str) -> str | None:
    """Grouped bars per category for several paired drops (e.g. perception vs reasoning)."""
    rows = [r for r in rows if any(r.get(key, {}).get("drop") is not None for key, _ in series)]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(rows)), 3.5))
    width = 0.8 / len(series)
    colors = ["#c0504d", "#4f81bd", "#9bbb59"]
    for s, (key, label) in enumerate(series):
        xs = [i + (s - (len(series) - 1) / 2) * width for i in range(len(rows))]
        drops = [100 * (r.get(key, {}).get("drop") or 0) for r in rows]
        err = [[100 * ((r[key]["drop"] - r[key]["ci"][0]) if r.get(key, {}).get("ci") else 0) for r in rows],
               [100 * ((r[key]["ci"][1] - r[key]["drop"]) if r.get(key, {}).get("ci") else 0) for r in rows]]
        ax.bar(xs, drops, width, yerr=err, capsize=3, label=label, color=colors[s % len(colors)])
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(rows)), [r["name"] for r in rows], rotation=30, ha="right")
    ax.set_ylabel("accuracy drop (points)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _png(fig)


# ---------------------------------------------------------------------------------- pages
def _accuracy_rows(rows: list[dict]) -> list[list[Any]]:
    return [[r["name"], r["n"], r["correct"], r["unparsed"], r["error"], _pct(r["accuracy"]), _ci(r.get("ci"))]
            for r in rows]


def render_run(summary: dict, lines: list[dict]) -> str:
    models = ", ".join(f"{k}: {v}" for k, v in summary["models"].items() if v) or "recorded responses"
    head = _table(
        ["", "value"],
        [["benchmark", summary["title"]], ["mode", summary["mode"]], ["models", models], ["items", summary["n"]],
         ["accuracy (micro)", f"{_pct(summary['accuracy'])} {_ci(summary['accuracy_ci'])}"],
         [f"accuracy (macro over {summary['macro_over']})", f"{_pct(summary['macro_accuracy'])} {_ci(summary['macro_ci'])}"],
         ["unparsed rate", _pct(summary["unparsed_rate"])], ["errors", json.dumps(summary["errors"]) or "{}"],
         ["prompts", json.dumps(summary.get("prompts", {}))]],
    )
    header = ["", "n", "correct", "unparsed", "error", "accuracy %", "95% CI"]
    body = [
        "<h2>Overview</h2>", head,
        "<h2>Per category</h2>", _table(header, _accuracy_rows(summary["categories"])),
        _img(accuracy_bars(summary["categories"], "accuracy per category"), "accuracy per category"),
    ]
    if summary["subcategories"]:
        body += ["<h2>Per subcategory</h2>",
                 _table(["category", *header], [[r["category"], *row] for r, row in
                                                 zip(summary["subcategories"], _accuracy_rows(summary["subcategories"]))])]
    plot = length_vs_accuracy(lines)
    if plot:
        body += ["<h2>Description length vs accuracy</h2>", _img(plot, "description length vs accuracy")]
    body += ["<h2>Settings</h2>", f"<pre class='small'>{html.escape(json.dumps(summary['settings'], indent=1))}</pre>"]
    return _page(f"finereason eval: {summary['title']} ({summary['mode']})", "".join(body))


def write_run_report(summary: dict, lines: list[dict], path: Path) -> Path:
    return _write(path, render_run(summary, lines))


def render_grid(grid: dict) -> str:
    perceivers, reasoners = grid["perceivers"], grid["reasoners"]
    body = ["<h2>Accuracy of every perceiver × reasoner pair</h2>"]
    rows = []
    for p in perceivers:
        rows.append([p, *(f"{_pct(grid['matrix'][p][r]['accuracy'])} {_ci(grid['matrix'][p][r]['accuracy_ci'])}"
                          for r in reasoners)])
    if grid.get("no_image"):
        rows.append(["(no image)", *(f"{_pct(grid['no_image'][r]['accuracy'])} {_ci(grid['no_image'][r]['accuracy_ci'])}"
                                     for r in reasoners)])
    body.append(_table(["perceiver \\ reasoner", *reasoners], rows))
    matrix = [[grid["matrix"][p][r]["accuracy"] for r in reasoners] for p in perceivers]
    body.append(_img(heatmap(matrix, perceivers, reasoners, "accuracy (%)"), "accuracy matrix"))
    att = grid.get("attribution")
    if att:
        base = grid["matrix"][att["large_perceiver"]][att["large_reasoner"]]["accuracy"]
        drops = [[None if base is None or v is None else base - v for v in row] for row in matrix]
        body.append(_img(heatmap(drops, perceivers, reasoners, "drop from the large pair (points)",
                                 label="accuracy drop (points)", diverging=True), "drop matrix"))
        body.append("<h2>Attribution: shrink only the perceiver vs only the reasoner</h2>")
        body.append(f"<p class='small'>baseline: perceiver <code>{att['large_perceiver']}</code> + reasoner "
                    f"<code>{att['large_reasoner']}</code>; drops are baseline minus the shrunk pair, paired over "
                    "the same items, with 95% bootstrap intervals (points).</p>")
        series = [("perception_drop", "perceiver shrinks"), ("reasoning_drop", "reasoner shrinks")]
        if any("no_image_gap" in r for r in att["rows"]):
            series.append(("no_image_gap", "no image (visual reliance)"))
        header = ["category", "baseline acc %", *[f"{label} (drop)" for _, label in series]]
        table_rows = []
        for r in att["rows"]:
            cells = [r["name"], _pct(r["baseline"])]
            for key, _ in series:
                d = r.get(key) or {}
                cells.append("–" if d.get("drop") is None else f"{100 * d['drop']:+.1f} {_ci(d.get('ci'))}")
            table_rows.append(cells)
        body.append(_table(header, table_rows))
        body.append(_img(drop_bars(att["rows"], series, "accuracy drop per category"), "drop per category"))
    body.append("<h2>Runs</h2>")
    body.append(_table(["run", "perceiver", "reasoner", "accuracy %", "unparsed %", "errors", "folder"],
                       [[r["name"], r["perceiver"] or "–", r["reasoner"], _pct(r["accuracy"]), _pct(r["unparsed_rate"]),
                         sum(r["errors"].values()), r["out"]] for r in grid["runs"]]))
    body += ["<h2>Config</h2>", f"<pre class='small'>{html.escape(json.dumps(grid['config'], indent=1))}</pre>"]
    return _page(f"finereason eval-grid: {grid['benchmark']}", "".join(body))


def write_grid_report(grid: dict, path: Path) -> Path:
    return _write(path, render_grid(grid))
