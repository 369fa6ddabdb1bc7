// The admin message page: the answer rendered by the chat page's own markdown.js (one renderer and one
// sanitiser for staff and users), from the raw text chat/admin.py prints in #answer-raw. Until this has
// run (or when the libraries are missing) the page shows the raw text only.

import { copyCode } from './clipboard.js';
import { h } from './dom.js';
import { markdown } from './markdown.js';

const raw = document.getElementById('answer-raw');
const target = document.getElementById('answer-rendered');

if (raw && target && markdown) {
  // The same markup as a finished answer on the chat page.
  const block = h('div', 'md-block');
  block.append(markdown.render(raw.textContent));
  target.classList.add('markdown');
  target.replaceChildren(block);
  target.addEventListener('click', (event) => {
    const copy = event.target.closest('button.code-copy');
    if (copy) copyCode(copy);
  });
  target.closest('section.answer-rendered').hidden = false;
}
