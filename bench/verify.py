"""Benchmark the verification cascade: verifications per second per core, and who decides.

The mix: the 70 real release pairs (teacher answer vs standardised reference), replicated, plus
synthetic numeric, multiple-choice and symbolic-expression pairs (half equivalent, half not).
Cheap steps run in this process; pairs they cannot decide go to the math worker pool.

    PYTHONPATH=src python bench/verify.py [--replicate 20] [--synthetic 600] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections import Counter
from fractions import Fraction
from pathlib import Path

from finereason.verify import Verdict, Verifier, VerifyItem, extract_answer

FIXTURE = Path(__file__).resolve().parents[2] / "shared/fixtures/mmfinereason-sample/records.jsonl"
STEPS = ("exact", "choice", "numeric", "math_verify", "judge", "none")


def fixture_pairs(path: Path) -> list[VerifyItem]:
    items = []
    for line in path.read_text().splitlines():
        r = json.loads(line)
        found = extract_answer(r["qwen3vl_235b_thinking_response"])
        items.append(VerifyItem(found.text if found else None, r["answer"], question=r["question"]))
    return items


def numeric_pairs(rng: random.Random, n: int) -> list[VerifyItem]:
    out = []
    for _ in range(n):
        a, b = rng.randint(-500, 500), rng.randint(2, 40)
        value = Fraction(a, b)
        gold, pred = rng.choice([
            (f"{a}", f"{a}.0"),
            (f"\\frac{{{a}}}{{{b}}}", f"{a}/{b}"),
            (f"{float(value):.3f}", f"{a}/{b}"),
            (f"{abs(a)}%", f"{abs(a) / 100:g}"),
            (f"{a} cm", f"{a}"),
        ])
        if rng.random() < 0.5:
            pred = f"{a + rng.choice([-1, 1])}"
        out.append(VerifyItem(pred, gold))
    return out


def choice_pairs(rng: random.Random, n: int) -> list[VerifyItem]:
    out = []
    for _ in range(n):
        k = rng.randint(3, 6)
        options = [f"{rng.randint(1, 999)} apples" for _ in range(k)]
        gold = chr(ord("A") + rng.randrange(k))
        letter = gold if rng.random() < 0.5 else chr(ord("A") + rng.randrange(k))
        pred = rng.choice([letter, f"({letter})", f"The answer is {letter}.", f"Answer: {letter}",
                           options[ord(letter) - ord("A")].split()[0]])
        out.append(VerifyItem(pred, gold, options=options))
    return out


def expression_pairs(rng: random.Random, n: int) -> list[VerifyItem]:
    out = []
    for _ in range(n):
        a, b = rng.randint(1, 9), rng.randint(2, 9)
        wrong = rng.random() < 0.5
        d = 1 if wrong else 0
        gold, pred = rng.choice([
            (f"(x+{a})^2", f"x^2+{2 * a + d}x+{a * a}"),
            (f"\\frac{{{a}}}{{{b}}}\\sqrt{{2}}", f"\\frac{{{a + d}\\sqrt{{2}}}}{{{b}}}"),
            (f"x^{{{a}}} \\cdot x^{{{b}}}", f"x^{{{a + b + d}}}"),
            (f"{a}\\pi", f"\\pi \\cdot {a + d}"),
            (f"\\sqrt{{{a * a * b}}}", f"{a + d}\\sqrt{{{b}}}"),
        ])
        out.append(VerifyItem(pred, gold))
    return out


def run(verifier: Verifier, items: list[VerifyItem]) -> tuple[list[Verdict], float]:
    t0 = time.perf_counter()
    verdicts = verifier.verify_many(items)
    return verdicts, time.perf_counter() - t0


def render(title: str, header: list[str], rows: list[list[str]]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
        print(f"\n{title}")
        for row in [header, ["-" * w for w in widths], *rows]:
            print("  ".join(str(c).rjust(w) for c, w in zip(row, widths)))
        return
    table = Table(title=title)
    for h in header:
        table.add_column(h, justify="right")
    for row in rows:
        table.add_row(*map(str, row))
    Console().print(table)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--replicate", type=int, default=20, help="copies of the 70 fixture pairs")
    ap.add_argument("--synthetic", type=int, default=600, help="pairs per synthetic kind")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    rng = random.Random(args.seed)
    parts = {
        "fixture": fixture_pairs(FIXTURE) * args.replicate if FIXTURE.exists() else [],
        "numeric": numeric_pairs(rng, args.synthetic),
        "choice": choice_pairs(rng, args.synthetic),
        "expression": expression_pairs(rng, args.synthetic),
    }
    items = [it for group in parts.values() for it in group]
    rng.shuffle(items)

    results = {}
    for workers in sorted({1, args.workers}):
        with Verifier(timeout_s=args.timeout, workers=workers) as v:
            v.verify("\\sqrt{12}", "2\\sqrt{3}")  # start the pool; start-up is not what we measure
            results[workers] = run(v, items)
            per_part = {name: run(v, group) for name, group in parts.items() if group}

    cores = os.cpu_count() or 1
    # per core = throughput / processes that can run at once (this process + workers, <= cores)
    summary = []
    for workers, (_, secs) in results.items():
        rate = len(items) / secs
        summary.append([workers, cores, len(items), f"{secs:.2f}", f"{rate:,.0f}",
                        f"{rate / min(cores, workers + 1):,.0f}"])
    render("Throughput (whole mix)",
           ["workers", "cores", "pairs", "seconds", "verif/s", "verif/s/core"], summary)

    verdicts = results[args.workers][0]
    columns = list(per_part) + ["all"]
    counts = {name: Counter(v.verdict_by for v in per_part[name][0]) for name in per_part}
    counts["all"] = Counter(v.verdict_by for v in verdicts)
    sizes = {name: len(parts[name]) for name in per_part} | {"all": len(items)}
    rows = [[step] + [f"{counts[c][step] / sizes[c]:.1%}" for c in columns]
            for step in STEPS if any(counts[c][step] for c in columns)]
    rows.append(["pairs/s"] + [f"{sizes[c] / per_part[c][1]:,.0f}" for c in per_part]
                + [f"{len(items) / results[args.workers][1]:,.0f}"])
    render(f"Share decided at each step (workers={args.workers})", ["step"] + columns, rows)

    labels = Counter(v.verdict for v in verdicts)
    render("Verdicts", ["verdict", "count", "share"],
           [[k, n, f"{n / len(items):.1%}"] for k, n in labels.most_common()])
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average at the end: {load} on {cores} cores "
          "(throughput is only comparable on an otherwise idle machine)")


if __name__ == "__main__":
    main()
