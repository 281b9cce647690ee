"""The template hash: stable, and sensitive to exactly the serving template."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from modelplane.api import ModelService, OperatorConfig
from modelplane.builders import (
    child_name,
    pod_selector,
    revision_labels,
    selector_labels,
    serving_template,
    template_hash,
)

CONFIG = OperatorConfig()
BASE: dict[str, Any] = {
    "metadata": {"name": "chat", "namespace": "team-a", "uid": "u-1", "generation": 1},
    "spec": {
        "model": {"uri": "hf://meta-llama/Llama-3.1-8B-Instruct@main"},
        "resources": {"gpus": 2, "nodeSelector": {"a": "1", "b": "2"}},
        "runtime": {"tensorParallelSize": 2},
    },
}


def _ms(**changes: Any) -> ModelService:
    """BASE with dotted-path changes applied, e.g. _ms(**{"spec.replicas": 3})."""
    obj = copy.deepcopy(BASE)
    for path, value in changes.items():
        *parents, leaf = path.split(".")
        node = obj
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return ModelService.parse(obj)


BASE_HASH = template_hash(_ms(), CONFIG)


def test_hash_shape_and_stability() -> None:
    assert len(BASE_HASH) == 10 and all(ch in "0123456789abcdef" for ch in BASE_HASH)
    assert template_hash(_ms(), CONFIG) == BASE_HASH
    # Pinned: a change here means every running ModelService rolls on upgrade.
    assert BASE_HASH == "1d89e5647c"


@pytest.mark.parametrize(
    "changes",
    [
        {"spec.replicas": 5},
        {"spec.replicas": 0},
        {"metadata.generation": 7},
        {"metadata.labels": {"team": "a"}},
        {"metadata.annotations": {"note": "x"}},
        {"status": {"readyReplicas": 1}},
        {"spec.resources.nodeSelector": {"b": "2", "a": "1"}},  # key order
        {"spec.runtime.dtype": "auto"},  # explicit default
        {"spec.resources.gpus": 2, "spec.runtime.gpuMemoryUtilization": 0.9},
        {"spec.model.servedName": "chat"},  # the resolved default
        {"spec.runtime.image": CONFIG.runtime_image},  # the resolved default
    ],
)
def test_same_hash(changes: dict[str, Any]) -> None:
    assert template_hash(_ms(**changes), CONFIG) == BASE_HASH


@pytest.mark.parametrize(
    "changes",
    [
        {"spec.model.uri": "hf://meta-llama/Llama-3.1-8B-Instruct@v2"},
        {"spec.model.servedName": "llama"},
        {"spec.runtime.image": "vllm/vllm-openai:v0.11.0"},
        {"spec.runtime.maxModelLen": 4096},
        {"spec.runtime.dtype": "bfloat16"},
        {"spec.runtime.extraArgs": ["--enable-prefix-caching"]},
        {"spec.runtime.env": [{"name": "A", "value": "1"}]},
        {"spec.resources.gpus": 4},
        {"spec.resources.gpuProduct": "NVIDIA-L4"},
        {"spec.resources.memory": "32Gi"},
        {"spec.resources.nodeSelector": {"a": "1"}},
        {"spec.resources.tolerations": [{"key": "k", "operator": "Exists"}]},
    ],
)
def test_different_hash(changes: dict[str, Any]) -> None:
    assert template_hash(_ms(**changes), CONFIG) != BASE_HASH


def test_configured_image_is_part_of_the_template() -> None:
    other = OperatorConfig(runtime_image="registry.local/runtime:0.2.0")
    assert template_hash(_ms(), other) != BASE_HASH
    assert serving_template(_ms(), other)["runtime"]["image"] == "registry.local/runtime:0.2.0"


def test_template_holds_no_replicas_and_resolved_names() -> None:
    template = serving_template(_ms(**{"spec.replicas": 3}), CONFIG)
    assert set(template) == {"model", "runtime", "resources"}
    assert template["model"]["servedName"] == "chat"


def test_names_and_labels() -> None:
    ms = _ms()
    assert child_name(ms, "0123456789") == "chat-0123456789"
    assert selector_labels("chat") == {
        "app.kubernetes.io/managed-by": "modelplane",
        "modelplane.io/modelservice": "chat",
    }
    assert revision_labels("chat", "abc") == {
        "app.kubernetes.io/managed-by": "modelplane",
        "modelplane.io/modelservice": "chat",
        "modelplane.io/revision": "abc",
    }
    assert list(revision_labels("chat", "abc")) == sorted(revision_labels("chat", "abc"))
    assert (
        pod_selector(ms)
        == "app.kubernetes.io/managed-by=modelplane,modelplane.io/modelservice=chat"
    )


def test_longest_name_gives_valid_child_names() -> None:
    name = "a" * 52
    ms = ModelService.parse({**BASE, "metadata": {"name": name}})
    assert len(child_name(ms, template_hash(ms, CONFIG))) == 63


def test_equal_quantities_hash_alike() -> None:
    one = _ms(**{"spec.resources.memory": "1024Mi", "spec.resources.cpu": "0.5"})
    other = _ms(**{"spec.resources.memory": "1Gi", "spec.resources.cpu": "500m"})
    assert template_hash(one, CONFIG) == template_hash(other, CONFIG)
