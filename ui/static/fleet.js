// The fleet hub's page (fleet.html): one merged stream on
// /stream?hosts=&sources=&..., read by the same reader as the agent's page
// (js/stream.js): a dead link is noticed by its missing heartbeats, a lost
// one is opened again with jittered backoff and resumed after the last
// event (Last-Event-ID; ids are JetStream positions, valid on any hub), and
// the hub's one-line reason of a 400, 403, 429 or 503 shows in #error. The
// host picker is filled from /api/hosts. A 401 shows the token form, whose
// token POST /api/session turns into a cookie.
//
// Log text is only ever put in the page with textContent: lines may hold
// HTML.

import { $, setConn } from "./js/dom.js";
import { Stream } from "./js/stream.js";

const log = $("log");
const maxLines = 5000;

function showError(msg) { const e = $("error"); e.textContent = msg; e.hidden = !msg; }

// signIn shows the token form until a token is accepted; callers that meet
// a 401 meanwhile share it.
let signing = null, signedIn = () => {};
function signIn() {
  if (!signing) {
    $("token-form").hidden = false;
    setConn("error", "sign in");
    signing = new Promise((resolve) => { signedIn = resolve; });
  }
  return signing;
}
$("token-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const t = $("token").value.trim();
  const r = await fetch("/api/session", { method: "POST", headers: { Authorization: "Bearer " + t } });
  if (!r.ok) { showError("token refused"); return; }
  $("token-form").hidden = true;
  showError("");
  signing = null;
  signedIn();
});

async function loadHosts() {
  const r = await fetch("/api/hosts", { cache: "no-store" });
  if (r.status === 401) { await signIn(); return loadHosts(); }
  if (!r.ok) { showError("hosts: " + r.status); return; }
  const hosts = await r.json();
  const list = $("host-list"), pick = $("f-pick");
  const picked = pick.value;
  list.replaceChildren(); pick.replaceChildren(new Option("all hosts", ""));
  for (const h of hosts) {
    list.append(new Option(h.host));
    const o = new Option(h.host + " (" + h.sources.join(", ") + ")", h.host);
    pick.append(o);
  }
  // The list is new each time: keep the host picked, if still there.
  if ([...pick.options].some((o) => o.value === picked)) pick.value = picked;
}

function query() {
  const p = new URLSearchParams();
  for (const k of ["hosts", "sources", "q", "re", "not", "level", "tail"]) {
    const v = $("f-" + k).value.trim();
    if (v !== "") p.set(k, v);
  }
  p.set("format", "json");
  return "/stream?" + p.toString();
}

// add shows one event. An event of several lines (a stack trace) is one
// row whose first line shows and whose other lines unfold (a <details>:
// click, or Enter or space once focused).
function add(text, cls) {
  const d = document.createElement("div");
  d.className = "line" + (cls ? " " + cls : "");
  const nl = text.indexOf("\n");
  if (nl < 0) {
    d.textContent = text;
  } else {
    const det = document.createElement("details");
    const sum = document.createElement("summary");
    sum.textContent = text.slice(0, nl);
    const more = document.createElement("div");
    more.className = "more";
    more.textContent = text.slice(nl + 1);
    det.append(sum, more);
    d.append(det);
  }
  const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.append(d);
  while (log.childElementCount > maxLines) log.firstElementChild.remove();
  if (atEnd) log.scrollTop = log.scrollHeight;
}

const stream = new Stream({ status: setConn, auth: signIn });

function open() {
  log.replaceChildren();
  showError("");
  const url = query(); // the filters as applied, not as being typed
  stream.connect({
    lastId: "",
    lastIdHeader: true,
    build: () => url,
    final: [400, 403], // a bad filter, a host or source the token lacks: retrying cannot help
    onOpen: () => showError(""),
    onRefused: (reason, status) => showError("The hub refused this view (" + status + "): " + (reason || "no reason given")),
    onRetry: (reason, status) => showError("The hub answered " + status + (reason ? ": " + reason : "") + "; retrying"),
    onBreak: (why) => add("… connection lost at " + new Date().toLocaleTimeString() + " (" + why + "); reconnecting", "gap"),
    onEvent(type, data) {
      if (type === "gap") {
        try {
          const d = JSON.parse(data);
          const who = d.host ? " from " + d.host + "/" + d.source : "";
          add("… " + (d.missed < 0 ? "some" : d.missed) + " lines missed" + who, "gap");
        } catch { add("… lines missed", "gap"); }
        return;
      }
      if (type !== "message") return;
      try {
        const d = JSON.parse(data);
        add("[" + d.host + "/" + d.source + "] " + d.line, d.level ? "lvl-" + d.level : "");
      } catch { add(data); }
    },
  });
}

$("f-pick").addEventListener("change", () => { $("f-hosts").value = $("f-pick").value; open(); });
$("filters").addEventListener("submit", (e) => { e.preventDefault(); open(); });
loadHosts().catch((e) => showError("hosts: " + e.message)).then(open);
setInterval(() => { loadHosts().catch(() => {}); }, 30000); // the stream's light shows a hub away
