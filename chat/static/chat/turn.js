// One turn on the page: the prompt, the answer, and its status line (live indicator while it runs,
// badge, figures and Copy / Regenerate once it ends). The registry of turns is turns.js.

import { showCitations } from './citations.js';
import { button, h } from './dom.js';
import { formatMs } from './format.js';
import { markdown } from './markdown.js';
import { manyModels, modelLabel } from './models.js';
import { describeOutcome, figures, routedTo, whyBlock } from './outcome.js';
import { settleThinking } from './thinking.js';

const FINISHED = new Set(['complete', 'stopped', 'error', 'interrupted', 'blocked']);
const INTERRUPTED_NOTE = 'The server stopped before the answer finished; the text so far is kept.';
const STOPPED_NOTE = 'Stopped before the end; the text so far is kept.';
// The live dot holds still while deltas arrive and pulses again after this long without one (see markFlowing).
const FLOWING_MS = 1000;

export function createTurn(promptText, clientId) {
  const el = h('article', 'turn');
  el.dataset.clientId = clientId;
  el.dataset.messageId = '';
  el.dataset.status = 'pending';

  const answer = h('div', markdown ? 'turn-answer markdown' : 'turn-answer plain');
  const status = h('div', 'turn-status');
  el.append(h('div', 'turn-prompt', promptText), answer, status);

  const turn = {
    clientId,
    messageId: null,
    el,
    answer,
    status,
    text: '',                // the raw markdown so far (what Copy copies)
    reasoning: '',           // the model's reasoning so far (thinking.js shows it)
    thinking: null,          // the Thinking section's nodes, once there is reasoning (thinking.js)
    thinkingTouched: false,  // the reader opened or closed the Thinking section: leave it as they left it
    phase: null,             // 'thinking' while only reasoning has arrived, then 'answering'
    stream: null,            // block-splitting state while streaming (render.js)
    renderJob: null,         // a finished answer being rendered a few blocks at a time (render.js)
    liveMetrics: h('span', 'turn-live-metrics'),
    live: null,              // the live indicator (showLive), while the turn runs
    flowing: false,          // deltas arrived in the last FLOWING_MS: the live dot holds still
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
    queued: false,           // waiting in the model's line (`queued`)
    lastFrameAt: null,       // performance.now() of the last frame about it
    sentAt: null,            // performance.now() when the prompt went out (client-side time to first token)
    firstDeltaAt: null,      // the first delta of any part (time to first token counts reasoning too)
    reasoningAt: null,       // the first reasoning delta
    answerAt: null,          // the first answer delta
    deltas: 0,
    metricsAt: 0,
  };
  turn.liveMetrics.title = 'Measured in this browser: time from sending to the first text, '
    + 'and streamed chunks per second (about tokens per second).';
  showLive(turn, 'Waiting…', true);
  return turn;
}

export const isFinished = (turn) => FINISHED.has(turn.el.dataset.status);

// The kind of badge a saved or `done` status gets; anything unknown is an error.
export const outcomeKind = (status) => (FINISHED.has(status) ? status : 'error');

// What showOutcome needs, from a `done` frame or a saved message (the two carry the same fields).
export function outcomeInfo(record) {
  return {
    usage: record.usage,
    metrics: record.metrics,
    stopReason: record.stop_reason,
    detail: record.error?.detail || (record.status === 'interrupted' ? INTERRUPTED_NOTE : undefined),
    code: record.error?.code,
    guardrail: record.guardrail,
    cost: record.cost,
    citations: record.citations,
    invokedModel: record.invoked_model,
  };
}

// Where the message lives: the page finds the turn by its message id from now on (turns.js keeps the index).
export function setMessage(turn, messageId, conversation) {
  turn.messageId = messageId;
  turn.conversation = conversation;
  turn.el.dataset.messageId = String(messageId);
}

// A pulsing dot plus a label; while streaming the label is for screen readers only.
export function showLive(turn, label, visibleLabel) {
  const live = h('span', 'live');
  live.append(h('span', 'live-dot'), h('span', visibleLabel ? 'live-label' : 'sr-only', label));
  live.firstChild.setAttribute('aria-hidden', 'true');
  if (turn.flowing) live.classList.add('live-flowing');
  turn.live = live;
  turn.status.replaceChildren(live, turn.liveMetrics);
  if (turn.reconnecting) addReconnectingNote(live);
}

function addReconnectingNote(live) {
  live.classList.add('live-reconnecting');
  live.append(h('span', 'live-note', 'Reconnecting…'));
}

