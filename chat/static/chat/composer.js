// Asking: the prompt box (Enter sends, Shift+Enter adds a line, Escape stops), Go and Stop, and the buttons on
// each answer (Copy, Regenerate, a code block's Copy).

import { attachmentsForPrompt, clearAttachments, giveBackAttachments } from './attachments.js';
import { copyCode, copyWithFeedback } from './clipboard.js';
import { config } from './config.js';
import { phoneQuery } from './dom.js';
import { saveInflight } from './inflight.js';
import { catalogEntry, currentModel, selectedModel } from './models.js';
import { announce, clearNotice } from './notice.js';
import { clearParamError, diffParams, readParams, showParamError } from './params.js';
import { scrollToBottom } from './scroll.js';
import { isConnected, sendPrompt, sendStop } from './socket.js';
import { showLive } from './turn.js';
import { showTurnAttachments } from './turn-attachments.js';
import { addTurn, current, finishTurn, turnByClient, updateControls } from './turns.js';

const form = document.getElementById('composer');
const prompt = document.getElementById('prompt');
const turnsEl = document.getElementById('turns');

// `attachments`: [{id, name, kind, format, size}], already uploaded; the prompt frame carries their ids.
function startPrompt(text, model, params, attachments = []) {
  clearNotice();
  const turn = addTurn(text);
  turn.request = { text, conversation: current.conversation, model, params: params && Object.keys(params).length ? params : null };
  if (attachments.length) turn.request.attachments = attachments.map((a) => a.id);
  turn.attachments = attachments;
  turn.origin = { text, model, params: turn.request.params, attachments };
  showTurnAttachments(turn, attachments);
  current.active = turn;
  turn.sentAt = performance.now();
  if (!sendPrompt(turn.clientId, turn.request)) {
    finishTurn(turn, 'error', { detail: 'Not connected; please try again in a moment.' });
    return false;
  }
  saveInflight(turn);
  updateControls();
  scrollToBottom();
  return true;
}

function submitPrompt() {
  const text = prompt.value.trim();
  if (!text || current.active || !isConnected() || config.blocked) return;
  const { values, error } = readParams();
  if (error) {
    showParamError(error.field, error.message)?.focus();
    return;
  }
  clearParamError();
  const files = attachmentsForPrompt(currentModel());
  if (files.problem) return; // said next to the files; nothing is sent and nothing is lost
  if (startPrompt(text, selectedModel(), diffParams(values, currentModel()), files.attachments)) {
    prompt.value = '';
    autosize();
    clearAttachments();
  }
}

// The same prompt, model and parameters, asked again as a new turn at the end of this conversation.
function regenerate(turn) {
  if (current.active || !isConnected() || config.blocked || !turn.origin) return;
  const model = turn.model || turn.origin.model || null;
  let params = turn.origin.params;
  // A stored message records the parameters in full; send only what differs from the model's defaults.
  const entry = catalogEntry(model);
  if (turn.origin.stored && params && entry) params = diffParams(params, entry);
  startPrompt(turn.origin.text, model, params, turn.origin.attachments ?? []);
}

function requestStop() {
  const turn = current.active;
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

// A refused prompt's text (and files) come back into an empty prompt box.
export function giveBackPrompt(text, attachments) {
  if (prompt.value.trim()) return;
  prompt.value = text;
  autosize();
  giveBackAttachments(attachments);
}

function announceCopy(ok, what) {
  announce(ok ? `${what} copied to the clipboard.` : 'Could not copy to the clipboard.');
}

async function onTurnsClick(event) {
  const target = event.target.closest('button');
  if (!target) return;
  const turn = () => {
    const el = target.closest('article.turn');
    return el ? turnByClient(el.dataset.clientId) : null;
  };
  if (target.classList.contains('turn-copy')) {
    const copied = turn();
    if (copied) announceCopy(await copyWithFeedback(target, copied.text), 'Answer');
  } else if (target.classList.contains('turn-regenerate')) {
    const again = turn();
    if (again) regenerate(again);
  } else if (target.classList.contains('code-copy')) {
    const ok = await copyCode(target);
    if (ok != null) announceCopy(ok, 'Code');
  }
}

// Grow the textarea with its content, up to the CSS max-height.
function autosize() {
  prompt.style.height = 'auto';
  prompt.style.height = `${prompt.scrollHeight + prompt.offsetHeight - prompt.clientHeight}px`;
}

function onPromptKeydown(event) {
  // isComposing: Enter that confirms an IME composition must not send.
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    submitPrompt();
  } else if (event.key === 'Escape' && current.active) {
    requestStop();
  }
}

export function initComposer() {
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    submitPrompt();
  });
  prompt.addEventListener('keydown', onPromptKeydown);
  prompt.addEventListener('input', autosize);
  document.getElementById('stop').addEventListener('click', requestStop);
  turnsEl.addEventListener('click', onTurnsClick);
  // A phone's keyboard has its own send key and little room: a shorter hint.
  const longHint = prompt.placeholder;
  const setHint = () => { prompt.placeholder = phoneQuery.matches ? 'Ask something…' : longHint; };
  phoneQuery.addEventListener('change', setHint);
  setHint();
}
