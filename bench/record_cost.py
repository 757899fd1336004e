"""Cost of one record as its text grows from 1 KB to 10 MB: time and peak memory per step.

Each (shape, size, step) runs in a fresh subprocess that builds one record, notes its peak RSS,
runs the step once and reports CPU time and the peak RSS added by the step. The steps are what
every record pays: parsing its JSON line (ingest), rule-based cleaning with the text limit
lifted (clean's text normalisation, options, answer), the same record refused by the default
``--max-text-chars`` (``text_too_long``), and dedup's signature (tokens, exact key, MinHash).
Shapes are ordinary prose and the adversarial ones that used to cost n² (an indented line of
n spaces; a line of n ``[``).

Bounded cost means: ``too_long`` flat in ms whatever the size (the default limit refuses the
text before any costly step; here the limit is set just under the text), the other steps flat in
µs per KB (linear time), and peak memory a small multiple of the text (MinHash reads at most
its first 20,000 characters, so it adds nothing with size).

    python bench/record_cost.py [--sizes 1e3 1e4 1e5 1e6 1e7] [--shapes prose spaces brackets]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from rich.console import Console
from rich.table import Table

STEPS = ("parse", "clean", "too_long", "dedup")
SHAPES = ("prose", "spaces", "brackets")


def make_text(shape: str, size: int) -> str:
    if shape == "prose":
        unit = "In triangle ABC, AB = 3 and BC = 4.\nFind the length of AC (in cm), given angle B = 90°. "
        return (unit * (size // len(unit) + 1))[:size]
    if shape == "spaces":
        return "Which line?\n" + " " * (size - 21) + "This one."
    return "[" * size


def measure(shape: str, size: int, step: str) -> dict[str, float]:
    """Run in the child process: one record of ``size`` characters through ``step``."""
    from finereason.clean.stage import CleanStage
    from finereason.dedup.signatures import DedupSettings, sign_rows
    from finereason.io.readers.jsonlines import parse_line
    from finereason.schema import Sample

    text = make_text(shape, size)
    line = json.dumps({"question": text, "answer": "5"}).encode()
    sample = Sample(id="x", source="bench", question=text, answer="5")
    settings = DedupSettings()
    cols = {"id": ["x"], "question": [text], "options": [[]], "answer": ["5"], "images": [[]]}
    run = {
        "parse": lambda: parse_line(line),
        "clean": lambda: CleanStage(max_text_chars=len(text))([sample]),
        "too_long": lambda: CleanStage(max_text_chars=min(len(text) - 1, 100_000))([sample]),
        "dedup": lambda: sign_rows(cols, settings, None),
    }[step]
    # Warm up on a 100-character record: imports, compiled patterns, MinHash permutations are
    # paid once per process, not per record.
    small = make_text(shape, 100)
    parse_line(json.dumps({"question": small, "answer": "5"}).encode())
    CleanStage()([Sample(id="w", source="bench", question=small, answer="5")])
    CleanStage(max_text_chars=10)([Sample(id="w", source="bench", question=small, answer="5")])
    sign_rows({**cols, "question": [small]}, settings, None)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.process_time()
    run()
    cpu = time.process_time() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"cpu_s": cpu, "peak_add_mib": (peak - base) / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", type=float, default=[1e3, 1e4, 1e5, 1e6, 1e7])
    ap.add_argument("--shapes", nargs="+", choices=SHAPES, default=list(SHAPES))
    ap.add_argument("--child", nargs=3, metavar=("SHAPE", "SIZE", "STEP"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        shape, size, step = args.child
        print(json.dumps(measure(shape, int(size), step)))
        return
    table = Table(title="one record by text size: CPU ms (µs per KB), and peak RSS the step adds (MiB)")
    for col in ("shape", "chars", *(f"{s} ms (µs/KB)" for s in STEPS), *(f"{s} +MiB" for s in STEPS)):
        table.add_column(col, justify="right")
    for shape in args.shapes:
        for size in map(int, args.sizes):
            cells = {}
            for step in STEPS:
                out = subprocess.run([sys.executable, __file__, "--child", shape, str(size), step],
                                     capture_output=True, text=True, check=True)
                cells[step] = json.loads(out.stdout)
            kb = size / 1e3
            table.add_row(shape, f"{size:,}",
                          *(f"{1e3 * cells[s]['cpu_s']:,.2f} ({1e6 * cells[s]['cpu_s'] / kb:,.1f})" for s in STEPS),
                          *(f"{cells[s]['peak_add_mib']:,.1f}" for s in STEPS))
    Console(width=220).print(table)


if __name__ == "__main__":
    main()
