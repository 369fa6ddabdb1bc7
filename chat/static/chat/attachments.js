// Files for the next prompt: a chip each above the prompt box (name, size, upload progress, the server's error,
// Remove). Each file is uploaded as soon as it is added (POST to the attachments URL, multipart field `file`), with
// XMLHttpRequest because fetch reports no upload progress; the prompt then sends the ids (`attachments`).
// How files get here (button, drop, paste) is attach-input.js; how a sent turn shows them, turn-attachments.js.

import { api, csrfToken } from './api.js';
import { config } from './config.js';
import { button, h } from './dom.js';
import { formatBytes } from './format.js';
import { loginHref } from './login.js';
import { announce, showNotice } from './notice.js';

// Bedrock's limits per turn; the server checks them too, this only says so before sending.
const MAX_DOCUMENTS = 5;
const MAX_IMAGES = 20;
const STATUS_TEXT = {
  400: 'This file could not be attached.',
  403: 'The server refused the upload; reload the page and try again.',
  413: 'This file is too large to attach.',
  415: 'This type of file cannot be attached.',
};

const chips = document.getElementById('attachments');
const problem = document.getElementById('attachments-problem');
let items = []; // {key, file, name, size, kind, format, id, state: uploading|ready|error, xhr, el, progress}
let nextKey = 1;

export const attachmentsEnabled = () => Boolean(config.urls.attachments);

export function addFiles(files) {
  const added = [...files].filter((file) => file instanceof File);
  if (!added.length || !attachmentsEnabled()) return;
  clearProblem();
  for (const file of added) {
    const item = {
      key: nextKey++, file, name: file.name || 'file', size: file.size, kind: null, format: null, id: null,
      state: 'uploading', xhr: null, el: null, progress: null,
    };
    items.push(item);
    drawChip(item);
    const tooLarge = sizeProblem(file);
    if (tooLarge) setState(item, 'error', tooLarge);
    else upload(item);
  }
  chips.hidden = false;
  announce(added.length === 1 ? `Attaching ${added[0].name}…` : `Attaching ${added.length} files…`);
}

// A file over the server's limit is refused here, before it is sent at all. The browser's type is only a
// guess at the kind (the server detects it from the bytes), so an unknown one is held to the larger limit.
function sizeProblem(file) {
  const image = file.type.startsWith('image/');
  const known = file.type !== '';
  const limit = image ? config.maxImageBytes
    : (known ? config.maxDocumentBytes : Math.max(config.maxImageBytes, config.maxDocumentBytes));
  if (!limit || file.size <= limit) return null;
  const kind = !known ? 'file' : (image ? 'image' : 'document');
  return `This ${kind} is ${formatBytes(file.size)}; the most a model takes is ${formatBytes(limit)}.`;
}

function drawChip(item) {
  const el = h('li', 'chip');
  el.dataset.key = String(item.key);
  const name = h('span', 'chip-name', item.name);
  name.title = item.name;
  const size = h('span', 'chip-size', formatBytes(item.size));
  const remove = button('chip-remove', '×', `Remove ${item.name}`);
  remove.addEventListener('click', () => removeItem(item, true));
  item.progress = h('progress', 'chip-progress');
  item.progress.max = 100;
  item.progress.setAttribute('aria-label', `Uploading ${item.name}`);
  el.append(name, size, item.progress, remove);
  item.el = el;
  setState(item, item.state);
  chips.append(el);
}

function setState(item, state, detail) {
  item.state = state;
  item.el.dataset.state = state;
  item.progress.hidden = state !== 'uploading';
  item.el.querySelector('.chip-error')?.remove();
  if (state === 'error') {
    const error = h('span', 'chip-error', detail);
    error.id = `chip-error-${item.key}`;
    item.el.append(error); // on a line of its own, under the name
    item.el.setAttribute('aria-describedby', error.id);
  } else {
    item.el.removeAttribute('aria-describedby');
  }
}

function upload(item) {
  const xhr = new XMLHttpRequest();
  item.xhr = xhr;
  xhr.open('POST', config.urls.attachments);
  xhr.setRequestHeader('Accept', 'application/json');
  xhr.setRequestHeader('X-CSRFToken', csrfToken());
  xhr.responseType = 'json'; // a body that is not JSON (a proxy's error page) comes as null
  xhr.upload.addEventListener('progress', (event) => {
    if (event.lengthComputable && event.total > 0) item.progress.value = Math.round((100 * event.loaded) / event.total);
  });
  xhr.addEventListener('load', () => uploaded(item, xhr));
  xhr.addEventListener('error', () => failed(item, 'The upload failed: the connection to the server was lost.'));
  xhr.addEventListener('timeout', () => failed(item, 'The upload took too long; please try again.'));
  const body = new FormData();
  body.append('file', item.file, item.name);
  xhr.send(body);
}

