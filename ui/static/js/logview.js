// The log view (#log) of both pages, the agent's (index.html) and the
// hub's (fleet.html), which share its markup (#log, the toolbar, the row
// actions, #token-dialog): rows of lines, notes and gap markers, put in the
// DOM in batches and bounded to MAX_ROWS; levels, times, the host (a colour
// per host), source and journal columns; highlights of the text and regex
// filters; pause (with a count of what waits), wrap, times, follow/jump; a
// selected row's copy and JSON expansion; events of several lines (a stack
// trace) as one row, first line shown and the rest folded; and the keyboard
// shortcuts of the page.
//
// Log text is only ever put in the page with textContent / text nodes:
// lines may hold HTML and ANSI escapes (which are stripped).

import { $ } from "./dom.js";
import { st, writeURL } from "./state.js";

const MAX_ROWS = 3000; // rows kept in the DOM
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]/g;

const logEl = $("log");
let queue = []; // items received and not yet in the DOM
let waiting = 0; // received while paused
let paused = false;
let following = true;
let flushScheduled = false;
let received = 0;
let cols = { sources: false, hosts: false };
let highlighters = [];
let selRow = null;

// prepare readies the view for a stream: the source column shows when
// sources is true (several sources merge), the host column when hosts is
// true (the fleet), and the filters in st are highlighted.
export function prepare({ sources = false, hosts = false } = {}) {
  cols = { sources, hosts };
  highlighters = buildHighlighters();
}

// HOST_COLOURS is the number of host colours (--hc0... in app.css).
const HOST_COLOURS = 8;

// hostClass is the class that gives a host its colour, the same one
// wherever the host is shown (the column, the host picker).
export function hostClass(host) {
  let h = 2166136261;
  for (let i = 0; i < host.length; i++) h = Math.imul(h ^ host.charCodeAt(i), 16777619);
  return "hc" + ((h >>> 0) % HOST_COLOURS);
}

// addLine shows one line event ({line, time, level, source, ...}).
export function addLine(ev) {
  received++;
  pushItem({ kind: "line", ev });
}

// addGap shows a gap marker where it came in the stream: n lines missed
// (-1: an unknown number), from where ({host, source}, each optional).
export function addGap(n, where = {}) {
  const host = where.host ? String(where.host) : "", source = where.source ? String(where.source) : "";
  const from = host ? " from " + host + (source ? "/" + source : "") : source ? " from " + source : "";
  pushItem({ kind: "gap", text: (n >= 0 ? n.toLocaleString() + " lines missed" : "An unknown number of lines missed"), from, missed: n, host, source });
}

// addNote shows a note of the page's own (a lost connection, an ended
// range).
export function addNote(text) { pushItem({ kind: "note", text }); }

function pushItem(it) {
  queue.push(it);
  if (queue.length > MAX_ROWS * 2) queue = queue.slice(queue.length - MAX_ROWS);
  if (paused) {
    if (it.kind !== "note") waiting++;
    showWaiting();
    return;
  }
  scheduleFlush();
}

// shownLines are the line events in the view, oldest first.
export function shownLines() {
  return [...logEl.children].filter((r) => r._ev).map((r) => r._ev);
}

// prepend puts items ({kind: "line", ev} or {kind: "note", text}) above
// the rows shown.
export function prepend(items) {
  const frag = document.createDocumentFragment();
  for (const it of items) frag.appendChild(renderItem(it));
  logEl.insertBefore(frag, logEl.firstChild);
  showCount();
}

// DOM updates are batched per animation frame, and at most one batch per
// FLUSH_MS under load: each batch costs a layout of the whole list, so
// fewer, larger batches keep the main thread free at thousands of lines/s.
// A quiet log still shows each line on the next frame.
const FLUSH_MS = 100;
let lastFlush = 0;
function scheduleFlush() {
  if (flushScheduled) return;
  flushScheduled = true;
  const wait = Math.max(0, lastFlush + FLUSH_MS - performance.now());
  const frame = () => {
    // The timeout covers a hidden tab, where frames do not run.
    const t = setTimeout(flush, 250);
    requestAnimationFrame(() => { clearTimeout(t); flush(); });
  };
  if (wait > 0) setTimeout(frame, wait); else frame();
}

