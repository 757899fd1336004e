"""The dataset card (README.md): what is in a dataset or an export, where it came from, how to load it.

``finereason report`` writes one for any dataset folder from :class:`DatasetStats`; ``finereason
export`` writes one for the exported files, from per-shard summaries its workers return (so the
card describes exactly what was exported, without reading the output back). The card is plain
Markdown tables (no plots), with Hugging Face YAML front matter so a hub upload shows the right
license and loads the right files.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from finereason import __version__
from finereason.report.stats import DatasetStats, manifest_chain
from finereason.schema import Sample
from finereason.select.subsets import flag_code

_THINK = re.compile(r"<think>(.*?)</think>", re.S)


def reasoning_words(response: str | None) -> int | None:
    """Words of the reasoning: the ``<think>`` block if there is one, else the whole response."""
    if not response:
        return None
    m = _THINK.search(response)
    return len((m.group(1) if m else response).split())


def summarize(samples: Iterable[Sample]) -> dict[str, Any]:
    """A JSON-able summary of some samples (one shard), merged later by :func:`stats_from_summaries`."""
    sources: Counter[str] = Counter()
    domains: Counter[str] = Counter()
    verdicts: Counter[str] = Counter()
    flags: Counter[str] = Counter()
    pass_rates: list[float] = []
    words: list[int] = []
    captions: list[int] = []
    n = 0
    for s in samples:
        n += 1
        sources[s.source] += 1
        domains[s.domain or "unknown"] += 1
        if s.verdict:
            verdicts[s.verdict] += 1
        flags.update(flag_code(f) for f in s.flags)
        if s.pass_rate is not None:
            pass_rates.append(s.pass_rate)
        if (w := reasoning_words(s.response)) is not None:
            words.append(w)
        if s.caption:
            captions.append(len(s.caption.split()))
    return {"samples": n, "sources": sources, "domains": domains, "verdicts": verdicts, "flags": flags,
            "pass_rates": pass_rates, "reasoning_words": words, "caption_words": captions}


def stats_from_summaries(summaries: Iterable[dict[str, Any]], manifest: dict[str, Any]) -> DatasetStats:
    st = DatasetStats()
    for s in summaries:
        st.samples += s["samples"]
        st.sources.update(s["sources"])
        st.domains.update(s["domains"])
        st.verdicts.update(s["verdicts"])
        st.flags.update(s["flags"])
        st.pass_rates.extend(s["pass_rates"])
        st.reasoning_words.extend(s["reasoning_words"])
        st.caption_words.extend(s["caption_words"])
    st.manifests = manifest_chain(manifest)
    for m in st.manifests:
        if m.get("rejected"):
            st.rejections[m.get("stage", "?")] = dict(m["rejected"])
    return st


@dataclass(frozen=True)
class ExportInfo:
    """What an export wrote, for the card's loading instructions and file list."""

    format: str
    name: str
    images: str  # "files" or "embed"
    image_paths: str
    data_files: int
    image_files: int
    license: str


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _counts(title: str, key: str, counts: Counter[str], total: int) -> str:
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    rows = [[k, v, f"{v / total:.1%}" if total else "-"] for k, v in ordered]
    return f"## {title}\n\n" + _table([key, "samples", "share"], rows)


def _pass_rate_section(st: DatasetStats) -> str:
    rates = st.pass_rates
    unscored = st.samples - len(rates)
    if not rates:
        return "## Pass rate\n\nNo sample has a pass rate (difficulty was not scored)."
    distinct = sorted(set(rates))
    if len(distinct) <= 11:  # k/n fractions of a k-sample scorer: one row per value
        buckets = [(f"{v:g}", sum(1 for r in rates if r == v)) for v in distinct]
    else:
        edges = np.linspace(0.0, 1.0, 11)
        hist, _ = np.histogram(rates, bins=edges)
        buckets = [(f"[{a:.1f}, {b:.1f}{']' if i == 9 else ')'}", int(h))
                   for i, (a, b, h) in enumerate(zip(edges, edges[1:], hist))]
    peak = max(c for _, c in buckets) or 1
    rows = [[label, count, f"{count / len(rates):.1%}", "█" * round(20 * count / peak)] for label, count in buckets]
    text = "## Pass rate\n\nShare of the student's samples that were correct (0 = hardest).\n\n"
    text += _table(["pass rate", "samples", "share", ""], rows)
    if unscored:
        text += f"\n\n{unscored} sample(s) have no pass rate."
    return text


def _length_section(words: list[int]) -> str:
    if not words:
        return "## Reasoning length\n\nNo responses."
    a = np.asarray(words)
    p25, p50, p75, p95 = np.percentile(a, [25, 50, 75, 95])
    row = [len(a), f"{a.mean():.0f}", *(f"{p:.0f}" for p in (p50, p25, p75, p95)), int(a.min()), int(a.max())]
    return ("## Reasoning length\n\nWords (whitespace-separated) inside `<think>…</think>`, or of the whole "
            "response where there is no think block.\n\n"
            + _table(["responses", "mean", "median", "p25", "p75", "p95", "min", "max"], [row]))


