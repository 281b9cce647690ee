"""OperatorConfig defaults and MODELPLANE_* overrides."""

from __future__ import annotations

import pytest

from modelplane.api import ConfigError, OperatorConfig


def test_defaults() -> None:
    config = OperatorConfig.from_env({})
    assert config.runtime_image == "ghcr.io/modelplane/runtime:0.1.0"
    assert config.namespaces == ()
    assert (config.log_level, config.log_format) == ("INFO", "text")


def test_from_env() -> None:
    config = OperatorConfig.from_env(
        {
            "MODELPLANE_RUNTIME_IMAGE": "vllm/vllm-openai:v0.11.0",
            "MODELPLANE_NAMESPACES": " team-a, ,team-b ",
            "MODELPLANE_LOG_LEVEL": "debug",
            "MODELPLANE_LOG_FORMAT": "json",
            "UNRELATED": "x",
        }
    )
    assert config.runtime_image == "vllm/vllm-openai:v0.11.0"
    assert config.namespaces == ("team-a", "team-b")
    assert (config.log_level, config.log_format) == ("DEBUG", "json")


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"MODELPLANE_LOG_FORMAT": "xml"}, "MODELPLANE_LOG_FORMAT"),
        ({"MODELPLANE_LOG_LEVEL": "loud"}, "MODELPLANE_LOG_LEVEL"),
        ({"MODELPLANE_RUNTIME_IMAGE": ""}, "MODELPLANE_RUNTIME_IMAGE"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        OperatorConfig.from_env(env)
