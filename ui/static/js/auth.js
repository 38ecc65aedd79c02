// Signing in to an agent that has auth on: the token prompt (#token-dialog),
// and the token it gets, kept for the tab in sessionStorage. The token goes
// to POST /api/session, whose cookie carries it from then on; an agent
// without that endpoint is sent it as an Authorization header instead.
// apiFetch is fetch() that asks for a token on a 401 and tries again.

import { $ } from "./dom.js";

const TOKEN_KEY = "edgetail.token";

let token = sessionStorage.getItem(TOKEN_KEY) || "";
let cookieSet = false; // POST /api/session succeeded: the cookie carries the token
let asking = null;

// authHeaders are the headers that carry the token, when a cookie does not.
export function authHeaders() {
  return token && !cookieSet ? { Authorization: "Bearer " + token } : {};
}

export async function apiFetch(path, opts = {}) {
  for (;;) {
    const r = await fetch(path, {
      credentials: "same-origin", cache: "no-store", ...opts,
      headers: { ...authHeaders(), ...(opts.headers || {}) },
    });
    if (r.status !== 401) return r;
    await askToken();
  }
}

// askToken shows the token prompt until a token is accepted. Concurrent
// callers share one prompt.
export function askToken() {
  if (asking) return asking;
  asking = new Promise((resolve) => {
    const dlg = $("token-dialog"), form = $("token-form"), input = $("token-input"), err = $("token-error");
    cookieSet = false;
    err.hidden = true;
    input.value = "";
    const submit = async (e) => {
      e.preventDefault();
      const t = input.value.trim();
      if (!t) return;
      err.hidden = true;
      let ok = false;
      try {
        const r = await fetch("/api/session", {
          method: "POST", credentials: "same-origin",
          headers: { Authorization: "Bearer " + t },
        });
        if (r.ok) { ok = true; cookieSet = true; }
        else if (r.status !== 401 && r.status !== 403) {
          // No session endpoint: check the token directly and send it
          // as a header from now on.
          const c = await fetch("/api/sources", { headers: { Authorization: "Bearer " + t }, cache: "no-store" });
          ok = c.ok;
        }
      } catch (_) { ok = false; }
      if (!ok) {
        err.textContent = "That token was not accepted.";
        err.hidden = false;
        input.select();
        return;
      }
      token = t;
      sessionStorage.setItem(TOKEN_KEY, t);
      form.removeEventListener("submit", submit);
      dlg.close();
      asking = null;
      resolve();
    };
    form.addEventListener("submit", submit);
    dlg.addEventListener("cancel", (e) => e.preventDefault());
    dlg.showModal();
    input.focus();
  });
  return asking;
}
