// What the address bar (?c=<id>) and the titles say about the open conversation.

const title = document.getElementById('conversation-title');

export function urlConversation() {
  const value = new URLSearchParams(location.search).get('c');
  return value && /^[1-9]\d{0,15}$/.test(value) ? Number(value) : null;
}

export function setUrl(id, push) {
  const url = new URL(location.href);
  if (id == null) url.searchParams.delete('c');
  else url.searchParams.set('c', String(id));
  if (url.href === location.href) return;
  history[push ? 'pushState' : 'replaceState']({ conversation: id }, '', url);
}

export function setTitle(text) {
  title.textContent = text || 'New conversation';
  document.title = `${text || 'Chat'} · Streamer`;
}
