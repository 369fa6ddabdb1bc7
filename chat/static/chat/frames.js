// What the server sends (docs/protocol.md): started, queued, delta, snapshot, done, error, applied to the turns;
// and what the page does when its socket opens (attach again, resend) or drops.

import { giveBackPrompt } from './composer.js';
import { saveInflight } from './inflight.js';
import { goToLogin } from './login.js';
import { setUrl } from './nav.js';
import { showNotice } from './notice.js';
import { showParamError } from './params.js';
import { applyDelta, applySlice, replaceText } from './render.js';
import { markStreamingConversations, refreshConversations } from './sidebar.js';
import {
  attachSettled, isConnected, oldestAttaching, sendAttach, sendAttachWhole, sendPrompt, sendStop,
} from './socket.js';
import { isFinished, noteDelta, outcomeInfo, setReconnecting, showLive } from './turn.js';
import {
  allTurns, background, current, finishTurn, orphans, track, turnByClient, turnByMessage,
} from './turns.js';

const NO_RESUME_NOTE = 'The connection dropped before the answer finished.';
// A streaming turn that has heard nothing for a while asks where its answer stands (a lost `done`, a lost delta
// at the very end); `attach` is harmless if all is well: a snapshot of what is already shown.
const SILENCE_RESYNC_MS = 20000;

function onStarted(frame) {
  const turn = turnByClient(frame.id);
  if (!turn) {
    // Sent from a conversation the user has left since: it runs on, out of sight.
    if (orphans.delete(frame.id)) {
      background.set(String(frame.message), frame.conversation);
      refreshConversations();
    }
    return;
  }
  track(turn, frame.message, turn.conversation);
  if (frame.model) {
    turn.model = frame.model;
    turn.el.dataset.model = frame.model;
  }
  if (frame.conversation != null) {
    const isNew = current.conversation == null;
    current.conversation = frame.conversation;
    if (isNew) setUrl(frame.conversation, false);
  }
  refreshConversations(); // a new conversation appears at the top; an old one moves up
  if (isFinished(turn)) return;

  turn.lastFrameAt = performance.now();
  // A resent prompt is answered by `started` too, then a `snapshot` of the text so far.
  turn.conversation = frame.conversation ?? turn.request?.conversation ?? null;
  turn.reconnecting = false;
  turn.queued = false; // saved at last: a `queued` before `started` was the server's line, not the model's
  saveInflight(turn);
  turn.el.dataset.status = 'streaming';
  if (turn.stopRequested) {
    sendStop(turn);
    showLive(turn, 'Stopping…', true);
  } else {
    showLive(turn, 'Generating…', false);
  }
}

// The model answers one prompt at a time, or (with `id`, before `started`) the server is saturated and the prompt
// waits to be saved; say where this one stands in line.
function onQueued(frame) {
  const turn = frame.message != null ? turnByMessage(frame.message) : turnByClient(frame.id);
  if (!turn || isFinished(turn) || turn.stopRequested) return;
  turn.lastFrameAt = performance.now();
  const ahead = frame.position === 1 ? '1 answer' : `${frame.position} answers`;
  turn.queued = true;
  showLive(turn, `Queued: ${ahead} ahead of this one…`, true);
}

// The seq the next delta should carry: seq counts 1, 2, 3, … per message.
function expectedSeq(turn) {
  return (Number.isFinite(turn.lastSeq) ? turn.lastSeq : 0) + 1;
}

function onDelta(frame) {
  const turn = turnByMessage(frame.message);
  if (!turn || isFinished(turn) || typeof frame.text !== 'string') return;
  if (turn.queued) {
    turn.queued = false;
    showLive(turn, 'Generating…', false);
  }
  noteDelta(turn, frame.part, performance.now());
  if (!turn.awaitingSnapshot && Number.isFinite(frame.seq) && frame.seq > expectedSeq(turn) && isConnected()) {
    // Deltas went missing on the way (a server under load can drop them): fetch the gap with `attach`.
    console.warn('Streamer: deltas missing before seq', frame.seq, 'of message', frame.message, '; attaching again');
    sendAttach(turn);
  }
  if (turn.awaitingSnapshot && Number.isFinite(frame.seq)) {
    // Overtook the snapshot it follows: apply it once the snapshot has landed.
    turn.held.set(frame.seq, frame);
    return;
  }
  applyDelta(turn, frame.seq, frame.text, frame.part);
}

