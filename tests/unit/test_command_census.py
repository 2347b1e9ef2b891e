"""The benchmark's Redis command census: calls and server time per event, by command."""

from __future__ import annotations

from shared.ops.bench.plan import census_total
from shared.ops.bench.resources import command_census


def test_census_gives_each_commands_calls_and_microseconds_per_event_busiest_first() -> None:
    before = {"cmdstat_xadd": {"calls": 100, "usec": 500}, "cmdstat_get": {"calls": 7, "usec": 9}}
    after = {
        "cmdstat_xadd": {"calls": 700, "usec": 1700},
        "cmdstat_get": {"calls": 7, "usec": 9},  # not called in between: left out
        "cmdstat_evalsha": {"calls": 3, "usec": 6000},  # first seen in between
    }
    census = command_census(before, after, events=200)
    assert census == {
        "evalsha": {"calls": 0.01, "usec": 30.0},
        "xadd": {"calls": 3.0, "usec": 6.0},
    }
    assert list(census) == ["evalsha", "xadd"]
    assert census_total(census, "calls") == 3.01
    assert census_total(census, "usec") == 36.0


def test_census_of_no_events_is_empty() -> None:
    assert command_census({}, {"cmdstat_ping": {"calls": 1, "usec": 1}}, events=0) == {}
