// The few page helpers both pages (index.html and fleet.html) share: the
// element lookup; the connection light in the header, which both pages
// have as #conn (data-state: connecting, live, reconnecting, offline) with
// its text in #conn-text; the one-line problem of the view (#filter-error);
// and downloads.
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

// showError shows the view's problem in one line (a server's refusal and
// its reason), or hides it when text is empty.
export function showError(text) {
  const e = $("filter-error");
  e.textContent = text || "";
  e.hidden = !text;
}

// saveURL has the browser save what href answers as the file name.
export function saveURL(href, name) {
  const a = document.createElement("a");
  a.href = href;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
}

// saveText has the browser save text made in the page as the file name.
export function saveText(text, name) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
  saveURL(url, name);
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}
