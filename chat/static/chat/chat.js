// Streamer chat client.
// Speaks WebSocket protocol v1 (docs/protocol.md):
//   client -> server: prompt, stop, attach
//   server -> client: started, queued, delta, snapshot, done, error
// and the JSON API (chat/api.py) for the conversation list: open, rename, delete.
// A dropped socket or a reload never loses an answer: on reconnect the page attaches
// again to every unfinished message (or resends a prompt that was never `started`, with
// the same id) and the server's `snapshot` fills in what was missed.
// Answers are markdown: parsed with marked, sanitised with DOMPurify (raw HTML in an answer is
// shown as text, never run), code highlighted with highlight.js. Prompts are plain text.

const $ = (selector) => document.querySelector(selector);

const els = {
  root: $('#chat'),
  layout: $('.app-layout'),
  sidebar: $('#sidebar'),
  sidebarToggle: $('#sidebar-toggle'),
  backdrop: $('#sidebar-backdrop'),
  list: $('#conversation-list'),
  listStatus: $('#conversation-list-status'),
  title: $('#conversation-title'),
  scroll: $('#chat-scroll'),
  turns: $('#turns'),
  form: $('#composer'),
  prompt: $('#prompt'),
  model: $('#model'),
  go: $('#go'),
  stop: $('#stop'),
  notice: $('#notice'),
  connection: $('#connection'),
  newConversation: $('#new-conversation'),
  params: $('#params'),
  paramsSummary: $('#params-summary'),
  paramError: $('#param-error'),
  paramsReset: $('#params-reset'),
  topKField: $('#param-top_k-field'),
  confirmDelete: $('#confirm-delete'),
  confirmText: $('#confirm-delete-text'),
  announcer: $('#announcer'),
};

const PARAM_NAMES = ['temperature', 'max_tokens', 'top_p', 'top_k', 'stop_sequences', 'system'];
const paramInputs = Object.fromEntries(PARAM_NAMES.map((name) => [name, $(`#param-${name}`)]));

const config = {
  wsPath: els.root.dataset.wsPath || '/ws/chat/',
  defaultModel: els.root.dataset.defaultModel || null,
  // The server says no model is configured: the page is read-only.
  blocked: els.root.dataset.blocked === 'true',
  models: JSON.parse($('#models-data')?.textContent || '[]'),
};

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 8000;
const FINISHED = new Set(['complete', 'stopped', 'error', 'interrupted']);
const BADGE_TEXT = { complete: 'Done', stopped: 'Stopped', error: 'Error', interrupted: 'Interrupted' };
const CONNECTION_TEXT = { connecting: 'Connecting…', connected: 'Connected', reconnecting: 'Reconnecting…' };
// sessionStorage: the turn in flight, so a reload can attach to it again.
const INFLIGHT_KEY = 'streamer.inflight';
const INTERRUPTED_NOTE = 'The server stopped before the answer finished; the text so far is kept.';
const STOPPED_NOTE = 'Stopped before the end; the text so far is kept.';
const NO_RESUME_NOTE = 'The connection dropped before the answer finished.';
const API = {
  models: '/api/models/',
  conversations: '/api/conversations/',
  conversation: (id) => `/api/conversations/${encodeURIComponent(id)}/`,
};
const phoneQuery = window.matchMedia('(max-width: 700px)');

const state = {
  socket: null,
  connected: false,
  retryMs: RETRY_MIN_MS,
  conversation: null,   // the open conversation's id; null: the next prompt starts a new one
  active: null,         // the one turn of the open conversation currently waiting or streaming
  byClientId: new Map(),
  byMessageId: new Map(), // keyed by String(message id)
  // Prompts sent from a conversation the user left before `started` came back: client id -> request.
  // They are resent (same id, so nothing is duplicated) after a reconnect and then run unseen.
  orphans: new Map(),
  // Answers still running in conversations that are not open: String(message id) -> conversation id.
  background: new Map(),
  attaching: [],        // turns whose `attach` awaits its `snapshot`, in the order sent
  catalog: new Map(),   // model key -> the /api/models/ entry (defaults, system, accepts_top_k)
  conversations: [],    // the sidebar's list, newest first
  listLoaded: false,
  listSeq: 0,
  loading: null,        // AbortController of the conversation being fetched
  editing: null,        // the conversation whose title is being edited inline
  refreshAfterEdit: false,
  pendingDelete: null,
  stick: true,          // the answers scroll along with new text (the reader is at the bottom)
};

// ---------- small DOM helpers ----------

function h(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

function button(className, text, label) {
  const node = h('button', className, text);
  node.type = 'button';
  if (label) node.setAttribute('aria-label', label);
  return node;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
const ICONS = {
  pencil: 'M4 20h4L19 9l-4-4L4 16v4zM14 6l4 4',
  trash: 'M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3',
};

function icon(name) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '16');
  svg.setAttribute('height', '16');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const path = document.createElementNS(SVG_NS, 'path');
  path.setAttribute('d', ICONS[name]);
  path.setAttribute('fill', 'none');
  path.setAttribute('stroke', 'currentColor');
  path.setAttribute('stroke-width', '1.8');
  path.setAttribute('stroke-linecap', 'round');
  path.setAttribute('stroke-linejoin', 'round');
  svg.append(path);
  return svg;
}

function nearBottom() {
  const s = els.scroll;
  return s.scrollHeight - (s.scrollTop + s.clientHeight) < 120;
}

function scrollToBottom() {
  state.stick = true;
  els.scroll.scrollTop = els.scroll.scrollHeight;
}

// Follow the answer while the reader is at the bottom. The scroll happens in a ResizeObserver callback, after
// the browser's own layout, so streaming never forces an extra synchronous layout; scrolling up stops following.
function followBottom() {
  els.scroll.addEventListener('scroll', () => { state.stick = nearBottom(); }, { passive: true });
  const observer = new ResizeObserver(() => {
    if (state.stick) els.scroll.scrollTop = els.scroll.scrollHeight;
  });
  observer.observe(els.turns);
  observer.observe(els.scroll);
}

function announce(text) {
  els.announcer.textContent = '';
  // A fresh text node each time, so the same words are announced again.
  requestAnimationFrame(() => { els.announcer.textContent = text; });
}

// crypto.randomUUID only exists in secure contexts; plain-http LAN access
// still has getRandomValues, so build a v4 UUID from that.
function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

