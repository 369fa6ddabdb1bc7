// Answers on the page. Deltas are collected and put on the page at the next animation frame (later only after a
// really costly update). While an answer streams only its last, open block changes: plain text is appended to it
// (tail.js), anything else parses that block again; settled blocks are rendered once and kept. A long finished
// answer is rendered a few blocks per frame. A hidden tab only collects text until it shows again.
// Reasoning deltas (`part: "reasoning"`) go to the turn's Thinking section (thinking.js) in the same frames.

import { h } from './dom.js';
import { markdown, newBlockScan, settledBlocks, splitBlocks } from './markdown.js';
import { appendPoint, appendText } from './tail.js';
import { addReasoning, answerStarted, setReasoning } from './thinking.js';
import { isFinished, syncPhase, updateLiveMetrics } from './turn.js';

const pendingText = new Map(); // turn -> text received since the last frame
const pendingReasoning = new Map(); // turn -> reasoning received since the last frame
const dirtyTurns = new Set();  // text changed, render put off
let frameRequested = false;
let lastFlushAt = 0;
let flushGap = 0; // ms before the next DOM update: 0 (the next frame) unless the last one was costly

// Answers up to this long are rendered again as a whole when they finish (exact output: link references, list
// numbering); longer ones keep their blocks, as parsing a long answer at once would hold up the page.
const EXACT_RENDER_CHARS = 6000;
// Settled blocks rendered per frame beyond this are put off to the next one (a whole answer in a snapshot).
const BLOCK_BUDGET_MS = 12;
// An open code block is highlighted again at most this often while it streams (and once it closes).
const HIGHLIGHT_GAP_MS = 300;
// An open block that takes longer than this to parse is parsed less often.
const COSTLY_TAIL_MS = 4;
// An update that took longer than this puts the next one off (a multiple of its cost); cheaper ones run every frame.
const COSTLY_FLUSH_MS = 8;

// Finished answers waiting to be rendered, newest last; until then each shows its plain text.
const renderQueue = [];
let renderQueued = false;

// ---------- streaming: settled blocks + the open one ----------

function newStream(turn) {
  const tail = h('div', 'md-block md-tail');
  turn.answer.replaceChildren(tail);
  turn.stream = {
    tail,
    ...newBlockScan(),
    tailText: null,     // the open block's source as shown
    point: null,        // where plain text can be appended to it (tail.js), or null
    exact: true,        // the open block's code is highlighted (not appended to, not rendered without)
    appended: false,    // text was appended to the open block since it was last parsed
    highlightAt: 0,     // when its code may be highlighted again
    nextTailAt: 0,      // a costly open block is parsed again no sooner than this
    queue: [],          // settled, not rendered yet
  };
}

// The open block parsed again; its code highlighted only a few times a second while it streams (and when final).
function renderTail(st, tailText, now) {
  const t0 = performance.now();
  const highlight = now >= st.highlightAt;
  st.tail.replaceChildren(markdown.render(tailText, { highlight }));
  st.tailText = tailText;
  st.exact = highlight;
  st.appended = false;
  st.point = appendPoint(st.tail, tailText, st.fence !== null ? st.fenceIndent : null);
  const cost = performance.now() - t0;
  if (highlight && st.fence !== null) st.highlightAt = t0 + HIGHLIGHT_GAP_MS;
  // A big open block (a long table, a list with no blank line) is parsed less often: at most ~25% of the time.
  st.nextTailAt = cost > COSTLY_TAIL_MS ? t0 + Math.min(cost * 4, 400) : 0;
}

// Renders what arrived; false when some of it was put off to a later frame: settled blocks beyond a small time
// budget (a whole answer arriving at once in a snapshot), the open block when it is costly and ran very recently,
// or an open code block's highlighting. `now` is Infinity for the final rendering: everything, exactly.
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
    st.point = null;
    if (st.queue.length) return false;
  }
  const tailText = turn.text.slice(st.blockStart);
  const final = now === Infinity;
  if (tailText !== st.tailText) {
    // Plain text that cannot change the block's structure: appended as it is, no parsing (the common case).
    if (st.tailText !== null && appendText(st.point, st.tailText, tailText.slice(st.tailText.length))) {
      st.tailText = tailText;
      st.appended = true;
      if (st.point.code) st.exact = false; // highlighted later
    } else if (now < st.nextTailAt) {
      return false;
    } else {
      renderTail(st, tailText, now);
    }
  }
  // The final look is a full render of the open block, as if it had arrived at once.
  if (final ? !st.exact || st.appended : !st.exact && now >= st.highlightAt) renderTail(st, tailText, now);
  return st.exact;
}

