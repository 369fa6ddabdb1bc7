// The turn in flight, kept in sessionStorage so a reload can attach to it again (or resend a prompt that was
// never `started`, with the same id).

const INFLIGHT_KEY = 'streamer.inflight';

export function readInflight() {
  try {
    const record = JSON.parse(sessionStorage.getItem(INFLIGHT_KEY) || 'null');
    const isId = (v) => v == null || (Number.isSafeInteger(v) && v > 0);
    if (
      record && typeof record.clientId === 'string' && record.clientId
      && typeof record.prompt === 'string' && record.prompt.trim()
      && isId(record.messageId) && isId(record.conversation)
      && (record.model == null || typeof record.model === 'string')
      && (record.params == null || (typeof record.params === 'object' && !Array.isArray(record.params)))
      && (record.attachments == null || (Array.isArray(record.attachments) && record.attachments.every((a) => isId(a?.id))))
    ) {
      return record;
    }
    if (record) sessionStorage.removeItem(INFLIGHT_KEY);
  } catch {
    // Storage disabled or unreadable: the page just works without reload recovery.
  }
  return null;
}

export function saveInflight(turn) {
  if (!turn.request) return; // attached to, not asked from this page: the URL reopens it
  try {
    sessionStorage.setItem(INFLIGHT_KEY, JSON.stringify({
      clientId: turn.clientId,
      messageId: turn.messageId,
      // Before `started` this is what the prompt asked for (and is resent as is).
      conversation: turn.messageId != null ? turn.conversation : turn.request.conversation,
      prompt: turn.request.text,
      model: turn.request.model,
      params: turn.request.params,
      attachments: turn.attachments?.length ? turn.attachments : undefined, // what the turn shows, with their ids
    }));
  } catch {
    // Quota or privacy mode: nothing to do.
  }
}

// Forget the record (only this turn's, when one is given).
export function clearInflight(turn) {
  try {
    if (!turn || readInflight()?.clientId === turn.clientId) sessionStorage.removeItem(INFLIGHT_KEY);
  } catch {
    // as above
  }
}

// The `prompt` request a saved record resends.
export function requestFromRecord(saved) {
  const request = { text: saved.prompt, conversation: saved.conversation ?? null, model: saved.model ?? null, params: saved.params ?? null };
  if (saved.attachments?.length) request.attachments = saved.attachments.map((a) => a.id);
  return request;
}
