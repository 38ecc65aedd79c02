"use strict";
// A minimal live view: one EventSource, a bounded DOM, reconnection that
// survives non-2xx answers (EventSource itself gives up on those).
const log = document.getElementById("log");
const sel = document.getElementById("source");
const q = document.getElementById("q");
const status = document.getElementById("status");
const MAX = 3000;
let es = null, lastId = "", backoff = 500;

function add(text, cls) {
  const div = document.createElement("div");
  div.textContent = text;
  if (cls) div.className = cls;
  log.appendChild(div);
  while (log.childElementCount > MAX) log.firstElementChild.remove();
  log.scrollTop = log.scrollHeight;
}

function open() {
  if (es) es.close();
  const p = new URLSearchParams({ tail: "100" });
  if (q.value) p.set("q", q.value);
  if (lastId) p.set("lastEventId", lastId);
  es = new EventSource("/stream/" + encodeURIComponent(sel.value) + "?" + p);
  es.onopen = () => { status.textContent = "live"; backoff = 500; };
  es.onmessage = (e) => { lastId = e.lastEventId; add(e.data); };
  es.addEventListener("metric", (e) => { lastId = e.lastEventId; add(e.data); });
  es.addEventListener("gap", (e) => add(JSON.parse(e.data).missed + " lines missed", "gap"));
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED) {
      status.textContent = "reconnecting…";
      setTimeout(open, backoff * (0.5 + Math.random()));
      backoff = Math.min(backoff * 2, 30000);
    }
  };
}

fetch("/api/sources").then((r) => r.json()).then((srcs) => {
  for (const s of srcs) sel.add(new Option(s.name + " (" + s.kind + ")", s.name));
  sel.onchange = () => { log.textContent = ""; lastId = ""; open(); };
  q.onchange = sel.onchange;
  if (srcs.length) open();
});