// ---------- markdown ----------

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

  function decorate(fragment) {
    for (const pre of fragment.querySelectorAll('pre')) {
      const code = pre.querySelector('code');
      const language = code?.className.match(/language-([\w+#.-]+)/)?.[1] || '';
      if (code) {
        // highlight.js escapes the text it is given and adds only <span class="hljs-…">: safe to insert as HTML.
        if (hljs && language && hljs.getLanguage(language)) code.innerHTML = highlight(code.textContent, language);
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
    render(source) {
      let html;
      try {
        html = parser.parse(source);
      } catch (err) {
        console.warn('Streamer: markdown failed', err);
        html = `<p>${escapeHtml(source)}</p>`;
      }
      return decorate(DOMPurify.sanitize(html, PURIFY));
    },
  };
}

const markdown = createMarkdown();

// ---------- streaming render: settled blocks + the open one ----------

// An answer is cut into top-level blocks at blank lines outside fenced code. A block is settled (rendered once
// and kept) when a line with no indentation follows its blank line: an indented one still belongs to it (a list
// item's second paragraph, or its code). Only the last, open block is parsed again as text arrives.
const FENCE_OPEN = /^\s*(`{3,}|~{3,})(.*)$/;
const FENCE_CLOSE = /^\s*(`{3,}|~{3,})\s*$/;

function newStream(turn) {
  const tail = h('div', 'md-block md-tail');
  turn.answer.replaceChildren(tail);
  turn.stream = {
    tail,
    blockStart: 0, // where the open block starts in turn.text
    scanPos: 0,    // every complete line before this was looked at
    fence: null,   // the open fence's marker, e.g. "```"
    hasContent: false,
    boundary: false, // a blank line ended the open block's content; the next line decides
    tailText: null,
    nextTailAt: 0,
    queue: [],     // settled blocks not rendered yet
  };
}

function settledBlocks(st, text) {
  const blocks = [];
  let pos = st.scanPos;
  for (;;) {
    const end = text.indexOf('\n', pos);
    if (end < 0) break;
    const line = text.slice(pos, end);
    const start = pos;
    pos = end + 1;
    if (st.fence) {
      const close = FENCE_CLOSE.exec(line);
      if (close && close[1][0] === st.fence[0] && close[1].length >= st.fence.length) st.fence = null;
      continue;
    }
    if (!line.trim()) {
      if (st.hasContent) st.boundary = true;
      continue;
    }
    if (st.boundary && !/^\s/.test(line)) {
      blocks.push(text.slice(st.blockStart, start));
      st.blockStart = start;
    }
    st.boundary = false;
    st.hasContent = true;
    const open = FENCE_OPEN.exec(line);
    if (open && !(open[1][0] === '`' && open[2].includes('`'))) st.fence = open[1];
  }
  st.scanPos = pos;
  return blocks;
}

// Renders what arrived; false when some of it was put off to a later frame: settled blocks beyond a small time
// budget (a whole answer arriving at once in a snapshot), or the open block when it is costly and ran very recently.
const BLOCK_BUDGET_MS = 12;

function renderStreaming(turn, now) {
  if (!markdown) {
    turn.answer.textContent = turn.text;
    return true;
  }
  if (!turn.stream) newStream(turn);
  const st = turn.stream;
  for (const block of settledBlocks(st, turn.text)) st.queue.push(block);
  if (st.queue.length) {
    const t0 = performance.now();
    while (st.queue.length && performance.now() - t0 < BLOCK_BUDGET_MS) {
      const el = h('div', 'md-block');
      el.append(markdown.render(st.queue.shift()));
      turn.answer.insertBefore(el, st.tail);
    }
    // The open block's old rendering is now (part of) a settled block: never show it twice.
    st.tail.replaceChildren();
    st.tailText = null;
    if (st.queue.length) return false;
  }
  const tailText = turn.text.slice(st.blockStart);
  if (tailText === st.tailText) return true;
  if (now < st.nextTailAt) return false;
  const t0 = performance.now();
  st.tail.replaceChildren(markdown.render(tailText));
  st.tailText = tailText;
  // A big open block (a long code listing, a list with no blank line) is parsed less often: at most ~25% of the time.
  const cost = performance.now() - t0;
  st.nextTailAt = cost > 4 ? t0 + Math.min(cost * 4, 400) : 0;
  return true;
}

// A finished turn whose blocks are all on the page: the open block becomes an ordinary one.
function sealStream(turn) {
  turn.stream?.tail.classList.remove('md-tail');
  turn.stream = null;
}

// Render what is left over the next frames (a turn that finished, or got a snapshot, with much still to render).
function renderLater(turn) {
  dirtyTurns.add(turn);
  requestFrame();
}

// Answers up to this long are rendered again as a whole when they finish (exact output: link references, list
// numbering); longer ones keep their blocks, as parsing a long answer at once would hold up the page.
const EXACT_RENDER_CHARS = 6000;

// A finished answer's final look. A streamed one only settles its open block (or is rendered whole if short);
// one opened from the server is rendered a few blocks at a time, off to the side, then swapped in.
function renderFinal(turn) {
  dirtyTurns.delete(turn);
  turn.renderJob = null;
  turn.answer.classList.remove('pending-render');
  if (!markdown) {
    turn.stream = null;
    turn.answer.textContent = turn.text;
    return;
  }
  if (!turn.text) {
    turn.stream = null;
    turn.answer.replaceChildren();
    return;
  }
  if (turn.text.length <= EXACT_RENDER_CHARS) {
    turn.stream = null;
    const block = h('div', 'md-block');
    block.append(markdown.render(turn.text));
    turn.answer.replaceChildren(block);
    return;
  }
  if (turn.stream) {
    if (renderStreaming(turn, Infinity)) sealStream(turn);
    else renderLater(turn); // flushText seals it when done
    return;
  }
  queueFinalRender(turn);
}

function splitBlocks(text) {
  const st = { blockStart: 0, scanPos: 0, fence: null, hasContent: false, boundary: false };
  const blocks = settledBlocks(st, text);
  if (st.blockStart < text.length) blocks.push(text.slice(st.blockStart));
  return blocks;
}

// Renders queued turns within a small time budget per frame, newest first; until then each shows its plain text.
const renderQueue = [];
let renderQueued = false;

function queueFinalRender(turn) {
  turn.stream = null;
  turn.answer.textContent = turn.text;
  turn.answer.classList.add('pending-render');
  turn.renderJob = { turn, blocks: null, index: 0 };
  renderQueue.push(turn.renderJob);
  if (!renderQueued) {
    renderQueued = true;
    requestAnimationFrame(drainRenderQueue);
  }
}

// One step of a queued render; true when the turn is done.
function renderStep(job) {
  const { turn } = job;
  if (turn.renderJob !== job) return true; // rendered another way meanwhile
  if (!markdown || turn.text.length <= EXACT_RENDER_CHARS) {
    renderFinal(turn);
    return true;
  }
  if (!job.blocks) {
    // Blocks go straight onto the page, a few per task, so the browser styles and lays them out in small steps too.
    job.blocks = splitBlocks(turn.text);
    turn.answer.classList.remove('pending-render');
    turn.answer.replaceChildren();
    return false;
  }
  const el = h('div', 'md-block');
  el.append(markdown.render(job.blocks[job.index]));
  turn.answer.append(el);
  job.index += 1;
  if (job.index < job.blocks.length) return false;
  turn.renderJob = null;
  return true;
}

function drainRenderQueue() {
  const t0 = performance.now();
  while (renderQueue.length && performance.now() - t0 < 12) {
    if (renderStep(renderQueue[renderQueue.length - 1])) renderQueue.pop();
  }
  // One slice per frame: the browser then styles and lays out each slice on its own.
  if (renderQueue.length) requestAnimationFrame(drainRenderQueue);
  else renderQueued = false;
}

// ---------- notices and controls ----------

function showNotice(text, kind = 'error', link = null) {
  els.notice.textContent = text;
  if (link) {
    const a = h('a', 'notice-link', link.text);
    a.href = link.href;
    els.notice.append(' ', a);
  }
  els.notice.className = `notice notice-${kind}`;
  els.notice.dataset.kind = kind;
  els.notice.hidden = false;
}

function clearNotice() {
  if (els.notice.dataset.kind === 'config') return; // the no-model notice stays
  els.notice.hidden = true;
  els.notice.textContent = '';
  delete els.notice.dataset.kind;
}

function setConnection(name) {
  els.connection.dataset.state = name;
  els.connection.textContent = CONNECTION_TEXT[name];
}

function updateControls() {
  const busy = state.active !== null;
  els.go.hidden = busy;
  els.go.disabled = busy || !state.connected || config.blocked;
  els.stop.hidden = !busy;
  // Stop works while reconnecting too: the request is sent once the turn is attached again.
  els.stop.disabled = !busy || Boolean(state.active?.stopRequested);
  els.prompt.disabled = config.blocked;
  // aria-busy asks screen readers to hold the live region until the answer is whole,
  // instead of announcing every delta.
  els.turns.setAttribute('aria-busy', String(busy || state.loading !== null));
  const canRegenerate = !busy && state.connected && !config.blocked;
  for (const node of els.turns.querySelectorAll('.turn-regenerate')) node.disabled = !canRegenerate;
}

// ---------- turns ----------

function createTurn(promptText, clientId = newClientId(), { append = true } = {}) {
  const el = h('article', 'turn');
  el.dataset.clientId = clientId;
  el.dataset.messageId = '';
  el.dataset.status = 'pending';

  const answer = h('div', markdown ? 'turn-answer' : 'turn-answer plain');
  const status = h('div', 'turn-status');
  el.append(h('div', 'turn-prompt', promptText), answer, status);
  if (append) els.turns.append(el);

  const turn = {
    clientId,
    messageId: null,
    el,
    answer,
    status,
    text: '',                // the raw markdown so far (what Copy copies)
    stream: null,            // block-splitting state while streaming
    liveMetrics: h('span', 'turn-live-metrics'),
    lastSeq: -Infinity,
    stopRequested: false,
    stopSocket: null,        // the socket the last `stop` went out on (one per socket is enough)
    request: null,           // {text, conversation, model, params} as first sent: a resend must be identical
    origin: null,            // {text, model, params}: what Regenerate sends again
    model: null,             // the model key the server used (`started`)
    conversation: null,      // from `started`
    reconnecting: false,     // the socket dropped; not attached again yet
    awaitingSnapshot: false, // `attach` sent, `snapshot` not yet here
    held: null,              // deltas that overtook the snapshot: Map seq -> text
    refetched: false,        // a full snapshot was already asked for after a mismatched slice
    sentAt: null,            // performance.now() when the prompt went out (client-side time to first token)
    firstDeltaAt: null,
    deltas: 0,
    metricsAt: 0,
  };
  turn.liveMetrics.title = 'Measured in this browser: time from sending to the first text, '
    + 'and streamed chunks per second (about tokens per second).';
  state.byClientId.set(clientId, turn);
  showLive(turn, 'Waiting…', true);
  return turn;
}

const isFinished = (turn) => FINISHED.has(turn.el.dataset.status);

// A pulsing dot plus a label; while streaming the label is for screen readers only.
function showLive(turn, label, visibleLabel) {
  const live = h('span', 'live');
  live.append(h('span', 'live-dot'), h('span', visibleLabel ? 'live-label' : 'sr-only', label));
  live.firstChild.setAttribute('aria-hidden', 'true');
  turn.status.replaceChildren(live, turn.liveMetrics);
  if (turn.reconnecting) addReconnectingNote(live);
}

function addReconnectingNote(live) {
  live.classList.add('live-reconnecting');
  live.append(h('span', 'live-note', 'Reconnecting…'));
}

// A small note on the live indicator while the turn's socket is gone; the turn itself stays as it is.
function setReconnecting(turn, on) {
  if (turn.reconnecting === on) return;
  turn.reconnecting = on;
  const live = turn.status.querySelector('.live');
  if (!live) return; // finished: the badge has replaced the indicator
  if (on) {
    addReconnectingNote(live);
  } else {
    live.classList.remove('live-reconnecting');
    live.querySelector('.live-note')?.remove();
  }
}

function formatMs(ms) {
  return Math.round(ms) < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

// Client-side: from sending to the first delta, then deltas per second (about tokens per second).
function updateLiveMetrics(turn, now, force = false) {
  if (turn.firstDeltaAt == null || isFinished(turn)) return;
  if (!force && now - turn.metricsAt < 250) return;
  turn.metricsAt = now;
  const parts = [];
  if (turn.sentAt != null) parts.push(`first token ${formatMs(turn.firstDeltaAt - turn.sentAt)}`);
  const seconds = (now - turn.firstDeltaAt) / 1000;
  if (turn.deltas > 1 && seconds >= 0.2) {
    const rate = (turn.deltas - 1) / seconds;
    parts.push(`~${rate < 10 ? rate.toFixed(1) : Math.round(rate)} tok/s`);
  }
  const text = parts.join(' · ');
  if (turn.liveMetrics.textContent !== text) turn.liveMetrics.textContent = text;
}

function summarize({ usage, metrics, stopReason }) {
  const parts = [];
  if (Number.isFinite(usage?.input_tokens) && Number.isFinite(usage?.output_tokens)) {
    parts.push(`${usage.input_tokens} in / ${usage.output_tokens} out tokens`);
  }
  if (Number.isFinite(metrics?.ttft_ms)) parts.push(`first token ${formatMs(metrics.ttft_ms)}`);
  if (Number.isFinite(metrics?.duration_ms)) parts.push(formatMs(metrics.duration_ms));
  if (stopReason === 'max_tokens') parts.push('length limit reached');
  return parts;
}

function modelLabel(key) {
  if (!key) return '';
  return state.catalog.get(key)?.label || config.models.find((m) => m.key === key)?.label || key;
}

// The finished look of a turn: badge, numbers, the sentence for a person, Copy and Regenerate.
function showOutcome(turn, kind, info) {
  turn.el.dataset.status = kind;
  const badge = h('span', `badge badge-${kind}`, BADGE_TEXT[kind]);
  if (info.code) badge.title = info.code;
  const parts = summarize(info);
  turn.status.replaceChildren(badge);
  if (parts.length) turn.status.append(h('span', 'turn-metrics', ` · ${parts.join(' · ')}`));
  const model = turn.model || turn.origin?.model;
  if (model && config.models.length > 1) turn.status.append(h('span', 'turn-model', ` · ${modelLabel(model)}`));

  turn.el.querySelector('.turn-error, .turn-note')?.remove();
  if (kind === 'error' || info.detail) {
    const detail = info.detail || 'The answer could not be completed.';
    turn.status.after(h('p', 'turn-error', detail));
  } else if (kind === 'stopped') {
    turn.status.after(h('p', 'turn-note', STOPPED_NOTE));
  }

  if (!turn.el.querySelector('.turn-actions')) {
    const actions = h('div', 'turn-actions');
    const copy = button('button button-quiet button-small turn-copy', 'Copy');
    copy.title = 'Copy the answer as markdown';
    const regenerate = button('button button-quiet button-small turn-regenerate', 'Regenerate');
    regenerate.title = 'Ask the same prompt again, with the same model and parameters';
    actions.append(copy, regenerate);
    turn.el.append(actions);
  }
}

function finishTurn(turn, status, info = {}) {
  takePending(turn); // buffered text must land before the status line says "Done"
  const kind = Object.hasOwn(BADGE_TEXT, status) ? status : 'error';
  renderFinal(turn);
  showOutcome(turn, kind, info);
  turn.reconnecting = false;
  clearInflight(turn);
  if (state.active === turn) state.active = null;
  const stopHadFocus = document.activeElement === els.stop;
  updateControls();
  // Stop is about to vanish; keep keyboard users in the composer rather than on <body>.
  if (stopHadFocus) els.prompt.focus();
}

// ---------- batched text rendering ----------

// Deltas can arrive far faster than the screen refreshes; collect them and
// touch the DOM at most once per animation frame.
const pendingText = new Map();
const dirtyTurns = new Set(); // text changed, render put off
let frameRequested = false;

let lastFlushAt = 0;
let flushGap = 0; // ms between DOM updates: grows when an update is costly (a long answer, a busy machine)

function requestFrame() {
  if (frameRequested) return;
  frameRequested = true;
  const wait = lastFlushAt + flushGap - performance.now();
  if (wait > 8) setTimeout(() => requestAnimationFrame(flushText), wait);
  else requestAnimationFrame(flushText);
}

function queueText(turn, text) {
  pendingText.set(turn, (pendingText.get(turn) ?? '') + text);
  requestFrame();
}

function takePending(turn) {
  const text = pendingText.get(turn);
  if (text === undefined) return;
  pendingText.delete(turn);
  turn.text += text;
}

function flushText() {
  frameRequested = false;
  if (pendingText.size === 0 && dirtyTurns.size === 0) return;
  const now = performance.now();
  lastFlushAt = now;
  for (const [turn, text] of pendingText) {
    turn.text += text;
    dirtyTurns.add(turn);
  }
  pendingText.clear();
  for (const turn of dirtyTurns) {
    if (isFinished(turn) && !turn.stream) {
      dirtyTurns.delete(turn);
    } else if (renderStreaming(turn, isFinished(turn) ? Infinity : now)) {
      dirtyTurns.delete(turn);
      if (isFinished(turn)) sealStream(turn);
    }
    updateLiveMetrics(turn, now);
  }
  // At most ~30 updates a second (plenty for reading), fewer when one is costly (a long answer, a busy machine):
  // the page spends at most about a quarter of its time on them, leaving room for the browser's layout and paint.
  flushGap = Math.min(Math.max(33, (performance.now() - now) * 4), 150);
  if (dirtyTurns.size) requestFrame();
}

// A whole-answer snapshot: it replaces whatever the turn shows.
function replaceText(turn, text, seq) {
  if (seq < turn.lastSeq) {
    // An older checkpoint (e.g. of an interrupted run) than what already arrived here:
    // keep the longer text the user has seen, unless the two disagree.
    takePending(turn);
    if (turn.text.startsWith(text)) return;
  }
  pendingText.delete(turn);
  turn.text = text;
  turn.lastSeq = seq;
  if (isFinished(turn)) {
    renderFinal(turn);
  } else {
    newStream(turn);
    if (!renderStreaming(turn, Infinity)) renderLater(turn);
  }
}

function applyDelta(turn, seq, text) {
  if (Number.isFinite(seq)) {
    if (seq <= turn.lastSeq) return; // already applied (duplicate delivery, or inside a snapshot)
    turn.lastSeq = seq;
  }
  queueText(turn, text);
}

// ---------- persistence across reloads ----------

function readInflight() {
  try {
    const record = JSON.parse(sessionStorage.getItem(INFLIGHT_KEY) || 'null');
    const isId = (v) => v == null || (Number.isSafeInteger(v) && v > 0);
    if (
      record && typeof record.clientId === 'string' && record.clientId
      && typeof record.prompt === 'string' && record.prompt.trim()
      && isId(record.messageId) && isId(record.conversation)
      && (record.model == null || typeof record.model === 'string')
      && (record.params == null || (typeof record.params === 'object' && !Array.isArray(record.params)))
    ) {
      return record;
    }
    if (record) sessionStorage.removeItem(INFLIGHT_KEY);
  } catch {
    // Storage disabled or unreadable: the page just works without reload recovery.
  }
  return null;
}

function saveInflight(turn) {
  if (!turn.request) return; // attached to, not asked from this page: the URL reopens it
  try {
    sessionStorage.setItem(INFLIGHT_KEY, JSON.stringify({
      clientId: turn.clientId,
      messageId: turn.messageId,
      // Before `started` this is what the prompt asked for (and is resent as is).
      conversation: turn.messageId != null ? turn.conversation : turn.request.conversation,
      prompt: turn.request.text,
      model: turn.request.model,
      params: turn.request.params,
    }));
  } catch {
    // Quota or privacy mode: nothing to do.
  }
}

function clearInflight(turn) {
  try {
    if (!turn || readInflight()?.clientId === turn.clientId) sessionStorage.removeItem(INFLIGHT_KEY);
  } catch {
    // as above
  }
}

function requestFromRecord(saved) {
  return { text: saved.prompt, conversation: saved.conversation ?? null, model: saved.model ?? null, params: saved.params ?? null };
}

// After a reload: draw the turn that was in flight again; the socket's `open` attaches to it.
function restoreInflight(saved) {
  const turn = createTurn(saved.prompt, saved.clientId);
  turn.request = requestFromRecord(saved);
  turn.origin = { text: saved.prompt, model: saved.model ?? null, params: saved.params ?? null };
  state.conversation = saved.conversation ?? null;
  state.active = turn;
  if (saved.messageId != null) {
    turn.messageId = saved.messageId;
    turn.conversation = saved.conversation ?? null;
    turn.el.dataset.messageId = String(saved.messageId);
    turn.el.dataset.status = 'streaming';
    state.byMessageId.set(String(saved.messageId), turn);
  }
  turn.reconnecting = true;
  if (saved.messageId != null) showLive(turn, 'Generating…', false);
  else showLive(turn, 'Waiting…', true);
}

// ---------- server frames ----------

function onStarted(frame) {
  const turn = state.byClientId.get(frame.id);
  if (!turn) {
    // Sent from a conversation the user has left since: it runs on, out of sight.
    if (state.orphans.delete(frame.id)) {
      state.background.set(String(frame.message), frame.conversation);
      refreshConversations();
    }
    return;
  }
  turn.messageId = frame.message;
  turn.el.dataset.messageId = String(frame.message);
  if (frame.model) {
    turn.model = frame.model;
    turn.el.dataset.model = frame.model;
  }
  state.byMessageId.set(String(frame.message), turn);
  if (frame.conversation != null) {
    const isNew = state.conversation == null;
    state.conversation = frame.conversation;
    if (isNew) setUrl(frame.conversation, false);
  }
  refreshConversations(); // a new conversation appears at the top; an old one moves up
  if (isFinished(turn)) return;

  turn.lastFrameAt = performance.now();
  // A resent prompt is answered by `started` too, then a `snapshot` of the text so far.
  turn.conversation = frame.conversation ?? turn.request?.conversation ?? null;
  turn.reconnecting = false;
  saveInflight(turn);
  turn.el.dataset.status = 'streaming';
  if (turn.stopRequested) {
    sendStop(turn);
    showLive(turn, 'Stopping…', true);
  } else {
    showLive(turn, 'Generating…', false);
  }
}

// The model answers one prompt at a time; say where this one stands in line.
function onQueued(frame) {
  const turn = state.byMessageId.get(String(frame.message));
  if (!turn || isFinished(turn) || turn.stopRequested) return;
  turn.lastFrameAt = performance.now();
  const ahead = frame.position === 1 ? '1 answer' : `${frame.position} answers`;
  turn.queued = true;
  showLive(turn, `Queued: ${ahead} ahead of this one…`, true);
}

function onDelta(frame) {
  const turn = state.byMessageId.get(String(frame.message));
  if (!turn || isFinished(turn) || typeof frame.text !== 'string') return;
  if (turn.queued) {
    turn.queued = false;
    showLive(turn, 'Generating…', false);
  }
  const now = performance.now();
  if (turn.firstDeltaAt == null) turn.firstDeltaAt = now;
  turn.deltas += 1;
  turn.lastFrameAt = now;
  if (!turn.awaitingSnapshot && Number.isFinite(frame.seq) && frame.seq > expectedSeq(turn) && state.connected) {
    // Deltas went missing on the way (a server under load can drop them): fetch the gap with `attach`.
    console.warn('Streamer: deltas missing before seq', frame.seq, 'of message', frame.message, '; attaching again');
    sendAttach(turn);
  }
  if (turn.awaitingSnapshot && Number.isFinite(frame.seq)) {
    // Overtook the snapshot it follows: apply it once the snapshot has landed.
    turn.held.set(frame.seq, frame.text);
    return;
  }
  applyDelta(turn, frame.seq, frame.text);
  if (turn.deltas === 1) updateLiveMetrics(turn, now, true);
}

// The seq the next delta should carry: seq counts 1, 2, 3, … per message.
function expectedSeq(turn) {
  return (Number.isFinite(turn.lastSeq) ? turn.lastSeq : 0) + 1;
}

// A streaming turn that has heard nothing for a while asks where its answer stands (a lost `done`, a lost delta
// at the very end); `attach` is harmless if all is well: a snapshot of what is already shown.
const SILENCE_RESYNC_MS = 20000;

function checkSilentTurns() {
  if (!state.connected) return;
  const now = performance.now();
  for (const turn of state.byClientId.values()) {
    if (isFinished(turn) || turn.messageId == null || turn.awaitingSnapshot || turn.queued) continue;
    if (now - (turn.lastFrameAt ?? now) > SILENCE_RESYNC_MS) {
      turn.lastFrameAt = now;
      sendAttach(turn);
    }
  }
}

// The reply to `attach` (and to a resent prompt): the text so far, then live deltas follow.
function onSnapshot(frame) {
  const turn = state.byMessageId.get(String(frame.message));
  if (!turn || typeof frame.text !== 'string' || !Number.isFinite(frame.seq)) return;
  const after = Number.isFinite(frame.after) ? frame.after : 0;
  const held = turn.held;
  turn.lastFrameAt = performance.now();

  if (after > 0 && after !== turn.lastSeq) {
    // A slice that does not start where this turn stands cannot be spliced in: ask for the whole text.
    if (!turn.refetched && !isFinished(turn) && send({ type: 'attach', message: turn.messageId })) {
      turn.refetched = true;
      return; // still awaiting a snapshot; held deltas stay held
    }
    console.warn('Streamer: ignoring a snapshot slice that does not fit', frame.message);
  } else if (after > 0) {
    applyDelta(turn, frame.seq, frame.text);
  } else {
    replaceText(turn, frame.text, frame.seq);
  }

  state.attaching = state.attaching.filter((t) => t !== turn);
  turn.awaitingSnapshot = false;
  turn.held = null;
  turn.refetched = false;
  if (held) {
    for (const seq of [...held.keys()].sort((a, b) => a - b)) applyDelta(turn, seq, held.get(seq));
  }
  if (isFinished(turn)) return; // a late snapshot only completes the text
  setReconnecting(turn, false);
  if (frame.status !== 'streaming') return; // its `done` follows
  turn.el.dataset.status = 'streaming';
  if (turn.stopRequested) {
    // Asked for while the socket was gone (or its `done` was lost): send it now.
    sendStop(turn);
    showLive(turn, 'Stopping…', true);
  }
}

function onDone(frame) {
  const key = String(frame.message);
  if (state.background.delete(key)) markStreamingConversations();
  const turn = state.byMessageId.get(key);
  if (!turn || isFinished(turn)) return; // a second `done` for the same message is ignored
  finishTurn(turn, frame.status, {
    usage: frame.usage,
    metrics: frame.metrics,
    stopReason: frame.stop_reason,
    detail: frame.error?.detail || (frame.status === 'interrupted' ? INTERRUPTED_NOTE : undefined),
    code: frame.error?.code,
  });
}

// An error with no request id may answer an `attach`; the first one waiting is the one it concerns.
function attachFailed(frame, detail) {
  const byMessage = frame.message != null ? state.byMessageId.get(String(frame.message)) : null;
  const turn = byMessage ?? state.attaching[0];
  if (!turn || !turn.awaitingSnapshot) return false;
  state.attaching = state.attaching.filter((t) => t !== turn);
  turn.awaitingSnapshot = false;
  turn.held = null;
  if (isFinished(turn)) return true;
  if (frame.code === 'unknown_type') {
    // A server without `attach`: the answer cannot be followed any more.
    finishTurn(turn, 'interrupted', { detail: NO_RESUME_NOTE });
  } else {
    finishTurn(turn, 'error', { detail, code: frame.code });
  }
  return true;
}

function onServerError(frame) {
  const detail = frame.detail || 'Something went wrong.';
  if (frame.id == null && attachFailed(frame, detail)) return;
  // No id: it can only concern our request if one is waiting to start.
  const turn = frame.id != null
    ? state.byClientId.get(frame.id)
    : (state.active && state.active.messageId == null ? state.active : null);
  if (turn && !isFinished(turn)) {
    const unstarted = turn.messageId == null;
    finishTurn(turn, 'error', { detail, code: frame.code });
    if (unstarted) refused(turn, frame.code, detail);
  } else if (frame.id == null || !state.orphans.delete(frame.id)) {
    showNotice(detail);
  }
}

// A prompt the server refused before saving anything: give the text back, and point at a bad parameter.
function refused(turn, code, detail) {
  if (turn.request && !els.prompt.value.trim()) {
    els.prompt.value = turn.request.text;
    autosize();
  }
  if (code === 'invalid_params') {
    const field = /'(\w+)'/.exec(detail)?.[1];
    showParamError(Object.hasOwn(paramInputs, field ?? '') ? field : null, detail);
  }
}

const HANDLERS = {
  started: onStarted,
  queued: onQueued,
  delta: onDelta,
  snapshot: onSnapshot,
  done: onDone,
  error: onServerError,
};

function handleFrame(raw) {
  let frame;
  try {
    frame = JSON.parse(raw);
  } catch {
    console.warn('Streamer: ignoring a frame that is not JSON');
    return;
  }
  if (frame && Object.hasOwn(HANDLERS, frame.type)) HANDLERS[frame.type](frame);
}

// ---------- socket ----------

function send(frame) {
  if (!state.socket || state.socket.readyState !== WebSocket.OPEN) return false;
  state.socket.send(JSON.stringify(frame));
  return true;
}

function promptFrame(clientId, request) {
  const frame = {
    type: 'prompt',
    id: clientId,
    text: request.text,
    conversation: request.conversation,
    model: request.model,
  };
  frame.params = request.params ?? {}; // only what differs from the model's defaults; {} means all defaults
  return frame;
}

function sendPrompt(turn) {
  return send(promptFrame(turn.clientId, turn.request));
}

// `stop` is idempotent server-side; once per socket is enough.
function sendStop(turn) {
  if (turn.messageId == null || (turn.stopSocket && turn.stopSocket === state.socket)) return;
  if (send({ type: 'stop', message: turn.messageId })) turn.stopSocket = state.socket;
}

function sendAttach(turn) {
  turn.lastFrameAt = performance.now();
  const frame = { type: 'attach', message: turn.messageId };
  if (Number.isFinite(turn.lastSeq) && turn.lastSeq > 0) frame.after = turn.lastSeq;
  if (!send(frame)) return;
  turn.awaitingSnapshot = true;
  turn.held = new Map();
  turn.refetched = false;
  state.attaching.push(turn);
}

// On every (re)connect: pick up each unfinished turn where it was left.
function resume() {
  state.attaching = [];
  for (const turn of state.byClientId.values()) {
    if (isFinished(turn)) continue;
    if (turn.messageId != null) sendAttach(turn);
    else if (turn.request) sendPrompt(turn); // never `started`: the same id makes the resend safe
  }
  // Prompts from a conversation left before they were accepted: make sure the server has them.
  for (const [clientId, request] of state.orphans) send(promptFrame(clientId, request));
}

function connect() {
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + config.wsPath;
  let socket;
  try {
    socket = new WebSocket(url);
  } catch (err) {
    console.warn('Streamer: could not open socket', err);
    scheduleReconnect();
    return;
  }
  state.socket = socket;
  socket.addEventListener('open', () => {
    state.connected = true;
    state.retryMs = RETRY_MIN_MS;
    setConnection('connected');
    resume();
    updateControls();
  });
  socket.addEventListener('message', (event) => handleFrame(event.data));
  socket.addEventListener('close', () => onSocketClosed(socket));
}

function onSocketClosed(socket) {
  if (state.socket !== socket) return; // a stale socket we already replaced
  state.socket = null;
  state.connected = false;
  // The answers go on without us: keep the turns as they are and attach again on reconnect.
  state.attaching = [];
  for (const turn of state.byClientId.values()) {
    if (isFinished(turn)) continue;
    turn.awaitingSnapshot = false;
    turn.held = null;
    setReconnecting(turn, true);
  }
  // Answers running out of sight are no longer followed; the list shows them again when reopened.
  state.background.clear();
  markStreamingConversations();
  scheduleReconnect();
}

function scheduleReconnect() {
  setConnection('reconnecting');
  updateControls();
  const delay = state.retryMs;
  state.retryMs = Math.min(delay * 2, RETRY_MAX_MS);
  setTimeout(connect, delay);
}

// ---------- HTTP API ----------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]')?.content;
  if (meta && meta !== 'NOTPROVIDED') return meta;
  return document.cookie.split('; ').find((c) => c.startsWith('csrftoken='))?.slice(10) ?? '';
}

async function api(path, { method = 'GET', body, signal } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET') headers['X-CSRFToken'] = csrfToken();
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    signal,
  });
  if (response.status === 401) {
    const next = encodeURIComponent(location.pathname + location.search);
    showNotice('Your session has ended.', 'error', { text: 'Log in again', href: `/accounts/login/?next=${next}` });
    throw new ApiError(401, 'Your session has ended.');
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    // not JSON (a 404 page, a proxy error)
  }
  if (!response.ok) {
    const fallback = response.status === 404 ? 'Not found.' : `The server answered ${response.status}.`;
    throw new ApiError(response.status, data?.error || fallback);
  }
  return data;
}

// ---------- models and parameters ----------

function selectedModel() {
  return els.model?.value || config.defaultModel || null;
}

function currentModel() {
  return state.catalog.get(selectedModel()) ?? null;
}

async function loadModels() {
  let data;
  try {
    data = await api(API.models);
  } catch (err) {
    console.warn('Streamer: could not load the model catalog', err);
    return;
  }
  const models = Array.isArray(data?.models) ? data.models : [];
  state.catalog = new Map(models.map((m) => [m.key, m]));
  if (data.default) config.defaultModel = data.default;
  // The catalog can change between rendering the page and now (staff edit it in admin).
  const shown = [...els.model.options].map((o) => o.value).join('\n');
  if (models.length && shown !== models.map((m) => m.key).join('\n')) {
    const keep = els.model.value;
    els.model.replaceChildren(...models.map((m) => {
      const option = h('option', null, m.label);
      option.value = m.key;
      return option;
    }));
    els.model.value = state.catalog.has(keep) ? keep : (data.default ?? models[0].key);
    config.models = models.map((m) => ({ key: m.key, label: m.label }));
  }
  els.model.hidden = models.length < 2;
  fillParams();
}

function formatDefault(value) {
  return value == null ? '' : String(value);
}

// The selected model's defaults (and system prompt) in the fields.
function fillParams() {
  const model = currentModel();
  const defaults = model?.defaults ?? {};
  for (const name of ['temperature', 'max_tokens', 'top_p', 'top_k']) {
    paramInputs[name].value = formatDefault(defaults[name]);
    paramInputs[name].placeholder = defaults[name] == null ? 'default' : '';
  }
  paramInputs.stop_sequences.value = Array.isArray(defaults.stop_sequences) ? defaults.stop_sequences.join('\n') : '';
  paramInputs.system.value = model?.system ?? '';
  paramInputs.system.placeholder = model?.system ? '' : 'None';
  const topK = model ? Boolean(model.accepts_top_k) : true;
  paramInputs.top_k.disabled = !topK;
  els.topKField.hidden = !topK;
  clearParamError();
  updateParamsSummary();
}

// The fields as values: numbers as numbers; empty fields left out.
function readParams() {
  const values = {};
  for (const name of ['temperature', 'max_tokens', 'top_p', 'top_k']) {
    const input = paramInputs[name];
    if (input.disabled) continue;
    if (input.validity.badInput) return { error: { field: name, message: `'${name}' must be a number.` } };
    const raw = input.value.trim();
    if (raw !== '') values[name] = Number(raw);
  }
  const stops = paramInputs.stop_sequences.value.split('\n').map((s) => s.replace(/\r$/, '')).filter((s) => s.trim());
  if (stops.length) values.stop_sequences = stops;
  if (paramInputs.system.value.trim()) values.system = paramInputs.system.value;
  return { values };
}

const sameList = (a, b) => Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => x === b[i]);

// Only what differs from the model's defaults goes in the `prompt` frame.
function diffParams(values, model) {
  const defaults = model?.defaults ?? {};
  const out = {};
  for (const [name, value] of Object.entries(values ?? {})) {
    if (value == null) continue;
    if (name === 'system') {
      if (value !== (model?.system ?? '')) out.system = value;
    } else if (name === 'stop_sequences') {
      if (!sameList(value, defaults.stop_sequences ?? [])) out.stop_sequences = value;
    } else if (defaults[name] !== value) {
      out[name] = value;
    }
  }
  return out;
}

function updateParamsSummary() {
  const { values } = readParams();
  const changed = values ? Object.keys(diffParams(values, currentModel())) : [];
  // Shown next to "Parameters" by CSS (attr()), so the summary's own text stays "Parameters".
  if (changed.length) els.paramsSummary.dataset.custom = `${changed.length} changed`;
  else delete els.paramsSummary.dataset.custom;
}

function showParamError(field, message) {
  clearParamError();
  els.paramError.textContent = message;
  els.paramError.hidden = false;
  els.params.open = true;
  els.paramError.scrollIntoView({ block: 'nearest' });
  const input = field ? paramInputs[field] : null;
  if (input) {
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-errormessage', 'param-error');
  }
  return input;
}

function clearParamError() {
  els.paramError.hidden = true;
  els.paramError.textContent = '';
  for (const input of Object.values(paramInputs)) {
    input.removeAttribute('aria-invalid');
    input.removeAttribute('aria-errormessage');
  }
}

// ---------- user actions ----------

function startPrompt(text, model, params) {
  clearNotice();
  const turn = createTurn(text);
  turn.request = { text, conversation: state.conversation, model, params: params && Object.keys(params).length ? params : null };
  turn.origin = { text, model, params: turn.request.params };
  state.active = turn;
  turn.sentAt = performance.now();
  if (!sendPrompt(turn)) {
    finishTurn(turn, 'error', { detail: 'Not connected; please try again in a moment.' });
    return false;
  }
  saveInflight(turn);
  updateControls();
  scrollToBottom();
  return true;
}

function submitPrompt() {
  const text = els.prompt.value.trim();
  if (!text || state.active || !state.connected || config.blocked) return;
  const { values, error } = readParams();
  if (error) {
    showParamError(error.field, error.message)?.focus();
    return;
  }
  clearParamError();
  if (startPrompt(text, selectedModel(), diffParams(values, currentModel()))) {
    els.prompt.value = '';
    autosize();
  }
}

// The same prompt, model and parameters, asked again as a new turn at the end of this conversation.
function regenerate(turn) {
  if (state.active || !state.connected || config.blocked || !turn.origin) return;
  const model = turn.model || turn.origin.model || null;
  let params = turn.origin.params;
  // A stored message records the parameters in full; send only what differs from the model's defaults.
  if (turn.origin.stored && params && state.catalog.has(model)) params = diffParams(params, state.catalog.get(model));
  startPrompt(turn.origin.text, model, params);
}

function requestStop() {
  const turn = state.active;
  if (!turn || turn.stopRequested) return;
  turn.stopRequested = true;
  // Before `started` we have no message id yet; onStarted sends the stop.
  // While the socket is gone the request is kept; onSnapshot sends it after reattaching.
  if (turn.messageId != null) {
    sendStop(turn);
    showLive(turn, 'Stopping…', true);
  }
  updateControls();
}

async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // permission refused or no focus: try the old way
  }
  const focused = document.activeElement;
  const area = h('textarea', 'copy-buffer');
  area.value = text;
  area.setAttribute('readonly', '');
  area.setAttribute('aria-hidden', 'true');
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  area.remove();
  focused?.focus?.();
  return ok;
}

