"""A self-contained HTML report: funnel, tokens and cost, plots, and a browser over the samples themselves.

Everything is embedded (plots as PNG data URIs, thumbnails as JPEG data URIs, the browser's
script and style from this folder), so the file can be mailed or opened from a cluster's
shared disk. matplotlib renders with the Agg backend (no display needed on a cluster node).
Data reaches the page as JSON inside a ``<script type="application/json">`` and is written
into the page as text, never as HTML, so a sample cannot inject markup or script.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from finereason.report.funnel import StageRow  # noqa: E402
from finereason.report.samples import Pick  # noqa: E402
from finereason.report.stats import DatasetStats  # noqa: E402

_HERE = Path(__file__).parent
NONE = '<p class="none">none</p>'


def _png(fig: plt.Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _figure(title: str, uri: str | None) -> str:
    body = f'<img src="{uri}" alt="{html.escape(title)}">' if uri else NONE
    return f'<figure><figcaption>{html.escape(title)}</figcaption>{body}</figure>'


def _hist(values: list[float], xlabel: str, bins: int = 40) -> str | None:
    """A histogram; one distinct value gets an axis around it (not matplotlib's ±0.5 default around 0)."""
    if not values:
        return None
    low, high = min(values), max(values)
    if low == high:
        half = max(1.0, abs(low) * 0.1)
        low, high, bins = low - half, high + half, 3
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(values, bins=bins, range=(low, high), color="#3a6ea5")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("samples")
    return _png(fig)


def _pass_rates(values: list[float]) -> str | None:
    """Pass rates are multiples of 1/k on [0, 1]: one bar per value, on a fixed 0-1 axis."""
    if not values:
        return None
    counts = Counter(round(v, 4) for v in values)
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(list(counts), list(counts.values()), width=0.04, color="#3a6ea5")
    ax.set_xlim(-0.05, 1.05)
    ax.set_xlabel("pass rate (share of the student's k answers graded correct)")
    ax.set_ylabel("samples")
    return _png(fig)


def _bars(counts: Counter[str] | dict[str, int]) -> str | None:
    if not counts:
        return None
    items = sorted(counts.items(), key=lambda kv: -kv[1])[:30]
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(items) + 1))
    ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color="#5a9a5a")
    ax.set_xlabel("samples")
    return _png(fig)


def _table(counts: dict[str, int] | Counter[str], head: tuple[str, str]) -> str:
    if not counts:
        return NONE
    rows = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td class=num>{v}</td></tr>"
        for k, v in sorted(counts.items(), key=lambda kv: -kv[1])
    )
    return f"<table><tr><th>{head[0]}</th><th>{head[1]}</th></tr>{rows}</table>"


def _funnel(stages: list[StageRow]) -> str:
    if not stages:
        return NONE
    rows = []
    for s in stages:
        reasons = ", ".join(f"{html.escape(r)}: {n}" for r, n in sorted(s.rejected.items(), key=lambda kv: -kv[1]))
        rows.append(f"<tr><td>{html.escape(s.stage)}</td><td class=num>{s.records_in}</td>"
                    f"<td class=num>{s.records_out}</td><td>{reasons or 'none'}</td>"
                    f"<td class=num>{s.elapsed_s if s.elapsed_s is not None else ''}</td></tr>")
    table = ("<table class=funnel><tr><th>stage</th><th>in</th><th>out</th><th>rejected, by reason</th>"
             f"<th>seconds</th></tr>{''.join(rows)}</table>")
    return table + _rejected(stages)


def _rejected(stages: list[StageRow]) -> str:
    parts = []
    for s in stages:
        for reason, n in sorted(s.rejected.items(), key=lambda kv: -kv[1]):
            examples = s.examples.get(reason, [])
            items = "".join(
                f"<li><code>{html.escape(e['id'])}</code> ({html.escape(e['source'])}): "
                f"{html.escape(e['question'])}<br><span class=detail>{html.escape(e['detail'])}</span></li>"
                for e in examples
            )
            where = "" if examples else (
                "<p class=none>no rejected samples found" + (f" in {html.escape(s.folder)}" if s.folder else
                                                             " (the stage's folder has moved)") + "</p>")
            parts.append(f"<details class=rejected><summary>{html.escape(s.stage)}: {html.escape(reason)} "
                         f"({n})</summary><ul>{items}</ul>{where}</details>")
    return "<h3>Rejected samples, a few per reason</h3>" + ("".join(parts) or NONE)


