// The three ways a file reaches the prompt: the Attach button (the file chooser), dropping files on the chat
// column, and pasting an image (a screenshot) into the prompt box. Each hands the files to attachments.js.

import { addFiles, attachmentsEnabled } from './attachments.js';

const attach = document.getElementById('attach');
const input = document.getElementById('attach-input');
const dropZone = document.getElementById('chat');
const composer = document.getElementById('composer');
const prompt = document.getElementById('prompt');

const carriesFiles = (event) => Boolean(event.dataTransfer?.types?.includes('Files'));

// A screenshot on the clipboard comes as "image.png"; a name with the time tells several apart.
function pastedName(file) {
  if (file.name && file.name !== 'image.png') return file;
  const time = new Date().toTimeString().slice(0, 8).replaceAll(':', '.');
  const extension = (file.type.split('/')[1] || 'png').replace('jpeg', 'jpg');
  return new File([file], `Pasted image ${time}.${extension}`, { type: file.type, lastModified: file.lastModified });
}

// Only files with no text beside them: copying from a document puts a picture of the text on the clipboard
// too, and then the text is what the person meant to paste.
function onPaste(event) {
  const data = event.clipboardData;
  if (!data || !data.files.length || data.types.includes('text/plain')) return;
  event.preventDefault();
  addFiles([...data.files].map(pastedName));
}

function initDropZone() {
  let depth = 0; // dragenter/dragleave fire for every child crossed: count them
  const setTarget = (on) => composer.classList.toggle('drop-target', on);
  dropZone.addEventListener('dragenter', (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    depth += 1;
    setTarget(true);
  });
  dropZone.addEventListener('dragover', (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault(); // allows the drop
    event.dataTransfer.dropEffect = 'copy';
  });
  dropZone.addEventListener('dragleave', (event) => {
    if (!carriesFiles(event)) return;
    depth = Math.max(0, depth - 1);
    if (!depth) setTarget(false);
  });
  dropZone.addEventListener('drop', (event) => {
    depth = 0;
    setTarget(false);
    if (!carriesFiles(event)) return;
    event.preventDefault();
    addFiles(event.dataTransfer.files);
    prompt.focus();
  });
  // A file dropped anywhere else must not replace the page with the file.
  for (const type of ['dragover', 'drop']) {
    window.addEventListener(type, (event) => {
      if (carriesFiles(event) && !dropZone.contains(event.target)) event.preventDefault();
    });
  }
}

export function initAttachInput() {
  if (!attachmentsEnabled()) return; // the button stays hidden
  attach.hidden = false;
  attach.addEventListener('click', () => input.click());
  input.addEventListener('change', () => {
    addFiles(input.files);
    input.value = ''; // the same file can be chosen again after removing it
    prompt.focus();
  });
  prompt.addEventListener('paste', onPaste);
  initDropZone();
}