async function copyWithFeedback(node, text, label) {
  const ok = await copyText(text);
  const original = node.dataset.label ?? node.textContent;
  node.dataset.label = original;
  node.textContent = ok ? 'Copied' : 'Copy failed';
  node.classList.toggle('copied', ok);
  announce(ok ? `${label} copied to the clipboard.` : 'Could not copy to the clipboard.');
  clearTimeout(node.copyTimer);
  node.copyTimer = setTimeout(() => {
    node.textContent = original;
    node.classList.remove('copied');
  }, 1600);
}

function turnFor(node) {
  const el = node.closest('article.turn');
  return el ? state.byClientId.get(el.dataset.clientId) : null;
}

function onTurnsClick(event) {
  const target = event.target.closest('button');
  if (!target) return;
  if (target.classList.contains('turn-copy')) {
    const turn = turnFor(target);
    if (turn) copyWithFeedback(target, turn.text, 'Answer');
  } else if (target.classList.contains('turn-regenerate')) {
    const turn = turnFor(target);
    if (turn) regenerate(turn);
  } else if (target.classList.contains('code-copy')) {
    const code = target.closest('.code-block')?.querySelector('code');
    if (code) copyWithFeedback(target, code.textContent, 'Code');
  }
}

// Grow the textarea with its content, up to the CSS max-height.
function autosize() {
  const t = els.prompt;
  t.style.height = 'auto';
  t.style.height = `${t.scrollHeight + t.offsetHeight - t.clientHeight}px`;
}

