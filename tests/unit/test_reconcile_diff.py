"""contains(): the check that keeps a no-op resync at zero writes."""

from __future__ import annotations

from typing import Any

import pytest

from modelplane.reconcile.diff import contains

CASES: list[tuple[str, Any, Any, bool]] = [
    ("equal scalars", 1, 1, True),
    ("different scalars", 1, 2, False),
    (
        "server adds defaults",
        {"a": 1, "b": {"c": 2, "default": "x"}},
        {"a": 1, "b": {"c": 2}},
        True,
    ),
    ("missing key", {"a": 1}, {"a": 1, "b": 2}, False),
    ("None in desired means unset", {"a": 1}, {"a": 1, "b": None}, True),
    ("list items may gain defaults", [{"name": "x", "protocol": "TCP"}], [{"name": "x"}], True),
    ("list order matters", [{"name": "y"}, {"name": "x"}], [{"name": "x"}, {"name": "y"}], False),
    ("list length matters", [{"name": "x"}, {"name": "y"}], [{"name": "x"}], False),
    ("canonical quantity", {"cpu": "500m"}, {"cpu": "0.5"}, True),
    ("canonical memory", {"memory": "1Gi"}, {"memory": "1024Mi"}, True),
    ("different quantity", {"memory": "2Gi"}, {"memory": "1Gi"}, False),
    ("int quantity", {"nvidia.com/gpu": "1"}, {"nvidia.com/gpu": 1}, True),
    ("words are not quantities", {"image": "a"}, {"image": "b"}, False),
    ("dict vs scalar", "x", {"a": 1}, False),
]


@pytest.mark.parametrize(
    ("observed", "desired", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_contains(observed: Any, desired: Any, expected: bool) -> None:
    assert contains(observed, desired) is expected
