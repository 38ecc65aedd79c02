// The alerts panel (#alerts-box) of the agent's page: each rule of the
// agent's alerts: (GET /api/alerts) with its state, counts, last delivery
// error and last notifications, and a button that sends it a test
// notification (POST /api/alerts/{rule}/test). Hidden when the agent has
// no rule. Webhook URLs and headers are never in what the agent answers.
//
// Text from the agent (groups are masked log lines) goes in with
// textContent only.

import { $ } from "./dom.js";
import { apiFetch } from "./auth.js";

const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};

const time = (s) => (s ? new Date(s).toLocaleTimeString() : "never");

// loadAlerts reads the rules and draws them; the panel stays hidden when
// there are none (or the agent is older and has no /api/alerts).
export async function loadAlerts() {
  let rules;
  try {
    const r = await apiFetch("/api/alerts");
    if (!r.ok) return;
    rules = await r.json();
  } catch (_) {
    return;
  }
  const box = $("alerts-box");
  box.hidden = !rules.length;
  const list = $("alert-list");
  list.replaceChildren(...rules.map(ruleItem));
}

function ruleItem(r) {
  const li = el("li");
  li.dataset.rule = r.name;
  const head = el("div", "alert-head");
  head.append(el("span", "alert-name", r.name), el("span", "alert-state st-" + r.state, r.state));
  const test = el("button", "alert-test", "Test");
  test.type = "button";
  test.title = "Send this rule's webhook a test notification";
  test.addEventListener("click", () => sendTest(r.name, test));
  head.append(test);
  li.append(head);
  const filter = r.filter ? r.filter + " · " : "";
  li.append(el("div", "meta", `${filter}${r.threshold} in ${r.window}, cooldown ${r.cooldown}, by ${r.group_by}`));
  li.append(el("div", "meta", `sent ${r.sent} · failed ${r.failed} · dropped ${r.dropped} · queued ${r.queued} · last ${time(r.last_notification)}`));
  if (r.last_error) li.append(el("div", "meta error", `last error: ${r.last_error} (${time(r.last_error_at)})`));
  if (r.recent.length) {
    const ul = el("ul", "alert-recent");
    for (const n of r.recent.slice(0, 5)) {
      const item = el("li", "res-" + n.result);
      const what = n.kind === "rollup" ? `${n.suppressed} more` : `${n.count}×`;
      item.append(el("span", "meta", `${time(n.at)} ${n.kind} ${what} ${n.result}`), el("div", "alert-group", n.group));
      item.title = n.line;
      ul.append(item);
    }
    li.append(ul);
  }
  return li;
}

async function sendTest(name, button) {
  button.disabled = true;
  try {
    const r = await apiFetch(`/api/alerts/${encodeURIComponent(name)}/test`, { method: "POST" });
    const body = await r.json().catch(() => ({}));
    button.textContent = r.ok ? "Sent" : "Failed";
    button.title = r.ok ? "The webhook answered 2xx" : body.error || r.statusText;
  } finally {
    setTimeout(() => { button.disabled = false; button.textContent = "Test"; loadAlerts(); }, 2000);
  }
}
