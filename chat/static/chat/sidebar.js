// The conversation list (newest first): open, rename inline, delete with confirmation; marks for the open
// conversation and for those with an answer still running. At phone width the list is a drawer.

import { api, urls } from './api.js';
import { button, h, icon, phoneQuery } from './dom.js';
import { setTitle } from './nav.js';
import { announce, showNotice } from './notice.js';
import { background, current } from './turns.js';

const layout = document.querySelector('.app-layout');
const chat = document.getElementById('chat');
const list = document.getElementById('conversation-list');
const listStatus = document.getElementById('conversation-list-status');
const toggle = document.getElementById('sidebar-toggle');
const backdrop = document.getElementById('sidebar-backdrop');
const newButton = document.getElementById('new-conversation');
const title = document.getElementById('conversation-title');
const prompt = document.getElementById('prompt');
const confirmDelete = document.getElementById('confirm-delete');
const confirmText = document.getElementById('confirm-delete-text');

let conversations = []; // the list, newest first
let listLoaded = false;
let listSeq = 0;        // the latest request: an older answer arriving late is dropped
let editing = null;     // the conversation whose title is being edited inline
let pendingDelete = null;
let actions = null;     // {open(id), close()} from conversation.js, given by initSidebar

export function findConversation(id) {
  return conversations.find((c) => c.id === id) ?? null;
}

export async function refreshConversations() {
  if (editing) return; // the rename refreshes the list when it ends
  const seq = ++listSeq;
  try {
    const data = await api(urls.conversations);
    if (seq !== listSeq || editing) return;
    conversations = Array.isArray(data?.conversations) ? data.conversations : [];
    listLoaded = true;
    renderConversationList();
  } catch (err) {
    if (seq !== listSeq) return;
    if (!listLoaded) {
      listStatus.textContent = 'Could not load your conversations.';
      listStatus.hidden = false;
    }
    console.warn('Streamer: could not load conversations', err);
  }
}

function conversationItem(c) {
  const name = c.title || 'Untitled';
  const li = h('li', 'conversation-item');
  li.dataset.conversationId = String(c.id);
  const link = button('conversation-link');
  link.append(h('span', 'conversation-title', name));
  link.title = name;
  const rename = button('icon-button conversation-rename', null, `Rename “${name}”`);
  rename.title = 'Rename';
  rename.append(icon('pencil'));
  const remove = button('icon-button conversation-delete', null, `Delete “${name}”`);
  remove.title = 'Delete';
  remove.append(icon('trash'));
  li.append(link, rename, remove);
  return li;
}

const itemFor = (id) => list.querySelector(`.conversation-item[data-conversation-id="${CSS.escape(String(id))}"]`);

function renderConversationList() {
  // Keep keyboard focus on the same control of the same conversation.
  const focused = document.activeElement;
  const focusedItem = list.contains(focused) ? focused.closest('.conversation-item') : null;
  const focusKey = focusedItem && [focusedItem.dataset.conversationId, focused.classList[focused.classList.length - 1]];

  list.replaceChildren(...conversations.map(conversationItem));
  listStatus.hidden = conversations.length > 0;
  listStatus.textContent = conversations.length ? '' : 'No conversations yet.';
  markActiveConversation();
  markStreamingConversations();
  const open = findConversation(current.conversation);
  if (open) setTitle(open.title);

  if (focusKey) itemFor(focusKey[0])?.querySelector(`.${CSS.escape(focusKey[1])}`)?.focus();
}

export function markActiveConversation() {
  for (const li of list.children) {
    const active = current.conversation != null && li.dataset.conversationId === String(current.conversation);
    const link = li.querySelector('.conversation-link');
    if (active) {
      li.setAttribute('aria-current', 'true');
      link?.setAttribute('aria-current', 'true');
    } else {
      li.removeAttribute('aria-current');
      link?.removeAttribute('aria-current');
    }
  }
}

export function markStreamingConversations() {
  const running = new Set([...background.values()].filter((v) => v != null).map(String));
  for (const li of list.children) {
    if (running.has(li.dataset.conversationId)) li.dataset.streaming = 'true';
    else delete li.dataset.streaming;
  }
}

const itemId = (li) => Number(li.dataset.conversationId);

function onListClick(event) {
  const target = event.target.closest('button');
  const li = target?.closest('.conversation-item');
  if (!li || li.classList.contains('editing')) return;
  const id = itemId(li);
  if (target.classList.contains('conversation-link')) {
    actions.open(id).then(() => {
      if (current.conversation !== id) return;
      if (phoneQuery.matches) {
        closeSidebar(false);
        title.focus(); // not the prompt: the keyboard would cover the conversation just opened
      } else {
        prompt.focus();
      }
    });
  } else if (target.classList.contains('conversation-rename')) {
    startRename(li);
  } else if (target.classList.contains('conversation-delete')) {
    askDelete(id);
  }
}

