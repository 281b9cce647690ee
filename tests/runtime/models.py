"""The vLLM venv's location and the tiny model, shared by the tests and bench/coldstart.py."""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "hack" / "vllm"))

import vllmenv  # noqa: E402

TINY_RECIPE = Path(__file__).with_name("tinymodel.py")
TINY_REPO = "modelplane/tiny-llama"

__all__ = ["TINY_REPO", "ensure_tiny_model", "tiny_model_dir", "vllmenv"]


def tiny_model_dir() -> Path:
    """Keyed by the recipe and the venv (transformers' version shapes the files)."""
    key = hashlib.sha256(TINY_RECIPE.read_bytes() + vllmenv.venv_name().encode()).hexdigest()
    return Path(vllmenv.cache_root()) / "tiny-models" / f"tiny-llama-{key[:16]}"


def ensure_tiny_model(python: Path) -> Path:
    """Generate the tiny model once (under a lock, staged, renamed into place)."""
    target = tiny_model_dir()
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / (target.name + ".lock")).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_dir():
            return target
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        subprocess.run(
            [str(python), str(TINY_RECIPE), str(staging)], check=True, capture_output=True
        )
        staging.rename(target)
    return target
