// A turn's "Thinking" section: the model's reasoning (protocol v1.1 deltas with `part: "reasoning"`), streamed live
// above the answer. It is open while only reasoning arrives and closes by itself once the answer starts; once the
// reader opens or closes it, it stays as they left it. Reasoning is model output: it is shown as plain text (a text
// node), never parsed as HTML.

import { h } from './dom.js';
import { formatMs } from './format.js';

// The reasoning box scrolls on its own (it has a maximum height): it follows new text while the reader is at its end.
function followEnd(box, content) {
  let stick = true;
  box.addEventListener('scroll', () => {
    stick = box.scrollHeight - (box.scrollTop + box.clientHeight) < 24;
  }, { passive: true });
  new ResizeObserver(() => {
    if (stick) box.scrollTop = box.scrollHeight;
  }).observe(content);
}

function section(turn) {
  if (turn.thinking) return turn.thinking;
  const details = h('details', 'turn-thinking');
  const summary = h('summary', 'thinking-summary');
  const label = h('span', 'thinking-label', 'Thinking…');
  summary.append(label);
  const box = h('div', 'thinking-box');
  const body = h('div', 'thinking-text');
  const text = document.createTextNode('');
  body.append(text);
  box.append(body);
  details.append(summary, box);
  details.open = true;
  // A click (or Enter / Space, which click a summary) is the reader's choice: from then on it is never overridden.
  summary.addEventListener('click', () => { turn.thinkingTouched = true; });
  turn.answer.before(details);
  followEnd(box, body);
  turn.thinking = { details, label, text };
  return turn.thinking;
}

// Reasoning that arrived (a batch of deltas, put on the page once per frame by render.js).
export function addReasoning(turn, text) {
  if (!text) return;
  turn.reasoning += text;
  section(turn).text.appendData(text);
}

// The whole reasoning so far (a snapshot, a saved message), after the turn's text: with answer text it is folded.
export function setReasoning(turn, text) {
  turn.reasoning = text;
  if (!text && !turn.thinking) return;
  section(turn).text.data = text;
  if (turn.text) answerStarted(turn);
}

function setOpen(turn, open) {
  if (turn.thinking && !turn.thinkingTouched) turn.thinking.details.open = open;
}

function setLabel(turn, label) {
  if (turn.thinking && turn.thinking.label.textContent !== label) turn.thinking.label.textContent = label;
}

// How long the model thought: from its first reasoning to its first answer text.
function thoughtLabel(ms) {
  return Number.isFinite(ms) && ms >= 0 ? `Thought for ${formatMs(ms)}` : 'Thinking';
}

// Measured in this browser, when both moments were seen here (not across a reload).
function clientThought(turn) {
  return turn.answerAt != null && turn.reasoningAt != null ? turn.answerAt - turn.reasoningAt : null;
}

// The answer's first text is on the page: the reasoning folds away (unless the reader chose otherwise).
export function answerStarted(turn) {
  if (!turn.thinking) return;
  setOpen(turn, false);
  setLabel(turn, thoughtLabel(clientThought(turn)));
}

// The turn ended (`done`, or a saved message): the server's own timing names the thinking time when it has it.
// With no answer text (blocked, cut short while thinking) the reasoning is all there is, so it stays open.
export function settleThinking(turn, metrics) {
  if (!turn.thinking) return;
  const { ttft_ms: first, answer_ms: answer } = metrics ?? {};
  const measured = Number.isFinite(first) && Number.isFinite(answer) ? answer - first : null;
  setLabel(turn, thoughtLabel(measured ?? clientThought(turn)));
  setOpen(turn, !turn.text);
}