function onPromptKeydown(event) {
  // isComposing: Enter that confirms an IME composition must not send.
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    submitPrompt();
  } else if (event.key === 'Escape' && state.active) {
    requestStop();
  }
}

// ---------- conversations ----------

function urlConversation() {
  const value = new URLSearchParams(location.search).get('c');
  return value && /^[1-9]\d{0,15}$/.test(value) ? Number(value) : null;
}

function setUrl(id, push) {
  const url = new URL(location.href);
  if (id == null) url.searchParams.delete('c');
  else url.searchParams.set('c', String(id));
  if (url.href === location.href) return;
  history[push ? 'pushState' : 'replaceState']({ conversation: id }, '', url);
}

function findConversation(id) {
  return state.conversations.find((c) => c.id === id) ?? null;
}

function setTitle(title) {
  els.title.textContent = title || 'New conversation';
  document.title = `${title || 'Chat'} · Streamer`;
}

// Leave the open conversation. Answers still running there go on (a `stop` is the only way to end one):
// the list marks them, and opening the conversation again attaches to them.
function leaveConversation() {
  state.loading?.abort();
  state.loading = null;
  for (const turn of state.byClientId.values()) {
    if (isFinished(turn)) continue;
    if (turn.messageId != null) state.background.set(String(turn.messageId), turn.conversation ?? state.conversation);
    else if (turn.request) state.orphans.set(turn.clientId, turn.request);
  }
  clearInflight();
  state.attaching = [];
  state.active = null;
  state.conversation = null;
  state.byClientId.clear();
  state.byMessageId.clear();
  pendingText.clear();
  dirtyTurns.clear();
  renderQueue.length = 0;
  els.turns.replaceChildren();
  clearNotice();
  updateControls();
  markStreamingConversations();
}

