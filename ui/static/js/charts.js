// The metrics view's charts: the samples of one metrics source (CPU,
// memory, load, network, disk), kept in a bounded window and drawn on the
// five canvases, with the current value of each beside its title. Drawing
// is batched per animation frame and follows resizes and the colour scheme.
// Each canvas says in data-points and data-last what it drew.

import { $ } from "./dom.js";
import { st } from "./state.js";

export const METRIC_TAIL = 150; // samples of history asked for (5 min at 2 s)
const METRIC_KEEP = 600; // samples kept for the charts

let samples = [];

// resetSamples forgets the samples (another source is shown).
export function resetSamples() { samples = []; }

// addSample adds the data of one metric event; older or repeated samples
// are skipped.
export function addSample(data) {
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
}

let drawScheduled = false;
export function scheduleDraw() {
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
