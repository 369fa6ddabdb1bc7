// The session has ended (logged out in another tab, the account deactivated, the session deleted): the login
// page, which brings the person back here (?next=) once they have logged in again.

import { config } from './config.js';
import { clearInflight } from './inflight.js';

let leaving = false;

export function loginHref() {
  return `${config.loginUrl}?next=${encodeURIComponent(location.pathname + location.search)}`;
}

export function goToLogin() {
  if (leaving) return;
  leaving = true;
  clearInflight(); // a prompt not yet started belongs to the session that ended, not to whoever logs in next
  location.assign(loginHref());
}

// Logging out on this page ends its socket too (the server says `unauthenticated`): the logout's own answer,
// the login page or the identity provider's logout page (single sign-on), must win over goToLogin's.
document.querySelector('.logout-form')?.addEventListener('submit', () => {
  leaving = true;
  clearInflight();
});
