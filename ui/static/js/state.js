// The view's state, which the page's URL holds, so that a link (or a reload)
// reproduces the view: which view, hosts (the hub's page), sources, metrics
// source, filters, history size, time range, wrap and times. Also what that
// state asks of the server as query parameters (the filters and the time
// range). Both pages use it: on the agent's page sources are names ticked
// in the panel; on the hub's, hosts and sources are lists of globs.

export const DEFAULT_TAIL = 200;

export const st = {
  view: "logs", hosts: null, sources: null, metric: "",
  q: "", re: "", not: "", level: "", tail: DEFAULT_TAIL,
  range: "", since: "", until: "", // the time range: "" live, 15m/1h/24h, or custom since/until
  wrap: false, times: true,
};

// caps are what the server reads beside the live stream: range, its past
// by time (since=, until=). An agent has it; a hub says so (see fleet.js).
// Without it the range in st stays in the URL but is not asked for.
export const caps = { range: true };

// list reads a comma list (of names or globs).
export const list = (v) => v.split(",").map((s) => s.trim()).filter(Boolean);

export function readURL() {
  const p = new URLSearchParams(location.search);
  st.view = p.get("view") === "metrics" ? "metrics" : "logs";
  st.hosts = p.has("hosts") ? list(p.get("hosts")) : null;
  st.sources = p.has("sources") ? list(p.get("sources")) : null;
  st.metric = p.get("metric") || "";
  st.q = p.get("q") || "";
  st.re = p.get("re") || "";
  st.not = p.get("not") || "";
  st.level = p.get("level") || "";
  const t = parseInt(p.get("tail") || "", 10);
  st.tail = Number.isFinite(t) && t >= 0 ? Math.min(t, 10000) : DEFAULT_TAIL;
  st.wrap = p.get("wrap") === "1";
  st.times = p.get("times") !== "0";
  st.range = ["15m", "1h", "24h", "custom"].includes(p.get("range")) ? p.get("range") : "";
  st.since = p.get("since") || "";
  st.until = p.get("until") || "";
}

export function writeURL() {
  const p = new URLSearchParams();
  if (st.view !== "logs") p.set("view", st.view);
  if (st.hosts) p.set("hosts", st.hosts.join(","));
  if (st.sources) p.set("sources", st.sources.join(","));
  if (st.metric) p.set("metric", st.metric);
  setFilters(p);
  if (st.tail !== DEFAULT_TAIL) p.set("tail", String(st.tail));
  if (st.range) p.set("range", st.range);
  if (st.range === "custom") {
    if (st.since) p.set("since", st.since);
    if (st.until) p.set("until", st.until);
  }
  if (st.wrap) p.set("wrap", "1");
  if (!st.times) p.set("times", "0");
  const s = p.toString();
  history.replaceState(null, "", s ? "?" + s : location.pathname);
}

// setFilters puts the line filters (q, re, not, level) in p.
export function setFilters(p) {
  for (const k of ["q", "re", "not", "level"]) if (st[k]) p.set(k, st[k]);
}

// setWindow puts the time range in p; false when the view is live only.
export function setWindow(p) {
  if (!caps.range) return false;
  if (st.range === "custom") {
    const since = isoOf(st.since), until = isoOf(st.until);
    if (since) p.set("since", since);
    if (until) p.set("until", until);
    return !!(since || until);
  }
  if (st.range) { p.set("since", st.range); return true; }
  return false;
}

// isoOf turns a datetime-local value (local time) into RFC 3339.
function isoOf(v) {
  if (!v) return "";
  const d = new Date(v);
  return isNaN(d) ? "" : d.toISOString();
}

// A custom range with an end is complete once the agent ends the stream.
export function windowEnds() { return caps.range && st.range === "custom" && !!isoOf(st.until); }
