"""``finereason select DIR --out DIR2`` (pass-rate subsets, verdict and flag filters, caps, balance) and
``finereason difficulty`` (pass rate of a small student over k samples)."""

from __future__ import annotations

import argparse

from finereason.pipeline.engines import engine_from_args
from finereason.pipeline.flags import add_flags, options_from_args
from finereason.pipeline.options import EXIT_CODES, add_run_options, print_summary, report_failures
from finereason.select.step import Difficulty, Select

DESCRIPTION = """\
Choose the training subset of a verified, difficulty-scored dataset.

Per sample, in this order (the first that applies is the rejection reason):
  pass rate   --subset hard      pass rate == 0      (MMFineReason-123K)
              --subset medium+   pass rate != 1      (MMFineReason-586K)
              --pass-rate RANGE  any union of ranges: 0  0:0.5  [0.25,0.75)  (0,1]
              Samples never scored are rejected as no_pass_rate, never counted as easy.
  verdict     only answers judged consistent with the ground truth (verdict "correct"),
              as MMFineReason keeps, and open-ended items with no ground truth ("unverifiable");
              "undecided" (rules could not tell, no judge did) only with
              --verdict correct+undecided; off when no sample has a verdict (verify never ran)
  flags       samples whose quality flags start with a --drop-flags prefix are dropped
              (flagged:<code>); --require-clean drops any flag at all

Then over the whole dataset, reproducibly (a seeded hash of each id orders every group, so
the result does not depend on sharding or workers):
  --cap-per-source N, --cap-per-domain N   at most N per group
  --balance source|domain                  even out groups (with --limit: round-robin)
  --limit N                                at most N in total
  --rl-holdout N                           first, N samples with a verifiable answer (a reference,
                                           not 'open') drawn uniformly as RL prompts and written to
                                           --rl-out (default OUT-rl); OUT excludes them (rl_holdout)

The manifest records counts per source, domain and verdict (undecided included) before and
after; rejected/ keeps every
dropped sample with its reason (pass_rate_out_of_range, no_pass_rate, verdict_not_correct,
no_verdict, flagged:<code>, over_cap_source, over_cap_domain, over_balance, over_limit,
rl_holdout). With --rl-holdout both manifests record the sha256 of each output's sorted ids.

examples:
  finereason select runs/scored --out runs/hard --subset hard
  finereason select runs/scored --out runs/mix --subset medium+ --cap-per-source 20000 --seed 1
  finereason select runs/scored --out runs/bal --pass-rate 0:0.5 --balance domain --limit 50000
  finereason select runs/verified --out runs/sft --rl-holdout 40000 --seed 0   # + runs/sft-rl
"""


DIFFICULTY = """\
Each sample is asked k times (one request with n=k) of the student model, each answer is
graded against the ground truth by the verify cascade, and pass_rate = correct / graded.
Failed requests are retried and never counted wrong (rerun to retry what still failed).
Raw answers go to meta.student_responses; pass rate 0 with an incorrect teacher verdict
is flagged likely_label_noise. Then `finereason select --subset hard` (= 0) or medium+ (≠ 1).

example: finereason difficulty runs/verified --student openai:Qwen/Qwen3-VL-4B-Thinking@http://gpu3:8000/v1 --k 4 --out runs/scored
"""


def register(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("difficulty", help=Difficulty.summary, description=DIFFICULTY + "\n" + EXIT_CODES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("dir", metavar="DIR", help="input dataset folder (samples with an answer)")
    add_flags(d, Difficulty)
    add_run_options(d, models=True)
    d.set_defaults(func=run_difficulty)

    p = sub.add_parser("select", help=Select.summary, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", metavar="DIR", help="input dataset folder (output of verify/difficulty)")
    add_run_options(p)
    add_flags(p, Select)
    p.set_defaults(func=run)


def run_difficulty(args: argparse.Namespace) -> int:
    step = options_from_args(Difficulty, args)
    manifest = step.run(args.dir, args.out, engine_from_args(args), overwrite=args.overwrite)
    print_summary(manifest)
    return report_failures(manifest)


def run(args: argparse.Namespace) -> int:
    step = options_from_args(Select, args)
    manifest = step.run(args.dir, args.out, engine_from_args(args), overwrite=args.overwrite)
    print_summary(manifest)
    split = manifest.get("rl_holdout")
    if split:
        print(f"  RL hold-out: {split['rl_count']} samples → {split['rl_dataset']} "
              f"(ids sha256 {split['rl_ids_sha256'][:12]}…)")
    selection = manifest.get("selection", {})
    for group in ("source", "domain", "verdict"):
        before, after = selection["before"][group], selection["after"][group]
        line = ", ".join(f"{k} {before[k]}→{after.get(k, 0)}" for k in sorted(before))
        print(f"  per {group}: {line}")
    return 0
