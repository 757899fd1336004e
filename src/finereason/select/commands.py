"""``finereason select DIR --out DIR2``: pass-rate subsets, verdict and flag filters, caps, balance."""

from __future__ import annotations

import argparse

from finereason.io.store import Dataset
from finereason.pipeline.engines import engine_from_args
from finereason.pipeline.manifest import RunInfo
from finereason.pipeline.options import add_run_options, print_summary
from finereason.pipeline.progress import StageProgress, say
from finereason.pipeline.stage import Task
from finereason.select.caps import GROUPINGS, CapPolicy
from finereason.select.plan import any_verdict, make_plan
from finereason.select.holdout import record_split
from finereason.select.stage import HoldoutStage, PlannedShardLoader, SelectStage
from finereason.select.subsets import DEFAULT_DROP_FLAGS, NAMED_SUBSETS, Interval, RangeError, Rules, parse_interval

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


#: ``--verdict`` → the verdicts kept beside "correct" (see :class:`Rules`).
VERDICT_MODES: dict[str, tuple[str, ...]] = {
    "correct": ("unverifiable",),
    "correct+undecided": ("unverifiable", "undecided"),
    "any": (),
}


def _interval(text: str) -> Interval:
    try:
        return parse_interval(text)
    except RangeError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _prefixes(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "select",
        help="pick a subset: pass-rate range, correct verdicts, clean flags, caps and balance",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", metavar="DIR", help="input dataset folder (output of verify/difficulty)")
    add_run_options(p)
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--subset", choices=list(NAMED_SUBSETS), default="all",
        help="named pass-rate subset: hard (== 0), medium+ (!= 1), all (no pass-rate filter; default)",
    )
    which.add_argument(
        "--pass-rate", type=_interval, action="append", metavar="RANGE",
        help="keep pass rates in RANGE (repeat for a union): 0, 0:0.5, [0.25,0.75), (0,1]",
    )
    p.add_argument(
        "--verdict", choices=list(VERDICT_MODES), default="correct",
        help="correct (default): keep samples whose verdict is 'correct' (and open-ended 'unverifiable' ones), "
        "rejecting others and unverified ones, whenever any sample has a verdict; correct+undecided: also keep "
        "'undecided'; any: ignore verdicts",
    )
    p.add_argument(
        "--drop-flags", type=_prefixes, default=DEFAULT_DROP_FLAGS, metavar="PREFIX,...",
        help=f"drop samples with a flag starting with one of these (default: {','.join(DEFAULT_DROP_FLAGS)}; "
        "'' keeps all flagged samples)",
    )
    p.add_argument("--require-clean", action="store_true", help="drop samples with any flag at all")
    p.add_argument("--cap-per-source", type=_count, metavar="N", help="keep at most N samples per source")
    p.add_argument("--cap-per-domain", type=_count, metavar="N", help="keep at most N samples per domain")
    p.add_argument(
        "--balance", choices=list(GROUPINGS),
        help="even out sources or domains: with --limit, take samples round-robin over the groups; "
        "without, cut every group to the smallest group's size",
    )
    p.add_argument("--limit", type=_count, metavar="N", help="keep at most N samples in total")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the order that caps, balance, limit and the RL hold-out use (default 0)")
    p.add_argument("--rl-holdout", type=_count, metavar="N",
                   help="hold N verifiable samples out of the output, uniformly at random, as RL prompts")
    p.add_argument("--rl-out", metavar="DIR", help="where the RL hold-out goes (default: OUT-rl)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    src = Dataset(args.dir)
    paths = src.shard_paths()
    ranges = tuple(args.pass_rate) if args.pass_rate else NAMED_SUBSETS[args.subset]
    verdicts = args.verdict != "any" and any_verdict(paths)
    rules = Rules(ranges, verdicts, args.drop_flags, args.require_clean, VERDICT_MODES[args.verdict])
    policy = CapPolicy(args.cap_per_source, args.cap_per_domain, args.balance, args.limit, args.seed,
                       args.rl_holdout or None)
    if args.verdict != "any" and not verdicts:
        say("select: no sample has a verdict (verify never ran), so the verdict filter is off")
    with StageProgress("select: plan", len(paths)) as bar:
        plan = make_plan(paths, rules, policy, on_shard=bar.advance)
    stage = SelectStage(rules, policy)
    settings = {
        "subset": None if args.pass_rate else args.subset,
        **stage.settings(),
        "input_shards": len(paths),
        "input_rows": sum(s.rows for s in plan.shards),
    }
    info = RunInfo(
        stage=stage.name, version=stage.version, settings=settings, inputs=[str(src.root)],
        upstream=src.manifest(), extra={"selection": plan.stats()},
    )
    tasks = [Task(i, PlannedShardLoader(s)) for i, s in enumerate(plan.shards)]
    manifest = engine_from_args(args).run_stage(stage, tasks, args.out, info, workers=args.workers, total=len(tasks),
                                                overwrite=args.overwrite)
    print_summary(manifest)
    if policy.rl_holdout:
        rl_out = args.rl_out or f"{str(args.out).rstrip('/')}-rl"
        held = HoldoutStage(policy)
        rl_info = RunInfo(stage=held.name, version=held.version, settings=settings, inputs=[str(src.root)],
                          upstream=src.manifest())
        rl_tasks = [Task(i, PlannedShardLoader(s)) for i, s in enumerate(plan.shards)]
        engine_from_args(args).run_stage(held, rl_tasks, rl_out, rl_info, workers=args.workers,
                                         total=len(rl_tasks), overwrite=args.overwrite)
        split = record_split(args.out, rl_out, policy)
        print(f"  RL hold-out: {split['rl_count']} samples → {rl_out} (ids sha256 {split['rl_ids_sha256'][:12]}…)")
    for group in ("source", "domain", "verdict"):
        before, after = plan.before[group], plan.after[group]
        line = ", ".join(f"{k} {before[k]}→{after.get(k, 0)}" for k in sorted(before))
        print(f"  per {group}: {line}")
    return 0
