// The fleet hub's page (fleet.html): the agent's log view with hosts. The
// same modules as the agent's page (index.html, app.js) do the work:
// js/logview.js the rows (here with a host column, a colour per host),
// levels, times, pause, wrap, clear, jump, copy, JSON expansion and keys;
// js/filters.js the filter bar; js/state.js the URL; js/auth.js the token
// prompt; js/stream.js the one stream reader (heartbeat check, jittered
// backoff, resume with Last-Event-ID, whose ids are JetStream positions
// valid on any hub, and the hub's one-line reason of a 400, 403, 429 or
// 503, shown in #filter-error). Only the hosts panel (js/hosts.js) and
// this wiring are the hub's own.
//
// The stream is GET /stream?hosts=&sources=&... (globs; none: all). The
// hub's reads of its agents' past (since=, until=, /download) come with
// its "past" feature (Edgetail-Features on /api/hosts): until it says so,
// the range controls are hidden, and Download saves the lines the view
// holds, as the hub's /download writes them ("host/source line").
//
// Log text is only ever put in the page with textContent / text nodes:
// lines may hold HTML and ANSI escapes.

import { setConn, showError, saveText, saveURL } from "./js/dom.js";
import { Stream } from "./js/stream.js";
import { st, caps, readURL, setFilters, setWindow, windowEnds } from "./js/state.js";
import { authHeaders, askToken } from "./js/auth.js";
import * as logview from "./js/logview.js";
import { wireFilters, showRange } from "./js/filters.js";
import { wireHosts, loadHosts, globFields, tickBoxes } from "./js/hosts.js";

const stream = new Stream({ status: setConn, headers: authHeaders, auth: askToken });
let past = false; // the hub reads its agents' past

caps.range = false; // until the hub says it reads the past

// viewParams are the view's hosts, sources and filters.
function viewParams() {
  const p = new URLSearchParams();
  if (st.hosts) p.set("hosts", st.hosts.join(","));
  if (st.sources) p.set("sources", st.sources.join(","));
  setFilters(p);
  return p;
}

const spec = {
  lastId: "",
  lastIdHeader: true,
  final: [400, 403], // a bad filter, a host or source the token lacks: retrying cannot help
  build(lastId) {
    const p = viewParams();
    p.set("format", "json");
    if (lastId) p.set("lastEventId", lastId);
    else if (!setWindow(p)) p.set("tail", String(st.tail));
    return "/stream?" + p.toString();
  },
  ends: windowEnds,
  onEnd: () => logview.addNote("End of the range."),
  onOpen: () => showError(""),
  onBreak: (why) => logview.addNote("Connection lost at " + new Date().toLocaleTimeString() + " (" + why + "); reconnecting…"),
  onRefused: (reason, status) => showError("The hub refused this view (" + status + "): " + (reason || "no reason given")),
  onRetry: (reason, status) => showError("The hub answered " + status + (reason ? ": " + reason : "") + "; retrying"),
  onEvent(type, data) {
    let ev;
    try { ev = JSON.parse(data); } catch (_) { ev = null; }
    if (!ev || typeof ev !== "object") ev = type === "message" ? { line: data } : {};
    switch (type) {
      case "message":
        logview.addLine(ev);
        break;
      case "gap": // an agent's gap marker (host, source), or the stream's retention
        logview.addGap(typeof ev.missed === "number" ? ev.missed : -1, ev);
        break;
      case "host": // the end of one host's part of a read of the past
        if (ev.status && ev.status !== "ok") {
          logview.addNote(String(ev.host) + ": " + String(ev.status) + (ev.error ? " (" + String(ev.error) + ")" : ""));
        }
        break;
    }
  },
};

// startLogs (re)opens the stream; fresh: from the start (tail=) with an
// empty view, else resuming after the last line shown.
function startLogs(fresh) {
  if (fresh) {
    logview.clearView();
    spec.lastId = "";
  }
  showError("");
  tickBoxes();
  logview.prepare({ hosts: true, sources: true });
  if ((st.hosts && !st.hosts.length) || (st.sources && !st.sources.length)) {
    stream.disconnect();
    setConn("offline", st.hosts && !st.hosts.length ? "no host selected" : "no source selected");
    logview.addNote("Tick a host and a source to follow them.");
    return;
  }
  stream.connect(spec);
}

// download saves what the view shows: from the hub when it reads the past,
// else the lines the page holds.
function download() {
  if (past) {
    const p = viewParams();
    setWindow(p);
    saveURL("/download?" + p.toString(), "fleet.log");
    return;
  }
  const text = logview.shownLines().map((ev) => (ev.host || "") + "/" + (ev.source || "") + " " + (ev.line == null ? "" : ev.line) + "\n").join("");
  saveText(text, "fleet.log");
}

// features applies what the hub says it reads; true when the view must
// be opened again (a range in the URL that can now be read).
function features(list) {
  if (!list || past || !list.includes("past")) return false;
  past = true;
  showRange(true);
  return !!st.range;
}

async function init() {
  readURL();
  wireFilters(() => startLogs(true), { extra: globFields, download });
  wireHosts(() => startLogs(true));
  logview.showLook();
  features(await loadHosts());
  startLogs(true);
  setInterval(async () => {
    if (features(await loadHosts())) startLogs(true);
  }, 5000);
}
init();
