// Streamer chat page: the entry module. It wires the page's modules together and starts them:
//   socket.js (the WebSocket, reconnect, prompt/stop/attach) and frames.js (what the server sends),
//   turns.js + turn.js (the open conversation's turns), render.js + markdown.js (answers on the page),
//   conversation.js + nav.js (open, leave, reload), sidebar.js (the list), composer.js, params.js, models.js.
// Protocol: docs/protocol.md. Prompts are plain text; answers are sanitised markdown.

import { initBudget } from './budget.js';
import { initAttachInput } from './attach-input.js';
import { initComposer } from './composer.js';
import { closeConversation, newConversation, onPopState, openConversation, reopenFromUrl } from './conversation.js';
import { checkSilentTurns, handleFrame, onSocketClosed, resume } from './frames.js';
import { loadModels, showModelNote, showPicker } from './models.js';
import { fillParams, initParams } from './params.js';
import { followBottom } from './scroll.js';
import { initSidebar, refreshConversations } from './sidebar.js';
import { connect } from './socket.js';
import { updateControls } from './turns.js';

followBottom(document.getElementById('turns'));
initComposer();
initAttachInput();
initParams();
initSidebar({ open: openConversation, close: closeConversation, start: newConversation });
document.getElementById('model').addEventListener('change', () => {
  fillParams();
  showModelNote();
});
window.addEventListener('popstate', onPopState);
showPicker();

reopenFromUrl();
updateControls();
connect({ onOpen: resume, onFrame: handleFrame, onClose: onSocketClosed, onChange: updateControls });
setInterval(checkSilentTurns, 5000);
refreshConversations();
initBudget();
loadModels().then((loaded) => {
  if (!loaded) return;
  fillParams();
  showModelNote();
});
fillParams();