// The reply to `attach` (and to a resent prompt): the text (and reasoning) so far, then live deltas follow.
function onSnapshot(frame) {
  const turn = turnByMessage(frame.message);
  if (!turn || typeof frame.text !== 'string' || !Number.isFinite(frame.seq)) return;
  const reasoning = typeof frame.reasoning === 'string' ? frame.reasoning : ''; // a v1 server sends none
  const after = Number.isFinite(frame.after) ? frame.after : 0;
  const held = turn.held;
  turn.lastFrameAt = performance.now();

  if (after > 0 && after !== turn.lastSeq) {
    // A slice that does not start where this turn stands cannot be spliced in: ask for the whole text.
    if (!turn.refetched && !isFinished(turn) && sendAttachWhole(turn)) {
      turn.refetched = true;
      return; // still awaiting a snapshot; held deltas stay held
    }
    console.warn('Streamer: ignoring a snapshot slice that does not fit', frame.message);
  } else if (after > 0) {
    applySlice(turn, frame.seq, frame.text, reasoning);
  } else {
    replaceText(turn, frame.text, frame.seq, reasoning);
  }

  attachSettled(turn);
  if (held) {
    for (const [seq, delta] of [...held].sort(([a], [b]) => a - b)) applyDelta(turn, seq, delta.text, delta.part);
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
  if (background.delete(String(frame.message))) markStreamingConversations();
  const turn = turnByMessage(frame.message);
  if (!turn || isFinished(turn)) return; // a second `done` for the same message is ignored
  finishTurn(turn, frame.status, outcomeInfo(frame));
}

// An error with no request id may answer an `attach`.
function attachFailed(frame, detail) {
  const byMessage = frame.message != null ? turnByMessage(frame.message) : null;
  const turn = byMessage ?? oldestAttaching();
  if (!turn || !turn.awaitingSnapshot) return false;
  attachSettled(turn);
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
  // The session has ended: the frame was not processed (a prompt was not saved); log in again.
  if (frame.code === 'unauthenticated') return goToLogin();
  const detail = frame.detail || 'Something went wrong.';
  if (frame.id == null && attachFailed(frame, detail)) return;
  // No id: it can only concern our request if one is waiting to start.
  const turn = frame.id != null
    ? turnByClient(frame.id)
    : (current.active && current.active.messageId == null ? current.active : null);
  if (turn && !isFinished(turn)) {
    const unstarted = turn.messageId == null;
    finishTurn(turn, 'error', { detail, code: frame.code });
    if (unstarted) refused(turn, frame.code, detail);
  } else if (frame.id == null || !orphans.delete(frame.id)) {
    showNotice(detail);
  }
}

// A prompt the server refused before saving anything: give the text back, and point at a bad parameter.
function refused(turn, code, detail) {
  if (turn.request) giveBackPrompt(turn.request.text, turn.attachments);
  if (code === 'invalid_params') showParamError(/'(\w+)'/.exec(detail)?.[1] ?? null, detail);
}

const HANDLERS = {
  started: onStarted,
  queued: onQueued,
  delta: onDelta,
  snapshot: onSnapshot,
  done: onDone,
  error: onServerError,
};

export function handleFrame(raw) {
  let frame;
  try {
    frame = JSON.parse(raw);
  } catch {
    console.warn('Streamer: ignoring a frame that is not JSON');
    return;
  }
  if (frame && Object.hasOwn(HANDLERS, frame.type)) HANDLERS[frame.type](frame);
  // An answer settled, or a prompt was refused for its budget: the budget indicator (budget.js) reads again.
  if (frame?.type === 'done' || frame?.code === 'budget_exceeded') {
    document.dispatchEvent(new CustomEvent('streamer:budget-changed'));
  }
}

// On every (re)connect: pick up each unfinished turn where it was left.
export function resume() {
  for (const turn of allTurns()) {
    if (isFinished(turn)) continue;
    if (turn.messageId != null) sendAttach(turn);
    else if (turn.request) sendPrompt(turn.clientId, turn.request); // never `started`: the same id makes the resend safe
  }
  // Prompts from a conversation left before they were accepted: make sure the server has them.
  for (const [clientId, request] of orphans) sendPrompt(clientId, request);
}

// The socket dropped: the turns stay as they are and attach again on reconnect.
export function onSocketClosed() {
  for (const turn of allTurns()) {
    if (isFinished(turn)) continue;
    turn.awaitingSnapshot = false;
    turn.held = null;
    setReconnecting(turn, true);
  }
  // Answers running out of sight are no longer followed; the list shows them again when reopened.
  background.clear();
  markStreamingConversations();
}

export function checkSilentTurns() {
  if (!isConnected()) return;
  const now = performance.now();
  for (const turn of allTurns()) {
    if (isFinished(turn) || turn.messageId == null || turn.awaitingSnapshot || turn.queued) continue;
    if (now - (turn.lastFrameAt ?? now) > SILENCE_RESYNC_MS) {
      turn.lastFrameAt = now;
      sendAttach(turn);
    }
  }
}
