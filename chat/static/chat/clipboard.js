// Copy buttons: the answer's markdown, a code block's text.

import { h } from './dom.js';

async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // permission refused or no focus: try the old way
  }
  const focused = document.activeElement;
  const area = h('textarea', 'copy-buffer');
  area.value = text;
  area.setAttribute('readonly', '');
  area.setAttribute('aria-hidden', 'true');
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  area.remove();
  focused?.focus?.();
  return ok;
}

// Copies, and says so on the button for a moment; true when it worked.
export async function copyWithFeedback(node, text) {
  const ok = await copyText(text);
  const original = node.dataset.label ?? node.textContent;
  node.dataset.label = original;
  node.textContent = ok ? 'Copied' : 'Copy failed';
  node.classList.toggle('copied', ok);
  clearTimeout(node.copyTimer);
  node.copyTimer = setTimeout(() => {
    node.textContent = original;
    node.classList.remove('copied');
  }, 1600);
  return ok;
}

// A code block's Copy button (added by markdown.js), wherever rendered markdown is shown.
export async function copyCode(node) {
  const code = node.closest('.code-block')?.querySelector('code');
  return code ? copyWithFeedback(node, code.textContent) : null;
}
