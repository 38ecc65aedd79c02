// The fleet hub's page: one EventSource on /stream?hosts=&sources=&...,
// resumed by the browser itself with Last-Event-ID (ids are JetStream
// positions, valid on any hub). The host picker is filled from /api/hosts.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const log = $("log"), conn = $("conn"), connText = $("conn-text");
  const maxLines = 5000;
  let es = null;

  function state(s, text) { conn.dataset.state = s; connText.textContent = text; }
  function showError(msg) { const e = $("error"); e.textContent = msg; e.hidden = !msg; }

  async function loadHosts() {
    const r = await fetch("/api/hosts", { cache: "no-store" });
    if (r.status === 401) { $("token-form").hidden = false; state("error", "sign in"); return false; }
    if (!r.ok) { showError("hosts: " + r.status); return true; }
    const hosts = await r.json();
    const list = $("host-list"), pick = $("f-pick");
    list.replaceChildren(); pick.replaceChildren(new Option("all hosts", ""));
    for (const h of hosts) {
      list.append(new Option(h.host));
      const o = new Option(h.host + " (" + h.sources.join(", ") + ")", h.host);
      pick.append(o);
    }
    return true;
  }

  function query() {
    const p = new URLSearchParams();
    for (const k of ["hosts", "sources", "q", "re", "not", "level", "tail"]) {
      const v = $("f-" + k).value.trim();
      if (v !== "") p.set(k, v);
    }
    p.set("format", "json");
    return "/stream?" + p.toString();
  }

  function add(text, cls) {
    const d = document.createElement("div");
    d.className = "line" + (cls ? " " + cls : "");
    d.textContent = text;
    const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.append(d);
    while (log.childElementCount > maxLines) log.firstElementChild.remove();
    if (atEnd) log.scrollTop = log.scrollHeight;
  }

  function open() {
    if (es) es.close();
    log.replaceChildren();
    showError("");
    state("connecting", "connecting");
    es = new EventSource(query());
    es.onopen = () => state("live", "live");
    es.onerror = () => state("connecting", "reconnecting");
    es.onmessage = (ev) => {
      try {
        const d = JSON.parse(ev.data);
        add("[" + d.host + "/" + d.source + "] " + d.line, d.level ? "lvl-" + d.level : "");
      } catch { add(ev.data); }
    };
    es.addEventListener("gap", (ev) => {
      try {
        const d = JSON.parse(ev.data);
        const who = d.host ? " from " + d.host + "/" + d.source : "";
        add("… " + (d.missed < 0 ? "some" : d.missed) + " lines missed" + who, "gap");
      } catch { add("… lines missed", "gap"); }
    });
  }

  $("f-pick").addEventListener("change", () => { $("f-hosts").value = $("f-pick").value; open(); });
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); open(); });
  $("token-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const t = $("token").value.trim();
    const r = await fetch("/api/session", { method: "POST", headers: { Authorization: "Bearer " + t } });
    if (!r.ok) { showError("token refused"); return; }
    $("token-form").hidden = true;
    if (await loadHosts()) open();
  });
  loadHosts().then((ok) => { if (ok) open(); });
  setInterval(() => { loadHosts(); }, 30000);
})();
