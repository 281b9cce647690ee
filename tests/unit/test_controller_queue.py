"""The work queue: de-duplication, no concurrent runs of one key, back-off."""

from __future__ import annotations

import asyncio

from modelplane.controller.queue import WorkQueue


async def test_bursts_of_one_key_collapse() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for _ in range(5):
        queue.add("a")
    queue.add("b")
    assert len(queue) == 2
    assert await queue.get() == "a"
    assert await queue.get() == "b"


async def test_key_added_while_active_runs_once_more_after() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    key = await queue.get()
    queue.add("a")
    queue.add("a")
    assert len(queue) == 0  # never handed to a second worker meanwhile
    queue.done(key, failed=False)
    assert len(queue) == 1


async def test_failures_back_off_exponentially_and_success_resets() -> None:
    queue: WorkQueue[str] = WorkQueue(base_delay=0.01, max_delay=0.04)
    queue.add("a")
    delays = []
    for _ in range(4):
        key = await asyncio.wait_for(queue.get(), timeout=5)  # back after its delay
        delays.append(queue.done(key, failed=True))
    assert delays == [0.01, 0.02, 0.04, 0.04]
    key = await asyncio.wait_for(queue.get(), timeout=5)
    assert queue.done(key, failed=False) is None
    queue.add("a")
    key = await queue.get()
    assert queue.done(key, failed=True) == 0.01  # success reset the count


async def test_failed_key_comes_back_after_its_delay() -> None:
    queue: WorkQueue[str] = WorkQueue(base_delay=0.01)
    queue.add("a")
    key = await queue.get()
    queue.done(key, failed=True)
    assert await asyncio.wait_for(queue.get(), timeout=5) == "a"