// The whole text of a streaming turn again (a reload, a snapshot): rendered now, or over the next frames.
export function restartStream(turn) {
  newStream(turn);
  if (!renderStreaming(turn, Infinity)) renderLater(turn);
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

// ---------- finished answers ----------

// A finished answer's final look. A streamed one only settles its open block (or is rendered whole if short);
// one opened from the server is rendered a few blocks at a time, off to the side, then swapped in.
export function renderFinal(turn) {
  dirtyTurns.delete(turn);
  if (isHidden()) {
    hiddenFinals.add(turn); // its text is in turn.text: put on the page when the tab shows again
    return;
  }
  hiddenFinals.delete(turn);
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

// Renders queued turns within a small time budget per frame, newest first.
export function queueFinalRender(turn) {
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

// ---------- text arriving ----------

// A hidden tab (another tab in front, a minimised window) only collects the text; it is put on the page when the
// tab shows again. Status changes (done) still happen at once, so the tab ends correctly meanwhile.
const isHidden = () => document.visibilityState === 'hidden';
const hiddenFinals = new Set(); // turns that finished while the tab was hidden: rendered when it shows

document.addEventListener('visibilitychange', () => {
  if (isHidden()) return;
  for (const turn of hiddenFinals) renderFinal(turn);
  hiddenFinals.clear();
  requestFrame();
});

function requestFrame() {
  if (frameRequested || isHidden()) return;
  frameRequested = true;
  const wait = lastFlushAt + flushGap - performance.now();
  if (wait > 4) setTimeout(() => requestAnimationFrame(flushText), wait);
  else requestAnimationFrame(flushText);
}

// Buffered text lands in turn.text (before a turn shows its final status, say).
export function takePending(turn) {
  const reasoning = pendingReasoning.get(turn);
  if (reasoning !== undefined) {
    pendingReasoning.delete(turn);
    addReasoning(turn, reasoning);
  }
  const text = pendingText.get(turn);
  if (text === undefined) return;
  pendingText.delete(turn);
  addText(turn, text);
}

function addText(turn, text) {
  const first = !turn.text;
  turn.text += text;
  if (first && text) answerStarted(turn);
}

function flushText() {
  frameRequested = false;
  if (pendingText.size === 0 && pendingReasoning.size === 0 && dirtyTurns.size === 0) return;
  if (isHidden()) return; // visibilitychange asks again
  const now = performance.now();
  lastFlushAt = now;
  for (const [turn, reasoning] of pendingReasoning) {
    addReasoning(turn, reasoning);
    updateLiveMetrics(turn, now);
  }
  pendingReasoning.clear();
  for (const [turn, text] of pendingText) {
    addText(turn, text);
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
  // Every frame while updates are cheap (new text shows at the next paint); an update that was really costly
  // (a long table re-parsed, a busy machine) puts the next one off, so the page keeps time for layout, paint, input.
  const cost = performance.now() - now;
  flushGap = cost > COSTLY_FLUSH_MS ? Math.min(cost * 3, 150) : 0;
  if (dirtyTurns.size) requestFrame();
}

// A whole-answer snapshot (its text and reasoning): it replaces whatever the turn shows.
export function replaceText(turn, text, seq, reasoning = '') {
  if (seq < turn.lastSeq) {
    // An older checkpoint (e.g. of an interrupted run) than what already arrived here:
    // keep the longer text the user has seen, unless the two disagree.
    takePending(turn);
    if (turn.text.startsWith(text) && turn.reasoning.startsWith(reasoning)) return;
  }
  pendingText.delete(turn);
  pendingReasoning.delete(turn);
  turn.text = text;
  turn.lastSeq = seq;
  setReasoning(turn, reasoning);
  syncPhase(turn);
  if (isFinished(turn)) renderFinal(turn);
  else restartStream(turn);
}

function queueText(pending, turn, text) {
  if (!text) return;
  pending.set(turn, (pending.get(turn) ?? '') + text);
  requestFrame();
}

// One delta: answer text (no `part`) or reasoning (`part: "reasoning"`); both count in the one `seq`. A part this
// page does not know is skipped, its `seq` counted.
export function applyDelta(turn, seq, text, part) {
  if (Number.isFinite(seq)) {
    if (seq <= turn.lastSeq) return; // already applied (duplicate delivery, or inside a snapshot)
    turn.lastSeq = seq;
  }
  if (part == null) queueText(pendingText, turn, text);
  else if (part === 'reasoning') queueText(pendingReasoning, turn, text);
}

// A snapshot slice (`after` > 0): what the deltas after the turn's last `seq` carried, of each part.
export function applySlice(turn, seq, text, reasoning) {
  if (!Number.isFinite(seq) || seq <= turn.lastSeq) return;
  turn.lastSeq = seq;
  queueText(pendingReasoning, turn, reasoning);
  queueText(pendingText, turn, text);
}

// The open conversation is left: nothing of its turns is rendered any more.
export function dropRendering() {
  hiddenFinals.clear();
  pendingText.clear();
  pendingReasoning.clear();
  dirtyTurns.clear();
  renderQueue.length = 0;
}
