// What is left of the user's tightest budget (GET /api/budget/, chat/budget_status.py), under the title:
// when it resets, and a warning once `warn_at` (80%) of it is used. Fetched on load and after each answer
// ends (frames.js dispatches `streamer:budget-changed`), never per delta.

import { api, urls } from './api.js';

const PERIOD_WORDS = { day: 'today', week: 'this week', month: 'this month' };
const REFRESH_DELAY_MS = 300; // several answers ending together ask once

const element = document.getElementById('budget');
let timer = null;

function moneyText(amount, currency) {
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(Number(amount));
  } catch {
    return `${amount} ${currency}`; // a currency code the browser does not know
  }
}

function leftText(budget) {
  const parts = [];
  if (budget.money) {
    const { left, limit, currency } = budget.money;
    parts.push(`${moneyText(left, currency)} of ${moneyText(limit, currency)}`);
  }
  if (budget.tokens) {
    parts.push(`${budget.tokens.left.toLocaleString()} of ${budget.tokens.limit.toLocaleString()} tokens`);
  }
  return parts.join(' and ');
}

function resetText(iso) {
  const when = new Date(iso);
  return when.toLocaleString(undefined, { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
}

function show(status) {
  const budget = status.tightest;
  if (!budget) {
    element.hidden = true;
    return;
  }
  const whose = budget.scope === 'group' ? `Group ${budget.group}'s budget` : 'Your budget';
  const used = Math.round(budget.used_share * 100);
  const warn = budget.used_share >= status.warn_at;
  element.dataset.level = warn ? 'warn' : 'ok';
  element.dataset.usedShare = String(budget.used_share);
  element.textContent = `${warn ? `${used}% used. ` : ''}${whose}: ${leftText(budget)} left ${PERIOD_WORDS[budget.period] ?? ''}`
    + ` (resets ${resetText(budget.resets_at)}).`;
  element.hidden = false;
}

export async function refreshBudget() {
  try {
    show(await api(urls.budget));
  } catch (error) {
    console.warn('Streamer: the budget could not be read', error);
  }
}

export function initBudget() {
  if (!element || !urls.budget) return;
  document.addEventListener('streamer:budget-changed', () => {
    clearTimeout(timer);
    timer = setTimeout(refreshBudget, REFRESH_DELAY_MS);
  });
  refreshBudget();
}
