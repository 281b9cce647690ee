"""Model URI parsing (the same patterns the CRD's CEL rules use)."""

from __future__ import annotations

import re

import pytest

from modelplane.api import (
    FileSource,
    HuggingFaceSource,
    ModelSource,
    PVCSource,
    S3Source,
    parse_model_uri,
)
from modelplane.api.rules import OWNED_FLAG_PATTERN
from modelplane.api.uri import uri_rules


@pytest.mark.parametrize(
    ("uri", "source"),
    [
        (
            "hf://meta-llama/Llama-3.1-8B-Instruct",
            HuggingFaceSource("meta-llama/Llama-3.1-8B-Instruct", None),
        ),
        ("hf://org/name@main", HuggingFaceSource("org/name", "main")),
        ("hf://org/name@refs/pr/1", HuggingFaceSource("org/name", "refs/pr/1")),
        ("s3://models", S3Source("s3://models")),
        ("s3://my.bucket/llama/8b", S3Source("s3://my.bucket/llama/8b")),
        ("pvc://models", PVCSource("models", "")),
        ("pvc://models/", PVCSource("models", "")),
        ("pvc://models/llama/8b", PVCSource("models", "llama/8b")),
        ("file:///models/llama", FileSource("/models/llama")),
    ],
)
def test_parse_valid(uri: str, source: ModelSource) -> None:
    assert parse_model_uri(uri) == source


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("", "must start with"),
        ("hf:/org/name", "must start with"),
        ("HF://org/name", "must start with"),
        ("gs://bucket/x", "must start with"),
        ("hf://org", "hf://<org>/<name>"),
        ("hf://org/name/extra", "hf://<org>/<name>"),
        ("hf://org/name@", "hf://<org>/<name>"),
        ("hf://org/na me", "hf://<org>/<name>"),
        ("s3://ab", "s3://<bucket>"),
        ("s3://Bucket/x", "s3://<bucket>"),
        ("s3://bucket/with space", "s3://<bucket>"),
        ("pvc://Claim/x", "pvc://<claim>"),
        ("pvc://claim/../x", "'..'"),
        ("pvc://claim/a/..", "'..'"),
        ("file://models", "file:///"),
        ("file:///", "file:///"),
        ("hf://org/name\n", "hf://<org>/<name>"),
    ],
)
def test_parse_invalid(uri: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=re.escape(fragment)):
        parse_model_uri(uri)


def test_uri_rules_cover_every_scheme_and_quote_safely() -> None:
    rules = uri_rules()
    assert len(rules) == 5
    for rule in rules:
        assert rule["message"].startswith("spec.model.uri")
        assert "\\" not in rule["rule"]  # no escapes for CEL string literals to mangle


@pytest.mark.parametrize(
    ("arg", "owned"),
    [
        ("--model", True),
        ("--model=x", True),
        ("--max-model-len=4096", True),
        ("--max_model_len", True),
        ("--tensor-parallel-size", True),
        ("-tp", True),
        ("-tp=2", True),
        ("-tp2", True),
        ("-q", True),
        ("-qawq", True),
        ("--port=9000", True),
        ("--served-model-name", True),
        ("--load-format=dummy", True),
        ("--model-impl=transformers", False),
        ("--enable-prefix-caching", False),
        ("--max-num-seqs=128", False),
        ("--tokenizer", False),
        ("-pp", False),
        ("8192", False),
        ("--hostname", False),
    ],
)
def test_owned_flag_pattern(arg: str, owned: bool) -> None:
    """The regex the CEL rule evaluates (RE2 `matches` is a search, like re.search)."""
    assert (re.search(OWNED_FLAG_PATTERN, arg) is not None) == owned