function newConversation() {
  leaveConversation();
  setUrl(null, true);
  setTitle(null);
  markActiveConversation();
  closeSidebar();
  els.prompt.focus();
}

async function openConversation(id, { push = true } = {}) {
  if (id === state.conversation && state.loading === null && els.turns.childElementCount) {
    closeSidebar();
    return;
  }
  leaveConversation();
  state.conversation = id;
  setUrl(id, push);
  setTitle(findConversation(id)?.title ?? '…');
  markActiveConversation();
  await loadConversation(id);
}

async function loadConversation(id) {
  const controller = new AbortController();
  state.loading = controller;
  updateControls();
  try {
    const data = await api(API.conversation(id), { signal: controller.signal });
    if (state.loading !== controller || state.conversation !== id) return;
    setTitle(data.title);
    renderConversation(data);
  } catch (err) {
    if (controller.signal.aborted || state.conversation !== id) return;
    if (err.status === 404) {
      leaveConversation();
      setUrl(null, false);
      setTitle(null);
      markActiveConversation();
      showNotice('That conversation does not exist any more.');
    } else if (err.status !== 401) {
      showNotice(`Could not open the conversation: ${err.message}`);
    }
  } finally {
    if (state.loading === controller) {
      state.loading = null;
      updateControls();
    }
  }
}

