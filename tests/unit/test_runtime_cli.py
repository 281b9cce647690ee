"""The launcher's command line: usage errors are not download failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelplane.runtime import cli


def test_fetch_takes_no_vllm_args(tmp_path: Path) -> None:
    argv = ["fetch", "--model-uri", "file:///x", "--cache-dir", str(tmp_path), "--", "--port", "1"]
    assert cli.main(argv) == cli.EXIT_USAGE


def test_serve_refuses_flags_the_launcher_sets(tmp_path: Path) -> None:
    argv = ["serve", "--model-uri", "file:///x", "--cache-dir", str(tmp_path), "--", "--model=y"]
    assert cli.main(argv) == cli.EXIT_USAGE


def test_failure_is_one_line_and_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report"
    argv = ["fetch", "--model-uri", "s3://UPPER", "--cache-dir", str(tmp_path),
            "--identity-file", str(report)]  # fmt: skip
    assert cli.main(argv) == cli.EXIT_FAILED
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("ModelDownloadFailed: invalid URI: 's3://UPPER'")
    assert report.read_text().strip() == last


def test_fetch_of_a_local_model(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    report = tmp_path / "report"
    argv = ["fetch", "--model-uri", f"file://{model}", "--cache-dir", str(tmp_path / "c"),
            "--identity-file", str(report)]  # fmt: skip
    assert cli.main(argv) == 0
    assert '"source":"file","files":1,"bytes":2' in report.read_text()


def test_unusable_cache_dir_is_a_clear_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    argv = ["fetch", "--model-uri", "hf://o/n@" + "a" * 40, "--cache-dir", str(blocker)]
    assert cli.main(argv) == cli.EXIT_FAILED
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("ModelDownloadFailed: ")
