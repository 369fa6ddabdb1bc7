// A turn's attached files, under its prompt: images as thumbnails, documents as links with their size. Both
// come from the download endpoint (the owner's own files; `Content-Disposition: attachment`, so a link saves
// the file and an <img> still shows it).

import { config } from './config.js';
import { h } from './dom.js';
import { formatBytes } from './format.js';

const isAttachment = (a) => a && Number.isSafeInteger(a.id) && typeof a.name === 'string';

function imageItem(a, url) {
  const link = h('a', 'turn-attachment-link');
  link.href = url;
  link.download = a.name;
  link.title = `${a.name} (${formatBytes(a.size)})`;
  const img = h('img', 'turn-attachment-thumb');
  img.alt = a.name;
  img.loading = 'lazy';
  img.decoding = 'async';
  img.src = url;
  link.append(img);
  return link;
}

function documentItem(a, url) {
  const link = h('a', 'turn-attachment-link');
  link.href = url;
  link.download = a.name;
  const format = a.format ? ` · ${String(a.format).toUpperCase()}` : '';
  link.append(h('span', 'turn-attachment-name', a.name), h('span', 'turn-attachment-size', `${formatBytes(a.size)}${format}`));
  return link;
}

// `attachments`: [{id, name, kind, format, size}] from the composer or the conversation's saved messages.
export function showTurnAttachments(turn, attachments) {
  turn.el.querySelector('.turn-attachments')?.remove();
  const shown = Array.isArray(attachments) ? attachments.filter(isAttachment) : [];
  if (!shown.length) return;
  const list = h('ul', 'turn-attachments');
  list.setAttribute('aria-label', shown.length === 1 ? 'Attached file' : `${shown.length} attached files`);
  for (const a of shown) {
    const kind = a.kind === 'image' ? 'image' : 'document';
    const item = h('li', `turn-attachment turn-attachment-${kind}`);
    const url = config.urls.attachment(a.id);
    item.append(kind === 'image' ? imageItem(a, url) : documentItem(a, url));
    list.append(item);
  }
  const promptEl = turn.el.querySelector('.turn-prompt');
  if (promptEl) promptEl.after(list);
  else turn.el.prepend(list);
}
