// How an answer ended, as a person reads it (protocol v1.1 `done`): the badge (the status, or the stop reason worth
// noticing), the sentence saying why, a blocked answer's guardrail findings, and the figures (tokens with the prompt
// cache, cost, timings). Everything here comes from the server or the model: it goes on the page as text only.

import { h } from './dom.js';
import { formatCost, formatCount, formatMs } from './format.js';

// status -> [badge text, badge tone]; the tone is the badge's colour class (chat.css).
const STATUS_BADGE = {
  complete: ['Done', 'complete'],
  stopped: ['Stopped', 'stopped'],
  error: ['Error', 'error'],
  interrupted: ['Interrupted', 'interrupted'],
  blocked: ['Blocked by a guardrail', 'blocked'],
};

// Stop reasons a person should notice get a badge of their own and a sentence (docs/protocol.md, "Page badges").
const STOP_REASONS = {
  max_tokens: {
    badge: 'Cut short (max tokens)',
    tone: 'cut',
    why: 'The answer reached its length limit (max tokens) before it was finished. '
      + 'Raise Max tokens in Parameters for a longer answer.',
  },
  model_context_window_exceeded: {
    badge: 'Context window full',
    tone: 'cut',
    why: "The conversation filled the model's context window, so the answer stopped there. "
      + 'Start a new conversation, or pick a model with a larger context window.',
  },
  stop_sequence: {
    badge: 'Stopped by a stop sequence',
    tone: 'info',
    why: 'The model wrote one of the stop sequences set in Parameters, so the answer ends there.',
  },
  guardrail_intervened: {
    badge: 'Blocked by a guardrail',
    tone: 'blocked',
    why: "A guardrail set up for this model blocked the answer; the text shown is the guardrail's own message.",
  },
  content_filtered: {
    badge: 'Blocked by the content filter',
    tone: 'blocked',
    why: "The model provider's content filter blocked the answer.",
  },
};
// Errors whose badge can say more than "Error" (their sentence comes from the server).
const ERROR_BADGE = { incomplete: 'Cut off', connection_lost: 'Connection lost' };

// The badge and the sentence for a finished turn: {text, tone, why}.
export function describeOutcome(kind, info) {
  const [text, tone] = STATUS_BADGE[kind];
  const reason = Object.hasOwn(STOP_REASONS, info.stopReason ?? '') ? STOP_REASONS[info.stopReason] : null;
  if (kind === 'blocked') {
    const blocked = reason?.tone === 'blocked' ? reason : STOP_REASONS.guardrail_intervened;
    return { text: blocked.badge, tone: 'blocked', why: blocked.why };
  }
  if (kind === 'complete' && reason) return { text: reason.badge, tone: reason.tone, why: reason.why };
  if (kind === 'error' && Object.hasOwn(ERROR_BADGE, info.code ?? '')) {
    return { text: ERROR_BADGE[info.code], tone, why: '' };
  }
  return { text, tone, why: '' };
}

// ---------- a blocked answer's guardrail trace, compact ----------

const POLICY_NAMES = {
  contentPolicy: 'Content filter',
  topicPolicy: 'Denied topic',
  wordPolicy: 'Word filter',
  sensitiveInformationPolicy: 'Sensitive information',
  contextualGroundingPolicy: 'Contextual grounding',
  automatedReasoningPolicy: 'Automated reasoning',
};
const SHOWN_FINDINGS = 6;

// "VIOLENCE" -> "violence", "PROMPT_ATTACK" -> "prompt attack"; a custom topic's own name is kept as it is.
function plain(value) {
  const text = typeof value === 'string' ? value.trim() : '';
  return /^[A-Z0-9_]+$/.test(text) ? text.toLowerCase().replace(/_/g, ' ') : text;
}

// Where the guardrail looked: the prompt (its input assessment) or the answer (its output assessments).
const SOURCES = { input: 'Prompt', output: 'Answer' };

// A table's own entry only: a key such as "constructor" from the trace must not reach Object.prototype.
const named = (table, key) => (typeof key === 'string' && Object.hasOwn(table, key) ? table[key] : null);

function findingText(item) {
  const policy = named(POLICY_NAMES, item?.policy) ?? (typeof item?.policy === 'string' ? item.policy : '');
  const parts = [named(SOURCES, item?.source), policy, plain(item?.type), plain(item?.action)];
  const confidence = plain(item?.confidence);
  if (confidence) parts.push(`${confidence} confidence`);
  return parts.filter(Boolean).join(' · ');
}

function guardrailDetails(guardrail) {
  const nodes = [];
  const reason = typeof guardrail?.reason === 'string' ? guardrail.reason.trim() : '';
  if (reason) nodes.push(h('p', 'guardrail-reason', `Reason: ${reason}`));
  const assessments = Array.isArray(guardrail?.assessments) ? guardrail.assessments : [];
  const findings = assessments.map(findingText).filter(Boolean);
  if (findings.length) {
    const list = h('ul', 'guardrail-findings');
    list.setAttribute('aria-label', 'What the guardrail found');
    for (const text of findings.slice(0, SHOWN_FINDINGS)) list.append(h('li', null, text));
    const more = findings.length - SHOWN_FINDINGS;
    if (more > 0) list.append(h('li', 'guardrail-more', `and ${more} more`));
    nodes.push(list);
  }
  return nodes;
}

// The sentence under the status line (and, for a blocked answer, what the guardrail found).
export function whyBlock(kind, why, guardrail) {
  const block = h('div', `turn-why turn-why-${kind}`);
  block.append(h('p', null, why));
  if (kind === 'blocked') block.append(...guardrailDetails(guardrail));
  return block;
}

// ---------- figures ----------

const count = (n) => (Number.isFinite(n) && n > 0 ? n : 0);

// Bedrock counts input read from or written to the prompt cache apart from the rest: all of it is shown as input.
function tokenFigures(usage) {
  const read = count(usage.cache_read_input_tokens);
  const written = count(usage.cache_write_input_tokens);
  const cache = [];
  if (read) cache.push(`${formatCount(read)} cached`);
  if (written) cache.push(`${formatCount(written)} written to cache`);
  const input = `${formatCount(usage.input_tokens + read + written)} in${cache.length ? ` (${cache.join(', ')})` : ''}`;
  return `${input} / ${formatCount(usage.output_tokens)} out tokens`;
}

export function figures({ usage, metrics, cost }) {
  const parts = [];
  if (Number.isFinite(usage?.input_tokens) && Number.isFinite(usage?.output_tokens)) parts.push(tokenFigures(usage));
  const money = formatCost(cost);
  if (money) parts.push(money);
  if (Number.isFinite(metrics?.ttft_ms)) parts.push(`first token ${formatMs(metrics.ttft_ms)}`);
  if (Number.isFinite(metrics?.duration_ms)) parts.push(formatMs(metrics.duration_ms));
  return parts;
}

// A prompt router's pick, by its model id (an ARN's last part): the full id is in the tooltip.
export function routedTo(invokedModel) {
  if (typeof invokedModel !== 'string' || !invokedModel) return null;
  const node = h('span', 'turn-routed', ` · routed to ${invokedModel.split('/').pop()}`);
  node.title = `A prompt router picked ${invokedModel}`;
  return node;
}
