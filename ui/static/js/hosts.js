// The hub's page's panel of hosts and sources (fleet.html), and the bar's
// hosts= and sources= fields (comma lists of globs, as the hub takes them).
//
// GET /api/hosts lists the hosts the token may read, each with its sources
// and when the hub last had a message from it. Each host has a box (ticked:
// in the view), its colour in the log's host column, its sources and how
// long ago it was heard from (by the hub's clock); one not heard from for
// STALE_MS is marked (an agent publishes only when its sources log, so a
// quiet host and a down one look alike: the mark says how long, not why).
// The sources of the listed hosts have boxes too. Ticking boxes writes the names into the
// bar's fields; globs typed there tick the boxes they match.
//
// The hub says what it reads beside the live stream in the Edgetail-Features
// header of /api/hosts (a comma list; "past": since=, until= and
// /download), which loadHosts returns.

import { $ } from "./dom.js";
import { st, list, writeURL } from "./state.js";
import { apiFetch } from "./auth.js";
import { hostClass } from "./logview.js";

export const STALE_MS = 5 * 60 * 1000;

let catalog = []; // [{host, sources, last_seen}]
let skew = 0; // the hub's clock minus the page's (its Date header), in ms
let onChange = () => {};

// wireHosts calls changed() after a box changes st.hosts or st.sources.
export function wireHosts(changed) {
  onChange = changed;
}

// globFields are the bar's hosts= and sources= fields, for wireFilters.
export const globFields = {
  read() {
    const h = list($("f-hosts").value), s = list($("f-sources").value);
    return { hosts: h.length ? h : null, sources: s.length ? s : null };
  },
  fill() {
    $("f-hosts").value = st.hosts ? st.hosts.join(",") : "";
    $("f-sources").value = st.sources ? st.sources.join(",") : "";
    tickBoxes();
  },
};

// loadHosts reads /api/hosts and updates the panel; it returns the hub's
// features, or null when the list could not be read.
export async function loadHosts() {
  let r, hosts;
  try {
    r = await apiFetch("/api/hosts");
    if (!r.ok) throw new Error(r.status + " " + (await r.text()).trim());
    hosts = await r.json();
    if (!Array.isArray(hosts)) throw new Error("not a list");
    $("hosts-error").hidden = true;
  } catch (e) {
    $("hosts-error").textContent = "Hosts unavailable: " + e.message;
    $("hosts-error").hidden = false;
    return null;
  }
  const shape = (l) => l.map((h) => h.host + ":" + (h.sources || []).join(",")).join(" ");
  const changed = shape(hosts) !== shape(catalog);
  catalog = hosts;
  // last_seen is the hub's (NATS's) time: compare it with the hub's clock,
  // not with a browser's that may be minutes off.
  const hubNow = Date.parse(r.headers.get("Date") || "");
  skew = Number.isFinite(hubNow) ? hubNow - Date.now() : 0;
  if (changed) build(); else updateMeta();
  return list(r.headers.get("Edgetail-Features") || "");
}

// globRE is the RegExp of one glob as the hub matches it (Go's path.Match:
// * and ? stop at "/", [...] a class, \ quotes).
function globRE(g) {
  let re = "";
  for (let i = 0; i < g.length; i++) {
    const c = g[i];
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "\\" && i + 1 < g.length) re += "\\" + g[++i];
    else if (c === "[") {
      const end = g.indexOf("]", i + 2);
      if (end < 0) return null; // malformed: matches nothing, as in Go
      let cls = g.slice(i + 1, end).replace(/\\/g, "\\\\");
      if (cls[0] === "^") cls = "^" + cls.slice(1);
      re += "[" + cls + "]";
      i = end;
    } else re += c.replace(/[.+^${}()|\]\\]/g, "\\$&");
  }
  try { return new RegExp("^" + re + "$"); } catch (_) { return null; }
}

function matches(globs, name) {
  if (!globs) return true;
  return globs.some((g) => { const re = globRE(g); return re ? re.test(name) : false; });
}

function allSources() {
  return [...new Set(catalog.flatMap((h) => h.sources || []))].sort();
}

function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return s + " s";
  if (s < 90 * 60) return Math.round(s / 60) + " min";
  if (s < 36 * 3600) return Math.round(s / 3600) + " h";
  return Math.round(s / 86400) + " d";
}

function box(kind, name, extra) {
  const li = document.createElement("li");
  li.dataset[kind] = name;
  const label = document.createElement("label");
  const cb = document.createElement("input");
  cb.type = "checkbox";
  cb.value = name;
  cb.dataset.kind = kind;
  const txt = document.createElement("span");
  txt.textContent = name;
  label.append(cb, ...extra, txt);
  li.appendChild(label);
  return li;
}

function build() {
  const hl = $("host-list");
  hl.textContent = "";
  for (const h of catalog) {
    const dot = document.createElement("span");
    dot.className = "hdot " + hostClass(h.host);
    dot.setAttribute("aria-hidden", "true");
    const li = box("host", h.host, [dot]);
    const meta = document.createElement("div");
    meta.className = "meta";
    li.appendChild(meta);
    hl.appendChild(li);
  }
  if (!catalog.length) {
    const li = document.createElement("li");
    li.className = "hint";
    li.textContent = "No host has published yet.";
    hl.appendChild(li);
  }
  const sl = $("source-list");
  sl.textContent = "";
  for (const s of allSources()) sl.appendChild(box("source", s, []));
  $("host-names").replaceChildren(...catalog.map((h) => new Option(h.host)));
  $("source-names").replaceChildren(...allSources().map((s) => new Option(s)));
  updateMeta();
  tickBoxes();
}

// updateMeta writes each host's sources and last message, and marks the
// hosts not heard from for STALE_MS.
function updateMeta() {
  const now = Date.now() + skew;
  for (const li of $("host-list").children) {
    const h = catalog.find((x) => x.host === li.dataset.host);
    if (!h) continue;
    const meta = li.querySelector(".meta");
    const seen = Date.parse(h.last_seen);
    const known = Number.isFinite(seen) && seen > 0;
    const stale = !known || now - seen > STALE_MS;
    const srcs = (h.sources || []).join(", ") || "no source";
    meta.textContent = srcs + " · " + (!known ? "never seen" : stale ? "not seen for " + ago(now - seen) : "seen " + ago(now - seen) + " ago");
    meta.classList.toggle("st-missing", stale);
    li.classList.toggle("stale", stale);
    meta.title = known ? "last message at " + new Date(seen).toLocaleString() : "";
  }
}

// tickBoxes ticks the boxes of the hosts and sources the view follows.
export function tickBoxes() {
  for (const cb of document.querySelectorAll("#host-list input, #source-list input")) {
    cb.checked = matches(cb.dataset.kind === "host" ? st.hosts : st.sources, cb.value);
  }
}

// ticked is null when every box is ticked (all, as the hub's default), else
// the ticked names.
function ticked(ul) {
  const all = [...ul.querySelectorAll("input[type=checkbox]")];
  const on = all.filter((c) => c.checked).map((c) => c.value);
  return on.length === all.length ? null : on;
}

// A glob typed and left applies, as Enter does.
for (const id of ["f-hosts", "f-sources"]) $(id).addEventListener("change", () => $("filters").requestSubmit());

for (const id of ["host-list", "source-list"]) {
  $(id).addEventListener("change", (e) => {
    if (e.target.type !== "checkbox") return;
    if (id === "host-list") st.hosts = ticked($(id)); else st.sources = ticked($(id));
    globFields.fill();
    writeURL();
    onChange();
  });
}