function turnFromMessage(m, conversationId) {
  const turn = createTurn(m.prompt, m.client_request_id || `message-${m.id}`, { append: false });
  turn.messageId = m.id;
  turn.conversation = conversationId;
  turn.model = m.model || null;
  turn.el.dataset.messageId = String(m.id);
  if (m.model) turn.el.dataset.model = m.model;
  state.byMessageId.set(String(m.id), turn);
  turn.origin = { text: m.prompt, model: m.model || null, params: m.params || null, stored: true };
  turn.text = m.response || '';
  if (m.status === 'streaming') {
    // The saved text is a checkpoint: `attach` (without `after`) brings the whole answer, then the rest.
    turn.el.dataset.status = 'streaming';
    newStream(turn);
    if (!renderStreaming(turn, Infinity)) renderLater(turn);
    showLive(turn, 'Generating…', false);
  } else {
    turn.lastSeq = Number.isFinite(m.seq) ? m.seq : -Infinity;
    const kind = Object.hasOwn(BADGE_TEXT, m.status) ? m.status : 'error';
    queueFinalRender(turn);
    showOutcome(turn, kind, {
      usage: m.usage,
      metrics: m.metrics,
      stopReason: m.stop_reason,
      detail: m.error?.detail || (kind === 'interrupted' ? INTERRUPTED_NOTE : undefined),
      code: m.error?.code,
    });
  }
  return turn;
}

