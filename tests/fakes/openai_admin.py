"""Drive a fake OpenAI server running in another process, over its admin endpoints."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from tests.fakes.behaviours import Recorded, Script


class AdminClient:
    """Drives a fake server in another process over its admin endpoints (stdlib only)."""

    def __init__(self, base_url: str) -> None:
        self.root = base_url.removesuffix("/").removesuffix("/v1")

    def load(self, script: Script) -> None:
        self._call("POST", "/_admin/script", script.model_dump(mode="json", exclude_unset=True))

    def requests(self) -> list[Recorded]:
        return [Recorded.model_validate(r) for r in self._call("GET", "/_admin/requests")]

    def reset(self) -> None:
        self._call("POST", "/_admin/reset", {})

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.root + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
