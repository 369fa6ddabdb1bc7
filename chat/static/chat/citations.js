// An answer's sources (protocol v1.1 `done.citations`: [{title, source, location, text}]): numbered markers under the
// answer, each with its title, a link when the source (or, for a web citation, the location) is a web address,
// where in the source, and the cited text on hover and on expanding it. Citations come from the model's stream: text only; only http(s) addresses become links.

import { h } from './dom.js';

const TOOLTIP_CHARS = 300;

const field = (value) => (typeof value === 'string' ? value.trim() : '');

// An http(s) URL, or null: `javascript:`, `data:`, S3 URIs and the like are shown as text, never followed.
function webAddress(address) {
  if (!address) return null;
  try {
    const url = new URL(address);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : null;
  } catch {
    return null;
  }
}

function sourceItem(citation, number) {
  const title = field(citation?.title);
  const source = field(citation?.source);
  const location = field(citation?.location);
  const quoted = field(citation?.text);
  const item = h('li', 'source');
  item.append(h('span', 'source-marker', `[${number}]`), ' ');

  const url = webAddress(source) ?? webAddress(location);
  const name = title || source || (url ? url.href : '') || `Source ${number}`;
  if (url) {
    const link = h('a', 'source-link', name);
    link.href = url.href;
    link.target = '_blank';
    link.rel = 'noopener noreferrer nofollow';
    item.append(link);
    if (name !== url.href) item.append(h('span', 'source-where', ` · ${url.host}`));
  } else {
    item.append(h('span', 'source-title', name));
    if (title && source) item.append(h('span', 'source-where', ` · ${source}`));
  }
  if (location && location !== source && location !== url?.href) item.append(h('span', 'source-where', ` · ${location}`));

  if (quoted) {
    item.title = quoted.length > TOOLTIP_CHARS ? `${quoted.slice(0, TOOLTIP_CHARS)}…` : quoted;
    const more = h('details', 'source-quote');
    more.append(h('summary', null, 'Cited text'), h('blockquote', null, quoted));
    item.append(more);
  }
  return item;
}

// Replaces the turn's source list (none when there are no citations).
export function showCitations(turn, citations) {
  turn.el.querySelector('.turn-sources')?.remove();
  const list = Array.isArray(citations) ? citations.filter((c) => c && typeof c === 'object') : [];
  if (!list.length) return;
  const section = h('section', 'turn-sources');
  const heading = h('h3', 'sources-title', list.length === 1 ? 'Source' : `Sources (${list.length})`);
  section.setAttribute('aria-label', 'Sources of this answer');
  const items = h('ol', 'sources-list');
  list.forEach((citation, i) => items.append(sourceItem(citation, i + 1)));
  section.append(heading, items);
  turn.answer.after(section);
}