// A small note on the live indicator while the turn's socket is gone; the turn itself stays as it is.
export function setReconnecting(turn, on) {
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

// Client-side: from sending to the first delta, then deltas per second (about tokens per second).
export function updateLiveMetrics(turn, now, force = false) {
  if (turn.firstDeltaAt == null || isFinished(turn)) return;
  if (!force && now - turn.metricsAt < 250) return;
  turn.metricsAt = now;
  const parts = [];
  if (turn.sentAt != null) parts.push(`first token ${formatMs(turn.firstDeltaAt - turn.sentAt)}`);
  const seconds = (now - turn.firstDeltaAt) / 1000;
  if (turn.phase === 'thinking') {
    parts.push('thinking…');
  } else if (turn.deltas > 1 && seconds >= 0.2) {
    const rate = (turn.deltas - 1) / seconds;
    parts.push(`~${rate < 10 ? rate.toFixed(1) : Math.round(rate)} tok/s`);
  }
  const text = parts.join(' · ');
  if (turn.liveMetrics.textContent !== text) turn.liveMetrics.textContent = text;
}

// Whether the model still only thinks, from what the turn holds (a snapshot, a saved message).
export function syncPhase(turn) {
  turn.phase = turn.text ? 'answering' : (turn.reasoning ? 'thinking' : null);
}

// A delta arrived (before it is put on the page): the live figures' moments, and whether the model still only thinks.
export function noteDelta(turn, part, now) {
  const first = turn.firstDeltaAt == null;
  if (first) turn.firstDeltaAt = now;
  turn.deltas += 1;
  turn.lastFrameAt = now;
  if (part === 'reasoning') {
    turn.reasoningAt ??= now;
    turn.phase ??= 'thinking';
  } else if (turn.answerAt == null) {
    turn.answerAt = now;
    const wasThinking = turn.phase === 'thinking';
    turn.phase = 'answering';
    if (wasThinking) updateLiveMetrics(turn, now, true);
  }
  if (first) updateLiveMetrics(turn, now, true);
  if (!turn.flowing) markFlowing(turn);
}

// While text arrives nothing on the page pulses: the turn's live dot and the sidebar's dots of answers running
// elsewhere hold still (`answer-flowing` on the root). The moving text shows the answer is alive, and an endless
// pulse keeps the browser drawing every frame, so each delta would wait for the next frame's turn (8 ms on average
// at 60 Hz) instead of being drawn as it comes, and every frame would cost the page its work. After FLOWING_MS
// without a delta (a model thinking in silence, a stall) the dots pulse again. One timer a second per turn checks.
let flowingTurns = 0;

function markFlowing(turn) {
  turn.flowing = true;
  turn.live?.classList.add('live-flowing');
  if (flowingTurns++ === 0) document.documentElement.classList.add('answer-flowing');
  const check = () => {
    const quiet = performance.now() - turn.lastFrameAt;
    if (quiet < FLOWING_MS && !isFinished(turn)) {
      setTimeout(check, FLOWING_MS - quiet);
      return;
    }
    turn.flowing = false;
    turn.live?.classList.remove('live-flowing');
    if (--flowingTurns === 0) document.documentElement.classList.remove('answer-flowing');
  };
  setTimeout(check, FLOWING_MS);
}

// The finished look of a turn: badge, numbers, the sentence for a person, sources, Copy and Regenerate.
export function showOutcome(turn, kind, info) {
  turn.el.dataset.status = kind;
  turn.el.dataset.stopReason = info.stopReason || '';
  turn.live = null;
  const outcome = describeOutcome(kind, info);
  const badge = h('span', `badge badge-${outcome.tone}`, outcome.text);
  if (info.code) badge.title = info.code;
  const parts = figures(info);
  turn.status.replaceChildren(badge);
  if (parts.length) turn.status.append(h('span', 'turn-metrics', ` · ${parts.join(' · ')}`));
  const model = turn.model || turn.origin?.model;
  if (model && manyModels()) turn.status.append(h('span', 'turn-model', ` · ${modelLabel(model)}`));
  const routed = routedTo(info.invokedModel);
  if (routed) turn.status.append(routed);

  for (const old of turn.el.querySelectorAll('.turn-error, .turn-note, .turn-why')) old.remove();
  if (kind === 'error' || info.detail) {
    const detail = info.detail || 'The answer could not be completed.';
    turn.status.after(h('p', 'turn-error', detail));
  } else if (kind === 'stopped') {
    turn.status.after(h('p', 'turn-note', STOPPED_NOTE));
  } else if (outcome.why) {
    turn.status.after(whyBlock(outcome.tone === 'blocked' ? 'blocked' : 'notice', outcome.why, info.guardrail));
  }
  showCitations(turn, info.citations);
  settleThinking(turn, info.metrics);

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
