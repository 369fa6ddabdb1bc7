// The model catalog (GET the models URL) and the picker (#model), with each model's lifecycle: a legacy model is
// marked with its end-of-life date, a retired one cannot be picked, and a sentence under the picker says why.

import { api, urls } from './api.js';
import { config } from './config.js';
import { h } from './dom.js';

const picker = document.getElementById('model');
const note = document.getElementById('model-note');
let catalog = new Map();      // model key -> the catalog entry (defaults, system, accepts_top_k, reasoning, lifecycle)
let offered = config.models;  // [{key, label}] in the picker, first the page's, then the catalog's
let defaultModel = config.defaultModel;

// The one rule for whether there is a choice: the picker shows, and each answer names its model.
export function manyModels() {
  return offered.length > 1;
}

export function showPicker() {
  picker.hidden = !manyModels();
}

export function selectedModel() {
  return picker.value || defaultModel || null;
}

export function catalogEntry(key) {
  return catalog.get(key) ?? null;
}

export function currentModel() {
  return catalogEntry(selectedModel());
}

export function modelLabel(key) {
  if (!key) return '';
  return catalog.get(key)?.label || offered.find((m) => m.key === key)?.label || key;
}

// True once the catalog is here (then the parameter fields can show the model's defaults).
export async function loadModels() {
  let data;
  try {
    data = await api(urls.models);
  } catch (err) {
    console.warn('Streamer: could not load the model catalog', err);
    return false;
  }
  const models = Array.isArray(data?.models) ? data.models : [];
  catalog = new Map(models.map((m) => [m.key, m]));
  if (data?.default) defaultModel = data.default;
  // The catalog can change between rendering the page and now (staff edit it in admin).
  const shown = [...picker.options].map((o) => o.value).join('\n');
  if (models.length && shown !== models.map((m) => m.key).join('\n')) {
    const keep = picker.value;
    picker.replaceChildren(...models.map((m) => {
      const option = h('option', null, m.label);
      option.value = m.key;
      return option;
    }));
    picker.value = catalog.has(keep) ? keep : (data.default ?? models[0].key);
  }
  offered = models.map((m) => ({ key: m.key, label: m.label }));
  markLifecycle();
  showPicker();
  return true;
}

const DATE = new Intl.DateTimeFormat('en', { dateStyle: 'medium', timeZone: 'UTC' });

function formatDate(iso) {
  return typeof iso === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(iso) ? DATE.format(new Date(`${iso}T00:00:00Z`)) : '';
}

// A legacy or retired model's tag in the picker and its sentence; null for an active one.
function lifecycleNote(entry) {
  const status = entry?.lifecycle?.status;
  const end = formatDate(entry?.lifecycle?.end_of_life_on);
  if (status === 'retired') {
    const sentence = `${entry.label} was retired${end ? ` on ${end}` : ''} and no longer answers. Pick another model.`;
    return { tag: end ? `retired ${end}` : 'retired', sentence };
  }
  if (status === 'legacy') {
    const sentence = `${entry.label} is a legacy model${end ? `: it reaches its end of life on ${end}` : ''}. `
      + 'Pick another model soon.';
    return { tag: end ? `legacy, ends ${end}` : 'legacy', sentence };
  }
  return null;
}

function markLifecycle() {
  for (const option of picker.options) {
    const entry = catalog.get(option.value);
    if (!entry) continue;
    const marked = lifecycleNote(entry);
    option.textContent = marked ? `${entry.label} (${marked.tag})` : entry.label;
    option.title = marked?.sentence ?? '';
    option.disabled = entry.lifecycle?.status === 'retired';
  }
  // A retired model is never the one picked while another can answer.
  if (picker.selectedOptions[0]?.disabled) {
    const usable = [...picker.options].find((o) => !o.disabled);
    if (usable) picker.value = usable.value;
  }
}

// The sentence under the picker for the selected model (legacy or retired); empty for an active one.
export function showModelNote() {
  const marked = lifecycleNote(currentModel());
  note.textContent = marked?.sentence ?? '';
  note.dataset.status = marked ? currentModel().lifecycle.status : '';
  note.hidden = !marked;
}