function uploaded(item, xhr) {
  item.xhr = null;
  if (!items.includes(item)) return; // removed while uploading
  const data = xhr.response;
  if (xhr.status === 201 && data && Number.isSafeInteger(data.id)) {
    Object.assign(item, {
      id: data.id, name: String(data.name || item.name), kind: data.kind === 'image' ? 'image' : 'document',
      format: String(data.format || ''), size: Number.isFinite(data.size) ? data.size : item.size,
    });
    item.file = null; // the server has it; let the browser free it
    item.el.dataset.attachmentId = String(item.id);
    setState(item, 'ready');
    if (item.kind === 'image') addThumbnail(item);
    announce(`${item.name} attached.`);
    return;
  }
  if (xhr.status === 401) {
    showNotice('Your session has ended.', 'error', { text: 'Log in again', href: loginHref() });
  }
  const error = data?.error;
  const detail = (typeof error === 'string' ? error : error?.detail) || STATUS_TEXT[xhr.status]
    || `The server answered ${xhr.status}.`;
  failed(item, detail);
}

function failed(item, detail) {
  item.xhr = null;
  if (!items.includes(item)) return;
  setState(item, 'error', detail);
  announce(`${item.name} could not be attached: ${detail}`);
}

// The uploaded image itself, from our own endpoint (img-src 'self'): the file as the server will send it.
function addThumbnail(item) {
  const img = h('img', 'chip-thumb');
  img.alt = '';
  img.decoding = 'async';
  img.src = config.urls.attachment(item.id);
  item.el.prepend(img);
}

function removeItem(item, byHand) {
  const index = items.indexOf(item);
  if (index < 0) return;
  items.splice(index, 1);
  item.xhr?.abort();
  item.el.remove();
  // Uploaded but not sent: the server forgets it too (it would count toward the quota). Best effort.
  if (byHand && item.id != null) api(config.urls.attachment(item.id), { method: 'DELETE' }).catch(() => {});
  clearProblem(); // said again, if still true, at the next Go
  if (!items.length) chips.hidden = true;
  if (byHand) {
    // Keep the keyboard where it was: the next chip's Remove, or the prompt box.
    const next = items[index] ?? items[index - 1];
    (next ? next.el.querySelector('.chip-remove') : document.getElementById('prompt')).focus();
    announce(`${item.name} removed.`);
  }
}

function showProblem(text) {
  problem.textContent = text;
  problem.hidden = false;
}

function clearProblem() {
  problem.hidden = true;
  problem.textContent = '';
}

// What the next prompt sends: {attachments: [{id, name, kind, format, size}]}, or {problem} (shown, and the
// prompt is not sent: every chip stays as it is).
export function attachmentsForPrompt(model) {
  let text = null;
  const documents = items.filter((item) => item.kind === 'document').length;
  const images = items.filter((item) => item.kind === 'image').length;
  if (items.some((item) => item.state === 'uploading')) {
    text = 'Wait until the files have finished uploading.';
  } else if (items.some((item) => item.state === 'error')) {
    text = 'Some files could not be attached: remove them to send the prompt without them.';
  } else if (documents > MAX_DOCUMENTS) {
    text = `At most ${MAX_DOCUMENTS} documents per prompt (there are ${documents}).`;
  } else if (images > MAX_IMAGES) {
    text = `At most ${MAX_IMAGES} images per prompt (there are ${images}).`;
  } else {
    text = modelProblem(model);
  }
  if (text) {
    showProblem(text);
    return { problem: text };
  }
  clearProblem();
  return { attachments: items.map(({ id, name, kind, format, size }) => ({ id, name, kind, format, size })) };
}

// The model's catalog entry says which formats it takes (`attachments: {images, documents}`); the server
// refuses the others (`unsupported_attachment`), so say it here with the files still in place.
function modelProblem(model) {
  const takes = model?.attachments;
  if (!takes || !items.length) return null;
  const label = model.label || model.key || 'This model';
  for (const item of items) {
    const formats = item.kind === 'image' ? takes.images : takes.documents;
    if (!Array.isArray(formats) || formats.includes(item.format)) continue;
    if (!formats.length) return `${label} does not take ${item.kind}s. Pick a model that does, or remove ${item.name}.`;
    return `${label} does not take ${item.format.toUpperCase()} ${item.kind}s. Pick another model, or remove ${item.name}.`;
  }
  return null;
}

// The prompt went out: its chips go with it.
export function clearAttachments() {
  for (const item of [...items]) removeItem(item, false);
}

// A refused prompt's files come back as chips (already uploaded), unless the box has files of its own now.
export function giveBackAttachments(attachments) {
  if (!Array.isArray(attachments) || !attachments.length || items.length) return;
  for (const a of attachments) {
    const item = { ...a, key: nextKey++, file: null, state: 'ready', xhr: null, el: null, progress: null };
    items.push(item);
    drawChip(item);
    item.el.dataset.attachmentId = String(item.id);
    if (item.kind === 'image') addThumbnail(item);
  }
  chips.hidden = false;
}

export const uploadsInProgress = () => items.some((item) => item.state === 'uploading');
