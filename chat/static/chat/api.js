// The JSON API (chat/api.py): the model catalog and the conversation list (open, rename, delete).

import { config } from './config.js';
import { loginHref } from './login.js';
import { showNotice } from './notice.js';

export const urls = config.urls;

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]')?.content;
  if (meta && meta !== 'NOTPROVIDED') return meta;
  return document.cookie.split('; ').find((c) => c.startsWith('csrftoken='))?.slice(10) ?? '';
}

export async function api(path, { method = 'GET', body, signal } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET') headers['X-CSRFToken'] = csrfToken();
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    signal,
  });
  if (response.status === 401) {
    showNotice('Your session has ended.', 'error', { text: 'Log in again', href: loginHref() });
    throw new ApiError(401, 'Your session has ended.');
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    // not JSON (a 404 page, a proxy error)
  }
  if (!response.ok) {
    const fallback = response.status === 404 ? 'Not found.' : `The server answered ${response.status}.`;
    throw new ApiError(response.status, data?.error || fallback);
  }
  return data;
}
