// Streamer chat client. Speaks WebSocket protocol v1:
//   client -> server: prompt, stop
//   server -> client: started, delta, done, error
// All model output is inserted as text nodes only; never as HTML.

const $ = (selector) => document.querySelector(selector);

const els = {
  root: $('#chat'),
  turns: $('#turns'),
  form: $('#composer'),
  prompt: $('#prompt'),
  model: $('#model'),
  go: $('#go'),
  stop: $('#stop'),
  notice: $('#notice'),
  connection: $('#connection'),
  newConversation: $('#new-conversation'),
};

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

const state = {
  socket: null,
  connected: false,
  retryMs: RETRY_MIN_MS,
  conversation: null,   // set by the first `started`; null starts a new conversation
  active: null,         // the one turn currently waiting or streaming
  byClientId: new Map(),
  byMessageId: new Map(), // keyed by String(message id)
  orphans: new Set(),   // client ids cleared by "New conversation" before `started` arrived
};

// ---------- small DOM helpers ----------

function h(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

function nearBottom() {
  const doc = document.scrollingElement || document.documentElement;
  return doc.scrollHeight - (doc.scrollTop + window.innerHeight) < 120;
}

function scrollToBottom() {
  const doc = document.scrollingElement || document.documentElement;
  doc.scrollTop = doc.scrollHeight;
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

// ---------- notices and controls ----------

function showNotice(text, kind = 'error') {
  els.notice.textContent = text;
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
  els.stop.disabled = !busy || !state.connected || Boolean(state.active?.stopRequested);
  els.prompt.disabled = config.blocked;
  // aria-busy asks screen readers to hold the live region until the answer is whole,
  // instead of announcing every delta.
  els.turns.setAttribute('aria-busy', String(busy));
}

// ---------- turns ----------

function createTurn(promptText) {
  const clientId = newClientId();
  const el = h('article', 'turn');
  el.dataset.clientId = clientId;
  el.dataset.messageId = '';
  el.dataset.status = 'pending';

  const answer = h('div', 'turn-answer');
  const textNode = document.createTextNode('');
  answer.append(textNode);
  const status = h('div', 'turn-status');
  el.append(h('div', 'turn-prompt', promptText), answer, status);
  els.turns.append(el);

  const turn = { clientId, messageId: null, el, answer, status, textNode, lastSeq: -Infinity, stopRequested: false };
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
  turn.status.replaceChildren(live);
}

function formatMs(ms) {
  return Math.round(ms) < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
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

function finishTurn(turn, status, info = {}) {
  flushText(); // buffered text must land before the status line says "Done"
  const kind = Object.hasOwn(BADGE_TEXT, status) ? status : 'error';
  turn.el.dataset.status = kind;

  const badge = h('span', `badge badge-${kind}`, BADGE_TEXT[kind]);
  if (info.code) badge.title = info.code;
  const parts = summarize(info);
  turn.status.replaceChildren(badge);
  if (parts.length) turn.status.append(h('span', 'turn-metrics', ` · ${parts.join(' · ')}`));

  if (kind === 'error' || info.detail) {
    const detail = info.detail || 'The answer could not be completed.';
    turn.el.append(h('p', 'turn-error', detail));
  }
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
let frameRequested = false;

function queueText(turn, text) {
  pendingText.set(turn, (pendingText.get(turn) ?? '') + text);
  if (!frameRequested) {
    frameRequested = true;
    requestAnimationFrame(flushText);
  }
}

function flushText() {
  frameRequested = false;
  if (pendingText.size === 0) return;
  const stick = nearBottom();
  for (const [turn, text] of pendingText) turn.textNode.appendData(text);
  pendingText.clear();
  if (stick) scrollToBottom();
}

// ---------- server frames ----------

function onStarted(frame) {
  const turn = state.byClientId.get(frame.id);
  if (!turn) {
    // The user cleared this turn before the server accepted it: cancel it now.
    if (state.orphans.delete(frame.id)) send({ type: 'stop', message: frame.message });
    return;
  }
  turn.messageId = frame.message;
  turn.el.dataset.messageId = String(frame.message);
  if (frame.model) turn.el.dataset.model = frame.model;
  state.byMessageId.set(String(frame.message), turn);
  if (frame.conversation != null) state.conversation = frame.conversation;
  if (isFinished(turn)) return;

  turn.el.dataset.status = 'streaming';
  if (turn.stopRequested) {
    send({ type: 'stop', message: turn.messageId });
    showLive(turn, 'Stopping…', true);
  } else {
    showLive(turn, 'Generating…', false);
  }
}

// The model answers one prompt at a time; say where this one stands in line.
function onQueued(frame) {
  const turn = state.byMessageId.get(String(frame.message));
  if (!turn || isFinished(turn) || turn.stopRequested) return;
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
  if (Number.isFinite(frame.seq)) {
    if (frame.seq <= turn.lastSeq) return; // already applied (duplicate delivery)
    turn.lastSeq = frame.seq;
  }
  queueText(turn, frame.text);
}

function onDone(frame) {
  const turn = state.byMessageId.get(String(frame.message));
  if (!turn || isFinished(turn)) return;
  finishTurn(turn, frame.status, {
    usage: frame.usage,
    metrics: frame.metrics,
    stopReason: frame.stop_reason,
    detail: frame.error?.detail,
    code: frame.error?.code,
  });
}

function onServerError(frame) {
  const detail = frame.detail || 'Something went wrong.';
  // No id: it can only concern our request if one is waiting to start.
  const turn = frame.id != null
    ? state.byClientId.get(frame.id)
    : (state.active && state.active.messageId == null ? state.active : null);
  if (turn && !isFinished(turn)) {
    finishTurn(turn, 'error', { detail, code: frame.code });
  } else if (frame.id == null || !state.orphans.delete(frame.id)) {
    showNotice(detail);
  }
}

const HANDLERS = { started: onStarted, queued: onQueued, delta: onDelta, done: onDone, error: onServerError };

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
    updateControls();
  });
  socket.addEventListener('message', (event) => handleFrame(event.data));
  socket.addEventListener('close', () => onSocketClosed(socket));
}

function onSocketClosed(socket) {
  if (state.socket !== socket) return; // a stale socket we already replaced
  state.socket = null;
  state.connected = false;
  // Protocol v1 has no resume: whatever was streaming on this socket is lost to us.
  if (state.active) {
    finishTurn(state.active, 'interrupted', { detail: 'The connection dropped before the answer finished.' });
  }
  scheduleReconnect();
}

function scheduleReconnect() {
  setConnection('reconnecting');
  updateControls();
  const delay = state.retryMs;
  state.retryMs = Math.min(delay * 2, RETRY_MAX_MS);
  setTimeout(connect, delay);
}

// ---------- user actions ----------

function selectedModel() {
  return els.model?.value || config.defaultModel || null;
}

function submitPrompt() {
  const text = els.prompt.value.trim();
  if (!text || state.active || !state.connected || config.blocked) return;
  clearNotice();
  const turn = createTurn(text);
  state.active = turn;
  const sent = send({
    type: 'prompt',
    id: turn.clientId,
    text,
    conversation: state.conversation,
    model: selectedModel(),
  });
  if (!sent) {
    finishTurn(turn, 'error', { detail: 'Not connected; please try again in a moment.' });
    return;
  }
  els.prompt.value = '';
  autosize();
  updateControls();
  scrollToBottom();
}

function requestStop() {
  const turn = state.active;
  if (!turn || turn.stopRequested) return;
  turn.stopRequested = true;
  // Before `started` we have no message id yet; onStarted sends the stop.
  if (turn.messageId != null) {
    send({ type: 'stop', message: turn.messageId });
    showLive(turn, 'Stopping…', true);
  }
  updateControls();
}

function newConversation() {
  const turn = state.active;
  if (turn) {
    if (turn.messageId != null) send({ type: 'stop', message: turn.messageId });
    else state.orphans.add(turn.clientId);
  }
  state.active = null;
  state.conversation = null;
  state.byClientId.clear();
  state.byMessageId.clear();
  pendingText.clear();
  els.turns.replaceChildren();
  clearNotice();
  updateControls();
  els.prompt.focus();
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

function init() {
  els.form.addEventListener('submit', (event) => {
    event.preventDefault();
    submitPrompt();
  });
  els.prompt.addEventListener('keydown', onPromptKeydown);
  els.prompt.addEventListener('input', autosize);
  els.stop.addEventListener('click', requestStop);
  els.newConversation?.addEventListener('click', newConversation);
  if (els.model && config.models.length < 2) els.model.hidden = true;
  setConnection('connecting');
  updateControls();
  connect();
}

init();
