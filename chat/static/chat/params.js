// The Parameters panel (#params): the selected model's defaults in the fields, what the user changed,
// and a parameter the server refused. A model that can reason gets a reasoning budget (0: off); while it is on,
// the sampling fields the model refuses then (config.notWithReasoning) are switched off.

import { config } from './config.js';
import { currentModel } from './models.js';
import { announce } from './notice.js';

const panel = document.getElementById('params');
const summary = document.getElementById('params-summary');
const errorLine = document.getElementById('param-error');
const topKField = document.getElementById('param-top_k-field');
const reasoningField = document.getElementById('param-reasoning_budget-field');
const reasoningNote = document.getElementById('param-reasoning-note');
const PARAM_NAMES = ['temperature', 'max_tokens', 'top_p', 'top_k', 'reasoning_budget', 'stop_sequences', 'system'];
const NUMBERS = ['temperature', 'max_tokens', 'top_p', 'top_k', 'reasoning_budget'];
const inputs = Object.fromEntries(PARAM_NAMES.map((name) => [name, document.getElementById(`param-${name}`)]));

const formatDefault = (value) => (value == null ? '' : String(value));

// A model's defaults, with its reasoning budget in tokens (0: off) when it can reason (catalog `reasoning`).
function defaultsOf(model) {
  const defaults = { ...(model?.defaults ?? {}) };
  if (model?.reasoning?.supported) defaults.reasoning_budget ??= model.reasoning.default_budget ?? 0;
  else delete defaults.reasoning_budget;
  return defaults;
}

// The selected model's defaults (and system prompt) in the fields.
export function fillParams() {
  const model = currentModel();
  const defaults = defaultsOf(model);
  for (const name of NUMBERS) {
    inputs[name].value = formatDefault(defaults[name]);
    inputs[name].placeholder = defaults[name] == null ? 'default' : '';
  }
  inputs.stop_sequences.value = Array.isArray(defaults.stop_sequences) ? defaults.stop_sequences.join('\n') : '';
  inputs.system.value = model?.system ?? '';
  inputs.system.placeholder = model?.system ? '' : 'None';
  const topK = model ? Boolean(model.accepts_top_k) : true;
  topKField.hidden = !topK;
  const reasons = Boolean(model?.reasoning?.supported);
  inputs.reasoning_budget.disabled = !reasons;
  reasoningField.hidden = !reasons;
  applyReasoningRules();
  clearParamError();
  updateParamsSummary();
}

// The budget in effect: the field's, or the model's default when the field is empty.
function reasoningBudget() {
  const input = inputs.reasoning_budget;
  if (input.disabled) return 0;
  const raw = input.value.trim();
  return Number(raw === '' ? defaultsOf(currentModel()).reasoning_budget : raw) || 0;
}

// While the model reasons, the fields it would refuse are off (not sent), and a sentence says why.
function applyReasoningRules() {
  const reasoning = reasoningBudget() > 0;
  const off = new Set(reasoning ? config.notWithReasoning : []);
  if (topKField.hidden) off.add('top_k');
  for (const name of NUMBERS) if (name !== 'reasoning_budget') inputs[name].disabled = off.has(name);
  reasoningNote.hidden = !reasoning;
}

// The fields as values: numbers as numbers; empty fields left out.
export function readParams() {
  const values = {};
  for (const name of NUMBERS) {
    const input = inputs[name];
    if (input.disabled) continue;
    if (input.validity.badInput) return { error: { field: name, message: `'${name}' must be a number.` } };
    const raw = input.value.trim();
    if (raw !== '') values[name] = Number(raw);
  }
  const stops = inputs.stop_sequences.value.split('\n').map((s) => s.replace(/\r$/, '')).filter((s) => s.trim());
  if (stops.length) values.stop_sequences = stops;
  if (inputs.system.value.trim()) values.system = inputs.system.value;
  const error = checkReasoningBudget(values);
  return error ? { error } : { values };
}

// The server checks it too; here the reader learns at once, with the field pointed at.
function checkReasoningBudget(values) {
  const budget = values.reasoning_budget;
  if (budget === undefined) return null;
  const least = config.minReasoningBudget;
  if (!Number.isInteger(budget) || budget < 0 || (budget > 0 && budget < least)) {
    const message = `'reasoning_budget' must be 0 (no reasoning) or a whole number of tokens from ${least}.`;
    return { field: 'reasoning_budget', message };
  }
  const maxTokens = values.max_tokens ?? defaultsOf(currentModel()).max_tokens;
  if (budget > 0 && Number.isFinite(maxTokens) && budget >= maxTokens) {
    const message = `'reasoning_budget' (${budget}) must be less than 'max_tokens' (${maxTokens}): `
      + "the thinking counts toward the answer's tokens.";
    return { field: 'reasoning_budget', message };
  }
  return null;
}

const sameList = (a, b) => Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => x === b[i]);

// Only what differs from the model's defaults goes in the `prompt` frame.
export function diffParams(values, model) {
  const defaults = defaultsOf(model);
  const out = {};
  for (const [name, value] of Object.entries(values ?? {})) {
    if (value == null) continue;
    if (name === 'system') {
      if (value !== (model?.system ?? '')) out.system = value;
    } else if (name === 'stop_sequences') {
      if (!sameList(value, defaults.stop_sequences ?? [])) out.stop_sequences = value;
    } else if (defaults[name] !== value) {
      out[name] = value;
    }
  }
  return out;
}

function updateParamsSummary() {
  const { values } = readParams();
  const changed = values ? Object.keys(diffParams(values, currentModel())) : [];
  // Shown next to "Parameters" by CSS (attr()), so the summary's own text stays "Parameters".
  if (changed.length) summary.dataset.custom = `${changed.length} changed`;
  else delete summary.dataset.custom;
}

// Opens the panel on the message; returns the field's input when `field` names one.
export function showParamError(field, message) {
  clearParamError();
  errorLine.textContent = message;
  errorLine.hidden = false;
  panel.open = true;
  errorLine.scrollIntoView({ block: 'nearest' });
  const input = Object.hasOwn(inputs, field ?? '') ? inputs[field] : null;
  if (input) {
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-errormessage', 'param-error');
  }
  return input;
}

export function clearParamError() {
  errorLine.hidden = true;
  errorLine.textContent = '';
  for (const input of Object.values(inputs)) {
    input.removeAttribute('aria-invalid');
    input.removeAttribute('aria-errormessage');
  }
}

export function initParams() {
  document.getElementById('params-reset').addEventListener('click', () => {
    fillParams();
    announce('Parameters reset to the model defaults.');
  });
  for (const input of Object.values(inputs)) {
    input.addEventListener('input', () => {
      if (input.hasAttribute('aria-invalid')) clearParamError();
      if (input === inputs.reasoning_budget) applyReasoningRules();
      updateParamsSummary();
    });
  }
  panel.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && panel.open) {
      event.preventDefault();
      panel.open = false;
      panel.querySelector('summary').focus();
    }
  });
}
