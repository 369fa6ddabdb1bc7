"""The runs living in this process, by message id, and the end of a loop's work (tests and shutdown)."""

import asyncio
from typing import TYPE_CHECKING

from chat import loop_tasks, relay

if TYPE_CHECKING:
    from chat.runs.run import Run

# Filled by create_run before a run starts; a run leaves when its task ends.
RUNS: dict[int, "Run"] = {}


def find_run(message_id: int) -> "Run | None":
    return RUNS.get(message_id)


async def wait_for_runs(timeout: float = 10.0) -> None:
    """Wait for every run in this process to finish (tests and shutdown)."""
    tasks = [run.task for run in list(RUNS.values()) if run.task is not None]
    if tasks:
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout)


async def stop_background_tasks() -> None:
    """End this loop's heartbeat check, checkpoints, control and relay listeners, and forget its watchers
    (tests, which use one loop per test)."""
    relay.forget_watchers()
    await loop_tasks.stop_all()
