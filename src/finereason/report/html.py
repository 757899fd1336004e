"""A self-contained HTML report: every plot embedded as a PNG data URI, no external assets.

matplotlib renders with the Agg backend (no display needed on a cluster node).
"""

from __future__ import annotations

import base64
import html
import io
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from finereason.report.stats import DatasetStats  # noqa: E402


def _png(fig: plt.Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _hist(values: list[float], title: str, xlabel: str, bins: int = 40) -> str | None:
    if not values:
        return None
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(values, bins=bins, color="#3a6ea5")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("samples")
    return _png(fig)


def _bars(counts: Counter[str] | dict[str, int], title: str) -> str | None:
    if not counts:
        return None
    items = sorted(counts.items(), key=lambda kv: -kv[1])[:30]
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(items) + 1))
    ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color="#5a9a5a")
    ax.set_title(title)
    return _png(fig)


def _table(counts: dict[str, int] | Counter[str], head: tuple[str, str]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{v}</td></tr>"
        for k, v in sorted(counts.items(), key=lambda kv: -kv[1])
    )
    return f"<table><tr><th>{head[0]}</th><th>{head[1]}</th></tr>{rows}</table>"


def render(st: DatasetStats, title: str) -> str:
    rej_flat = Counter({f"{stage}: {reason}": n for stage, rs in st.rejections.items() for reason, n in rs.items()})
    plots = [
        _hist(st.reasoning_words, "Reasoning length (<think> words)", "words"),
        _hist(st.caption_words, "Caption length", "words"),
        _hist(st.pass_rates, "Student pass rate", "pass rate", bins=9),
        _bars(st.domains, "Domain mix"),
        _bars(st.sources, "Source mix"),
        _bars(rej_flat, "Rejections by stage and reason"),
    ]
    figs = "".join(f'<img src="{p}" alt="plot">' for p in plots if p)
    stages = "".join(
        f"<tr><td>{html.escape(m.get('stage', '?'))}</td><td>{m.get('records_in', '')}</td>"
        f"<td>{m.get('records_out', '')}</td><td>{m.get('elapsed_s', '')}</td></tr>"
        for m in reversed(st.manifests)
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}img{{max-width:48%;margin:4px}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:2px 8px}}</style></head><body>
<h1>{html.escape(title)}</h1><p>{st.samples} samples.</p>
<h2>Stages</h2><table><tr><th>stage</th><th>in</th><th>out</th><th>seconds</th></tr>{stages}</table>
<h2>Plots</h2>{figs}
<h2>Verdicts</h2>{_table(st.verdicts, ("verdict", "samples"))}
<h2>Flags</h2>{_table(st.flags, ("flag", "samples"))}
<h2>Rejections</h2>{_table(rej_flat, ("stage: reason", "samples"))}
</body></html>"""


def write_report(st: DatasetStats, out: Path, title: str) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(st, title), encoding="utf-8")
    return out
