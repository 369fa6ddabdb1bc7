// The page's notice line (#notice) and the screen-reader announcer (#announcer).

import { h } from './dom.js';

const notice = document.getElementById('notice');
const announcer = document.getElementById('announcer');

export function showNotice(text, kind = 'error', link = null) {
  notice.textContent = text;
  if (link) {
    const a = h('a', 'notice-link', link.text);
    a.href = link.href;
    notice.append(' ', a);
  }
  notice.className = `notice notice-${kind}`;
  notice.dataset.kind = kind;
  notice.hidden = false;
}

export function clearNotice() {
  if (notice.dataset.kind === 'config') return; // the no-model notice stays
  notice.hidden = true;
  notice.textContent = '';
  delete notice.dataset.kind;
}

export function announce(text) {
  announcer.textContent = '';
  // A fresh text node each time, so the same words are announced again.
  requestAnimationFrame(() => { announcer.textContent = text; });
}