function flush() {
  if (!flushScheduled) return;
  flushScheduled = false;
  if (paused || !queue.length) return;
  lastFlush = performance.now();
  const items = queue.length > MAX_ROWS ? queue.slice(queue.length - MAX_ROWS) : queue;
  queue = [];
  const frag = document.createDocumentFragment();
  for (const it of items) frag.appendChild(renderItem(it));
  logEl.appendChild(frag);
  const excess = logEl.childElementCount - MAX_ROWS;
  if (excess > 0) {
    const r = document.createRange();
    r.setStartBefore(logEl.firstElementChild);
    r.setEndAfter(logEl.children[excess - 1]);
    r.deleteContents();
  }
  if (following) logEl.scrollTop = logEl.scrollHeight;
  showCount();
}

function showCount() {
  $("count").textContent = logEl.childElementCount.toLocaleString() + " shown · " + received.toLocaleString() + " received";
}

function showWaiting() {
  $("waiting").textContent = paused ? waiting.toLocaleString() + " waiting" : "";
}

function fmtTime(s) {
  if (!s) return "";
  const d = new Date(s);
  if (isNaN(d)) return "";
  const p = (n, w = 2) => String(n).padStart(w, "0");
  return p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds()) + "." + p(d.getMilliseconds(), 3);
}

function levelOf(l) {
  switch (l) {
    case "debug": case "info": case "warn": case "error": return l;
    default: return "none";
  }
}

function span(cls, text) {
  const s = document.createElement("span");
  s.className = cls;
  s.textContent = text;
  return s;
}

function renderItem(it) {
  const div = document.createElement("div");
  if (it.kind !== "line") {
    div.className = "row " + it.kind;
    let text = it.text;
    if (it.kind === "gap") {
      div.setAttribute("role", "note");
      div.title = it.text + it.from;
      if (it.host && cols.hosts) {
        // Where it happened in the host and source columns, as the
        // lines around it show theirs (under an empty time).
        div.appendChild(span("t", ""));
        div.appendChild(span("h " + hostClass(it.host), it.host));
        if (it.source) div.appendChild(span("s", it.source));
      } else text += it.from;
    }
    div.appendChild(document.createTextNode(text));
    return div;
  }
  const ev = it.ev;
  div.className = "row lv-" + levelOf(ev.level);
  div.appendChild(span("t", fmtTime(ev.time)));
  if (cols.hosts && ev.host) div.appendChild(span("h " + hostClass(String(ev.host)), String(ev.host)));
  if (cols.sources && ev.source) div.appendChild(span("s", String(ev.source)));
  if (ev.identifier || ev.unit) {
    // A journal entry: who logged it, as journalctl shows it.
    const j = span("j", "");
    const who = ev.identifier || ev.unit;
    j.textContent = who + (ev.pid ? "[" + ev.pid + "]" : "") + (ev.unit && ev.unit !== who ? " " + ev.unit : "");
    j.title = (ev.unit ? "unit " + ev.unit + "\n" : "") + (ev.identifier ? "identifier " + ev.identifier + "\n" : "") +
      (ev.priority != null ? "priority " + ev.priority : "");
    div.appendChild(j);
  }
  let line = String(ev.line == null ? "" : ev.line);
  if (line.includes("\x1b")) line = line.replace(ANSI, "");
  const nl = line.indexOf("\n");
  if (nl < 0) {
    appendHighlighted(div, line);
  } else {
    // An event of several lines: one row, its first line shown and the
    // rest folded behind a toggle before it (click, or Enter/e on the
    // selected row), which says how many lines it hides.
    const rest = line.slice(nl + 1);
    const fold = document.createElement("button");
    fold.type = "button";
    fold.className = "fold";
    div._rest = rest;
    setFold(fold, rest, false);
    // A filter match in the folded lines says so on the toggle.
    if (highlighters.some((rx) => { rx.lastIndex = 0; return rx.test(rest); })) fold.classList.add("hit");
    div.appendChild(fold);
    appendHighlighted(div, line.slice(0, nl));
    div.classList.add("multi");
  }
  div._ev = ev;
  return div;
}

