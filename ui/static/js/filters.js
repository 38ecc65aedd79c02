// The filter bar of the log view, on both pages: text, regex, exclude,
// level, history size and time range, plus any fields of the page's own
// (the hub's page: hosts= and sources= globs); and the buttons that read
// the past with the same filters, Download and "Load older", whose reads
// the page hands in (an agent reads its disk; a hub its agents' disks).
// Filters are applied on the server: a change reopens the stream (the
// page's entry module hands in how, as changed), and the URL keeps them.
//
// The range controls show only while caps.range holds (state.js): an agent
// always, a hub once it says it reads the past.

import { $ } from "./dom.js";
import { st, caps, writeURL } from "./state.js";
import { prepend } from "./logview.js";

let onChange = () => {};
let page = {};

// wireFilters fills the bar from st and calls changed() after each change
// of st that the view shows. opts (each optional): extra, the page's own
// fields of the bar, {read() -> an object of st's keys, fill()}; download(),
// what the Download button does; older() -> a promise of the items
// ({kind: "line", ev} or {kind: "note", text}) "Load older" puts on top
// (without it the button is hidden).
export function wireFilters(changed, opts = {}) {
  onChange = changed;
  page = opts;
  $("older").hidden = !page.older;
  showRange(caps.range);
  fillFilterInputs();
}

// showRange shows or hides the range controls, and sets caps.range: the
// range is asked for only while they show.
export function showRange(on) {
  caps.range = !!on;
  $("f-range").closest("label").hidden = !on;
  rangeInputs();
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

// The line filters, the history size and the page's own fields.
let filterTimer = 0;
function applyFilters() {
  clearTimeout(filterTimer);
  const next = {
    q: $("f-q").value, re: $("f-re").value, not: $("f-not").value, level: $("f-level").value,
    tail: Math.max(0, Math.min(10000, parseInt($("f-tail").value, 10) || 0)),
    ...(page.extra ? page.extra.read() : {}),
  };
  if (Object.keys(next).every((k) => same(st[k], next[k]))) return;
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
  $("f-custom").hidden = !caps.range || $("f-range").value !== "custom";
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

// setRange shows and applies the custom range from since to until
// (datetime-local values, local time): the timeline's drag or click.
export function setRange(since, until) {
  $("f-range").value = "custom";
  $("f-since").value = since;
  $("f-until").value = until;
  applyRange();
}
$("f-since").addEventListener("change", applyRange);
$("f-until").addEventListener("change", applyRange);

$("download").addEventListener("click", () => { if (page.download) page.download(); });

$("older").addEventListener("click", async () => {
  if (!page.older) return;
  prepend(await page.older());
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
  if (page.extra) page.extra.fill();
}
