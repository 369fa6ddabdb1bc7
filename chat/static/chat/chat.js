// Streamer chat client. Speaks WebSocket protocol v1:
//   client -> server: prompt, stop, attach
//   server -> client: started, queued, delta, snapshot, done, error
// A dropped socket or a reload never loses an answer: on reconnect the page attaches
// again to every unfinished message (or resends a prompt that was never `started`, with
// the same id) and the server's `snapshot` fills in what was missed.
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
// sessionStorage: the turn in flight, so a reload can attach to it again.
const INFLIGHT_KEY = 'streamer.inflight';
const INTERRUPTED_NOTE = 'The server stopped before the answer finished; the text so far is kept.';
const NO_RESUME_NOTE = 'The connection dropped before the answer finished.';

const state = {
  socket: null,
  connected: false,
  retryMs: RETRY_MIN_MS,
  conversation: null,   // set by the first `started`; null starts a new conversation
  active: null,         // the one turn currently waiting or streaming
  byClientId: new Map(),
  byMessageId: new Map(), // keyed by String(message id)
  orphans: new Set(),   // client ids cleared by "New conversation" before `started` arrived
  attaching: [],        // turns whose `attach` awaits its `snapshot`, in the order sent
  pendingStops: new Set(), // message ids to stop once the socket is back ("New conversation" while offline)
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
  // Stop works while reconnecting too: the request is sent once the turn is attached again.
  els.stop.disabled = !busy || Boolean(state.active?.stopRequested);
  els.prompt.disabled = config.blocked;
  // aria-busy asks screen readers to hold the live region until the answer is whole,
  // instead of announcing every delta.
  els.turns.setAttribute('aria-busy', String(busy));
}

// ---------- turns ----------

function createTurn(promptText, clientId = newClientId()) {
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

  const turn = {
    clientId,
    messageId: null,
    el,
    answer,
    status,
    textNode,
    lastSeq: -Infinity,
    stopRequested: false,
    stopSocket: null,        // the socket the last `stop` went out on (one per socket is enough)
    request: null,           // {text, conversation, model} as first sent: a resend must be identical
    conversation: null,      // from `started`
    reconnecting: false,     // the socket dropped; not attached again yet
    awaitingSnapshot: false, // `attach` sent, `snapshot` not yet here
    held: null,              // deltas that overtook the snapshot: Map seq -> text
    refetched: false,        // a full snapshot was already asked for after a mismatched slice
  };
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

// A whole-answer snapshot: it replaces whatever the turn shows.
function replaceText(turn, text, seq) {
  if (seq < turn.lastSeq) {
    // An older checkpoint (e.g. of an interrupted run) than what already arrived here:
    // keep the longer text the user has seen, unless the two disagree.
    flushText();
    if (turn.textNode.data.startsWith(text)) return;
  }
  pendingText.delete(turn);
  const stick = nearBottom();
  turn.textNode.data = text;
  turn.lastSeq = seq;
  if (stick) scrollToBottom();
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
  try {
    sessionStorage.setItem(INFLIGHT_KEY, JSON.stringify({
      clientId: turn.clientId,
      messageId: turn.messageId,
      // Before `started` this is what the prompt asked for (and is resent as is).
      conversation: turn.messageId != null ? turn.conversation : turn.request.conversation,
      prompt: turn.request.text,
      model: turn.request.model,
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

// After a reload: draw the turn that was in flight again; the socket's `open` attaches to it.
function restoreInflight() {
  const saved = readInflight();
  if (!saved) return;
  const turn = createTurn(saved.prompt, saved.clientId);
  turn.request = { text: saved.prompt, conversation: saved.conversation ?? null, model: saved.model ?? null };
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
  if (turn.awaitingSnapshot && Number.isFinite(frame.seq)) {
    // Overtook the snapshot it follows: apply it once the snapshot has landed.
    turn.held.set(frame.seq, frame.text);
    return;
  }
  applyDelta(turn, frame.seq, frame.text);
}

// The reply to `attach` (and to a resent prompt): the text so far, then live deltas follow.
function onSnapshot(frame) {
  const turn = state.byMessageId.get(String(frame.message));
  if (!turn || typeof frame.text !== 'string' || !Number.isFinite(frame.seq)) return;
  const after = Number.isFinite(frame.after) ? frame.after : 0;
  const held = turn.held;

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
  const turn = state.byMessageId.get(String(frame.message));
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
    finishTurn(turn, 'error', { detail, code: frame.code });
  } else if (frame.id == null || !state.orphans.delete(frame.id)) {
    showNotice(detail);
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

function sendPrompt(turn) {
  return send({
    type: 'prompt',
    id: turn.clientId,
    text: turn.request.text,
    conversation: turn.request.conversation,
    model: turn.request.model,
  });
}

// `stop` is idempotent server-side; once per socket is enough.
function sendStop(turn) {
  if (turn.messageId == null || (turn.stopSocket && turn.stopSocket === state.socket)) return;
  if (send({ type: 'stop', message: turn.messageId })) turn.stopSocket = state.socket;
}

function sendAttach(turn) {
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
  for (const messageId of state.pendingStops) send({ type: 'stop', message: messageId });
  state.pendingStops.clear();
  state.attaching = [];
  for (const turn of state.byClientId.values()) {
    if (isFinished(turn)) continue;
    if (turn.messageId != null) sendAttach(turn);
    else if (turn.request) sendPrompt(turn); // never `started`: the same id makes the resend safe
  }
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
  turn.request = { text, conversation: state.conversation, model: selectedModel() };
  state.active = turn;
  if (!sendPrompt(turn)) {
    finishTurn(turn, 'error', { detail: 'Not connected; please try again in a moment.' });
    return;
  }
  saveInflight(turn);
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
  // While the socket is gone the request is kept; onSnapshot sends it after reattaching.
  if (turn.messageId != null) {
    sendStop(turn);
    showLive(turn, 'Stopping…', true);
  }
  updateControls();
}

function newConversation() {
  const turn = state.active;
  if (turn) {
    if (turn.messageId != null) {
      if (!send({ type: 'stop', message: turn.messageId })) state.pendingStops.add(turn.messageId);
    } else {
      state.orphans.add(turn.clientId);
    }
  }
  clearInflight();
  state.attaching = [];
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
  restoreInflight();
  updateControls();
  connect();
}

init();
