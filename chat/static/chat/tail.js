// The open block's cheap path (render.js): new text that cannot change the block's structure is appended to the
// block's last text node instead of parsing the whole block again. It goes in as text (appendData), never as HTML.
// In prose that is plain words and punctuation that no markdown rule reads, on a line whose kind (paragraph, list
// item, heading, table row) is already settled by a letter; in an open code block any text, line breaks included,
// whose lines cannot become the closing fence (the code is highlighted again later, render.js).

const SAFE = '\\p{L}\\p{N}\\p{M} ,.!?\'":§%$\u2013\u2014\u2026';
const SAFE_TEXT = new RegExp(`^[${SAFE}]*$`, 'u');
const TRAILING_SAFE = new RegExp(`[${SAFE}]*$`, 'u');
// Entities, inline HTML, escapes and autolinks (www., scheme://, e-mail) can change what a whole line renders as.
const RISKY_LINE = /[<&\\]|@|www\.|:\/\//i;
const FENCE_START = /^\s*(?:`{3,}|~{3,})/;
const MAY_CLOSE_FENCE = /^\s*[`~]/;
const LETTER = /\p{L}/u;

// The deepest last text node, skipping whitespace-only text (marked ends each block with a line break).
function lastTextNode(el) {
  let node = el;
  for (;;) {
    let child = node.lastChild;
    while (child && child.nodeType === Node.TEXT_NODE && !child.data.trim()) child = child.previousSibling;
    if (!child || child.nodeType === Node.TEXT_NODE) return child;
    if (child.nodeType !== Node.ELEMENT_NODE) return null;
    node = child;
  }
}

const lastLine = (source) => source.slice(source.lastIndexOf('\n') + 1);

// In an open code block: the code's last text node, when it ends with the last line of the source. The rendering
// leaves out one line break at the end (marked): it is held and put in front of the next text. Only a fence with no
// indentation: an indented one (in a list item, say) loses its lines' indentation and, in a list, trailing spaces.
function codePoint(el, source, fenceIndent) {
  if (fenceIndent !== 0) return null;
  const held = source.endsWith('\n') ? '\n' : '';
  const line = lastLine(held ? source.slice(0, -1) : source);
  if (!line.trim() || FENCE_START.test(line) || MAY_CLOSE_FENCE.test(line)) return null;
  const node = lastTextNode(el);
  if (!node || !node.parentElement?.closest('code') || !node.data.endsWith(line.trimStart())) return null;
  return { node, held, code: true };
}

// Where text can be appended to `el`, just rendered from `source`: {node, held, code}, or null when the open line
// is not one the cheap path understands. `held` is trailing whitespace the rendering leaves out (`trims`: it is
// put in front of the next text), `code` whether the line is inside an open code block. `fenceIndent` is the
// open fence's indentation, null outside one.
export function appendPoint(el, source, fenceIndent) {
  if (fenceIndent != null) return codePoint(el, source, fenceIndent);
  const line = lastLine(source);
  if (!line.trim() || FENCE_START.test(line)) return null;
  const node = lastTextNode(el);
  if (!node) return null;
  if (!LETTER.test(line) || RISKY_LINE.test(line)) return null;
  const space = line.match(/\s*$/)[0];
  const core = line.slice(0, line.length - space.length).match(TRAILING_SAFE)[0].trim();
  // A paragraph keeps its trailing whitespace; a list item, heading or table cell drops it.
  const trims = node.parentElement.closest('p, li, td, th, h1, h2, h3, h4, h5, h6')?.tagName !== 'P';
  if (!core || !node.data.endsWith(trims ? core : core + space)) return null;
  return { node, held: trims ? space : '', trims, code: false };
}

// Appends `text` (what arrived after `source`) when it cannot change the structure; false: parse the block again.
// The line's start was checked by appendPoint and cannot change (it holds text and no line break comes); only its
// end is looked at here (an autolink or entity is at most a few characters long).
export function appendText(point, source, text) {
  if (!point) return false;
  if (point.code) {
    // No line it touches may become the closing fence (nor the start of one that marked would read as closing).
    if ((lastLine(source) + text).split('\n').some((line) => MAY_CLOSE_FENCE.test(line))) return false;
    const all = point.held + text;
    const held = all.endsWith('\n') ? '\n' : '';
    point.node.appendData(all.slice(0, all.length - held.length));
    point.held = held;
    return true;
  }
  if (text.includes('\n')) return false;
  if (!SAFE_TEXT.test(text) || !SAFE_TEXT.test(source.at(-1) ?? '') || RISKY_LINE.test(source.slice(-8) + text)) {
    return false;
  }
  const all = point.held + text;
  const held = point.trims ? all.match(/\s*$/)[0] : '';
  point.node.appendData(all.slice(0, all.length - held.length));
  point.held = held;
  return true;
}
