import sys
import tracemalloc

import orjson

from shared.runtime.jsonbytes import compact_json


def test_compact_json_is_the_same_json_as_orjson_writes() -> None:
    value = {"stage": "triage", "started_at": 1.5, "tags": ["a", "b"], "n": None}

    assert compact_json(value) == orjson.dumps(value)


def test_compact_json_holds_no_more_memory_than_a_bytes_object_of_its_length() -> None:
    for value in ({"stage": "responder", "attempt": 1}, {"text": "x" * 3000}):
        tracemalloc.start()
        try:
            held = compact_json(value)
            traced, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert traced <= sys.getsizeof(held) + 128, (len(held), traced)
