// What the server knows about this page, from the template (data attributes on #chat and the
// models json_script block): URLs come from {% url %}, never from string literals in the scripts.

const root = document.getElementById('chat');
const data = root.dataset;
const conversationUrl = data.conversationUrl; // the URL of conversation 0: the id goes in its last segment
const attachmentUrl = data.attachmentUrl || ''; // the same for attachment 0

export const config = Object.freeze({
  wsPath: data.wsPath,
  loginUrl: data.loginUrl,
  urls: {
    models: data.modelsUrl,
    budget: data.budgetUrl,
    conversations: data.conversationsUrl,
    conversation: (id) => conversationUrl.replace(/\/0\/$/, `/${encodeURIComponent(id)}/`),
    // No attachments URL: a server without attachments; the page offers none.
    attachments: data.attachmentsUrl || null,
    attachment: (id) => attachmentUrl.replace(/\/0\/$/, `/${encodeURIComponent(id)}/`),
  },
  // The server says no model is configured: the page is read-only.
  blocked: data.blocked === 'true',
  defaultModel: data.defaultModel || null,
  // Reasoning rules the server enforces (chat/params.py): the parameter panel checks them first.
  minReasoningBudget: Number(data.minReasoningBudget) || 0,
  // Upload limits (MAX_DOCUMENT_BYTES, MAX_IMAGE_BYTES); 0: unknown, the server alone decides.
  maxDocumentBytes: Number(data.maxDocumentBytes) || 0,
  maxImageBytes: Number(data.maxImageBytes) || 0,
  notWithReasoning: (data.notWithReasoning || '').split(/\s+/).filter(Boolean),
  models: JSON.parse(document.getElementById('models-data')?.textContent || '[]'),
});