function startRename(li) {
  if (editing) return;
  const id = itemId(li);
  const conversation = findConversation(id);
  const link = li.querySelector('.conversation-link');
  const original = conversation?.title ?? link.textContent;
  const input = h('input', 'conversation-title-input');
  input.type = 'text';
  input.value = original;
  input.maxLength = 200;
  input.setAttribute('aria-label', 'Conversation title (Enter saves, Escape cancels)');
  link.hidden = true;
  li.classList.add('editing');
  li.insertBefore(input, link);
  input.focus();
  input.select();
  editing = { id, input };
  let settled = false;

  const finish = async (save, refocus) => {
    if (settled) return;
    settled = true;
    const name = input.value.trim();
    if (save && name && name !== original) {
      input.readOnly = true;
      try {
        const updated = await api(urls.conversation(id), { method: 'PATCH', body: { title: name } });
        if (conversation) conversation.title = updated?.title ?? name;
        announce('Conversation renamed.');
      } catch (err) {
        if (err.status !== 401) showNotice(`Could not rename the conversation: ${err.message}`);
      }
    }
    editing = null;
    const hadFocus = document.activeElement === input;
    renderConversationList();
    if (refocus || hadFocus) itemFor(id)?.querySelector('.conversation-rename')?.focus();
    refreshConversations();
  };
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.isComposing) {
      event.preventDefault();
      finish(true, true);
    } else if (event.key === 'Escape') {
      event.preventDefault();
      event.stopPropagation();
      finish(false, true);
    }
  });
  input.addEventListener('blur', () => finish(true, false));
}

function askDelete(id) {
  const name = findConversation(id)?.title || 'this conversation';
  pendingDelete = id;
  confirmText.textContent = `“${name}” will be removed from your list.`;
  confirmDelete.returnValue = '';
  confirmDelete.showModal();
}

async function onDeleteDialogClose() {
  const id = pendingDelete;
  pendingDelete = null;
  if (id == null) return;
  const items = [...list.children];
  const index = items.findIndex((li) => itemId(li) === id);
  if (confirmDelete.returnValue !== 'yes') {
    items[index]?.querySelector('.conversation-delete')?.focus();
    return;
  }
  try {
    await api(urls.conversation(id), { method: 'DELETE' });
    announce('Conversation deleted.');
  } catch (err) {
    if (err.status !== 401 && err.status !== 404) {
      showNotice(`Could not delete the conversation: ${err.message}`);
      return;
    }
  }
  for (const [message, conversation] of background) if (conversation === id) background.delete(message);
  conversations = conversations.filter((c) => c.id !== id);
  if (current.conversation === id) actions.close();
  renderConversationList();
  const next = list.children[Math.min(index, list.children.length - 1)];
  (next?.querySelector('.conversation-link') ?? newButton).focus();
  refreshConversations();
}

// ---------- the drawer (phone width), behind #sidebar-toggle ----------

const sidebarOpen = () => layout.dataset.sidebar === 'open';

function openSidebar() {
  layout.dataset.sidebar = 'open';
  toggle.setAttribute('aria-expanded', 'true');
  backdrop.hidden = false;
  chat.inert = true;
  const currentLink = list.querySelector('.conversation-link[aria-current="true"]');
  (currentLink ?? newButton).focus();
}

export function closeSidebar(returnFocus = false) {
  if (!sidebarOpen()) return;
  layout.dataset.sidebar = 'closed';
  toggle.setAttribute('aria-expanded', 'false');
  backdrop.hidden = true;
  chat.inert = false;
  if (returnFocus) toggle.focus();
}

// `conversationActions`: {open(id) -> Promise, close(), start()} (conversation.js).
export function initSidebar(conversationActions) {
  actions = conversationActions;
  newButton.addEventListener('click', actions.start);
  list.addEventListener('click', onListClick);
  confirmDelete.addEventListener('close', onDeleteDialogClose);
  toggle.addEventListener('click', () => (sidebarOpen() ? closeSidebar(true) : openSidebar()));
  backdrop.addEventListener('click', () => closeSidebar(true));
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && !event.defaultPrevented && !confirmDelete.open && sidebarOpen()) closeSidebar(true);
  });
  phoneQuery.addEventListener('change', () => closeSidebar(false));
}
