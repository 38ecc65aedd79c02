// edgetail browser UI. Plain JavaScript, no build step, no dependencies.
//
// One stream connection at a time (the merged stream, so that several tabs do
// not use up the browser's 6 connections per origin), read with fetch() and
// parsed here rather than with EventSource: EventSource hides heartbeat
// comments (needed to notice a dead link after 60 s), gives up for good on a
// non-2xx answer, and cannot show the one-line reason of a 400.
//
// Log text is only ever put in the page with textContent / text nodes: lines
// may hold HTML and ANSI escapes.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const MAX_ROWS = 3000; // rows kept in the DOM
  const IDLE_MS = 60000; // no byte (heartbeats included) for this long: reconnect
  const METRIC_TAIL = 150; // samples of history asked for (5 min at 2 s)
  const METRIC_KEEP = 600; // samples kept for the charts
  const TOKEN_KEY = "edgetail.token";
  const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]/g;

  // ---------------------------------------------------------------- state
  const st = {
    view: "logs", sources: null, metric: "",
    q: "", re: "", not: "", level: "", tail: 200,
    range: "", since: "", until: "", // the time range: "" live, 15m/1h/24h, or custom since/until
    wrap: false, times: true,
  };

  function readURL() {
    const p = new URLSearchParams(location.search);
    st.view = p.get("view") === "metrics" ? "metrics" : "logs";
    st.sources = p.has("sources") ? p.get("sources").split(",").filter(Boolean) : null;
    st.metric = p.get("metric") || "";
    st.q = p.get("q") || "";
    st.re = p.get("re") || "";
    st.not = p.get("not") || "";
    st.level = p.get("level") || "";
    const t = parseInt(p.get("tail") || "", 10);
    st.tail = Number.isFinite(t) && t >= 0 ? Math.min(t, 10000) : 200;
    st.wrap = p.get("wrap") === "1";
    st.times = p.get("times") !== "0";
    st.range = ["15m", "1h", "24h", "custom"].includes(p.get("range")) ? p.get("range") : "";
    st.since = p.get("since") || "";
    st.until = p.get("until") || "";
  }

  function writeURL() {
    const p = new URLSearchParams();
    if (st.view !== "logs") p.set("view", st.view);
    if (st.sources) p.set("sources", st.sources.join(","));
    if (st.metric) p.set("metric", st.metric);
    for (const k of ["q", "re", "not", "level"]) if (st[k]) p.set(k, st[k]);
    if (st.tail !== 200) p.set("tail", String(st.tail));
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

  // ---------------------------------------------------------------- auth
  let token = sessionStorage.getItem(TOKEN_KEY) || "";
  let cookieSet = false; // POST /api/session succeeded: the cookie carries the token
  let asking = null;

  function authHeaders() {
    return token && !cookieSet ? { Authorization: "Bearer " + token } : {};
  }

  async function apiFetch(path, opts = {}) {
    for (;;) {
      const r = await fetch(path, {
        credentials: "same-origin", cache: "no-store", ...opts,
        headers: { ...authHeaders(), ...(opts.headers || {}) },
      });
      if (r.status !== 401) return r;
      await askToken();
    }
  }

  // askToken shows the token prompt until a token is accepted. Concurrent
  // callers share one prompt.
  function askToken() {
    if (asking) return asking;
    asking = new Promise((resolve) => {
      const dlg = $("token-dialog"), form = $("token-form"), input = $("token-input"), err = $("token-error");
      cookieSet = false;
      err.hidden = true;
      input.value = "";
      const submit = async (e) => {
        e.preventDefault();
        const t = input.value.trim();
        if (!t) return;
        err.hidden = true;
        let ok = false;
        try {
          const r = await fetch("/api/session", {
            method: "POST", credentials: "same-origin",
            headers: { Authorization: "Bearer " + t },
          });
          if (r.ok) { ok = true; cookieSet = true; }
          else if (r.status !== 401 && r.status !== 403) {
            // No session endpoint: check the token directly and send it
            // as a header from now on.
            const c = await fetch("/api/sources", { headers: { Authorization: "Bearer " + t }, cache: "no-store" });
            ok = c.ok;
          }
        } catch (_) { ok = false; }
        if (!ok) {
          err.textContent = "That token was not accepted.";
          err.hidden = false;
          input.select();
          return;
        }
        token = t;
        sessionStorage.setItem(TOKEN_KEY, t);
        form.removeEventListener("submit", submit);
        dlg.close();
        asking = null;
        resolve();
      };
      form.addEventListener("submit", submit);
      dlg.addEventListener("cancel", (e) => e.preventDefault());
      dlg.showModal();
      input.focus();
    });
    return asking;
  }

  // ---------------------------------------------------------------- connection
  const connEl = $("conn"), connText = $("conn-text");
  function setConn(state, text) {
    connEl.dataset.state = state;
    connText.textContent = text || state;
  }

  // One connection at a time. spec: {build(lastId) -> url, onEvent(type,
  // data), onOpen(), onBreak(), onRefused(reason), lastId}.
  const conn = { gen: 0, ctrl: null, spec: null, backoff: 0, retryHint: 0, timer: 0, idle: 0, wasLive: false };

  function connect(spec) {
    disconnect();
    conn.spec = spec;
    conn.backoff = 0;
    conn.wasLive = false;
    run(++conn.gen);
  }

  function disconnect() {
    conn.gen++;
    clearTimeout(conn.timer);
    clearTimeout(conn.idle);
    if (conn.ctrl) conn.ctrl.abort();
    conn.ctrl = null;
  }

  function retry(gen, minMs, why) {
    if (gen !== conn.gen) return;
    clearTimeout(conn.idle);
    conn.backoff = Math.min(conn.backoff ? conn.backoff * 2 : 500, 30000);
    // Jitter: many tabs cut off at once do not come back at once.
    let d = conn.backoff * (0.5 + Math.random() * 0.5);
    d = Math.max(d, minMs, Math.min(conn.retryHint, 30000));
    if (!navigator.onLine) {
      setConn("offline", "offline");
      return; // the "online" event reconnects
    }
    setConn("reconnecting", "reconnecting in " + Math.ceil(d / 1000) + " s");
    connEl.title = why || "";
    conn.timer = setTimeout(() => run(gen), d);
  }

  function armIdle(gen, ctrl) {
    clearTimeout(conn.idle);
    conn.idle = setTimeout(() => {
      if (gen === conn.gen) { ctrl.idleAbort = true; ctrl.abort(); }
    }, IDLE_MS);
  }

  async function run(gen) {
    if (gen !== conn.gen) return;
    const spec = conn.spec;
    if (!conn.wasLive) setConn("connecting", "connecting");
    const ctrl = new AbortController();
    conn.ctrl = ctrl;
    let resp;
    try {
      resp = await fetch(spec.build(spec.lastId), {
        headers: { Accept: "text/event-stream", ...authHeaders() },
        credentials: "same-origin", cache: "no-store", signal: ctrl.signal,
      });
    } catch (_) {
      return retry(gen, 0, "network error");
    }
    if (gen !== conn.gen) { ctrl.abort(); return; }
    if (!resp.ok) {
      let reason = "";
      try { reason = (await resp.text()).trim().split("\n")[0]; } catch (_) { /* body lost */ }
      if (gen !== conn.gen) return;
      if (resp.status === 401) {
        setConn("offline", "sign-in needed");
        await askToken();
        return run(gen);
      }
      if (resp.status === 400) {
        setConn("offline", "refused");
        connEl.title = reason;
        spec.onRefused(reason);
        return;
      }
      const ra = parseFloat(resp.headers.get("Retry-After") || "") * 1000;
      return retry(gen, Number.isFinite(ra) ? ra : 0, resp.status + " " + reason);
    }
    conn.backoff = 0;
    conn.wasLive = true;
    setConn("live", "live");
    connEl.title = "";
    spec.onOpen();
    armIdle(gen, ctrl);
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "", type = "", data = [], hasData = false;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (gen !== conn.gen) return;
        if (done) break;
        armIdle(gen, ctrl);
        buf += value;
        let start = 0;
        for (;;) {
          const nl = buf.indexOf("\n", start);
          if (nl < 0) break;
          let line = buf.slice(start, nl);
          start = nl + 1;
          if (line.endsWith("\r")) line = line.slice(0, -1);
          if (line === "") {
            if (hasData) spec.onEvent(type, data.length === 1 ? data[0] : data.join("\n"));
            type = ""; data = []; hasData = false;
            continue;
          }
          if (line.charCodeAt(0) === 58) continue; // ":" comment: heartbeat
          const c = line.indexOf(":");
          const field = c < 0 ? line : line.slice(0, c);
          let val = c < 0 ? "" : line.slice(c + 1);
          if (val.charCodeAt(0) === 32) val = val.slice(1);
          if (field === "data") { data.push(val); hasData = true; }
          else if (field === "event") type = val;
          else if (field === "id") { if (!val.includes("\0")) spec.lastId = val; }
          else if (field === "retry") { const n = parseInt(val, 10); if (n >= 0) conn.retryHint = n; }
        }
        buf = start ? buf.slice(start) : buf;
        if (buf.length > 16 << 20) throw new Error("event too large");
      }
    } catch (_) {
      if (gen !== conn.gen) return;
    }
    if (gen !== conn.gen) return;
    if (!ctrl.idleAbort && spec.ends && spec.ends()) {
      clearTimeout(conn.idle);
      setConn("offline", "range shown");
      spec.onEnd();
      return;
    }
    spec.onBreak();
    retry(gen, 0, ctrl.idleAbort ? "no heartbeat for 60 s" : "stream ended");
  }

  window.addEventListener("offline", () => {
    if (conn.spec) { disconnect(); setConn("offline", "offline"); }
  });
  window.addEventListener("online", () => {
    if (conn.spec) { conn.backoff = 0; disconnect(); run(++conn.gen); }
  });

  // ---------------------------------------------------------------- sources
  let catalog = [];

  async function loadSources() {
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
        cb.addEventListener("change", onSourceToggle);
        label.appendChild(cb);
      } else {
        const b = document.createElement("input");
        b.type = "radio";
        b.name = "metric-src";
        b.value = s.name;
        b.checked = st.view === "metrics" && currentMetric() === s.name;
        b.addEventListener("change", () => { st.metric = s.name; showView("metrics"); });
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

  function selectedLogSources() {
    const files = catalog.filter(isLogSource).map((s) => s.name);
    return st.sources ? st.sources.filter((n) => files.includes(n)) : files;
  }

  function currentMetric() {
    const ms = catalog.filter((s) => s.kind === "metrics").map((s) => s.name);
    return ms.includes(st.metric) ? st.metric : ms[0] || "";
  }

  function onSourceToggle() {
    const all = [...$("source-list").querySelectorAll("input[type=checkbox]")];
    const on = all.filter((c) => c.checked).map((c) => c.value);
    st.sources = on.length === all.length ? null : on;
    writeURL();
    if (st.view === "logs") startLogs(true);
  }

  // ---------------------------------------------------------------- log view
  const logEl = $("log");
  const logSpec = { lastId: "", build: null, onEvent: null, onOpen: null, onBreak: null, onRefused: null };
  let queue = []; // events received and not yet in the DOM
  let waiting = 0; // received while paused
  let paused = false;
  let following = true;
  let flushScheduled = false;
  let received = 0;
  let multi = false;
  let highlighters = [];
  let selRow = null;

  function logURL(lastId) {
    const p = new URLSearchParams();
    p.set("sources", selectedLogSources().join(","));
    p.set("format", "json");
    for (const k of ["q", "re", "not", "level"]) if (st[k]) p.set(k, st[k]);
    if (lastId) p.set("lastEventId", lastId);
    else if (!setWindow(p)) p.set("tail", String(st.tail));
    return "/stream?" + p.toString();
  }

  // setWindow puts the time range in p; false when the view is live only.
  function setWindow(p) {
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
  function windowEnds() { return st.range === "custom" && !!isoOf(st.until); }

  function startLogs(fresh) {
    if (fresh) {
      clearView();
      logSpec.lastId = "";
    }
    $("filter-error").hidden = true;
    const srcs = selectedLogSources();
    multi = srcs.length > 1;
    highlighters = buildHighlighters();
    if (!srcs.length) {
      disconnect();
      setConn("offline", catalog.length ? "no source selected" : "no log source");
      pushItem({ kind: "note", text: catalog.some(isLogSource) ? "Tick a source to follow it." : "No log source is configured." });
      return;
    }
    connect(logSpec);
  }

  logSpec.build = logURL;
  logSpec.ends = windowEnds;
  logSpec.onEnd = () => pushItem({ kind: "note", text: "End of the range." });
  logSpec.onOpen = () => {};
  logSpec.onBreak = () => pushItem({ kind: "note", text: "Connection lost at " + new Date().toLocaleTimeString() + "; reconnecting…" });
  logSpec.onRefused = (reason) => {
    const e = $("filter-error");
    e.textContent = "The agent refused this view: " + (reason || "bad request");
    e.hidden = false;
  };
  logSpec.onEvent = (type, data) => {
    let ev;
    try { ev = JSON.parse(data); } catch (_) { ev = null; }
    if (type === "gap") {
      const n = ev && typeof ev.missed === "number" ? ev.missed : -1;
      const src = ev && ev.source ? " from " + ev.source : "";
      pushItem({ kind: "gap", text: (n >= 0 ? n.toLocaleString() + " lines missed" : "An unknown number of lines missed") + src, missed: n });
      return;
    }
    if (type !== "") return; // metric samples belong to the metrics view
    if (!ev || typeof ev !== "object") ev = { line: data };
    // The agent resumes exactly (file ids are durable, and a merged id
    // says where each source stood): nothing is sent twice, and nothing
    // needs hiding here.
    received++;
    pushItem({ kind: "line", ev });
  };

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

  function renderItem(it) {
    const div = document.createElement("div");
    if (it.kind !== "line") {
      div.className = "row " + it.kind;
      div.textContent = it.text;
      if (it.kind === "gap") div.setAttribute("role", "note");
      return div;
    }
    const ev = it.ev;
    div.className = "row lv-" + levelOf(ev.level);
    const t = document.createElement("span");
    t.className = "t";
    t.textContent = fmtTime(ev.time);
    div.appendChild(t);
    if (multi && ev.source) {
      const s = document.createElement("span");
      s.className = "s";
      s.textContent = ev.source;
      div.appendChild(s);
    }
    if (ev.identifier || ev.unit) {
      // A journal entry: who logged it, as journalctl shows it.
      const j = document.createElement("span");
      j.className = "j";
      const who = ev.identifier || ev.unit;
      j.textContent = who + (ev.pid ? "[" + ev.pid + "]" : "") + (ev.unit && ev.unit !== who ? " " + ev.unit : "");
      j.title = (ev.unit ? "unit " + ev.unit + "\n" : "") + (ev.identifier ? "identifier " + ev.identifier + "\n" : "") +
        (ev.priority != null ? "priority " + ev.priority : "");
      div.appendChild(j);
    }
    let line = String(ev.line == null ? "" : ev.line);
    if (line.includes("\x1b")) line = line.replace(ANSI, "");
    appendHighlighted(div, line);
    div._ev = ev;
    return div;
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

  function clearView() {
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
    $("act-json").textContent = selRow.querySelector("pre.json") ? "Collapse JSON" : "Pretty JSON";
    const pre = selRow.querySelector("pre.json");
    selRow.insertBefore(acts, pre);
    acts.hidden = false;
    if (!following) selRow.scrollIntoView({ block: "nearest" });
  }

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
    b.textContent = "Copied";
    setTimeout(() => { b.textContent = "Copy line"; }, 1200);
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

  logEl.addEventListener("click", (e) => {
    if (e.target.closest("#row-actions")) return;
    const row = e.target.closest(".row");
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

  // Filters: applied on the server by re-opening the stream with tail=.
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
    if (st.view === "logs") startLogs(true);
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
    if (st.view === "logs") startLogs(true);
  }
  $("f-range").addEventListener("change", applyRange);
  $("f-since").addEventListener("change", applyRange);
  $("f-until").addEventListener("change", applyRange);

  // downloadURL is what the view shows, as a plain-text download of one
  // source from disk.
  function downloadURL(src, until) {
    const p = new URLSearchParams();
    for (const k of ["q", "re", "not", "level"]) if (st[k]) p.set(k, st[k]);
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
    const rows = [...logEl.children].filter((r) => r._ev);
    const oldest = rows.length && rows[0]._ev.time ? rows[0]._ev.time : new Date().toISOString();
    const shown = new Set(rows.slice(0, 2000).map((r) => (r._ev.source || "") + "\u0000" + r._ev.line));
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
    const frag = document.createDocumentFragment();
    for (const it of items) frag.appendChild(renderItem(it));
    logEl.insertBefore(frag, logEl.firstChild);
    showCount();
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
    $("wrap").checked = st.wrap;
    $("times").checked = st.times;
    logEl.classList.toggle("wrap", st.wrap);
    logEl.classList.toggle("notimes", !st.times);
  }

  // ---------------------------------------------------------------- metrics
  let samples = [];
  let metricName = "";
  const metricSpec = { lastId: "", build: null, onEvent: null, onOpen: () => {}, onBreak: () => {}, onRefused: null };
  metricSpec.build = (lastId) => {
    const p = new URLSearchParams({ sources: metricName, fields: "cpu,mem,load,net,disk" });
    if (lastId) p.set("lastEventId", lastId);
    else p.set("tail", String(METRIC_TAIL));
    return "/stream?" + p.toString();
  };
  metricSpec.onRefused = (reason) => {
    $("metric-meta").textContent = "refused: " + reason;
  };
  metricSpec.onEvent = (type, data) => {
    if (type !== "metric") return;
    let m;
    try { m = JSON.parse(data); } catch (_) { return; }
    const t = Date.parse(m.time) || Date.now();
    if (samples.length && t <= samples[samples.length - 1].t) return;
    const sum = (arr, k) => (arr || []).reduce((a, x) => a + (x.iface === "lo" ? 0 : Number(x[k]) || 0), 0);
    const mem = m.mem || {};
    samples.push({
      t,
      cpu: m.cpu && m.cpu.total ? m.cpu.total.percent : null,
      user: m.cpu && m.cpu.total ? m.cpu.total.user : null,
      sys: m.cpu && m.cpu.total ? m.cpu.total.system : null,
      iowait: m.cpu && m.cpu.total ? m.cpu.total.iowait : null,
      mem: mem.total ? (mem.used_percent != null ? mem.used_percent : (100 * mem.used) / mem.total) : null,
      memUsed: mem.used, memTotal: mem.total,
      l1: m.load ? m.load.load1 : null, l5: m.load ? m.load.load5 : null, l15: m.load ? m.load.load15 : null,
      rx: m.net ? sum(m.net, "rx_bytes_per_s") : null, tx: m.net ? sum(m.net, "tx_bytes_per_s") : null,
      rd: m.disk ? sum(m.disk, "read_bytes_per_s") : null, wr: m.disk ? sum(m.disk, "write_bytes_per_s") : null,
    });
    if (samples.length > METRIC_KEEP) samples.splice(0, samples.length - METRIC_KEEP);
    scheduleDraw();
  };

  function startMetrics() {
    const name = currentMetric();
    $("metric-empty").hidden = !!name;
    if (!name) { disconnect(); setConn("offline", "no metrics source"); return; }
    if (name !== metricName) {
      metricName = name;
      samples = [];
      metricSpec.lastId = "";
    }
    connect(metricSpec);
    scheduleDraw();
  }

  $("metric-source").addEventListener("change", (e) => {
    st.metric = e.target.value;
    writeURL();
    startMetrics();
  });

  let drawScheduled = false;
  function scheduleDraw() {
    if (drawScheduled) return;
    drawScheduled = true;
    requestAnimationFrame(() => { drawScheduled = false; drawAll(); });
  }

  function fmtBytes(n) {
    if (n == null || !isFinite(n)) return "–";
    const u = ["B", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (Math.abs(n) >= 1000 && i < u.length - 1) { n /= 1000; i++; }
    return (n >= 100 || i === 0 ? n.toFixed(0) : n.toFixed(1)) + " " + u[i];
  }
  const fmtPct = (n) => (n == null ? "–" : n.toFixed(1) + " %");
  const fmtNum = (n) => (n == null ? "–" : n.toFixed(2));

  function drawAll() {
    if (st.view !== "metrics") return;
    const css = getComputedStyle(document.documentElement);
    const col = (v) => css.getPropertyValue(v).trim();
    const pal = { fg: col("--fg"), muted: col("--muted"), line: col("--line"), c: [col("--c1"), col("--c2"), col("--c3"), col("--c4")] };
    const last = samples[samples.length - 1] || {};
    draw("chart-cpu", pal, [["busy", "cpu"], ["user", "user"], ["system", "sys"], ["iowait", "iowait"]], { max: 100, fmt: fmtPct });
    $("now-cpu").textContent = fmtPct(last.cpu);
    draw("chart-mem", pal, [["used", "mem"]], { max: 100, fmt: fmtPct });
    $("now-mem").textContent = last.memTotal ? fmtPct(last.mem) + " of " + fmtBytes(last.memTotal).replace(" ", " ") : "–";
    draw("chart-load", pal, [["1 min", "l1"], ["5 min", "l5"], ["15 min", "l15"]], { fmt: fmtNum });
    $("now-load").textContent = last.l1 == null ? "–" : [last.l1, last.l5, last.l15].map(fmtNum).join(" ");
    draw("chart-net", pal, [["rx", "rx"], ["tx", "tx"]], { fmt: (n) => fmtBytes(n) + "/s" });
    $("now-net").textContent = last.rx == null ? "–" : "↓ " + fmtBytes(last.rx) + "/s ↑ " + fmtBytes(last.tx) + "/s";
    draw("chart-disk", pal, [["read", "rd"], ["write", "wr"]], { fmt: (n) => fmtBytes(n) + "/s" });
    $("now-disk").textContent = last.rd == null ? "–" : "r " + fmtBytes(last.rd) + "/s w " + fmtBytes(last.wr) + "/s";
    const span = samples.length > 1 ? Math.round((last.t - samples[0].t) / 1000) : 0;
    $("metric-meta").textContent = samples.length + " samples" + (span ? " over " + (span >= 120 ? Math.round(span / 60) + " min" : span + " s") : "");
  }

  function draw(id, pal, series, opt) {
    const cv = $(id);
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(50, cv.clientWidth), h = Math.max(50, cv.clientHeight);
    if (cv.width !== Math.round(w * dpr) || cv.height !== Math.round(h * dpr)) {
      cv.width = Math.round(w * dpr);
      cv.height = Math.round(h * dpr);
    }
    const g = cv.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    g.font = "11px system-ui, sans-serif";
    const L = 68, R = 6, T = 18, B = 16;
    const pw = w - L - R, ph = h - T - B;
    let max = opt.max || 0;
    if (!opt.max) {
      for (const s of samples) for (const [, k] of series) if (s[k] > max) max = s[k];
      max = niceCeil(max || 1);
    }
    // Grid and labels.
    g.strokeStyle = pal.line;
    g.fillStyle = pal.muted;
    g.lineWidth = 1;
    g.textAlign = "right";
    g.textBaseline = "middle";
    for (let i = 0; i <= 2; i++) {
      const y = T + ph - (ph * i) / 2;
      g.beginPath(); g.moveTo(L, Math.round(y) + 0.5); g.lineTo(L + pw, Math.round(y) + 0.5); g.stroke();
      g.fillText(opt.fmt((max * i) / 2), L - 6, y);
    }
    const n = samples.length;
    const t1 = n ? samples[n - 1].t : Date.now();
    const t0 = Math.min(n ? samples[0].t : t1, t1 - 10000);
    g.textAlign = "left";
    g.textBaseline = "alphabetic";
    g.fillText("-" + fmtSpan(t1 - t0), L, h - 3);
    g.textAlign = "right";
    g.fillText("now", L + pw, h - 3);
    // Series.
    series.forEach(([label, k], i) => {
      const color = pal.c[i % pal.c.length];
      g.strokeStyle = color;
      g.lineWidth = i === 0 ? 2 : 1.25;
      g.beginPath();
      let pen = false;
      for (const s of samples) {
        const v = s[k];
        if (v == null || !isFinite(v)) { pen = false; continue; }
        const x = L + ((s.t - t0) / (t1 - t0 || 1)) * pw;
        const y = T + ph - (Math.min(v, max) / max) * ph;
        if (pen) g.lineTo(x, y); else g.moveTo(x, y);
        pen = true;
      }
      g.stroke();
      // Legend.
      const lx = L + i * 70;
      g.fillStyle = color;
      g.fillRect(lx, 4, 10, 3);
      g.fillStyle = pal.fg;
      g.textAlign = "left";
      g.textBaseline = "middle";
      g.fillText(label, lx + 14, 6);
    });
    cv.dataset.points = String(n);
    cv.dataset.last = n ? String(samples[n - 1][series[0][1]]) : "";
  }

  function niceCeil(v) {
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  function fmtSpan(ms) {
    const s = Math.round(ms / 1000);
    return s >= 120 ? Math.round(s / 60) + " min" : s + " s";
  }

  new ResizeObserver(() => scheduleDraw()).observe($("view-metrics"));
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", scheduleDraw);

  // ---------------------------------------------------------------- views
  function showView(v) {
    st.view = v;
    $("view-logs").hidden = v !== "logs";
    $("view-metrics").hidden = v !== "metrics";
    $("tab-logs").setAttribute("aria-pressed", String(v === "logs"));
    $("tab-metrics").setAttribute("aria-pressed", String(v === "metrics"));
    for (const r of document.querySelectorAll("input[name=metric-src]")) r.checked = v === "metrics" && r.value === currentMetric();
    writeURL();
    if (v === "logs") startLogs(false); // resumes with the last id
    else startMetrics();
  }
  $("tab-logs").addEventListener("click", () => showView("logs"));
  $("tab-metrics").addEventListener("click", () => showView("metrics"));

  // ---------------------------------------------------------------- keys
  function moveSel(d) {
    const rows = logEl.children;
    if (!rows.length) return;
    let i = selRow && selRow.isConnected ? Array.prototype.indexOf.call(rows, selRow) + d : d > 0 ? rows.length - 1 : rows.length - 1;
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
      case "e": case "Enter": if (selRow) { e.preventDefault(); toggleJSON(); } break;
      case "Escape": select(null); break;
    }
  });

  // ---------------------------------------------------------------- start
  async function init() {
    readURL();
    fillFilterInputs();
    await loadSources();
    showView(st.view);
    setInterval(async () => {
      if (await loadSources()) {
        // Sources were added or removed (a reload): follow the new set.
        if (st.view === "logs") startLogs(true); else startMetrics();
      }
    }, 5000);
  }
  init();
})();
