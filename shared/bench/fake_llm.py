"""``python -m shared.bench.fake_llm``: the tests' fake OpenAI server, with a deep listen backlog.

The fake server (``tests.fakes.openai_server``, run from the repository) inherits socketserver's
listen backlog of 5; at hundreds of concurrent calls the kernel drops connection attempts and
clients wait out SYN retransmits (1 s, 3 s...), which would measure the fake, not Baton. This
raises the backlog and otherwise runs the server unchanged (same options).
"""

from __future__ import annotations

from tests.fakes import openai_server

BACKLOG = 4096


def main() -> None:
    openai_server.FakeHTTPServer.request_queue_size = BACKLOG
    openai_server.main()


if __name__ == "__main__":
    main()
