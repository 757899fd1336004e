"""Subprocess for the kill -9 test: distil N prompts through the journal (``python resume_worker.py URL DB N C``)."""

from __future__ import annotations

import asyncio
import sys

from finereason.models import Journal, ModelClient, OpenAIModel, SamplingParams


def prompts(n: int) -> list[list[dict]]:
    return [[{"role": "user", "content": f"Write one word about the number {i}."}] for i in range(n)]


async def main(url: str, db: str, n: int, concurrency: int) -> None:
    model = OpenAIModel(f"openai:smollm2@{url}", concurrency=concurrency)
    async with ModelClient(model, Journal(db), retries=0) as client:
        params = SamplingParams(max_tokens=8, temperature=0.0, seed=0)
        results = await client.complete_many([(p, params) for p in prompts(n)])
    failed = [r for r in results if not isinstance(r, list)]
    if failed:
        raise SystemExit(f"{len(failed)} failed: {failed[0]}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
