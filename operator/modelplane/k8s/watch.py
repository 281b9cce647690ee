"""List-then-watch loops (reflectors) for readers that keep the API in memory.

Each loop lists once, hands the complete snapshot to ``on_reset`` (so objects
deleted while the watch was down disappear), then streams changes from the
list's resourceVersion. Any error - the API server restarting, a 410 Gone -
starts over with a fresh list after a short back-off; the reader is never
left with a stale object it cannot know about.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from lightkube import AsyncClient
from lightkube.core.resource import NamespacedResource

log = logging.getLogger(__name__)

Obj = dict[str, Any]
OnReset = Callable[[list[Obj]], None]
OnEvent = Callable[[str, Obj], None]

MAX_BACKOFF_SECONDS = 10.0


async def reflect(
    client: AsyncClient,
    resource: type[NamespacedResource],
    namespace: str,
    on_reset: OnReset,
    on_event: OnEvent,
    labels: dict[str, Any] | None = None,
) -> None:
    """Keep a reader in step with every ``resource`` in ``namespace`` ("*": all). Runs forever."""
    backoff = 0.5
    kind = resource.__name__
    while True:
        try:
            listing = client.list(resource, namespace=namespace, labels=labels)
            objs = [_as_dict(o) async for o in listing]
            on_reset(objs)
            backoff = 0.5
            version = listing.resourceVersion
            async for event, obj in client.watch(
                resource, namespace=namespace, labels=labels, resource_version=version
            ):
                on_event(event, _as_dict(obj))
            log.debug("watch of %s ended; listing again", kind)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # any failure: list again, the snapshot repairs the reader
            log.warning("watch of %s failed (%s); listing again in %.1f s", kind, err, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)


def _as_dict(obj: Any) -> Obj:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
