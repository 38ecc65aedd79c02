// The filter bar of the log view (text, regex, exclude, level, history
// size, time range) and what reads lines from disk with the same filters:
// the Download button and "Load older". Filters are applied on the server:
// a change reopens the stream (the page's entry module hands in how, as
// onChange), and the URL keeps them.

import { $ } from "./dom.js";
import { st, writeURL, setFilters, setWindow } from "./state.js";
import { apiFetch } from "./auth.js";
import { selectedLogSources } from "./sources.js";
import { shownLines, prepend } from "./logview.js";

let onChange = () => {};

// wireFilters fills the bar from st and calls changed() after each change
// of st that the view shows.
export function wireFilters(changed) {
  onChange = changed;
  fillFilterInputs();
}

// The line filters and the history size.
let filterTimer = 0;
function applyFilters() {
  clearTimeout(filterTimer);
  const next = {
    q: $("f-q").value, re: $("f-re").value, not: $("f-not").value, level: $("f-level").value,
    tail: Math.max(0, Math.min(10000, parseInt($("f-tail").value, 10) || 0)),
  };
  if (Object.keys(next).every((k) => st[k] === next[k])) return;
  Object.assign(st, next);
  writeURL();
  onChange();
}
$("filters").addEventListener("submit", (e) => { e.preventDefault(); applyFilters(); });
for (const id of ["f-q", "f-re", "f-not"]) {
  $(id).addEventListener("input", () => { clearTimeout(filterTimer); filterTimer = setTimeout(applyFilters, 600); });
}
$("f-level").addEventListener("change", applyFilters);
$("f-tail").addEventListener("change", applyFilters);
$("reset").addEventListener("click", () => {
  $("f-q").value = $("f-re").value = $("f-not").value = $("f-level").value = "";
  $("f-tail").value = "200";
  applyFilters();
});

// The time range: a preset reopens the view from disk since then, then
// live; custom shows its from/to fields (a "to" ends the view there).
function rangeInputs() {
  $("f-custom").hidden = $("f-range").value !== "custom";
}
function applyRange() {
  rangeInputs();
  const next = { range: $("f-range").value, since: $("f-since").value, until: $("f-until").value };
  if (next.range !== "custom") { next.since = ""; next.until = ""; }
  if (next.range === "custom" && !next.since && !next.until) return; // wait for a time
  if (Object.keys(next).every((k) => st[k] === next[k])) return;
  Object.assign(st, next);
  writeURL();
  onChange();
}
$("f-range").addEventListener("change", applyRange);
$("f-since").addEventListener("change", applyRange);
$("f-until").addEventListener("change", applyRange);

// downloadURL is what the view shows, as a plain-text download of one
// source from disk.
function downloadURL(src, until) {
  const p = new URLSearchParams();
  setFilters(p);
  if (until) { p.set("until", until); p.set("tail", "200"); } else setWindow(p);
  return "/download/" + encodeURIComponent(src) + (p.toString() ? "?" + p.toString() : "");
}
$("download").addEventListener("click", () => {
  for (const src of selectedLogSources()) {
    const a = document.createElement("a");
    a.href = downloadURL(src, "");
    a.download = src + ".log";
    document.body.appendChild(a);
    a.click();
    a.remove();
  }
});

// Load older: the 200 lines of each source before the oldest shown, read
// from disk and put at the top. Lines already shown (the agent's prefill
// carries the time it was read, not the line's) are not shown twice.
$("older").addEventListener("click", async () => {
  const evs = shownLines();
  const oldest = evs.length && evs[0].time ? evs[0].time : new Date().toISOString();
  const shown = new Set(evs.slice(0, 2000).map((ev) => (ev.source || "") + "\u0000" + ev.line));
  const items = [];
  for (const src of selectedLogSources()) {
    let text = "";
    try {
      const r = await apiFetch(downloadURL(src, oldest));
      if (!r.ok) throw new Error(r.status + " " + (await r.text()).trim());
      text = await r.text();
    } catch (e) {
      items.push({ kind: "note", text: "Older lines of " + src + " unavailable: " + e.message });
      continue;
    }
    for (const line of text.split("\n")) {
      if (line === "" || shown.has(src + "\u0000" + line)) continue;
      items.push({ kind: "line", ev: { source: src, line, time: "" } });
    }
  }
  if (!items.length) items.push({ kind: "note", text: "No older lines on disk." });
  prepend(items);
});

function fillFilterInputs() {
  $("f-range").value = st.range;
  $("f-since").value = st.since;
  $("f-until").value = st.until;
  rangeInputs();
  $("f-q").value = st.q;
  $("f-re").value = st.re;
  $("f-not").value = st.not;
  $("f-level").value = st.level;
  $("f-tail").value = String(st.tail);
}