def _rejections_section(st: DatasetStats) -> str:
    if not st.rejections:
        return "## Rejections\n\nNo stage recorded rejections."
    rows = [[stage, reason, count] for stage, reasons in st.rejections.items()
            for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1])]
    return ("## Rejections\n\nSamples removed along the way, by stage (newest first) and reason; each "
            "stage keeps them, with details, in its `rejected/` folder.\n\n"
            + _table(["stage", "reason", "samples"], rows))


def _usage(info: ExportInfo) -> str:
    if info.format == "llamafactory":
        return (
            "## Use it\n\nLLaMA-Factory (`dataset_info.json` is in this folder; images resolve against it):\n\n"
            f"```yaml\ndataset_dir: /path/to/this/folder\ndataset: {info.name}\ntemplate: qwen3_vl\n"
            "cutoff_len: 32768   # long enough for image tokens + reasoning, or training fails on truncated images\n```"
        )
    if info.format == "swift":
        where = ("Image paths are absolute." if info.image_paths == "absolute" else
                 "Image paths are relative to this folder; ms-swift resolves them against the working directory, "
                 "so run it from here.")
        return (f"## Use it\n\nms-swift, one `--dataset` per shard. {where}\n\n"
                "```bash\nswift sft --dataset data/train-*.jsonl ...\n```")
    loader = ('from datasets import load_dataset\n'
              'ds = load_dataset("parquet", data_files="/path/to/this/folder/data/train-*.parquet", split="train")\n'
              'ds[0]["images"]  # a list of PIL images')
    extra = {
        "trl": ("\n\nTRL: `SFTTrainer(..., train_dataset=ds, processing_class=processor)` with "
                "`SFTConfig(max_length=None)` so image tokens are never truncated."),
        "trl-rl": ("\n\nTRL: `GRPOTrainer(..., train_dataset=ds, reward_funcs=[finereason.reward.TrlReward()])`, "
                   "or `finereason train rl`; the reward reads the answer, answer_type and options columns."),
        "verl": ("\n\nverl: `data.train_files=[.../data/train-*.parquet]`, "
                 "`custom_reward_function.path=<finereason>/reward/__init__.py`, "
                 "`custom_reward_function.name=compute_score` (or `finereason train export-config --to verl`)."),
    }.get(info.format, "")
    return f"## Use it\n\n```python\n{loader}\n```{extra}"


def _front_matter(title: str, info: ExportInfo | None) -> str:
    lines = ["---", f"license: {info.license if info else 'other'}", f"pretty_name: {json.dumps(title)}",
             "task_categories:", "- image-text-to-text", "tags:", "- multimodal", "- reasoning",
             "- chain-of-thought", "- finereason"]
    if info is not None:
        suffix = "jsonl" if info.images == "files" else "parquet"
        lines += ["configs:", "- config_name: default", "  data_files:", "  - split: train",
                  f"    path: data/train-*.{suffix}"]
    return "\n".join(lines + ["---"])


def render_card(st: DatasetStats, title: str, export: ExportInfo | None = None) -> str:
    parts = [_front_matter(title, export), f"# {title}"]
    what = f"{st.samples} samples"
    if export is not None:
        what += (f" exported as **{export.format}** in {export.data_files} file(s) under `data/`"
                 + (f", with {export.image_files} image files under `images/`" if export.images == "files" else
                    ", images embedded"))
    parts.append(f"{what}. Built with finereason {__version__} (MMFineReason recipe, arXiv 2601.21821).")
    if export is not None:
        parts.append(_usage(export))
    parts.append(_counts("Sources", "source", st.sources, st.samples))
    parts.append(_counts("Domains", "domain", st.domains, st.samples))
    parts.append(_pass_rate_section(st))
    if st.verdicts:
        parts.append(_counts("Verdicts", "verdict", st.verdicts, st.samples))
    parts.append(_length_section(st.reasoning_words))
    if st.flags:
        codes: Counter[str] = Counter()
        for flag, n in st.flags.items():  # full flag texts carry details; the card counts by code
            codes[flag_code(flag)] += n
        parts.append(_counts("Quality flags", "flag", codes, st.samples))
    parts.append(_rejections_section(st))
    lic = export.license if export else "not set"
    parts.append(
        f"## License\n\nLicense field: `{lic}`. The samples keep the terms of their sources (listed above) and "
        "the responses those of the model that wrote them; check both before redistributing."
    )
    return "\n\n".join(parts) + "\n"


def write_card(st: DatasetStats, path: str | Path, title: str, export: ExportInfo | None = None) -> Path:
    """Write the card to ``path`` (usually ``README.md`` of the dataset or export) and return it."""
    out = Path(path)
    out.write_text(render_card(st, title, export), encoding="utf-8")
    return out
