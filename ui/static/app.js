// edgetail browser UI: the entry module of index.html, which wires the
// modules in js/ together. Plain JavaScript modules, no build step, no
// dependencies.
//
// One stream connection at a time (the merged stream, so that several tabs
// do not use up the browser's 6 connections per origin), read by js/stream.js,
// for the view shown: the log view (js/logview.js, with js/filters.js) or the
// metrics view (js/charts.js). js/state.js keeps the view in the URL,
// js/sources.js the sources panel, js/auth.js the token prompt,
// js/agentdisk.js the reads of the past from disk (Download, Load older),
// js/timeline.js the bar chart of counts over time above the log view.
// js/alerts.js the alert rules' panel.
// The hub's page (fleet.js) is the same log view, filters and reader.
//
// Log text is only ever put in the page with textContent / text nodes: lines
// may hold HTML and ANSI escapes.

import { $, setConn, showError } from "./js/dom.js";
import { Stream } from "./js/stream.js";
import { st, readURL, writeURL, setFilters, setWindow, windowEnds } from "./js/state.js";
import { authHeaders, askToken } from "./js/auth.js";
import { loadSources, selectedLogSources, currentMetric, readTicked, markMetric, haveSources, haveLogSources } from "./js/sources.js";
import * as logview from "./js/logview.js";
import { wireFilters, setRange } from "./js/filters.js";
import { wireTimeline, loadTimeline, timelineEvent } from "./js/timeline.js";
import * as disk from "./js/agentdisk.js";
import { METRIC_TAIL, addSample, resetSamples, scheduleDraw } from "./js/charts.js";
import { loadAlerts } from "./js/alerts.js";

const stream = new Stream({ status: setConn, headers: authHeaders, auth: askToken });

// ---------------------------------------------------------------- log view
const logSpec = {
  lastId: "",
  build(lastId) {
    const p = new URLSearchParams();
    p.set("sources", selectedLogSources().join(","));
    p.set("format", "json");
    setFilters(p);
    if (lastId) p.set("lastEventId", lastId);
    else if (!setWindow(p)) p.set("tail", String(st.tail));
    return "/stream?" + p.toString();
  },
  ends: windowEnds,
  onEnd: () => logview.addNote("End of the range."),
  onBreak: () => logview.addNote("Connection lost at " + new Date().toLocaleTimeString() + "; reconnecting…"),
  onRefused(reason) { showError("The agent refused this view: " + (reason || "bad request")); },
  onEvent(type, data, id) {
    let ev;
    try { ev = JSON.parse(data); } catch (_) { ev = null; }
    if (type === "gap") {
      const n = ev && typeof ev.missed === "number" ? ev.missed : -1;
      logview.addGap(n, { source: ev && ev.source });
      return;
    }
    if (type !== "message") return; // metric samples belong to the metrics view
    if (!ev || typeof ev !== "object") ev = { line: data };
    // The agent resumes exactly (file ids are durable, and a merged id
    // says where each source stood): nothing is sent twice, and nothing
    // needs hiding here.
    logview.addLine(ev);
    timelineEvent(ev, id);
  },
};

// startLogs (re)opens the log stream; fresh: from the start (tail= or the
// time range) with an empty view, else resuming after the last line shown.
function startLogs(fresh) {
  if (fresh) {
    logview.clearView();
    logSpec.lastId = "";
  }
  showError("");
  const srcs = selectedLogSources();
  logview.prepare({ sources: srcs.length > 1 });
  loadTimeline(srcs, !windowEnds());
  if (!srcs.length) {
    stream.disconnect();
    setConn("offline", haveSources() ? "no source selected" : "no log source");
    logview.addNote(haveLogSources() ? "Tick a source to follow it." : "No log source is configured.");
    return;
  }
  stream.connect(logSpec);
}

// The timeline's drag or click shows that range: since to until (ms).
function localTime(ms) {
  const d = new Date(ms);
  const p = (n, w = 2) => String(n).padStart(w, "0");
  const s = d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + "T" + p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds());
  return d.getMilliseconds() ? s + "." + p(d.getMilliseconds(), 3) : s;
}
wireTimeline((since, until) => setRange(localTime(since), localTime(until)));

// ---------------------------------------------------------------- metrics
let metricName = "";
const metricSpec = {
  lastId: "",
  build(lastId) {
    const p = new URLSearchParams({ sources: metricName, fields: "cpu,mem,load,net,disk" });
    if (lastId) p.set("lastEventId", lastId);
    else p.set("tail", String(METRIC_TAIL));
    return "/stream?" + p.toString();
  },
  onRefused(reason) { $("metric-meta").textContent = "refused: " + reason; },
  onEvent(type, data) { if (type === "metric") addSample(data); },
};

function startMetrics() {
  const name = currentMetric();
  $("metric-empty").hidden = !!name;
  if (!name) { stream.disconnect(); setConn("offline", "no metrics source"); return; }
  if (name !== metricName) {
    metricName = name;
    resetSamples();
    metricSpec.lastId = "";
  }
  stream.connect(metricSpec);
  scheduleDraw();
}

$("metric-source").addEventListener("change", (e) => {
  st.metric = e.target.value;
  writeURL();
  startMetrics();
});

// ---------------------------------------------------------------- views
function showView(v) {
  st.view = v;
  $("view-logs").hidden = v !== "logs";
  $("view-metrics").hidden = v !== "metrics";
  $("tab-logs").setAttribute("aria-pressed", String(v === "logs"));
  $("tab-metrics").setAttribute("aria-pressed", String(v === "metrics"));
  markMetric();
  writeURL();
  if (v === "logs") startLogs(false); // resumes with the last id
  else startMetrics();
}
$("tab-logs").addEventListener("click", () => showView("logs"));
$("tab-metrics").addEventListener("click", () => showView("metrics"));

// The sources panel: a box ticked or unticked changes the merged view; a
// metrics source picked shows it.
$("source-list").addEventListener("change", (e) => {
  const t = e.target;
  if (t.type === "checkbox") {
    readTicked();
    writeURL();
    if (st.view === "logs") startLogs(true);
  } else if (t.type === "radio") {
    st.metric = t.value;
    showView("metrics");
  }
});

// ---------------------------------------------------------------- start
async function init() {
  readURL();
  wireFilters(() => { if (st.view === "logs") startLogs(true); }, { download: disk.download, older: disk.older });
  logview.showLook();
  await loadSources();
  showView(st.view);
  loadAlerts();
  setInterval(() => { if ($("alerts-box").open || $("alerts-box").hidden) loadAlerts(); }, 5000);
  setInterval(async () => {
    if (await loadSources()) {
      // Sources were added or removed (a reload): follow the new set.
      if (st.view === "logs") startLogs(true); else startMetrics();
    }
  }, 5000);
}
init();
