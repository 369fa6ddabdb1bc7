// The open conversation: its id, its turns (by client request id and by message id), the one turn in flight,
// and the answers still running out of sight. Also the controls that depend on them (Go, Stop, Regenerate).

import { config } from './config.js';
import { clearInflight } from './inflight.js';
import { renderFinal, takePending } from './render.js';
import { isConnected } from './socket.js';
import { createTurn, outcomeKind, setMessage, showOutcome } from './turn.js';

const turnsEl = document.getElementById('turns');
const go = document.getElementById('go');
const stop = document.getElementById('stop');
const prompt = document.getElementById('prompt');

export const current = {
  conversation: null, // the open conversation's id; null: the next prompt starts a new one
  active: null,       // the one turn of the open conversation currently waiting or streaming
  loading: null,      // AbortController of the conversation being fetched
};
const byClientId = new Map();
const byMessageId = new Map(); // keyed by String(message id)
// Prompts sent from a conversation the user left before `started` came back: client id -> request.
// They are resent (same id, so nothing is duplicated) after a reconnect and then run unseen.
export const orphans = new Map();
// Answers still running in conversations that are not open: String(message id) -> conversation id.
export const background = new Map();

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

export function addTurn(promptText, clientId = newClientId(), { append = true } = {}) {
  const turn = createTurn(promptText, clientId);
  if (append) turnsEl.append(turn.el);
  byClientId.set(clientId, turn);
  return turn;
}

// The turn's message is known (`started`, a saved message, a reload): frames about it find the turn.
export function track(turn, messageId, conversation) {
  setMessage(turn, messageId, conversation);
  byMessageId.set(String(messageId), turn);
}

export const turnByClient = (clientId) => byClientId.get(clientId);
export const turnByMessage = (messageId) => byMessageId.get(String(messageId));
export const allTurns = () => byClientId.values();

export function forgetTurns() {
  byClientId.clear();
  byMessageId.clear();
}

export function finishTurn(turn, status, info = {}) {
  takePending(turn); // buffered text must land before the status line says "Done"
  renderFinal(turn);
  showOutcome(turn, outcomeKind(status), info);
  turn.reconnecting = false;
  clearInflight(turn);
  if (current.active === turn) current.active = null;
  const stopHadFocus = document.activeElement === stop;
  updateControls();
  // Stop is about to vanish; keep keyboard users in the composer rather than on <body>.
  if (stopHadFocus) prompt.focus();
}

export function updateControls() {
  const busy = current.active !== null;
  go.hidden = busy;
  go.disabled = busy || !isConnected() || config.blocked;
  stop.hidden = !busy;
  // Stop works while reconnecting too: the request is sent once the turn is attached again.
  stop.disabled = !busy || Boolean(current.active?.stopRequested);
  prompt.disabled = config.blocked;
  // aria-busy asks screen readers to hold the live region until the answer is whole,
  // instead of announcing every delta.
  turnsEl.setAttribute('aria-busy', String(busy || current.loading !== null));
  const canRegenerate = !busy && isConnected() && !config.blocked;
  for (const node of turnsEl.querySelectorAll('.turn-regenerate')) node.disabled = !canRegenerate;
}
