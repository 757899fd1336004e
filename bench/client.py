"""How much of a server's capacity does one client process achieve, and at what CPU cost?

Starts ``tests/servers/fake_openai.py`` in its own process with a fixed capacity (``slots``
concurrent generations of ``reply_tokens * seconds_per_token`` seconds each), then for each
client concurrency sends requests carrying a ~20 KB PNG through :class:`ModelClient` and
prints achieved throughput as a share of the best possible, ``min(c, slots) / latency``, and
the client's CPU time per request (all its threads, journal writer included).

    PYTHONPATH=src python bench/client.py                # 640 req/s server, concurrency 1..512
    PYTHONPATH=src python bench/client.py --journal      # with the SQLite journal in the loop
    PYTHONPATH=src python bench/client.py --backend sdk  # the same through openai.AsyncOpenAI
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from finereason.models import (
    Completion,
    Journal,
    Model,
    ModelClient,
    OpenAIModel,
    SamplingParams,
)

SERVER = Path(__file__).resolve().parents[1] / "tests" / "servers" / "fake_openai.py"


def noise_png(side: int = 84) -> bytes:
    """A PNG of random pixels: incompressible, so ``side=84`` gives ~21 KB."""
    img = Image.frombytes("RGB", (side, side), random.randbytes(side * side * 3))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def start_server(
    slots: int, seconds_per_token: float, reply_tokens: int, reply_bytes: int
) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(SERVER),
            "--slots",
            str(slots),
            "--seconds-per-token",
            str(seconds_per_token),
            "--reply-tokens",
            str(reply_tokens),
            "--reply-bytes",
            str(reply_bytes),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"fake server did not start: {line!r}")
    return proc, int(line.split()[1])


class SDKModel:
    """The same requests through ``openai.AsyncOpenAI``, for comparison (``--backend sdk``)."""

    spec = model_id = "sdk:fake-model"
    accepts_images = True

    def __init__(self, url: str, concurrency: int) -> None:
        import httpx
        from openai import AsyncOpenAI

        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.client = AsyncOpenAI(
            base_url=url, api_key="x", http_client=httpx.AsyncClient(limits=limits, timeout=1800)
        )
        self.wire = OpenAIModel(f"openai:fake-model@{url}")  # reuse the payload builder only

    async def complete(self, messages: list, params: SamplingParams) -> list[Completion]:
        body = self.wire.payload(messages, params)
        reply = await self.client.chat.completions.create(**body)
        return [Completion(c.message.content or "", None, c.finish_reason) for c in reply.choices]

    async def aclose(self) -> None:
        await self.client.close()


def process_cpu(pid: int) -> float:
    """CPU seconds a process has used (Linux ``/proc``): shows the fake server is not the bottleneck."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_level(
    url: str, concurrency: int, requests: int, image: bytes, journal: Journal | None, backend: str
) -> tuple[float, float]:
    """Send ``requests`` requests at ``concurrency``; return (wall seconds, client CPU seconds)."""
    model: Model = (
        OpenAIModel(f"openai:fake-model@{url}", concurrency=concurrency)
        if backend == "ours"
        else SDKModel(url, concurrency)
    )
    client = ModelClient(model, journal, concurrency=concurrency, retries=0)
    params = SamplingParams(max_tokens=16384)
    # A unique text per request: journal keys differ, nothing is served from cache.
    batch = [
        (
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "image", "image": image},
                        {"type": "text", "text": f"q{concurrency}-{i}"},
                    ],
                }
            ],
            params,
        )
        for i in range(requests)
    ]
    cpu, wall = time.process_time(), time.perf_counter()
    results = await client.complete_many(batch)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await model.aclose()
    failed = [r for r in results if not isinstance(r, list)]
    if failed:
        raise RuntimeError(f"{len(failed)} requests failed, e.g. {failed[0]}")
    return wall, cpu


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slots", type=int, default=128)
    parser.add_argument("--seconds-per-token", type=float, default=0.001)
    parser.add_argument("--reply-tokens", type=int, default=200)
    parser.add_argument("--reply-bytes", type=int, default=8000, help="reasoning text per reply")
    parser.add_argument("--levels", default="1,2,4,8,16,32,64,128,256,512")
    parser.add_argument(
        "--waves", type=int, default=40,
        help="requests per level = waves x concurrency (min 20). Each level opens its connections afresh "
             "(~0.1 s of ramp-up): 10 waves count that as 5%% of the run, 40 waves measure the steady state",
    )
    parser.add_argument("--journal", action="store_true", help="journal every request in SQLite")
    parser.add_argument(
        "--backend", choices=["ours", "sdk"], default="ours", help="sdk: openai.AsyncOpenAI, to compare"
    )
    args = parser.parse_args()

    latency = args.reply_tokens * args.seconds_per_token
    image = noise_png()
    proc, port = start_server(args.slots, args.seconds_per_token, args.reply_tokens, args.reply_bytes)
    url = f"http://127.0.0.1:{port}/v1"
    print(
        f"server: {args.slots} slots x {latency * 1000:.0f} ms = {args.slots / latency:.0f} req/s capacity; "
        f"image {len(image) / 1000:.1f} KB; reply {args.reply_bytes / 1000:.1f} KB; journal {'on' if args.journal else 'off'}; "
        f"{os.cpu_count()} CPUs; backend {args.backend}"
    )
    print(
        f"{'conc':>5} {'requests':>8} {'req/s':>8} {'best':>8} {'share':>7} {'cpu ms/req':>10} {'server cpu':>10}"
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            journal = Journal(Path(tmp) / "journal.sqlite") if args.journal else None
            await run_level(url, 8, 40, image, None, args.backend)  # warm-up: imports, first connections
            for level in (int(x) for x in args.levels.split(",")):
                requests = max(20, args.waves * level)
                server_cpu = process_cpu(proc.pid)
                wall, cpu = await run_level(url, level, requests, image, journal, args.backend)
                server_cpu = process_cpu(proc.pid) - server_cpu
                best = min(level, args.slots) / latency
                print(
                    f"{level:>5} {requests:>8} {requests / wall:>8.1f} {best:>8.1f} {requests / wall / best:>7.1%} "
                    f"{cpu / requests * 1000:>10.3f} {server_cpu / wall:>10.0%}",
                    flush=True,
                )
            if journal is not None:
                journal.close()
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    asyncio.run(main())
