// The answers scroll along with new text while the reader is at the bottom.

const scroller = document.getElementById('chat-scroll');
let stick = true;
let following = false; // the next scroll event is our own: no need to measure (that would force a layout)

function nearBottom() {
  return scroller.scrollHeight - (scroller.scrollTop + scroller.clientHeight) < 120;
}

export function scrollToBottom() {
  stick = true;
  scroller.scrollTop = scroller.scrollHeight;
}

// The scroll happens in a ResizeObserver callback, after the browser's own layout, so streaming never forces an
// extra synchronous layout; scrolling up stops following.
export function followBottom(content) {
  scroller.addEventListener('scroll', () => {
    if (following) following = false;
    else stick = nearBottom();
  }, { passive: true });
  const observer = new ResizeObserver(() => {
    if (!stick) return;
    const top = scroller.scrollHeight - scroller.clientHeight;
    if (Math.abs(scroller.scrollTop - top) < 1) return;
    following = true;
    scroller.scrollTop = top;
  });
  observer.observe(content);
  observer.observe(scroller);
}
