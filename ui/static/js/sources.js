// The sources panel: the agent's catalog from /api/sources, drawn as a list
// with a checkbox per log source (files, the journal: ticked ones are merged
// into the log view) and a radio per metrics source, each with a line of
// state (files followed or missing, clients, lines). Also which sources the
// view follows, from the state and the catalog.
//
// The list's change events (a box ticked, a radio picked) bubble up to
// #source-list, where the page's entry module handles them.

import { $ } from "./dom.js";
import { st } from "./state.js";
import { apiFetch } from "./auth.js";

let catalog = [];

export function haveSources() { return catalog.length > 0; }

// haveLogSources: the catalog holds a source of lines.
export function haveLogSources() { return catalog.some(isLogSource); }

// loadSources reads the catalog and updates the list; true when the set of
// sources changed (the first load, or the agent reloaded its config).
export async function loadSources() {
  let list;
  try {
    const r = await apiFetch("/api/sources");
    if (!r.ok) throw new Error(r.status + " " + (await r.text()).trim());
    list = await r.json();
    $("sources-error").hidden = true;
  } catch (e) {
    $("sources-error").textContent = "Sources unavailable: " + e.message;
    $("sources-error").hidden = false;
    return false;
  }
  const shape = (l) => l.map((s) => s.kind + ":" + s.name).join(",");
  const changed = shape(list) !== shape(catalog);
  catalog = list;
  if (changed) buildSourceList();
  else updateSourceMeta();
  return changed;
}

function fileSummary(s) {
  if (s.kind !== "file") return "";
  const n = {};
  for (const f of s.files || []) n[f.state] = (n[f.state] || 0) + 1;
  const parts = Object.keys(n).sort().map((k) => n[k] + " " + k);
  return parts.length ? parts.join(", ") : "no file yet";
}

function metaText(s) {
  const parts = [];
  const fs = fileSummary(s);
  if (fs) parts.push(fs);
  if (s.kind === "journal" && s.state) parts.push(s.state);
  parts.push(s.clients + (s.clients === 1 ? " client" : " clients"));
  parts.push(Number(s.lines || 0).toLocaleString() + (s.kind === "metrics" ? " samples" : " lines"));
  return parts.join(" · ");
}

// isLogSource: sources of lines (files and the journal), as opposed to
// metrics.
function isLogSource(s) { return s.kind === "file" || s.kind === "journal"; }

function buildSourceList() {
  const ul = $("source-list");
  ul.textContent = "";
  const files = catalog.filter(isLogSource);
  if (st.sources) st.sources = st.sources.filter((n) => files.some((s) => s.name === n));
  for (const s of catalog) {
    const li = document.createElement("li");
    li.dataset.source = s.name;
    const label = document.createElement("label");
    if (isLogSource(s)) {
      const cb = document.createElement("input");
      cb.type = "checkbox";
      cb.value = s.name;
      cb.checked = !st.sources || st.sources.includes(s.name);
      label.appendChild(cb);
    } else {
      const b = document.createElement("input");
      b.type = "radio";
      b.name = "metric-src";
      b.value = s.name;
      b.checked = st.view === "metrics" && currentMetric() === s.name;
      label.appendChild(b);
    }
    const name = document.createElement("span");
    name.textContent = s.name;
    const kind = document.createElement("span");
    kind.className = "kind";
    kind.textContent = s.kind;
    label.append(name, kind);
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = metaText(s);
    markSourceMeta(meta, s);
    li.append(label, meta);
    ul.appendChild(li);
  }
  const sel = $("metric-source");
  sel.textContent = "";
  for (const s of catalog) if (s.kind === "metrics") sel.add(new Option(s.name, s.name));
  sel.value = currentMetric();
}

// markSourceMeta flags a source with missing files or an unreadable
// journal, and says why in the tooltip.
function markSourceMeta(meta, s) {
  const bad = (s.kind === "file" && (s.files || []).some((f) => f.state !== "following")) ||
    (s.kind === "journal" && s.state === "error");
  meta.classList.toggle("st-missing", bad);
  meta.title = s.kind === "journal" ? (s.error || s.state || "") :
    (s.files || []).map((f) => f.path + ": " + f.state + (f.error ? " (" + f.error + ")" : "")).join("\n");
}

function updateSourceMeta() {
  for (const li of $("source-list").children) {
    const s = catalog.find((x) => x.name === li.dataset.source);
    if (!s) continue;
    const meta = li.querySelector(".meta");
    meta.textContent = metaText(s);
    markSourceMeta(meta, s);
  }
}

// selectedLogSources: the log sources the view follows.
export function selectedLogSources() {
  const files = catalog.filter(isLogSource).map((s) => s.name);
  return st.sources ? st.sources.filter((n) => files.includes(n)) : files;
}

// currentMetric: the metrics source the metrics view shows ("" for none).
export function currentMetric() {
  const ms = catalog.filter((s) => s.kind === "metrics").map((s) => s.name);
  return ms.includes(st.metric) ? st.metric : ms[0] || "";
}

// readTicked sets st.sources from the ticked boxes (null: all of them).
export function readTicked() {
  const all = [...$("source-list").querySelectorAll("input[type=checkbox]")];
  const on = all.filter((c) => c.checked).map((c) => c.value);
  st.sources = on.length === all.length ? null : on;
}

// markMetric ticks the radio of the metrics source shown, if any.
export function markMetric() {
  for (const r of document.querySelectorAll("input[name=metric-src]")) r.checked = st.view === "metrics" && r.value === currentMetric();
}