def _usd(amount: float) -> str:
    """Dollars to the cent, or to 3 significant digits below a dollar (a small run is not "$0.00")."""
    return f"${amount:,.2f}" if amount >= 1 or amount == 0 else f"${amount:.3g}"


def _tokens(stages: list[StageRow]) -> str:
    used = [s for s in stages if s.prompt_tokens or s.completion_tokens]
    if not used:
        return NONE
    rows, cost_known = [], all(s.cost_usd is not None for s in used)
    for s in used:
        cost = _usd(s.cost_usd) if s.cost_usd is not None else "no --price given"
        rows.append(f"<tr><td>{html.escape(s.stage)}</td><td>{html.escape(s.model or '')}</td>"
                    f"<td class=num>{s.prompt_tokens:,}</td><td class=num>{s.completion_tokens:,}</td><td>{cost}</td></tr>")
    total_cost = _usd(sum(s.cost_usd or 0 for s in used)) if cost_known else "unknown"
    rows.append(f"<tr class=total><td>total</td><td></td><td class=num>{sum(s.prompt_tokens for s in used):,}</td>"
                f"<td class=num>{sum(s.completion_tokens for s in used):,}</td><td>{total_cost}</td></tr>")
    return ("<table><tr><th>stage</th><th>model</th><th>prompt tokens</th><th>completion tokens</th>"
            f"<th>cost</th></tr>{''.join(rows)}</table>")


def _json_script(element_id: str, data: object) -> str:
    # "</script>" or "<!--" in the data would end or confuse the script element: <, > and & go as
    # JSON's \u escapes, which JSON.parse reads back unchanged.
    text = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def render(st: DatasetStats, title: str, stages: list[StageRow], pick: Pick) -> str:
    plots = "".join([
        _figure("Reasoning length (<think> words)", _hist(st.reasoning_words, "words")),
        _figure("Caption length", _hist(st.caption_words, "words")),
        _figure("Student pass rate", _pass_rates(st.pass_rates)),
        _figure("Domain mix", _bars(st.domains)),
        _figure("Source mix", _bars(st.sources)),
    ])
    browser_info = {"total": pick.total, "shown": len(pick.rows), "seed": pick.seed, "limit": pick.limit}
    style = (_HERE / "browser.css").read_text(encoding="utf-8")
    script = (_HERE / "browser.js").read_text(encoding="utf-8")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{style}</style></head><body>
<h1>{html.escape(title)}</h1><p>{st.samples} samples.</p>
<nav><a href="#browser">Samples</a> · <a href="#funnel">Stage funnel</a> · <a href="#tokens">Tokens and cost</a>
 · <a href="#plots">Plots</a> · <a href="#tables">Verdicts and flags</a></nav>
<h2 id="browser">Samples</h2>
<p id="sample-note"></p>
<div id="filters">
<label>source <select id="f-source"></select></label>
<label>verdict <select id="f-verdict"></select></label>
<label>flag <select id="f-flag"></select></label>
<label>pass rate <select id="f-pass"></select></label>
<span id="f-count"></span>
<button id="prev" type="button">previous</button><span id="page"></span><button id="next" type="button">next</button>
</div>
<div id="samples"></div>
<h2 id="funnel">Stage funnel</h2>{_funnel(stages)}
<h2 id="tokens">Tokens and cost</h2>{_tokens(stages)}
<h2 id="plots">Plots</h2><div class=plots>{plots}</div>
<h2 id="tables">Verdicts and flags</h2>
<h3>Verdicts</h3>{_table(st.verdicts, ("verdict", "samples"))}
<h3>Flags</h3>{_table(st.flags, ("flag", "samples"))}
{_json_script("sample-data", pick.rows)}{_json_script("sample-info", browser_info)}
<script>{script}</script>
</body></html>"""


def write_report(st: DatasetStats, out: Path, title: str, stages: list[StageRow], pick: Pick) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(st, title, stages, pick), encoding="utf-8")
    return out