function setFold(fold, rest, open) {
  const n = rest.split("\n").length;
  fold.setAttribute("aria-expanded", String(open));
  fold.textContent = (open ? "▾ " : "▸ ") + n;
  fold.title = (open ? "Fold the " : "Show the ") + n + (n === 1 ? " other line" : " other lines") + " of this event";
}

// toggleFold shows or hides the folded lines of an event row. The lines
// are put in the page on first use only: most traces are never opened.
function toggleFold(row) {
  const fold = row && row.querySelector(":scope > button.fold");
  if (!fold) return false;
  let more = row.querySelector(":scope > .more");
  const open = fold.getAttribute("aria-expanded") !== "true";
  if (open && !more) {
    more = document.createElement("div");
    more.className = "more";
    appendHighlighted(more, row._rest);
    row.insertBefore(more, row.querySelector(":scope > #row-actions") || null);
  }
  if (more) more.hidden = !open;
  setFold(fold, row._rest, open);
  return true;
}

function buildHighlighters() {
  const hs = [];
  if (st.q) hs.push(new RegExp(st.q.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "gi"));
  if (st.re) {
    let src = st.re, flags = "g";
    if (src.startsWith("(?i)")) { src = src.slice(4); flags += "i"; }
    try { hs.push(new RegExp(src, flags)); } catch (_) { /* RE2 syntax JS lacks: no highlight */ }
  }
  return hs;
}

function appendHighlighted(div, line) {
  if (!highlighters.length) { div.appendChild(document.createTextNode(line)); return; }
  const spans = [];
  for (const rx of highlighters) {
    rx.lastIndex = 0;
    let m;
    while ((m = rx.exec(line)) && spans.length < 64) {
      if (!m[0].length) { rx.lastIndex++; continue; }
      spans.push([m.index, m.index + m[0].length]);
    }
  }
  if (!spans.length) { div.appendChild(document.createTextNode(line)); return; }
  spans.sort((a, b) => a[0] - b[0]);
  let at = 0;
  for (const [a, b] of spans) {
    if (b <= at) continue;
    const from = Math.max(a, at);
    if (from > at) div.appendChild(document.createTextNode(line.slice(at, from)));
    const mk = document.createElement("mark");
    mk.textContent = line.slice(from, b);
    div.appendChild(mk);
    at = b;
  }
  if (at < line.length) div.appendChild(document.createTextNode(line.slice(at)));
}

// clearView empties the view and its counts.
export function clearView() {
  logEl.textContent = "";
  queue = [];
  waiting = 0;
  received = 0;
  selRow = null;
  $("row-actions").hidden = true;
  showWaiting();
  showCount();
}

function setPaused(p) {
  paused = p;
  const b = $("pause");
  b.setAttribute("aria-pressed", String(p));
  b.textContent = p ? "Resume" : "Pause";
  if (!p) {
    waiting = 0;
    following = true;
    scheduleFlush();
  }
  showWaiting();
}

function isJSONLine(ev) {
  const l = String(ev.line || "").trim();
  return l.startsWith("{") && l.endsWith("}");
}

function select(row) {
  if (selRow) selRow.classList.remove("sel");
  const acts = $("row-actions");
  selRow = row && row.classList.contains("row") && row._ev ? row : null;
  if (!selRow) { acts.hidden = true; return; }
  selRow.classList.add("sel");
  $("act-json").hidden = !isJSONLine(selRow._ev);
  $("act-copy").textContent = selRow.classList.contains("multi") ? "Copy event" : "Copy line";
  $("act-json").textContent = selRow.querySelector("pre.json") ? "Collapse JSON" : "Pretty JSON";
  const pre = selRow.querySelector("pre.json");
  selRow.insertBefore(acts, pre);
  acts.hidden = false;
  if (!following) selRow.scrollIntoView({ block: "nearest" });
}

