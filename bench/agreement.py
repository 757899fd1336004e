"""Agreement of our benchmark scoring with the official verdicts, per model and pooled, in and out of sample.

The development set (``../shared/fixtures/mathvista-dev``): MathVista testmini outputs of several
models, each with the official GPT-4 extraction's verdict (``true_false``) and the official
accuracy table (``scores_<model>.json``). For every ``output_<model>.json`` in the folder this
prints: agreement of our verdict (correct or not) with the official one, our accuracy, the
official accuracy, the gap, and our unparsed rate.

Two out-of-sample readings, both printed:

* **holdout**: the prose rules (``finereason.evaluate.statements``) were written while looking only
  at the ``--dev`` models' outputs; the ``--holdout`` models were scored once the rules were set.
  Their rows and pool are out of sample; the dev rows are *in sample*.
* **leave-one-model-out (rule choice)**: for each model, the subset of prose rules that agrees best
  with the official verdicts on the *other* models is chosen and scored on the model left out. It
  re-runs the one decision that is fitted mechanically (which rules to use); the rules' wording
  was written by hand on the dev models, so for dev models this is still not a fully clean estimate.

An item the official file has no verdict for counts as officially not correct (the official
scorer counts only ``true_false`` items that are true). Two kinds of official "correct" cannot be
reached from the recorded reply without guessing, and are counted in the ``ungrounded`` column:
an empty reply, and an extraction that is neither an option letter nor an option's text, which the
official scorer snaps to the closest option by edit distance ("N/A" → the shortest choice). The
``grounded`` column is the official accuracy without them, ``gap*`` ours minus that, and ``agree*``
the agreement with the official verdicts when those are read as not correct.

Every column before ``|`` is the default strict protocol. After it, the same scoring under
``eval --protocol official`` (the deterministic part of the official scorer: empty reply → "" →
normalised; an extraction of ours naming no choice → the most similar choice; numbers normalised
as officially): ``agree_o`` its agreement with the official verdicts, ``ours_o`` its accuracy,
``gap_o`` that minus the official accuracy, ``snap`` and ``empty`` how many verdicts the
nearest-choice snap and an empty reply decided. The leave-one-model-out rule choice is made on
the strict agreement.
Nothing is timed.

    PYTHONPATH=src python bench/agreement.py [--dir DIR] [--holdout gpt4,mplugowl_7b_ft]
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from finereason.evaluate.benchmarks.mathvista import MathVista
from finereason.evaluate.items import EvalItem
from finereason.evaluate.statements import PROSE_RULES

DEV_DIR = Path(__file__).resolve().parents[2] / "shared/fixtures/mathvista-dev"
#: Chosen before any rule was written, and not looked at while writing them.
HOLDOUT = ("gpt4", "mplugowl_7b_ft")


@dataclass
class ModelRun:
    """One model's official verdicts and accuracy, in a fixed item order."""

    name: str
    ids: list[str]
    responses: list[str]
    official: list[bool]
    official_accuracy: float
    #: The official verdicts with those that have no basis in the reply (empty reply, or an
    #: edit-distance snap) read as not correct.
    grounded: list[bool]

    @property
    def ungrounded(self) -> int:
        return sum(self.official) - sum(self.grounded)


@dataclass
class Row:
    name: str
    n: int
    agree: int
    ours_correct: int
    unparsed: int
    official_accuracy: float
    ungrounded: int
    agree_grounded: int
    #: The same under ``--protocol official``: agreement, correct count, verdicts decided by the
    #: nearest-choice snap and by an empty reply.
    agree_official: int
    official_correct: int
    snapped: int
    empty: int

    @property
    def agreement(self) -> float:
        return self.agree / self.n

    @property
    def accuracy(self) -> float:
        return 100 * self.ours_correct / self.n

    @property
    def agreement_grounded(self) -> float:
        return self.agree_grounded / self.n

    @property
    def grounded_accuracy(self) -> float:
        return self.official_accuracy - 100 * self.ungrounded / self.n


def snapped(record: dict) -> bool:
    """The official extraction names no option (neither "(X)", a letter, nor a choice's text), so
    MathVista's ``normalize_extracted_answer`` replaced it by the most similar choice."""
    if record.get("question_type") != "multi_choice" or not isinstance(record.get("choices"), list):
        return False
    extraction = str(record.get("extraction") or "").strip()
    bracketed = re.findall(r"\(([a-zA-Z])\)", extraction)
    if bracketed:
        extraction = bracketed[0].upper()
    letters = [chr(ord("A") + i) for i in range(len(record["choices"]))]
    return extraction not in letters and extraction not in record["choices"]


def load_runs(folder: Path) -> list[ModelRun]:
    runs = []
    for path in sorted(folder.glob("output_*.json")):
        name = path.stem.removeprefix("output_")
        outputs = json.loads(path.read_text(encoding="utf-8"))
        table = json.loads((folder / f"scores_{name}.json").read_text(encoding="utf-8"))
        ids = sorted(outputs, key=lambda k: int(k) if k.isdigit() else k)
        official = [bool(outputs[i].get("true_false")) for i in ids]
        grounded = [ok and bool((outputs[i].get("response") or "").strip()) and not snapped(outputs[i])
                    for i, ok in zip(ids, official, strict=True)]
        runs.append(ModelRun(name, ids, [outputs[i].get("response") or "" for i in ids], official,
                             float(table["average"]["accuracy"]), grounded))
    return runs


def agreement(verdicts: list[str], official: list[bool]) -> int:
    return sum((v == "correct") == o for v, o in zip(verdicts, official, strict=True))


