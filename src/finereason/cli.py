"""The ``finereason`` command: thin argument parsing over the library.

Each concern registers its own subcommands (``register(subparsers)`` in its ``commands``
module) so this file stays a table of contents.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from finereason import __version__
from finereason.errors import UserError, disk_full

#: Modules that add subcommands, in the order ``--help`` lists them (pipeline order).
COMMAND_MODULES = [
    "finereason.synth.commands",
    "finereason.io.commands",
    "finereason.clean.commands",
    "finereason.dedup.commands",
    "finereason.models.commands",
    "finereason.distill.commands",
    "finereason.verify.commands",
    "finereason.select.commands",
    "finereason.export.commands",
    "finereason.report.commands",
    "finereason.pipeline.commands",
    "finereason.evaluate.commands",
    "finereason.train.commands",
]

DESCRIPTION = """\
Build multimodal chain-of-thought data end to end, resumably:

  synth → ingest → clean → dedup → caption/distill → verify → difficulty → select → export → report

Every stage reads a dataset folder (Parquet shards) and writes a new one with a manifest.json
and rejected/ records saying why each sample left. Rerun a killed command with the same
arguments and it redoes only unfinished shards (and, for model stages, unanswered requests).

Quick start:  finereason demo                 (whole pipeline on built-in problems, no endpoint)
              finereason synth --n 200 --out runs/synth
              finereason ingest data.jsonl --format jsonl --out runs/raw
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="finereason", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"finereason {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if not (e.name and name.startswith(e.name)):  # a real missing dependency: say so
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"finereason: error: {e}", file=sys.stderr)
        return getattr(e, "exit_code", 2)  # e.g. 3: no endpoint of a model could serve
    except OSError as e:
        line = disk_full(e, getattr(args, "out", None))
        if line is None:
            raise
        print(f"finereason: error: {line}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("finereason: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