// copySelected copies the selected row's event: every line of it, folded
// or not.
async function copySelected() {
  if (!selRow) return;
  const text = String(selRow._ev.line || "");
  const b = $("act-copy");
  try {
    await navigator.clipboard.writeText(text);
  } catch (_) {
    const ta = document.createElement("textarea");
    ta.value = text;
    document.body.appendChild(ta);
    ta.select();
    document.execCommand("copy");
    ta.remove();
  }
  const was = b.textContent;
  b.textContent = "Copied";
  setTimeout(() => { b.textContent = was; }, 1200);
}

function toggleJSON() {
  if (!selRow || !isJSONLine(selRow._ev)) return;
  const old = selRow.querySelector("pre.json");
  if (old) { old.remove(); $("act-json").textContent = "Pretty JSON"; return; }
  const pre = document.createElement("pre");
  pre.className = "json";
  try { pre.textContent = JSON.stringify(JSON.parse(selRow._ev.line), null, 2); }
  catch (_) { pre.textContent = "(not valid JSON)"; }
  selRow.appendChild(pre);
  $("act-json").textContent = "Collapse JSON";
}

// showLook sets the wrap and times toggles, and the view, from st.
export function showLook() {
  $("wrap").checked = st.wrap;
  $("times").checked = st.times;
  logEl.classList.toggle("wrap", st.wrap);
  logEl.classList.toggle("notimes", !st.times);
}

logEl.addEventListener("click", (e) => {
  if (e.target.closest("#row-actions")) return;
  const row = e.target.closest(".row");
  if (e.target.closest("button.fold")) {
    toggleFold(row);
    if (row !== selRow) select(row);
    return;
  }
  select(row === selRow ? null : row);
});
logEl.addEventListener("scroll", () => {
  following = logEl.scrollHeight - logEl.scrollTop - logEl.clientHeight < 40;
}, { passive: true });
$("act-copy").addEventListener("click", copySelected);
$("act-json").addEventListener("click", toggleJSON);
$("pause").addEventListener("click", () => setPaused(!paused));
$("clear").addEventListener("click", () => { clearView(); });
$("jump").addEventListener("click", () => { following = true; logEl.scrollTop = logEl.scrollHeight; });
$("wrap").addEventListener("change", (e) => { st.wrap = e.target.checked; logEl.classList.toggle("wrap", st.wrap); writeURL(); });
$("times").addEventListener("change", (e) => { st.times = e.target.checked; logEl.classList.toggle("notimes", !st.times); writeURL(); });

// ---------------------------------------------------------------- keys
function moveSel(d) {
  const rows = logEl.children;
  if (!rows.length) return;
  let i = selRow && selRow.isConnected ? Array.prototype.indexOf.call(rows, selRow) + d : rows.length - 1;
  while (i >= 0 && i < rows.length && !rows[i]._ev) i += d;
  if (i < 0 || i >= rows.length) return;
  following = false;
  select(rows[i]);
}

document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  const typing = t instanceof HTMLInputElement || t instanceof HTMLSelectElement || t instanceof HTMLTextAreaElement;
  if ($("token-dialog").open) return;
  if (typing) {
    if (e.key === "Escape") t.blur();
    return;
  }
  if (st.view !== "logs") return;
  switch (e.key) {
    case "/":
      e.preventDefault();
      $("f-q").focus();
      $("f-q").select();
      break;
    case " ":
      if (t instanceof HTMLButtonElement) return; // space presses the button
      e.preventDefault();
      setPaused(!paused);
      break;
    case "g":
      following = false;
      logEl.scrollTop = 0;
      break;
    case "G":
      following = true;
      logEl.scrollTop = logEl.scrollHeight;
      break;
    case "j": moveSel(1); break;
    case "k": moveSel(-1); break;
    case "c": copySelected(); break;
    case "e": case "Enter":
      // An event of several lines unfolds; a JSON line expands.
      if (selRow) { e.preventDefault(); if (!toggleFold(selRow)) toggleJSON(); }
      break;
    case "Escape": select(null); break;
  }
});
