"""Time what an upload costs the server before it is stored: type detection and checks (chat.file_types) for
files at Bedrock's limits — a PDF of 2,500 pages near 4.5 MB, a PNG of random pixels near 3.75 MB, a large
text file. The target: well under a second each, since an upload holds a worker thread meanwhile.

Pure CPU work on bytes made here; no database, no network.

    .venv/bin/python bench/attachments.py [--runs 5]
"""

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def big_pdf(target: int) -> bytes:
    from tests.attachment_files import pdf_bytes

    line = "Quarterly figures: revenue, costs, margins and the outlook for the next year. " * 20
    pages = max(1, target // (len(line) + 200))
    return pdf_bytes(*([line] * pages))


def noisy_png(target: int) -> bytes:
    from PIL import Image

    side = int((target / 3) ** 0.5)
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def timed(function, runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "streamer.settings")
    os.environ.setdefault("DATA_DIR", "/tmp/streamer-bench-attachments")
    import django

    django.setup()
    from chat.file_types import detect

    files = {
        "pdf": big_pdf(4_400_000),
        "png": noisy_png(3_700_000),
        "txt": ("Lorem ipsum dolor sit amet. " * 160_000).encode()[:4_400_000],
    }
    for name, data in files.items():
        median, worst = timed(lambda: detect(data, f"file.{name}"), runs)
        pages = detect(data, f"file.{name}").pages
        extra = f", {pages} pages" if pages else ""
        print(f"detect {name:>3} {len(data) / 1e6:5.2f} MB{extra}: median {median:7.1f} ms, worst {worst:7.1f} ms")


if __name__ == "__main__":
    main()
