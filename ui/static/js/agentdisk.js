// The agent's page's reads of its past from disk, which the filter bar's
// buttons run (filters.js): Download saves what the view shows (its
// filters and range) from GET /download/{source}, one file per source;
// "Load older" reads the 200 lines of each source before the oldest shown.

import { setFilters, setWindow } from "./state.js";
import { apiFetch } from "./auth.js";
import { selectedLogSources } from "./sources.js";
import { shownLines } from "./logview.js";
import { saveURL } from "./dom.js";

// downloadURL is what the view shows, as a plain-text download of one
// source from disk.
function downloadURL(src, until) {
  const p = new URLSearchParams();
  setFilters(p);
  if (until) { p.set("until", until); p.set("tail", "200"); } else setWindow(p);
  return "/download/" + encodeURIComponent(src) + (p.toString() ? "?" + p.toString() : "");
}

export function download() {
  for (const src of selectedLogSources()) saveURL(downloadURL(src, ""), src + ".log");
}

// older gives the lines to put on top: those before the oldest shown's
// time (its own, as the read of the past goes by). Lines already shown
// (several of one time, a line without one) are not shown twice.
export async function older() {
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
  return items;
}
