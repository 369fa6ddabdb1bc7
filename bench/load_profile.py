"""Optional py-spy profile of the server processes during a load run (bench/load.py --profile SETUP:C).

py-spy is not a project dependency: install it into the venv (`.venv/bin/pip install py-spy`) to use this.
It samples, at 100 Hz and without pausing the target, the stack of whichever thread holds the GIL (a
daphne process does its Python work one thread at a time, so that is where its capacity goes), into
py-spy's raw "collapsed stack" format; summarize() prints the functions with the largest share.
"""

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path


def py_spy() -> str:
    local = Path(sys.executable).parent / "py-spy"
    found = str(local) if local.exists() else shutil.which("py-spy")
    if not found:
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    return found


class Profiler:
    def __init__(self, pids: list[int], output_prefix: Path, rate: int = 100):
        self.outputs = [Path(f"{output_prefix}-{pid}.txt") for pid in pids]
        self.processes = [
            subprocess.Popen([py_spy(), "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
                              "--nonblocking", "--gil", "--output", str(output)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for pid, output in zip(pids, self.outputs)
        ]

    def stop(self) -> list[Path]:
        for process in self.processes:
            process.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl+C
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        return [output for output in self.outputs if output.exists()]


def summarize(paths: list[Path], top: int = 30) -> str:
    """Inclusive and self shares of samples per function (file:line collapsed to the function's name
    and file), over all sampled threads."""
    total = 0
    inclusive, own, threads = Counter(), Counter(), Counter()
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack:
                continue
            count = int(count)
            frames = [frame_key(frame) for frame in stack.split(";")]
            total += count
            for frame in set(frames):
                inclusive[frame] += count
            own[frames[-1]] += count
            threads[thread_kind(frames)] += count
    if not total:
        return "no samples"
    lines = [f"{total} samples (100 Hz, the thread holding the GIL)", "", "by thread:"]
    lines += [f"  {100 * n / total:5.1f}%  {kind}" for kind, n in threads.most_common()]
    lines += ["", f"top {top} inclusive (the function and what it calls):"]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(top)]
    lines += ["", f"top {top} self (the function's own code):"]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    return "\n".join(lines)


def frame_key(frame: str) -> str:
    # py-spy raw frames look like "function (path/to/file.py:123)"; keep the function and file.
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rstrip(')').rsplit(':', 1)[0]})" if where else name


def thread_kind(frames: list[str]) -> str:
    # Deep asyncio stacks may come truncated (no thread entry point): whatever is not a worker thread is
    # the event loop.
    joined = ";".join(frames)
    if "produce (" in joined:
        return "provider stream threads (boto3 reading, chat/providers)"
    if "_worker (" in joined:
        return "executor threads (sync_to_async / database_sync_to_async)"
    return "event loop thread (daphne, channels, chat.runs, chat.consumers)"