function renderConversation(data) {
  const fragment = document.createDocumentFragment();
  const seen = new Set();
  let streaming = null;
  for (const m of data.messages ?? []) {
    let turn = state.byClientId.get(m.client_request_id) ?? state.byMessageId.get(String(m.id));
    if (turn) {
      // Drawn by this page already (a reload mid-answer): it knows more than the saved row.
      if (turn.messageId == null) {
        turn.messageId = m.id;
        turn.conversation = data.id;
        turn.el.dataset.messageId = String(m.id);
        state.byMessageId.set(String(m.id), turn);
      }
    } else {
      turn = turnFromMessage(m, data.id);
      if (m.status === 'streaming') {
        state.background.delete(String(m.id));
        streaming = turn;
        if (state.connected) sendAttach(turn); // else the socket's `open` attaches it
      }
    }
    seen.add(turn);
    fragment.append(turn.el);
  }
  // A prompt sent while the conversation was loading, or one restored after a reload and not saved yet.
  for (const turn of state.byClientId.values()) if (!seen.has(turn)) fragment.append(turn.el);
  els.turns.replaceChildren(fragment);
  if (!state.active && streaming) state.active = streaming;
  updateControls();
  scrollToBottom();
  markStreamingConversations();
}

// ---------- sidebar ----------

async function refreshConversations() {
  if (state.editing) {
    state.refreshAfterEdit = true;
    return;
  }
  const seq = ++state.listSeq;
  try {
    const data = await api(API.conversations);
    if (seq !== state.listSeq || state.editing) return;
    state.conversations = Array.isArray(data?.conversations) ? data.conversations : [];
    state.listLoaded = true;
    renderConversationList();
  } catch (err) {
    if (seq !== state.listSeq) return;
    if (!state.listLoaded) {
      els.listStatus.textContent = 'Could not load your conversations.';
      els.listStatus.hidden = false;
    }
    console.warn('Streamer: could not load conversations', err);
  }
}

function conversationItem(c) {
  const title = c.title || 'Untitled';
  const li = h('li', 'conversation-item');
  li.dataset.conversationId = String(c.id);
  const link = button('conversation-link');
  link.append(h('span', 'conversation-title', title));
  link.title = title;
  const rename = button('icon-button conversation-rename', null, `Rename “${title}”`);
  rename.title = 'Rename';
  rename.append(icon('pencil'));
  const remove = button('icon-button conversation-delete', null, `Delete “${title}”`);
  remove.title = 'Delete';
  remove.append(icon('trash'));
  li.append(link, rename, remove);
  return li;
}

function renderConversationList() {
  // Keep keyboard focus on the same control of the same conversation.
  const focused = document.activeElement;
  const focusedItem = els.list.contains(focused) ? focused.closest('.conversation-item') : null;
  const focusKey = focusedItem && [focusedItem.dataset.conversationId, focused.classList[focused.classList.length - 1]];

  els.list.replaceChildren(...state.conversations.map(conversationItem));
  els.listStatus.hidden = state.conversations.length > 0;
  els.listStatus.textContent = state.conversations.length ? '' : 'No conversations yet.';
  markActiveConversation();
  markStreamingConversations();
  const open = findConversation(state.conversation);
  if (open) setTitle(open.title);

  if (focusKey) {
    const li = els.list.querySelector(`.conversation-item[data-conversation-id="${CSS.escape(focusKey[0])}"]`);
    li?.querySelector(`.${CSS.escape(focusKey[1])}`)?.focus();
  }
}

