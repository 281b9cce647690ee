"""The routing table built from watch events, and the operator's traffic weights."""

from __future__ import annotations

from typing import Any

from modelplane.gateway.routing import RoutingTable, ready_endpoints, service_info
from modelplane.reconcile.traffic import by_ready_capacity


def _ms(
    name: str,
    ns: str = "a",
    served: str | None = None,
    created: str = "2026-01-01T00:00:00Z",
    traffic: list[dict[str, Any]] | None = None,
    routing: Any = None,
) -> dict[str, Any]:
    model: dict[str, Any] = {"uri": "file:///m"}
    if served:
        model["servedName"] = served
    return {
        "metadata": {"namespace": ns, "name": name, "creationTimestamp": created},
        "spec": {"model": model, "routing": routing or {}},
        "status": {
            "traffic": traffic if traffic is not None else [{"revision": "r1", "weight": 100}]
        },
    }


def _slice(
    owner: str, rev: str, endpoints: list[dict[str, Any]], ns: str = "a", name: str | None = None
) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": ns,
            "name": name or f"{owner}-{rev}-x",
            "labels": {"modelplane.io/modelservice": owner, "modelplane.io/revision": rev},
        },
        "ports": [{"name": "http", "port": 8000}],
        "endpoints": endpoints,
    }


def test_ready_endpoints_skip_not_ready_and_terminating() -> None:
    s = _slice(
        "m",
        "r1",
        [
            {"addresses": ["10.244.0.2"], "conditions": {"ready": True}},
            {"addresses": ["10.244.0.3"], "conditions": {"ready": False}},
            {"addresses": ["10.244.0.4"], "conditions": {"ready": True, "terminating": True}},
            {"addresses": ["10.244.0.5"], "conditions": {}},  # unset ready means ready
        ],
    )
    assert ready_endpoints(s) == (("10.244.0.2", 8000), ("10.244.0.5", 8000))


def test_service_info_is_lenient_about_bad_routing_and_traffic() -> None:
    info = service_info(
        _ms(
            "m",
            routing={"loadBalancing": "Bogus"},
            traffic=[{"revision": "r1", "weight": 500}, {"revision": "r2", "weight": 10}],
        )
    )
    assert info.routing.load_balancing == "LeastRequests"
    assert info.traffic == (("r2", 10),)


def test_routes_follow_services_and_slices() -> None:
    ready_models: list[str] = []
    table = RoutingTable(on_ready=ready_models.append)
    table.put_slice(
        _slice("chat", "r1", [{"addresses": ["10.244.0.2"], "conditions": {"ready": True}}])
    )
    table.put_service(_ms("chat", served="llama"))
    route = table.routes["llama"]
    assert route.ready() and ready_models == ["llama"]
    endpoint = route.revisions["r1"].endpoints[0]
    endpoint.in_flight = 3
    # An unrelated change rebuilds the route but keeps the endpoint and its load.
    table.put_slice(
        _slice(
            "chat",
            "r1",
            [{"addresses": ["10.244.0.9"], "conditions": {"ready": True}}],
            name="chat-r1-y",
        )
    )
    assert table.routes["llama"].revisions["r1"].endpoints[0] is endpoint
    table.put_slice(_slice("chat", "r1", [], name="chat-r1-x"))
    assert [e.host for e in table.routes["llama"].revisions["r1"].endpoints] == ["10.244.0.9"]
    # Renaming the served model moves the route.
    table.put_service(_ms("chat", served="llama-2"))
    assert "llama" not in table.routes and "llama-2" in table.routes
    table.put_service(_ms("chat", served="llama-2"), deleted=True)
    assert table.routes == {}


def test_a_served_name_claimed_twice_goes_to_the_oldest() -> None:
    table = RoutingTable()
    table.put_service(_ms("new", ns="b", served="shared", created="2026-02-01T00:00:00Z"))
    table.put_service(_ms("old", ns="a", served="shared", created="2026-01-01T00:00:00Z"))
    assert (table.routes["shared"].namespace, table.routes["shared"].service) == ("a", "old")
    table.put_service(_ms("old", ns="a", served="shared"), deleted=True)
    assert table.routes["shared"].service == "new"


def test_reset_forgets_only_its_namespace() -> None:
    table = RoutingTable()
    table.put_service(_ms("x", ns="a"))
    table.put_service(_ms("y", ns="b"))
    table.reset_services([], namespace="a")
    assert set(table.routes) == {"y"}
    table.reset_services([_ms("z", ns="c")])
    assert set(table.routes) == {"z"}


def test_traffic_follows_ready_capacity() -> None:
    assert [(t.revision, t.weight) for t in by_ready_capacity({}, "new")] == [("new", 100)]
    assert by_ready_capacity({}, None) == []
    split = by_ready_capacity({"old": 2, "new": 1}, "new")
    assert [(t.revision, t.weight) for t in split] == [("new", 33), ("old", 67)]
    thirds = by_ready_capacity({"a": 1, "b": 1, "c": 1}, "c")
    assert sum(t.weight for t in thirds) == 100
    assert [(t.revision, t.weight) for t in by_ready_capacity({"old": 0, "new": 3}, "new")] == [
        ("new", 100)
    ]


def test_blue_green_preview_name_reaches_only_the_new_revision() -> None:
    table = RoutingTable()
    obj = _ms("chat", served="llama", traffic=[{"revision": "blue", "weight": 100}])
    obj["status"]["preview"] = {"model": "llama-preview", "revision": "green"}
    table.put_service(obj)
    for rev, ip in (("blue", "10.244.0.2"), ("green", "10.244.0.3")):
        table.put_slice(_slice("chat", rev, [{"addresses": [ip], "conditions": {"ready": True}}]))
    assert list(table.routes["llama"].revisions) == ["blue"]
    assert list(table.routes["llama-preview"].revisions) == ["green"]
    del obj["status"]["preview"]  # promoted
    obj["status"]["traffic"] = [{"revision": "green", "weight": 100}]
    table.put_service(obj)
    assert "llama-preview" not in table.routes
    assert list(table.routes["llama"].revisions) == ["green"]
