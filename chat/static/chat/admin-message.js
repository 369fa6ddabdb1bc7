// The admin message page: the answer and the reasoning rendered by the chat page's own markdown.js (one
// renderer and one sanitiser for staff and users), from the raw text chat/admin prints in #answer-raw and
// #reasoning-raw. Until this has run (or when the libraries are missing) the page shows the raw text only.

import { copyCode } from './clipboard.js';
import { h } from './dom.js';
import { markdown } from './markdown.js';

function renderInto(rawId, targetId) {
  const raw = document.getElementById(rawId);
  const target = document.getElementById(targetId);
  if (!raw || !target || !markdown) return;
  // The same markup as a finished answer on the chat page.
  const block = h('div', 'md-block');
  block.append(markdown.render(raw.textContent));
  target.classList.add('markdown');
  target.replaceChildren(block);
  target.addEventListener('click', (event) => {
    const copy = event.target.closest('button.code-copy');
    if (copy) copyCode(copy);
  });
  target.closest('section').hidden = false;
}

renderInto('answer-raw', 'answer-rendered');
renderInto('reasoning-raw', 'reasoning-rendered');
