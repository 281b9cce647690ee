"""Host network set-up for the process node, and its complete removal.

The harness owns exactly: the bridge, the `unreachable` routes for the fake
ranges, and (through the node agent's naming rule) every network namespace
named ``mp-*`` and host veth named ``mpv*``. Nothing else is touched; IP
forwarding is never enabled.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import signal
import subprocess

log = logging.getLogger(__name__)

BRIDGE = "mpbr0"
NETNS_PREFIX = "mp-"
VETH_PREFIX = "mpv"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def setup(bridge_cidr: str, gateway_ip: str, fake_ranges: list[str]) -> None:
    """Create the bridge and the unreachable routes; idempotent."""
    prefix = ipaddress.ip_network(bridge_cidr).prefixlen
    if _ip("link", "show", BRIDGE, check=False).returncode != 0:
        _ip("link", "add", BRIDGE, "type", "bridge")
    addrs = _ip("-o", "addr", "show", "dev", BRIDGE).stdout
    if f"{gateway_ip}/{prefix}" not in addrs:
        _ip("addr", "add", f"{gateway_ip}/{prefix}", "dev", BRIDGE)
    _ip("link", "set", BRIDGE, "up")
    for cidr in fake_ranges:
        _ip("route", "replace", "unreachable", cidr)


def namespaces() -> list[str]:
    out = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(NETNS_PREFIX)]


def links() -> list[str]:
    out = _ip("-o", "link", "show", check=False).stdout
    names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]
    return [n for n in names if n == BRIDGE or n.startswith(VETH_PREFIX)]


def unreachable_routes(fake_ranges: list[str]) -> list[str]:
    out = _ip("route", "show", "type", "unreachable", check=False).stdout
    present = {line.split()[1] for line in out.splitlines() if len(line.split()) > 1}
    return [cidr for cidr in fake_ranges if cidr in present]


def teardown(fake_ranges: list[str]) -> None:
    """Kill what still runs in our namespaces, then delete them, the links and routes."""
    for ns in namespaces():
        pids = _ip("netns", "pids", ns, check=False).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        _ip("netns", "delete", ns, check=False)
    for link in links():
        _ip("link", "delete", link, check=False)
    for cidr in unreachable_routes(fake_ranges):
        _ip("route", "delete", "unreachable", cidr, check=False)
