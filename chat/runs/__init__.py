"""Generation runs. A run is its own asyncio task, never awaited inside a consumer's receive handler (a
consumer handles one message at a time, so an inline stream would block the stop frame:
django/channels #1119). It belongs to no socket: closing a socket does not end it. Its frames go through
chat.relay to every socket watching its message, in this process or (with Redis) in another.

- run.py: the run: reads a provider's stream, relays each chunk (answer or reasoning), saves the outcome once.
- outcome.py: all else the stream tells (usage, stop reason, citations, trace…) and what the end makes of
  it (status `blocked`, the cost).
- live.py: the runs living in this process, by message id.
- control.py: stop and snapshot requests between processes.
- checkpoints.py: the partial text, its reasoning and a heartbeat of every live run, saved every second.
- recovery.py: closing the answers whose run died with its process, the heartbeat check.
"""

from chat.runs.checkpoints import write_checkpoints
from chat.runs.control import announce, ask_for_snapshot, ask_to_stop, control_group, multi_process
from chat.runs.live import find_run, stop_background_tasks, wait_for_runs
from chat.runs.recovery import ensure_sweeper, interrupt_orphans, orphans_among, running_elsewhere, settle_orphan
from chat.runs.run import Run, create_run

__all__ = [
    "Run", "announce", "ask_for_snapshot", "ask_to_stop", "control_group", "create_run", "ensure_sweeper",
    "find_run", "interrupt_orphans", "multi_process", "orphans_among", "running_elsewhere", "settle_orphan",
    "stop_background_tasks", "wait_for_runs", "write_checkpoints",
]
