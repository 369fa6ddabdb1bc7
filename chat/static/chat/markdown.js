// Answers are markdown: parsed with marked, sanitised with DOMPurify (raw HTML in an answer is shown as
// text, never run), code highlighted with highlight.js. The one renderer for every page that shows model
// output (the chat page and the admin message page), so there is one sanitiser to trust.
// The vendored libraries are classic scripts (window.marked, window.DOMPurify, window.hljs) loaded with
// `defer` before the page's modules, which run after them in document order.

import { button, h } from './dom.js';

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

// Inline tags a model may use on purpose (a line break in a table cell, say); any other raw HTML is shown as text.
const SAFE_INLINE_TAG = /^<\/?(?:br|sub|sup|kbd|mark|ins|del|s|u|small|b|i|em|strong)\s*\/?>$/i;
// Classes kept on model output: highlight.js's and the code block's language; nothing that could mimic the page's own.
const KEPT_CLASS = /^(?:hljs(?:-[\w-]+)?|language-[\w+#.-]+|[a-z]+_+)$/;

function createMarkdown() {
  const { marked, DOMPurify, hljs } = window;
  if (!marked?.Marked || !DOMPurify?.sanitize || DOMPurify.isSupported === false) {
    console.warn('Streamer: markdown libraries missing; answers are shown as plain text');
    return null;
  }

  // Settled blocks and whole answers highlight the same code again and again: keep the result.
  const highlighted = new Map();
  function highlight(code, language) {
    if (!hljs || !language || !hljs.getLanguage(language)) return escapeHtml(code);
    const key = `${language}\u0000${code}`;
    let html = highlighted.get(key);
    if (html === undefined) {
      try {
        html = hljs.highlight(code, { language, ignoreIllegals: true }).value;
      } catch {
        html = escapeHtml(code);
      }
      if (highlighted.size >= 300) highlighted.clear();
      highlighted.set(key, html);
    }
    return html;
  }

  const parser = new marked.Marked({ gfm: true, breaks: false, async: false });
  parser.use({
    renderer: {
      html({ text, block }) {
        if (!block && SAFE_INLINE_TAG.test(text.trim())) return text;
        return block ? `<p>${escapeHtml(text)}</p>` : escapeHtml(text);
      },
      // No image is fetched from model output (that would leak the page to any URL): show a link instead.
      image({ href, text }) {
        return `<a href="${escapeHtml(href || '')}">[image: ${escapeHtml(text || href || '')}]</a>`;
      },
      checkbox({ checked }) {
        return checked ? '☑ ' : '☐ ';
      },
      // Highlighting happens after sanitising (decorate), so DOMPurify never walks highlight.js's many spans.
      code({ text, lang }) {
        const language = ((lang || '').match(/^\S*/)?.[0] || '').toLowerCase();
        const cls = language ? ` class="language-${escapeHtml(language)}"` : '';
        return `<pre><code${cls}>${escapeHtml(text.replace(/\n$/, ''))}</code></pre>\n`;
      },
    },
  });

  DOMPurify.addHook('uponSanitizeAttribute', (node, data) => {
    if (data.attrName !== 'class') return;
    const kept = data.attrValue.split(/\s+/).filter((c) => KEPT_CLASS.test(c));
    if (kept.length) data.attrValue = kept.join(' ');
    else data.keepAttr = false;
  });
  DOMPurify.addHook('afterSanitizeAttributes', (node) => {
    if (node.tagName === 'A' && node.hasAttribute('href')) {
      node.setAttribute('target', '_blank');
      node.setAttribute('rel', 'noopener noreferrer');
    }
  });
  const PURIFY = {
    FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select', 'option', 'iframe', 'frame', 'object',
      'embed', 'svg', 'math', 'dialog', 'template', 'link', 'meta', 'base', 'img', 'video', 'audio', 'source', 'picture'],
    FORBID_ATTR: ['style', 'id', 'name', 'tabindex', 'autofocus', 'contenteditable', 'accesskey', 'src', 'srcset'],
    ALLOW_DATA_ATTR: false,
    ALLOW_ARIA_ATTR: false,
    RETURN_DOM_FRAGMENT: true,
  };
  // Set once instead of passed on every call: DOMPurify otherwise rebuilds its allow-lists from it each time, more
  // than half the cost of sanitising a short block (this module is DOMPurify's only user on the page).
  DOMPurify.setConfig(PURIFY);

  function decorate(fragment, highlighting) {
    for (const pre of fragment.querySelectorAll('pre')) {
      const code = pre.querySelector('code');
      const language = code?.className.match(/language-([\w+#.-]+)/)?.[1] || '';
      if (code) {
        // highlight.js escapes the text it is given and adds only <span class="hljs-…">: safe to insert as HTML.
        if (highlighting && hljs && language && hljs.getLanguage(language)) {
          code.innerHTML = highlight(code.textContent, language);
        }
        code.classList.add('hljs');
      }
      const box = h('div', 'code-block');
      const head = h('div', 'code-head');
      head.append(h('span', 'code-lang', language || 'text'), button('code-copy', 'Copy', 'Copy code'));
      pre.replaceWith(box);
      box.append(head, pre);
    }
    for (const table of fragment.querySelectorAll('table')) {
      const wrap = h('div', 'table-wrap');
      table.replaceWith(wrap);
      wrap.append(table);
    }
    return fragment;
  }

  return {
    // Markdown source -> a sanitised DocumentFragment. `highlight: false` leaves code as plain text (an open code
    // block while it streams: highlighted again only a few times a second).
    render(source, { highlight: highlighting = true } = {}) {
      let html;
      try {
        html = parser.parse(source);
      } catch (err) {
        console.warn('Streamer: markdown failed', err);
        html = `<p>${escapeHtml(source)}</p>`;
      }
      return decorate(DOMPurify.sanitize(html), highlighting);
    },
  };
}

// null when the libraries are missing: callers then show the answer as plain text.
export const markdown = createMarkdown();

// ---------- cutting an answer into blocks ----------

// An answer is cut into top-level blocks at blank lines outside fenced code. A block is settled (rendered once
// and kept) when a line with no indentation follows its blank line, or one indented by 1-3 spaces when the block
// holds no list item (CommonMark starts a new paragraph there; models often begin it with a token's space): in a
// list such a line may still belong to an item, and 4 spaces or a tab may be the block's own indented code. Only
// the last, open block is parsed again as text arrives.
const FENCE_OPEN = /^\s*(`{3,}|~{3,})(.*)$/;
const FENCE_CLOSE = /^\s*(`{3,}|~{3,})\s*$/;
const LIST_ITEM = /^[ >]*(?:[*+-]|\d{1,9}[.)])(?:\s|$)/;
const SHALLOW_INDENT = /^ {1,3}\S/;

// Where a scan of one answer stands; settledBlocks carries it on as the text grows.
export function newBlockScan() {
  return {
    blockStart: 0,   // where the open block starts in the text
    scanPos: 0,      // every complete line before this was looked at
    fence: null,     // the open fence's marker, e.g. "```"
    fenceIndent: 0,  // the open fence's indentation (its code lines lose as much)
    hasContent: false,
    list: false,     // the open block holds a list item (an indented line after a blank one may continue it)
    boundary: false, // a blank line ended the open block's content; the next line decides
  };
}

// The blocks settled since the last call; the open block starts at scan.blockStart.
export function settledBlocks(scan, text) {
  const blocks = [];
  let pos = scan.scanPos;
  for (;;) {
    const end = text.indexOf('\n', pos);
    if (end < 0) break;
    const line = text.slice(pos, end);
    const start = pos;
    pos = end + 1;
    if (scan.fence) {
      const close = FENCE_CLOSE.exec(line);
      if (close && close[1][0] === scan.fence[0] && close[1].length >= scan.fence.length) scan.fence = null;
      continue;
    }
    if (!line.trim()) {
      if (scan.hasContent) scan.boundary = true;
      continue;
    }
    if (scan.boundary && (!/^\s/.test(line) || (!scan.list && SHALLOW_INDENT.test(line)))) {
      blocks.push(text.slice(scan.blockStart, start));
      scan.blockStart = start;
      scan.list = false;
    }
    scan.boundary = false;
    scan.hasContent = true;
    if (!scan.list && LIST_ITEM.test(line)) scan.list = true;
    const open = FENCE_OPEN.exec(line);
    if (open && !(open[1][0] === '`' && open[2].includes('`'))) {
      scan.fence = open[1];
      scan.fenceIndent = line.length - line.trimStart().length;
    }
  }
  scan.scanPos = pos;
  return blocks;
}

// A whole text's blocks, the open one included.
export function splitBlocks(text) {
  const scan = newBlockScan();
  const blocks = settledBlocks(scan, text);
  if (scan.blockStart < text.length) blocks.push(text.slice(scan.blockStart));
  return blocks;
}
