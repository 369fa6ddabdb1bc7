// The WebSocket (protocol v1, docs/protocol.md): connect, reconnect with backoff, and the frames the page
// sends: prompt, stop, attach. A dropped socket never loses an answer: on every (re)connect the page attaches
// again to each unfinished message (frames.js) and the server's `snapshot` fills in what was missed.

import { config } from './config.js';
import { goToLogin } from './login.js';

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 8000;
const SESSION_ENDED = 4401; // the server's close code for a session that has ended: log in, do not reconnect
const CONNECTION_TEXT = {
  connecting: 'Connecting…', connected: 'Connected', reconnecting: 'Reconnecting…', ended: 'Session ended',
};
const indicator = document.getElementById('connection');

let socket = null;
let connected = false;
let retryMs = RETRY_MIN_MS;
let attaching = []; // turns whose `attach` awaits its `snapshot`, in the order sent
let hooks = null;   // {onOpen, onFrame, onClose, onChange} from connect()

export const isConnected = () => connected;

function setConnection(name) {
  indicator.dataset.state = name;
  indicator.textContent = CONNECTION_TEXT[name];
}

export function send(frame) {
  if (!socket || socket.readyState !== WebSocket.OPEN) return false;
  socket.send(JSON.stringify(frame));
  return true;
}

// `request` is {text, conversation, model, params, attachments?}: a resend must be the same frame with the same id.
export function sendPrompt(clientId, request) {
  const frame = {
    type: 'prompt',
    id: clientId,
    text: request.text,
    conversation: request.conversation,
    model: request.model,
    params: request.params ?? {}, // only what differs from the model's defaults; {} means all defaults
  };
  if (request.attachments?.length) frame.attachments = request.attachments; // uploaded files' ids
  return send(frame);
}

// `stop` is idempotent server-side; once per socket is enough.
export function sendStop(turn) {
  if (turn.messageId == null || (turn.stopSocket && turn.stopSocket === socket)) return;
  if (send({ type: 'stop', message: turn.messageId })) turn.stopSocket = socket;
}

// Asks for the text after what the turn has; the answer is a `snapshot`.
export function sendAttach(turn) {
  turn.lastFrameAt = performance.now();
  const frame = { type: 'attach', message: turn.messageId };
  if (Number.isFinite(turn.lastSeq) && turn.lastSeq > 0) frame.after = turn.lastSeq;
  if (!send(frame)) return false;
  turn.awaitingSnapshot = true;
  turn.held = new Map();
  turn.refetched = false;
  attaching.push(turn);
  return true;
}

// Asks for the whole text again (a snapshot slice did not fit); the turn still awaits its snapshot.
export function sendAttachWhole(turn) {
  return send({ type: 'attach', message: turn.messageId });
}

// Its `snapshot` (or an error) came, or it is no longer followed: the turn waits for nothing.
export function attachSettled(turn) {
  attaching = attaching.filter((t) => t !== turn);
  turn.awaitingSnapshot = false;
  turn.held = null;
  turn.refetched = false;
}

// An error with no request id may answer an `attach`: the first one waiting is the one it concerns.
export const oldestAttaching = () => attaching[0] ?? null;

export function forgetAttaching() {
  attaching = [];
}

export function connect(handlers) {
  hooks = handlers;
  setConnection('connecting');
  open();
}

function open() {
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + config.wsPath;
  let opened;
  try {
    opened = new WebSocket(url);
  } catch (err) {
    console.warn('Streamer: could not open socket', err);
    scheduleReconnect();
    return;
  }
  socket = opened;
  opened.addEventListener('open', () => {
    connected = true;
    retryMs = RETRY_MIN_MS;
    setConnection('connected');
    attaching = [];
    hooks.onOpen();
    hooks.onChange();
  });
  opened.addEventListener('message', (event) => hooks.onFrame(event.data));
  opened.addEventListener('close', (event) => {
    if (socket !== opened) return; // a stale socket we already replaced
    socket = null;
    connected = false;
    attaching = [];
    hooks.onClose(); // the answers go on without us: the page attaches again on reconnect
    if (event.code === SESSION_ENDED) {
      setConnection('ended');
      goToLogin();
      return;
    }
    scheduleReconnect();
  });
}

function scheduleReconnect() {
  setConnection('reconnecting');
  hooks.onChange();
  const delay = retryMs;
  retryMs = Math.min(delay * 2, RETRY_MAX_MS);
  setTimeout(open, delay);
}
