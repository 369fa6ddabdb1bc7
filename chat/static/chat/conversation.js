// Opening and leaving a conversation: its saved turns from the API, answers still streaming in it
// (attached to), the turn in flight before a reload, and the back/forward buttons.

import { api, urls } from './api.js';
import { clearInflight, readInflight, requestFromRecord } from './inflight.js';
import { setTitle, setUrl, urlConversation } from './nav.js';
import { clearNotice, showNotice } from './notice.js';
import { dropRendering, queueFinalRender, restartStream } from './render.js';
import { scrollToBottom } from './scroll.js';
import { closeSidebar, findConversation, markActiveConversation, markStreamingConversations } from './sidebar.js';
import { forgetAttaching, isConnected, sendAttach } from './socket.js';
import { setReasoning } from './thinking.js';
import { showTurnAttachments } from './turn-attachments.js';
import { isFinished, outcomeInfo, outcomeKind, showLive, showOutcome, syncPhase } from './turn.js';
import {
  addTurn, allTurns, background, current, forgetTurns, orphans, track, turnByClient, turnByMessage, updateControls,
} from './turns.js';

const turnsEl = document.getElementById('turns');
const prompt = document.getElementById('prompt');

// Leave the open conversation. Answers still running there go on (a `stop` is the only way to end one):
// the list marks them, and opening the conversation again attaches to them.
function leaveConversation() {
  current.loading?.abort();
  current.loading = null;
  for (const turn of allTurns()) {
    if (isFinished(turn)) continue;
    if (turn.messageId != null) background.set(String(turn.messageId), turn.conversation ?? current.conversation);
    else if (turn.request) orphans.set(turn.clientId, turn.request);
  }
  clearInflight();
  forgetAttaching();
  current.active = null;
  current.conversation = null;
  forgetTurns();
  dropRendering();
  turnsEl.replaceChildren();
  clearNotice();
  updateControls();
  markStreamingConversations();
}

// Back to an empty page whose next prompt starts a new conversation (the open one was deleted, say).
export function closeConversation() {
  leaveConversation();
  setUrl(null, false);
  setTitle(null);
  markActiveConversation();
}

export function newConversation() {
  leaveConversation();
  setUrl(null, true);
  setTitle(null);
  markActiveConversation();
  closeSidebar();
  prompt.focus();
}

export async function openConversation(id, { push = true } = {}) {
  if (id === current.conversation && current.loading === null && turnsEl.childElementCount) {
    closeSidebar();
    return;
  }
  leaveConversation();
  current.conversation = id;
  setUrl(id, push);
  setTitle(findConversation(id)?.title ?? '…');
  markActiveConversation();
  await loadConversation(id);
}

async function loadConversation(id) {
  const controller = new AbortController();
  current.loading = controller;
  updateControls();
  try {
    const data = await api(urls.conversation(id), { signal: controller.signal });
    if (current.loading !== controller || current.conversation !== id) return;
    setTitle(data.title);
    renderConversation(data);
  } catch (err) {
    if (controller.signal.aborted || current.conversation !== id) return;
    if (err.status === 404) {
      closeConversation();
      showNotice('That conversation does not exist any more.');
    } else if (err.status !== 401) {
      showNotice(`Could not open the conversation: ${err.message}`);
    }
  } finally {
    if (current.loading === controller) {
      current.loading = null;
      updateControls();
    }
  }
}

function turnFromMessage(m, conversationId) {
  const turn = addTurn(m.prompt, m.client_request_id || `message-${m.id}`, { append: false });
  track(turn, m.id, conversationId);
  turn.model = m.model || null;
  if (m.model) turn.el.dataset.model = m.model;
  turn.attachments = Array.isArray(m.attachments) ? m.attachments : [];
  turn.origin = { text: m.prompt, model: m.model || null, params: m.params || null, attachments: turn.attachments, stored: true };
  showTurnAttachments(turn, turn.attachments);
  turn.text = m.response || '';
  setReasoning(turn, typeof m.reasoning === 'string' ? m.reasoning : '');
  if (m.status === 'streaming') {
    syncPhase(turn);
    // The saved text is a checkpoint: `attach` (without `after`) brings the whole answer, then the rest.
    turn.el.dataset.status = 'streaming';
    restartStream(turn);
    showLive(turn, 'Generating…', false);
  } else {
    turn.lastSeq = Number.isFinite(m.seq) ? m.seq : -Infinity;
    queueFinalRender(turn);
    showOutcome(turn, outcomeKind(m.status), outcomeInfo(m));
  }
  return turn;
}

function renderConversation(data) {
  const fragment = document.createDocumentFragment();
  const seen = new Set();
  let streaming = null;
  for (const m of data.messages ?? []) {
    let turn = turnByClient(m.client_request_id) ?? turnByMessage(m.id);
    if (turn) {
      // Drawn by this page already (a reload mid-answer): it knows more than the saved row.
      if (turn.messageId == null) track(turn, m.id, data.id);
    } else {
      turn = turnFromMessage(m, data.id);
      if (m.status === 'streaming') {
        background.delete(String(m.id));
        streaming = turn;
        if (isConnected()) sendAttach(turn); // else the socket's `open` attaches it
      }
    }
    seen.add(turn);
    fragment.append(turn.el);
  }
  // A prompt sent while the conversation was loading, or one restored after a reload and not saved yet.
  for (const turn of allTurns()) if (!seen.has(turn)) fragment.append(turn.el);
  turnsEl.replaceChildren(fragment);
  if (!current.active && streaming) current.active = streaming;
  updateControls();
  scrollToBottom();
  markStreamingConversations();
}

// After a reload: draw the turn that was in flight again; the socket's `open` attaches to it.
function restoreInflight(saved) {
  const turn = addTurn(saved.prompt, saved.clientId);
  turn.request = requestFromRecord(saved);
  turn.attachments = saved.attachments ?? [];
  turn.origin = { text: saved.prompt, model: saved.model ?? null, params: saved.params ?? null, attachments: turn.attachments };
  showTurnAttachments(turn, turn.attachments);
  current.conversation = saved.conversation ?? null;
  current.active = turn;
  if (saved.messageId != null) {
    track(turn, saved.messageId, saved.conversation ?? null);
    turn.el.dataset.status = 'streaming';
  }
  turn.reconnecting = true;
  if (saved.messageId != null) showLive(turn, 'Generating…', false);
  else showLive(turn, 'Waiting…', true);
}

// At start: reopen what the URL names; a prompt in flight before a reload belongs to it (or runs on unseen).
export function reopenFromUrl() {
  const opened = urlConversation();
  const saved = readInflight();
  if (saved && (saved.conversation ?? null) === opened) {
    restoreInflight(saved);
  } else if (saved) {
    if (saved.messageId == null) orphans.set(saved.clientId, requestFromRecord(saved));
    clearInflight();
  }
  current.conversation = opened;
  if (opened != null) {
    setTitle('…');
    loadConversation(opened);
  }
}

// Back and forward move between conversations.
export function onPopState() {
  const id = urlConversation();
  if (id === current.conversation) return;
  if (id == null) closeConversation();
  else openConversation(id, { push: false });
}
