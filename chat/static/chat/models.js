// The model catalog (GET the models URL) and the picker (#model).

import { api, urls } from './api.js';
import { config } from './config.js';
import { h } from './dom.js';

const picker = document.getElementById('model');
let catalog = new Map();      // model key -> the catalog entry (defaults, system, accepts_top_k)
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
  showPicker();
  return true;
}