def score(run: ModelRun, items: dict[str, EvalItem], rules: frozenset[str]) -> Row:
    run_items = [items[i] for i in run.ids]
    verdicts = [s.verdict for s in MathVista(rules).score_many(run_items, run.responses)]
    lenient = MathVista(rules, protocol="official").score_many(run_items, run.responses)
    lenient_verdicts = [s.verdict for s in lenient]
    methods = [s.method for s in lenient]
    return Row(run.name, len(verdicts), agreement(verdicts, run.official), verdicts.count("correct"),
               verdicts.count("unparsed"), run.official_accuracy, run.ungrounded,
               agreement(verdicts, run.grounded), agreement(lenient_verdicts, run.official),
               lenient_verdicts.count("correct"), methods.count("official_snap"), methods.count("official_empty"))


def pooled(name: str, rows: list[Row]) -> Row:
    n = sum(r.n for r in rows)
    return Row(name, n, sum(r.agree for r in rows), sum(r.ours_correct for r in rows),
               sum(r.unparsed for r in rows), sum(r.official_accuracy * r.n for r in rows) / n,
               sum(r.ungrounded for r in rows), sum(r.agree_grounded for r in rows),
               sum(r.agree_official for r in rows), sum(r.official_correct for r in rows),
               sum(r.snapped for r in rows), sum(r.empty for r in rows))


def print_table(title: str, rows: list[tuple[str, Row]]) -> None:
    print(f"\n{title}")
    print(f"  {'model':26s} {'set':30s} {'n':>5s} {'agree':>7s} {'ours':>6s} {'official':>8s} {'gap':>6s} "
          f"{'unparsed':>8s} {'ungrounded':>10s} {'grounded':>8s} {'gap*':>6s} {'agree*':>7s} "
          f"| {'agree_o':>7s} {'ours_o':>6s} {'gap_o':>6s} {'snap':>5s} {'empty':>5s}")
    for label, r in rows:
        ours_official = 100 * r.official_correct / r.n
        print(f"  {r.name:26s} {label:30s} {r.n:5d} {100 * r.agreement:6.1f}% {r.accuracy:6.1f} "
              f"{r.official_accuracy:8.1f} {r.accuracy - r.official_accuracy:+6.1f} {100 * r.unparsed / r.n:7.1f}% "
              f"{r.ungrounded:10d} {r.grounded_accuracy:8.1f} {r.accuracy - r.grounded_accuracy:+6.1f} "
              f"{100 * r.agreement_grounded:6.1f}% | {100 * r.agree_official / r.n:6.1f}% {ours_official:6.1f} "
              f"{ours_official - r.official_accuracy:+6.1f} {r.snapped:5d} {r.empty:5d}")


def rule_subsets() -> list[frozenset[str]]:
    names = sorted(PROSE_RULES)
    return [frozenset(c) for k in range(len(names) + 1) for c in itertools.combinations(names, k)]


def leave_one_model_out(runs: list[ModelRun], items: dict[str, EvalItem]) -> list[tuple[str, Row]]:
    """For each model: the rule subset with the best pooled agreement on the others, scored on it."""
    subsets = rule_subsets()
    table = {(run.name, subset): score(run, items, subset) for run in runs for subset in subsets}
    out = []
    for run in runs:
        others = [r.name for r in runs if r.name != run.name]
        best = max(subsets, key=lambda s: (sum(table[o, s].agree for o in others), len(s)))
        dropped = sorted(PROSE_RULES - best)
        out.append(("without " + ",".join(dropped) if dropped else "all rules", table[run.name, best]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=DEV_DIR,
                        help="folder with testmini.json, output_*.json, scores_*.json")
    parser.add_argument("--holdout", default=",".join(HOLDOUT), help="models kept out of rule development")
    parser.add_argument("--no-loo", action="store_true", help="skip the leave-one-model-out rule choice")
    parser.add_argument("--records", type=Path, default=None,
                        help="release records JSONL for the verify half (default: the mmfinereason-sample fixture)")
    args = parser.parse_args(argv)
    runs = load_runs(args.dir)
    if not runs:
        parser.error(f"{args.dir}: no output_*.json files")
    items = {item.id: item for item in MathVista().load(args.dir / "testmini.json")}
    holdout = {h for h in args.holdout.split(",") if h}
    rows = [("holdout (out of sample)" if r.name in holdout else "dev (in sample)", score(r, items, PROSE_RULES))
            for r in runs]
    dev = [r for label, r in rows if label.startswith("dev")]
    held = [r for label, r in rows if label.startswith("holdout")]
    print(f"MathVista testmini: our rescoring (no extractor model) vs the official verdicts, {args.dir}")
    print_table("per model (rules written on the dev models; agreement = same correct/not-correct call)", rows)
    print_table("pooled", [(label, pooled(name, group)) for label, name, group in (
        ("dev (in sample)", "dev models", dev), ("holdout (out of sample)", "holdout models", held),
        ("all", "all models", dev + held)) if group])
    if not args.no_loo:
        loo = leave_one_model_out(runs, items)
        print_table("leave-one-model-out: rule subset chosen on the other models (set = rules chosen)", loo)
        print_table("leave-one-model-out, pooled", [("all", pooled("all models", [r for _, r in loo]))])
    # The release-record half: verify's rule verdicts against the release's own is_consistent.
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is a folder of scripts, not a package
    from agreement_release import main as release_main

    print()
    print("MMFineReason release records: verify's rule verdicts vs the release's is_consistent")
    return release_main(["--records", str(args.records)] if args.records else [])


if __name__ == "__main__":
    raise SystemExit(main())