function markActiveConversation() {
  for (const li of els.list.children) {
    const active = state.conversation != null && li.dataset.conversationId === String(state.conversation);
    const link = li.querySelector('.conversation-link');
    if (active) {
      li.setAttribute('aria-current', 'true');
      link?.setAttribute('aria-current', 'true');
    } else {
      li.removeAttribute('aria-current');
      link?.removeAttribute('aria-current');
    }
  }
}

function markStreamingConversations() {
  const running = new Set([...state.background.values()].filter((v) => v != null).map(String));
  for (const li of els.list.children) {
    if (running.has(li.dataset.conversationId)) li.dataset.streaming = 'true';
    else delete li.dataset.streaming;
  }
}

function itemId(li) {
  return Number(li.dataset.conversationId);
}

function onListClick(event) {
  const target = event.target.closest('button');
  const li = target?.closest('.conversation-item');
  if (!li || li.classList.contains('editing')) return;
  const id = itemId(li);
  if (target.classList.contains('conversation-link')) {
    openConversation(id).then(() => {
      if (state.conversation !== id) return;
      if (phoneQuery.matches) {
        closeSidebar(false);
        els.title.focus(); // not the prompt: the keyboard would cover the conversation just opened
      } else {
        els.prompt.focus();
      }
    });
  } else if (target.classList.contains('conversation-rename')) {
    startRename(li);
  } else if (target.classList.contains('conversation-delete')) {
    askDelete(id);
  }
}

function startRename(li) {
  if (state.editing) return;
  const id = itemId(li);
  const conversation = findConversation(id);
  const link = li.querySelector('.conversation-link');
  const original = conversation?.title ?? link.textContent;
  const input = h('input', 'conversation-title-input');
  input.type = 'text';
  input.value = original;
  input.maxLength = 200;
  input.setAttribute('aria-label', 'Conversation title (Enter saves, Escape cancels)');
  link.hidden = true;
  li.classList.add('editing');
  li.insertBefore(input, link);
  input.focus();
  input.select();
  state.editing = { id, input };
  let settled = false;

  const finish = async (save, refocus) => {
    if (settled) return;
    settled = true;
    const title = input.value.trim();
    if (save && title && title !== original) {
      input.readOnly = true;
      try {
        const updated = await api(API.conversation(id), { method: 'PATCH', body: { title } });
        if (conversation) conversation.title = updated?.title ?? title;
        announce('Conversation renamed.');
      } catch (err) {
        if (err.status !== 401) showNotice(`Could not rename the conversation: ${err.message}`);
      }
    }
    state.editing = null;
    const hadFocus = document.activeElement === input;
    renderConversationList();
    if (refocus || hadFocus) {
      els.list.querySelector(`.conversation-item[data-conversation-id="${id}"] .conversation-rename`)?.focus();
    }
    state.refreshAfterEdit = false;
    refreshConversations();
  };
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.isComposing) {
      event.preventDefault();
      finish(true, true);
    } else if (event.key === 'Escape') {
      event.preventDefault();
      event.stopPropagation();
      finish(false, true);
    }
  });
  input.addEventListener('blur', () => finish(true, false));
}

function askDelete(id) {
  const title = findConversation(id)?.title || 'this conversation';
  state.pendingDelete = id;
  els.confirmText.textContent = `“${title}” will be removed from your list.`;
  els.confirmDelete.returnValue = '';
  els.confirmDelete.showModal();
}

async function onDeleteDialogClose() {
  const id = state.pendingDelete;
  state.pendingDelete = null;
  if (id == null) return;
  const items = [...els.list.children];
  const index = items.findIndex((li) => itemId(li) === id);
  if (els.confirmDelete.returnValue !== 'yes') {
    items[index]?.querySelector('.conversation-delete')?.focus();
    return;
  }
  try {
    await api(API.conversation(id), { method: 'DELETE' });
    announce('Conversation deleted.');
  } catch (err) {
    if (err.status !== 401 && err.status !== 404) {
      showNotice(`Could not delete the conversation: ${err.message}`);
      return;
    }
  }
  for (const [message, conversation] of state.background) if (conversation === id) state.background.delete(message);
  state.conversations = state.conversations.filter((c) => c.id !== id);
  if (state.conversation === id) {
    leaveConversation();
    setUrl(null, false);
    setTitle(null);
  }
  renderConversationList();
  const next = els.list.children[Math.min(index, els.list.children.length - 1)];
  (next?.querySelector('.conversation-link') ?? els.newConversation).focus();
  refreshConversations();
}

// At phone width the list is a drawer behind #sidebar-toggle.
function sidebarOpen() {
  return els.layout.dataset.sidebar === 'open';
}

function openSidebar() {
  els.layout.dataset.sidebar = 'open';
  els.sidebarToggle.setAttribute('aria-expanded', 'true');
  els.backdrop.hidden = false;
  els.root.inert = true;
  const current = els.list.querySelector('.conversation-link[aria-current="true"]');
  (current ?? els.newConversation).focus();
}

function closeSidebar(returnFocus = false) {
  if (!sidebarOpen()) return;
  els.layout.dataset.sidebar = 'closed';
  els.sidebarToggle.setAttribute('aria-expanded', 'false');
  els.backdrop.hidden = true;
  els.root.inert = false;
  if (returnFocus) els.sidebarToggle.focus();
}

// ---------- start ----------

function init() {
  followBottom();
  els.form.addEventListener('submit', (event) => {
    event.preventDefault();
    submitPrompt();
  });
  els.prompt.addEventListener('keydown', onPromptKeydown);
  els.prompt.addEventListener('input', autosize);
  els.stop.addEventListener('click', requestStop);
  els.newConversation.addEventListener('click', newConversation);
  els.turns.addEventListener('click', onTurnsClick);
  els.list.addEventListener('click', onListClick);
  els.confirmDelete.addEventListener('close', onDeleteDialogClose);
  els.model.addEventListener('change', fillParams);
  els.paramsReset.addEventListener('click', () => {
    fillParams();
    announce('Parameters reset to the model defaults.');
  });
  for (const input of Object.values(paramInputs)) {
    input.addEventListener('input', () => {
      if (input.hasAttribute('aria-invalid')) clearParamError();
      updateParamsSummary();
    });
  }
  els.params.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && els.params.open) {
      event.preventDefault();
      els.params.open = false;
      els.params.querySelector('summary').focus();
    }
  });
  els.sidebarToggle.addEventListener('click', () => (sidebarOpen() ? closeSidebar(true) : openSidebar()));
  els.backdrop.addEventListener('click', () => closeSidebar(true));
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && !event.defaultPrevented && !els.confirmDelete.open && sidebarOpen()) closeSidebar(true);
  });
  phoneQuery.addEventListener('change', () => closeSidebar(false));
  window.addEventListener('popstate', () => {
    const id = urlConversation();
    if (id === state.conversation) return;
    if (id == null) {
      leaveConversation();
      setTitle(null);
      markActiveConversation();
    } else {
      openConversation(id, { push: false });
    }
  });
  if (config.models.length < 2) els.model.hidden = true;
  // A phone's keyboard has its own send key and little room: a shorter hint.
  const longHint = els.prompt.placeholder;
  const setHint = () => { els.prompt.placeholder = phoneQuery.matches ? 'Ask something…' : longHint; };
  phoneQuery.addEventListener('change', setHint);
  setHint();
  setConnection('connecting');

  // Reopen what the URL names; a prompt in flight before a reload belongs to it (or runs on unseen).
  const opened = urlConversation();
  const saved = readInflight();
  if (saved && (saved.conversation ?? null) === opened) {
    restoreInflight(saved);
  } else if (saved) {
    if (saved.messageId == null) state.orphans.set(saved.clientId, requestFromRecord(saved));
    clearInflight();
  }
  state.conversation = opened;
  if (opened != null) {
    setTitle('…');
    loadConversation(opened);
  }
  updateControls();
  connect();
  setInterval(checkSilentTurns, 5000);
  refreshConversations();
  loadModels();
  fillParams();
}

init();
