"""`modelplane rollout status|history|promote|pause|resume|abort|retry|undo`.

Requests are written as the modelplane.io/rollout-request annotation (JSON
with a fresh id); the operator acts on each id once and echoes it in
status.rollout.lastRequest, which is how the command knows it was taken.
`undo` rewrites the spec to a kept revision's template, as `kubectl rollout
undo` does. Installed also as `kubectl-modelplane`, so `kubectl modelplane
rollout ...` works.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any, TextIO

from lightkube import Client
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import ControllerRevision
from lightkube.types import PatchType

from modelplane.api.constants import LABEL_MODELSERVICE, REQUEST_ANNOTATION
from modelplane.k8s.resources import ModelServiceResource

FIELD_MANAGER = "modelplane-cli"
TERMINAL = ("Succeeded", "RolledBack", "Aborted")
TEMPLATE_PARTS = ("model", "runtime", "resources", "podMetadata")


class CommandError(Exception):
    """Said to the user as is, exit code 1."""


def get_ms(client: Client, name: str, namespace: str) -> dict[str, Any]:
    try:
        found = client.get(ModelServiceResource, name, namespace=namespace)
        return dict(found.to_dict())  # type: ignore[no-untyped-call]
    except ApiError as err:
        if err.status.code == 404:
            raise CommandError(f"modelservice {namespace}/{name} not found") from err
        raise


def describe(ms: dict[str, Any]) -> str:
    """What `status` prints: stable, the rollout, traffic, conditions."""
    status = ms.get("status") or {}
    ro = status.get("rollout") or {}
    lines = [f"ModelService {ms['metadata']['namespace']}/{ms['metadata']['name']}"]
    lines.append(f"  stable:   {status.get('stableRevision') or '-'}")
    if ro:
        step = f" step {ro['step']}" if ro.get("step") is not None else ""
        paused = " (paused)" if ro.get("paused") else ""
        lines.append(
            f"  rollout:  {ro.get('strategy')} to {ro.get('revision')}: "
            f"{ro.get('phase')}{paused}{step}, weight {ro.get('weight', 0)}%"
        )
        if ro.get("message"):
            lines.append(f"            {ro['message']}")
        analysis = ro.get("analysis") or {}
        if analysis:
            lines.append(
                f"  analysis: {analysis.get('passed', 0)} passed, "
                f"{analysis.get('failed', 0)} failed, "
                f"{analysis.get('inconclusive', 0)} inconclusive; {analysis.get('last', '')}"
            )
    traffic = ", ".join(f"{t['revision']} {t['weight']}%" for t in status.get("traffic") or [])
    lines.append(f"  traffic:  {traffic or '-'}")
    if status.get("preview"):
        p = status["preview"]
        lines.append(f"  preview:  model {p['model']} -> {p['revision']}")
    for c in status.get("conditions") or []:
        lines.append(f"  {c['type']}={c['status']} {c['reason']}: {c.get('message', '')}")
    return "\n".join(lines)


def history(ms: dict[str, Any]) -> str:
    rows = [("REVISION", "HASH", "OUTCOME", "IMAGE", "MODEL", "CREATED", "MESSAGE")]
    for r in (ms.get("status") or {}).get("revisions") or []:
        rows.append(
            (
                str(r["number"]),
                r["revision"],
                r["outcome"],
                r.get("image", ""),
                r.get("model", "") + (f" ({r['resolved'][:12]})" if r.get("resolved") else ""),
                r.get("created", ""),
                r.get("message", ""),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    )


def request(
    client: Client,
    name: str,
    namespace: str,
    action: str,
    full: bool = False,
    wait: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Write the request annotation; wait until the operator took it."""
    body: dict[str, Any] = {"id": uuid.uuid4().hex[:12], "action": action}
    if full:
        body["full"] = True
    get_ms(client, name, namespace)
    patch = {"metadata": {"annotations": {REQUEST_ANNOTATION: json.dumps(body)}}}
    client.patch(
        ModelServiceResource,
        name,
        patch,
        namespace=namespace,
        patch_type=PatchType.MERGE,
        field_manager=FIELD_MANAGER,
    )
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        ro = (get_ms(client, name, namespace).get("status") or {}).get("rollout") or {}
        if ro.get("lastRequest") == body["id"]:
            return f"{action} taken: {ro.get('phase')}; {ro.get('message', '')}".rstrip("; ")
        sleep(0.5)
    return f"{action} requested (id {body['id']}); the operator has not acted on it yet"


