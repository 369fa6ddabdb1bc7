"""The answers bench/page.py streams: lists of delta texts, each carrying a stamp `§<n>:{stamp}§` (n counts the
stamped deltas from 0; the test Bedrock server writes the send time in place of `{stamp}`). Stamps sit only where
they are plain text in the rendered answer (prose, list items, table cells, code lines), never inside markdown
syntax (a fence line, a table's delimiter row), so each one shows on the page exactly as sent."""

import itertools
import re

WORDS = ("streaming answers arrive token by token while the reader follows every word of the model as it "
         "writes paragraphs lists tables and code for the people who asked").split()

STAMP_RE = re.compile(r"§(\d+):\{stamp\}§")


class Stamps:
    """Numbers the stamps of one answer."""

    def __init__(self):
        self.count = 0

    def __call__(self) -> str:
        stamp = f"§{self.count}:{{stamp}}§"
        self.count += 1
        return stamp


def prose(deltas: int) -> list[str]:
    """Paragraphs of words, a few bold or code spans whose marks fall in different deltas, a blank line every
    60 deltas: about 25 characters a delta."""
    stamp, words, out = Stamps(), itertools.cycle(WORDS), []
    for i in range(deltas):
        word = next(words)
        if i % 17 == 5:
            piece = f" **{word} {stamp()}"
        elif i % 17 == 6:
            piece = f" {word}** {stamp()}"
        elif i % 23 == 9:
            piece = f" `{word}` {stamp()}"
        else:
            piece = f" {word} {stamp()}"
        if i % 60 == 59:
            piece += ".\n\n"
        out.append(piece)
    return out


def _words(stamp, count: int) -> str:
    words = itertools.islice(itertools.cycle(WORDS), stamp.count % len(WORDS), None)
    return " ".join(itertools.islice(words, count))


def _paragraph(stamp, chunks: int) -> list[str]:
    out = [f"{_words(stamp, 3)} {stamp()} " for _ in range(chunks)]
    return out[:-1] + [out[-1].rstrip() + ".\n\n"]


def _code(stamp, lines: int) -> list[str]:
    out = ["```python\n"]
    for i in range(lines):
        indent = "    " * (i % 3)
        out.append(f"{indent}value_{i} = compute(")
        out.append(f"items[{i}], limit={i * 7})  # {stamp()}\n")
    out.append("```\n\n")
    return out


def _table(stamp, rows: int) -> list[str]:
    out = [f"| Name {stamp()} | Value | Notes |\n", "|---|---:|---|\n"]
    for i in range(rows):
        out.append(f"| item {i} {stamp()} | {i * 42} ")
        out.append(f"| {_words(stamp, 2)} {stamp()} |\n")
    out.append("\n")
    return out


def _list(stamp, items: int) -> list[str]:
    out = []
    for i in range(items):
        out.append(f"{i + 1}. {_words(stamp, 2)} {stamp()}")
        out.append(f" *{_words(stamp, 1)}* {stamp()}\n")
    out.append("\n")
    return out


def markdown(characters: int = 20_000) -> list[str]:
    """A long markdown answer: headings, paragraphs, numbered lists, python code blocks and tables, in deltas of
    about 30 characters, cut off at the first delta past `characters`."""
    stamp, out, size = Stamps(), [], 0
    for section in itertools.count(1):
        parts = [[f"## Section {section} {stamp()}\n\n"], _paragraph(stamp, 8), _code(stamp, 12),
                 _paragraph(stamp, 4), _table(stamp, 8), _list(stamp, 5), _paragraph(stamp, 6)]
        for piece in itertools.chain.from_iterable(parts):
            out.append(piece)
            size += len(piece)
            if size >= characters:
                if "".join(out).count("```") % 2:
                    out.append("```\n")  # close the open code block
                return out
    return out


def stamp_count(deltas: list[str]) -> int:
    return sum(len(STAMP_RE.findall(delta)) for delta in deltas)
