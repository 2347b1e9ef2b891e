"""``python -m shared.ops.bench.callcost``: the worker CPU one LLM call costs, in process.

Starts the bench's fake LLM (:mod:`shared.ops.bench.fake_llm`, its own process: its CPU is not
counted), then makes ``--calls`` triage calls through :class:`OpenAIClient` (SDK transport,
structured output, reply parsing and validation), ``--concurrency`` at a time, and reports this
process's CPU time per call. The README's benchmark section compares it with the figure of the
hand-written aiohttp transport the SDK replaced.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from shared.agents.llm.client import LLMRequest
from shared.agents.llm.openai_provider import OpenAIClient
from shared.ops.bench.llm import FakeServer, write_script
from shared.ops.bench.runner import Procs
from shared.pipeline.contracts import TriageResult
from shared.pipeline.settings import BatonSettings

TRIAGE_REPLY = {"category": "billing", "priority": "normal", "confidence": 0.9,
                "route": "respond", "human_requested": False, "reasons": ["invoice"],
                "summary": "Double charge", "key_facts": ["charged twice"]}  # fmt: skip


def request() -> LLMRequest[TriageResult]:
    return LLMRequest(
        agent="triage", model="gpt-4o-mini", system="Classify the ticket. " * 40,
        user="My invoice INV-20391 is wrong, I was charged twice. " * 4, schema=TriageResult,
        offline=lambda: TriageResult.model_validate(TRIAGE_REPLY),
    )  # fmt: skip


async def measure(base_url: str, calls: int, concurrency: int) -> dict[str, float]:
    settings = BatonSettings(llm="openai", openai_base_url=base_url, llm_timeout_s=30)
    client = OpenAIClient.from_settings(settings)
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await client.generate(request())

    try:
        await asyncio.gather(*(one() for _ in range(concurrency)))  # warm: connections, imports
        cpu, wall = time.process_time(), time.monotonic()
        await asyncio.gather(*(one() for _ in range(calls)))
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    finally:
        await client.aclose()
    return {"calls": calls, "concurrency": concurrency,
            "cpu_us_per_call": round(cpu / calls * 1e6, 1), "wall_s": round(wall, 2)}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--delay-ms", type=float, default=5.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        procs = Procs(Path(folder) / "logs")
        try:
            script = write_script(Path(folder) / "script.json", args.delay_ms / 1000)
            fake = FakeServer(procs, script)
            asyncio.run(_run(fake, args.calls, args.concurrency))
        finally:
            procs.stop()


async def _run(fake: FakeServer, calls: int, concurrency: int) -> None:
    await fake.wait_ready()
    print(json.dumps(await measure(fake.base_url, calls, concurrency)))


if __name__ == "__main__":
    main()