def undo(client: Client, name: str, namespace: str, to_revision: int | None) -> str:
    ms = get_ms(client, name, namespace)
    status = ms.get("status") or {}
    records = {
        int(r.revision or 0): r
        for r in client.list(
            ControllerRevision, namespace=namespace, labels={LABEL_MODELSERVICE: name}
        )
    }
    if not records:
        raise CommandError(f"{name} has no kept revisions")
    stable = status.get("stableRevision")
    if to_revision is None:
        # The newest kept revision other than the current spec's: what served before.
        current = status.get("revision")
        older = [
            n
            for n, r in records.items()
            if _label(r, "modelplane.io/revision") not in (current, "")
            and _annotation(r, "modelplane.io/outcome") in ("Retired", "Stable")
        ]
        if not older:
            raise CommandError("no earlier stable revision is kept; name one with --to-revision")
        to_revision = max(older)
    record = records.get(to_revision)
    if record is None:
        kept = ", ".join(str(n) for n in sorted(records))
        raise CommandError(f"revision {to_revision} is not kept (kept: {kept})")
    old = (record.data or {}).get("spec") or {}
    ops: list[dict[str, Any]] = []
    for part in TEMPLATE_PARTS:
        if part in old:
            ops.append({"op": "add", "path": f"/spec/{part}", "value": old[part]})
        elif part in (ms.get("spec") or {}):
            ops.append({"op": "remove", "path": f"/spec/{part}"})
    client.patch(
        ModelServiceResource,
        name,
        ops,
        namespace=namespace,
        patch_type=PatchType.JSON,
        field_manager=FIELD_MANAGER,
    )
    rev = _label(record, "modelplane.io/revision")
    note = " (the stable revision)" if rev == stable else ""
    return (
        f"rolled the spec of {name} back to revision {to_revision} ({rev}){note}: rewrote "
        f"spec.{', spec.'.join(p for p in TEMPLATE_PARTS if p in old)}, as `kubectl rollout "
        "undo` does. If Git is the source of truth (Argo CD, Flux), change it there too, or "
        "the sync puts the newer spec back."
    )


def _label(record: ControllerRevision, key: str) -> str:
    return str(((record.metadata.labels if record.metadata else None) or {}).get(key, ""))


def _annotation(record: ControllerRevision, key: str) -> str:
    return str(((record.metadata.annotations if record.metadata else None) or {}).get(key, ""))


def watch(client: Client, name: str, namespace: str, out: TextIO, timeout: float) -> int:
    """Print the status each time it changes until the rollout ends; 1 if it failed."""
    last = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ms = get_ms(client, name, namespace)
        text = describe(ms)
        if text != last:
            out.write(text + "\n\n")
            out.flush()
            last = text
        ro = (ms.get("status") or {}).get("rollout") or {}
        if ro.get("phase") in TERMINAL and ro.get("revision") == (ms.get("status") or {}).get(
            "revision"
        ):
            return 0 if ro["phase"] == "Succeeded" else 1
        time.sleep(1)
    out.write("still rolling out; stopped watching\n")
    return 2


def main(args: Any, out: TextIO = sys.stdout) -> int:
    client = Client(field_manager=FIELD_MANAGER)
    namespace = args.namespace or client.namespace
    try:
        if args.action == "status":
            if args.watch:
                return watch(client, args.name, namespace, out, args.timeout)
            out.write(describe(get_ms(client, args.name, namespace)) + "\n")
        elif args.action == "history":
            out.write(history(get_ms(client, args.name, namespace)) + "\n")
        elif args.action == "undo":
            out.write(undo(client, args.name, namespace, args.to_revision) + "\n")
        else:
            out.write(request(client, args.name, namespace, args.action, full=args.full) + "\n")
    except CommandError as err:
        sys.stderr.write(f"error: {err}\n")
        return 1
    return 0
