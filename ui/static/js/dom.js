// The few page helpers both pages (index.html and fleet.html) share: the
// element lookup, and the connection light in the header, which both pages
// have as #conn (data-state: connecting, live, reconnecting, offline) with
// its text in #conn-text.
//
// Log text is only ever put in the page with textContent / text nodes:
// lines may hold HTML and ANSI escapes.

export const $ = (id) => document.getElementById(id);

// setConn shows the connection's state; title, when not undefined, says
// why in the light's tooltip. It is the status callback of a Stream.
export function setConn(state, text, title) {
  const el = $("conn");
  el.dataset.state = state;
  $("conn-text").textContent = text || state;
  if (title !== undefined) el.title = title;
}
