"""Streaming renders incrementally (plain text appended to the open block, the open block parsed again only when
its structure may change, code highlighted a few times a second) and must look exactly like a full render: after
every delta the answer equals the text so far rendered at once (code compared as text, as its highlighting may
lag a moment), and the final answer is identical, highlighting included. Driven through the page's own modules."""

import pytest

from tests.browser.conftest import send, wait_status  # noqa: F401 (the page fixture logs in)

TRICKY = """# Title with *emphasis* and more words

Some **bold text** and `inline code` and a [link](https://example.com), www.example.com and me@example.com.
Words with snake_case and a * lone star, 3 * 4 = 12, and an &amp; entity &copy; with <b>tags</b> <script>alert(1)</script>.

- item one
- item **two** continues
  with a lazy line
- item three: plain words, commas, dots.

1. first
2. second *half
   emphasised* here

| a | b |
|---|---:|
| 1 | *x* plain words |
| 2 | `y` |

```python
def f(x):
    return x * 2  # comment with words
```

> quote with _underscores_ and words
continued lazily

Trailing text with two spaces  
hard break and \\*escaped\\* stars.

~~~
tilde fence ``` inside
~~~

Setext heading words
====================

Final paragraph ends here with words
"""

# Code whose line breaks are appended as they arrive: blank lines, lines that look like fences but are not, a fence
# inside a list item (indented: parsed again as it grows), a tilde fence closed by a longer one.
CODE = """Intro words.

```js
const a = 1;


function f(x) {
    return `template ${x}`;
}
``not a close
  ~~~ nor this
```

- a list item with code:

  ```python
  def g():
      return 2
  ```

~~~
plain
~~~~
after the tilde fence
"""

CHECK = """async ({ deltas, long }) => {
    const base = document.querySelector('script[type=module][src*="chat.js"]').src;
    const { applyDelta, renderFinal } = await import(new URL('render.js', base));
    const { createTurn } = await import(new URL('turn.js', base));
    const { markdown, newBlockScan, settledBlocks } = await import(new URL('markdown.js', base));
    const frame = () => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
    // Code as plain text (its highlighting may lag while it streams); everything else exactly.
    const normal = (el) => {
        const copy = el.cloneNode(true);
        for (const code of copy.querySelectorAll('code')) code.textContent = code.textContent;
        copy.normalize();
        return copy.innerHTML;
    };
    // What a full render of `text` shows while it streams: its settled blocks, then the open one.
    const reference = (text) => {
        const scan = newBlockScan();
        const box = document.createElement('div');
        const add = (source, cls) => {
            const el = document.createElement('div');
            el.className = cls;
            el.append(markdown.render(source));
            box.append(el);
        };
        for (const block of settledBlocks(scan, text)) add(block, 'md-block');
        add(text.slice(scan.blockStart), 'md-block md-tail');
        return box;
    };
    const turn = createTurn('test', `incremental-${Math.random()}`);
    document.querySelector('#turns').append(turn.el);
    turn.el.dataset.status = 'streaming';
    const mismatches = [];
    let seq = 0;
    let text = '';
    for (const delta of deltas) {
        text += delta;
        applyDelta(turn, ++seq, delta);
        for (let i = 0; i < 100; i += 1) {
            await frame();
            const st = turn.stream;
            if (st && !st.queue.length && st.tailText === text.slice(st.blockStart)) break;
        }
        const want = normal(reference(text));
        const got = normal(turn.answer);
        if (got !== want) mismatches.push({ text, got, want });
        if (mismatches.length >= 3) break;
    }
    turn.el.dataset.status = 'complete';
    renderFinal(turn);
    for (let i = 0; i < 200 && turn.stream; i += 1) await frame();
    // The final answer against the same text rendered from scratch (as a reload shows it).
    const fresh = createTurn('test', `fresh-${Math.random()}`);
    document.querySelector('#turns').append(fresh.el);
    fresh.el.dataset.status = 'complete';
    fresh.text = text;
    renderFinal(fresh);
    for (let i = 0; i < 400 && fresh.renderJob; i += 1) await frame();
    return {
        mismatches,
        final: turn.answer.innerHTML === fresh.answer.innerHTML,
        finalGot: turn.answer.innerHTML.slice(-400), finalWant: fresh.answer.innerHTML.slice(-400),
        live: turn.answer.querySelectorAll('script, img, [onerror], [onclick]').length,
        text: turn.answer.textContent,
    };
}"""


def split(text: str, seed: int) -> list[str]:
    """Deltas of 1 to 12 characters, cut anywhere (inside words, marks, fences and table rows)."""
    state, out, i = seed, [], 0
    while i < len(text):
        state = (state * 1103515245 + 12345) % 2**31
        size = 1 + state % 12
        out.append(text[i:i + size])
        i += size
    return out


def words(text: str) -> list[str]:
    """Deltas as a model sends them: a word with its leading space, line breaks on their own."""
    out = []
    for line in text.split("\n"):
        out += [word if n == 0 else " " + word for n, word in enumerate(line.split(" "))]
        out.append("\n")
    return [d for d in out if d]


@pytest.mark.parametrize("name, deltas", [
    ("words", words(TRICKY)),
    ("cut anywhere", split(TRICKY, 7)),
    ("cut anywhere, long answer", split(TRICKY * 5, 11)),
    ("code, words", words(CODE)),
    ("code, cut anywhere", split(CODE, 5)),
    ("code, one character at a time", list(CODE)),  # over 6,000 characters: the blocks are kept at the end
])
def test_incremental_render_equals_a_full_render(page, name, deltas):
    result = page.evaluate(CHECK, {"deltas": deltas, "long": len("".join(deltas)) > 6000})
    first = (result["mismatches"] or [{}])[0]
    assert result["mismatches"] == [], (repr(first["text"][-80:]), first["got"][-300:], first["want"][-300:])
    assert result["final"], (result["finalGot"], result["finalWant"])
    assert result["live"] == 0  # model output is never live HTML
    if "<script>" in "".join(deltas):
        assert "<script>alert(1)</script>" in result["text"]  # shown as text


# Blank lines whose next line is indented: a new paragraph (1-3 spaces, as a model's next token often starts), a
# list item's own paragraph or nested list, the same indented code block.
INDENTED = """First paragraph of words.

 Second paragraph after a token's space, with **bold** words.

   Third one, three spaces in.

- item one

  its second paragraph

  - nested item
- item two

 Back to prose after the list, one space in.

    indented code

    more of the same code

Last words.
"""

BLOCKS_MATCH = """async (text) => {
    const base = document.querySelector('script[type=module][src*="chat.js"]').src;
    const { markdown, splitBlocks } = await import(new URL('markdown.js', base));
    const html = (fragment) => { const box = document.createElement('div'); box.append(fragment); return box; };
    const tops = (box) => [...box.children].map((el) => el.outerHTML);
    const whole = tops(html(markdown.render(text)));
    const pieces = splitBlocks(text).flatMap((block) => tops(html(markdown.render(block))));
    return { whole, pieces, blocks: splitBlocks(text).length };
}"""


def test_blocks_are_cut_where_a_whole_render_cuts(page):
    """Each block rendered alone gives the same top-level elements as the whole text rendered at once."""
    result = page.evaluate(BLOCKS_MATCH, INDENTED)
    assert result["pieces"] == result["whole"]
    # The three paragraphs apart; after a list an indented line may continue it, so the list, the prose after it
    # and the code stay one block; the last words.
    assert result["blocks"] == 5
