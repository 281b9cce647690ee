"""Quantities are spelled as the API server stores them.

Every expected value below was read back from a v1.36 kube-apiserver
(a Pod's emptyDir.sizeLimit, server-side dry run).
"""

from __future__ import annotations

import pytest

from modelplane.api import ModelService
from modelplane.api.quantity import canonical_quantity

SERVER_SPELLING = [
    ("4", "4"),
    ("0.5", "500m"),
    (".5", "500m"),
    ("1.5", "1500m"),
    ("1000m", "1"),
    ("250m", "250m"),
    ("2000", "2k"),
    ("1200k", "1200k"),
    ("1024", "1024"),
    ("1024Mi", "1Gi"),
    ("1048576Ki", "1Gi"),
    ("1536Mi", "1536Mi"),
    ("1.5Gi", "1536Mi"),
    ("0.5Gi", "512Mi"),
    ("1.5Ki", "1536"),
    ("0.25Ki", "256"),
    ("100Mi", "100Mi"),
    ("32Gi", "32Gi"),
    ("1e3", "1e3"),
    ("10e2", "1e3"),
    ("1.5e3", "1500"),
    ("5e2", "500"),
    ("100e-2", "1"),
    ("12e-1", "1200e-3"),
    ("1E6", "1E6"),
    ("1.", "1."),
    ("001", "001"),
    ("1.234", "1.234"),
    ("12.345k", "12.345k"),
    ("0.001", "1m"),
    ("0.1m", "100u"),
    ("0.0000000001", "1n"),
    ("1.23456789012", "1234567891n"),
    ("0m", "0"),
    ("0", "0"),
]


@pytest.mark.parametrize(("given", "stored"), SERVER_SPELLING)
def test_canonical_matches_the_api_server(given: str, stored: str) -> None:
    assert canonical_quantity(given) == stored


@pytest.mark.parametrize("given", ["8Ei", "1000E", "abc", "1Q"])
def test_refused(given: str) -> None:
    with pytest.raises(ValueError):
        canonical_quantity(given)


def test_spec_quantities_are_canonical() -> None:
    ms = ModelService.parse(
        {
            "metadata": {"name": "chat"},
            "spec": {
                "model": {"uri": "hf://o/n"},
                "resources": {"cpu": "0.5", "memory": "1024Mi", "shmSize": 2048},
            },
        }
    )
    res = ms.spec.resources
    assert (res.cpu, res.memory, res.shm_size) == ("500m", "1Gi", "2048")
