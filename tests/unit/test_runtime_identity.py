"""The identity JSON the operator reads, and the digests behind `resolved`."""

from __future__ import annotations

import json
from pathlib import Path

from modelplane.runtime import identity
from modelplane.runtime.identity import Identity, manifest_digest


def test_json_contract() -> None:
    ident = Identity("s3://b/p", "sha256:" + "0" * 64, "s3", 3, 1234)
    assert json.loads(ident.to_json()) == {
        "uri": "s3://b/p", "resolved": "sha256:" + "0" * 64, "source": "s3",
        "files": 3, "bytes": 1234,
    }  # fmt: skip
    assert Identity.from_json(ident.to_json()) == ident


def test_manifest_digest_ignores_order_but_not_content() -> None:
    a = [("config.json", 2, "x"), ("model.safetensors", 10, "y")]
    assert manifest_digest(a) == manifest_digest(reversed(a))
    assert manifest_digest(a) != manifest_digest([a[0], ("model.safetensors", 10, "z")])
    assert manifest_digest(a).startswith("sha256:")


def test_report_is_best_effort(tmp_path: Path) -> None:
    identity.write_report(None, "x")
    identity.write_report(tmp_path / "missing-dir" / "log", "x")  # logged, not raised
    target = tmp_path / "termination-log"
    identity.write_report(target, '{"a":1}')
    assert target.read_text() == '{"a":1}\n'


def test_termination_log_is_only_used_when_mounted(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(identity, "TERMINATION_LOG", tmp_path / "termination-log")
    assert identity.default_identity_file() is None  # never created on a plain host
    (tmp_path / "termination-log").touch()
    assert identity.default_identity_file() == tmp_path / "termination-log"
