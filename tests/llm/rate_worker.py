"""A worker process for the cross-process rate-limit test.

``python -m tests.llm.rate_worker --redis URL --prefix P --base-url URL --tag A --calls 4
--limit 3 --window 3 --bucket 0.1 --start-at EPOCH`` makes ``calls`` concurrent LLM calls through
one OpenAI client whose global limit is ``limit`` requests per ``window`` seconds, starting at
``start-at``, and prints one JSON line with what happened.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from shared.agents.llm.breaker import CircuitBreaker
from shared.agents.llm.openai_provider import OpenAIClient
from shared.agents.llm.ratelimit import Limit, RateLimiter
from shared.agents.llm.retry import RetryPolicy
from shared.agents.llm.transport import ChatTransport
from shared.errors import BatonError
from shared.runtime.redis_client import connect
from tests.llm.test_openai_provider import triage_request


async def run(args: argparse.Namespace) -> dict[str, object]:
    redis = connect(args.redis)
    limiter = RateLimiter(
        redis, args.prefix, default=Limit(rpm=args.limit), max_wait_s=60,
        window_s=args.window, bucket_s=args.bucket,
    )  # fmt: skip
    client = OpenAIClient(
        ChatTransport(args.base_url, "sk-test"),
        policy=RetryPolicy(max_attempts=1),
        breaker=CircuitBreaker(args.base_url, failure_threshold=5, cooldown_s=1),
        limiter=limiter,
        timeout_s=10,
    )
    await asyncio.sleep(max(0.0, args.start_at - time.time()))
    results = await asyncio.gather(
        *(client.generate(triage_request(f"{args.tag}-{n}")) for n in range(args.calls)),
        return_exceptions=True,
    )
    await client.aclose()
    await redis.aclose()
    errors = [r.reason for r in results if isinstance(r, BatonError)]
    return {"tag": args.tag, "ok": args.calls - len(errors), "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("--redis", "--prefix", "--base-url", "--tag"):
        parser.add_argument(name, required=True)
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument("--limit", type=int, default=3)
    parser.add_argument("--window", type=float, default=3.0)
    parser.add_argument("--bucket", type=float, default=0.1)
    parser.add_argument("--start-at", type=float, default=0.0)
    print(json.dumps(asyncio.run(run(parser.parse_args()))), flush=True)


if __name__ == "__main__":
    main()
