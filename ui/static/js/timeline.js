// The timeline above the agent page's log view: how many events of the
// view (its sources, filters and range; live: the last hour) there are per
// time bucket, stacked by level, from GET /api/counts, then kept up to date
// by the live events the view receives (the page never asks the agent per
// line). Drag across it, or click a bar, to set the range; hover (or the
// arrow keys) shows a bucket's counts.
//
// The counts answer says where it stopped ("through": the merged stream's
// order, m<G>): an event of the stream at or before it is already counted,
// one after it is added to its bucket by its own time. Live, the window
// slides when an event falls past its end, and is asked for again every
// REFRESH_MS.
//
// A canvas, drawn per animation frame, with the theme's colours (app.css
// --tl-*); it says what it drew in data-buckets, data-bars (buckets with
// events), data-total, data-step, data-start (of the first bucket) and
// data-since/data-until (the window), times in ms.

import { $ } from "./dom.js";
import { setFilters, setWindow } from "./state.js";
import { apiFetch } from "./auth.js";

// LEVELS in stacking order, bottom first: errors stand on the axis.
export const LEVELS = ["error", "warn", "info", "debug", "none"];
const REFRESH_MS = 5 * 60 * 1000;
const PENDING_MAX = 20000; // live events kept while the counts are asked for

let onPick = () => {};
let sources = [];
let cur = null; // {start, step, n, counts: [[5]...], through, live, since, until} (times in ms)
let pending = null; // [[g, t, lv], ...] while a count is asked for; null otherwise
let gen = 0;
let refresh = 0;
let hover = -1;
let drag = null; // {i0, i1, x0, moved}

const cv = $("tl-canvas");
const tip = $("tl-tip");
const sel = $("tl-sel");

// wireTimeline sets what a drag or a click on a bar does: pick(sinceMs,
// untilMs), the range to show (until inclusive: the last millisecond of
// the last bucket).
export function wireTimeline(pick) { onPick = pick; }

// loadTimeline asks for the counts of the view (srcs, the filters and the
// range in st) and shows them; live says whether the view goes on live
// (the window then slides with the events).
export function loadTimeline(srcs, live) {
  sources = srcs.slice();
  const g = ++gen;
  clearTimeout(refresh);
  $("timeline").hidden = !sources.length;
  if (!sources.length) { cur = null; return; }
  pending = [];
  const p = new URLSearchParams();
  p.set("sources", sources.join(","));
  setFilters(p);
  setWindow(p);
  $("tl-meta").textContent = "counting…";
  apiFetch("/api/counts?" + p.toString()).then(async (r) => {
    if (g !== gen) return;
    if (!r.ok) throw new Error((await r.text()).trim() || r.status);
    const ans = await r.json();
    if (g !== gen) return;
    show(ans, live);
    if (live) refresh = setTimeout(() => { if (g === gen) loadTimeline(sources, true); }, REFRESH_MS);
  }).catch((e) => {
    if (g !== gen) return;
    pending = null;
    cur = null;
    $("tl-meta").textContent = "counts unavailable: " + (e && e.message ? e.message : e);
    schedule();
  });
}

// stepMs reads the answer's step (1s, 10s, 1m, 5m, 15m, 1h, 6h, 1d, 90s...).
function stepMs(s) {
  const m = /^(\d+)([smhd])$/.exec(s || "");
  if (!m) return 0;
  return Number(m[1]) * { s: 1e3, m: 6e4, h: 36e5, d: 864e5 }[m[2]];
}

function show(ans, live) {
  const step = stepMs(ans.step);
  const bs = ans.buckets || [];
  if (!step || !bs.length) { cur = null; schedule(); return; }
  cur = {
    start: Date.parse(bs[0].time), step, n: bs.length,
    counts: bs.map((b) => LEVELS.map((l) => (b.levels && b.levels[l]) || 0)),
    through: gOf(ans.through), live,
    since: Date.parse(ans.since), until: Date.parse(ans.until),
  };
  const early = pending || [];
  pending = null;
  for (const [g, t, lv] of early) add(g, t, lv);
  describe();
  schedule();
}

// gOf reads the merged order of an id (m<G>,...), or -1.
function gOf(id) {
  const m = /^m(\d+)/.exec(id || "");
  return m ? Number(m[1]) : -1;
}

const levelIndex = (l) => { const i = LEVELS.indexOf(l); return i < 0 ? 4 : i; };

// timelineEvent counts a live event of the view ({time, level}) that came
// with the stream id id, unless the counts already hold it.
export function timelineEvent(ev, id) {
  const g = gOf(id);
  const t = Date.parse(ev && ev.time);
  if (!Number.isFinite(t)) return;
  const lv = levelIndex(ev.level || "none");
  if (pending) {
    if (pending.length < PENDING_MAX) pending.push([g, t, lv]);
    return;
  }
  if (add(g, t, lv)) { describe(); schedule(); }
}

function add(g, t, lv) {
  if (!cur || g < 0 || g <= cur.through || t < cur.since) return false;
  let i = Math.floor((t - cur.start) / cur.step);
  if (i >= cur.n) {
    if (!cur.live) {
      if (t > cur.until) return false;
      i = cur.n - 1;
    } else {
      // Slide: the window's end follows the newest event.
      const k = i - cur.n + 1;
      const keep = Math.max(0, cur.n - k);
      cur.counts = cur.counts.slice(cur.n - keep).concat(Array.from({ length: cur.n - keep }, () => [0, 0, 0, 0, 0]));
      cur.start += k * cur.step;
      cur.since += k * cur.step;
      cur.until = Math.max(cur.until, t);
      i = cur.n - 1;
    }
  }
  if (i < 0) return false;
  cur.counts[i][lv]++;
  if (t > cur.until) cur.until = t;
  return true;
}

function total(b) { return b[0] + b[1] + b[2] + b[3] + b[4]; }

function fmtStep(ms) {
  for (const [u, d] of [["d", 864e5], ["h", 36e5], ["m", 6e4]]) if (ms % d === 0) return ms / d + u;
  return ms / 1e3 + "s";
}

function describe() {
  if (!cur) return;
  const n = cur.counts.reduce((a, b) => a + total(b), 0);
  $("tl-meta").textContent = n.toLocaleString() + " events · " + fmtStep(cur.step) + " bars" +
    (cur.live ? " · live" : "") + " · drag or click to zoom";
}

// ---------------------------------------------------------------- drawing

let scheduled = false;
function schedule() {
  if (scheduled) return;
  scheduled = true;
  const run = () => { scheduled = false; draw(); };
  // The timeout covers a hidden tab, where frames do not run.
  const t = setTimeout(run, 250);
  requestAnimationFrame(() => { clearTimeout(t); if (scheduled) run(); });
}

const PAD = { l: 46, r: 8, t: 6, b: 18 };

function geometry() {
  const w = Math.max(100, cv.clientWidth), h = Math.max(40, cv.clientHeight);
  return { w, h, pw: w - PAD.l - PAD.r, ph: h - PAD.t - PAD.b };
}

function palette() {
  const css = getComputedStyle(document.documentElement);
  const v = (k) => css.getPropertyValue(k).trim();
  return { lv: LEVELS.map((l) => v("--tl-" + l)), fg: v("--fg"), muted: v("--muted"), line: v("--line"), accent: v("--accent") };
}

function niceCeil(x) {
  const p = Math.pow(10, Math.floor(Math.log10(x)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

const TICKS = [1e3, 5e3, 1e4, 3e4, 6e4, 3e5, 6e5, 9e5, 18e5, 36e5, 108e5, 216e5, 432e5, 864e5, 1728e5, 6048e5];

function tickLabel(t, span) {
  const d = new Date(t);
  const p = (n) => String(n).padStart(2, "0");
  const hm = p(d.getHours()) + ":" + p(d.getMinutes());
  if (span <= 12e4) return hm + ":" + p(d.getSeconds());
  if (span <= 864e5) return hm;
  const day = d.toLocaleDateString(undefined, { month: "short", day: "numeric" });
  return d.getHours() === 0 && d.getMinutes() === 0 ? day : day + " " + hm;
}

function draw() {
  const dpr = window.devicePixelRatio || 1;
  const { w, h, pw, ph } = geometry();
  if (cv.width !== Math.round(w * dpr) || cv.height !== Math.round(h * dpr)) {
    cv.width = Math.round(w * dpr);
    cv.height = Math.round(h * dpr);
  }
  const g = cv.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const pal = palette();
  g.font = "11px system-ui, sans-serif";
  g.strokeStyle = pal.line;
  g.lineWidth = 1;
  g.beginPath();
  g.moveTo(PAD.l, PAD.t + ph + 0.5);
  g.lineTo(PAD.l + pw, PAD.t + ph + 0.5);
  g.stroke();
  if (!cur) {
    cv.dataset.buckets = "0";
    cv.dataset.bars = "0";
    cv.dataset.total = "0";
    return;
  }
  let max = 0, bars = 0, sum = 0;
  for (const b of cur.counts) {
    const n = total(b);
    if (n > max) max = n;
    if (n) bars++;
    sum += n;
  }
  const top = niceCeil(Math.max(max, 1));
  const bw = pw / cur.n;
  const gap = bw > 4 ? 1 : 0;
  for (let i = 0; i < cur.n; i++) {
    const b = cur.counts[i];
    let y = PAD.t + ph;
    const x = PAD.l + i * bw;
    for (let l = 0; l < LEVELS.length; l++) {
      if (!b[l]) continue;
      const hgt = Math.max(1, (b[l] / top) * ph);
      g.fillStyle = pal.lv[l];
      g.fillRect(x + gap / 2, y - hgt, Math.max(1, bw - gap), hgt);
      y -= hgt;
    }
  }
  if (hover >= 0 && hover < cur.n) {
    g.strokeStyle = pal.accent;
    g.strokeRect(PAD.l + hover * bw + 0.5, PAD.t + 0.5, Math.max(1, bw - 1), ph - 1);
  }
  // Axes: the top count, and times at a round interval.
  g.fillStyle = pal.muted;
  g.textAlign = "right";
  g.textBaseline = "top";
  g.fillText(top.toLocaleString(), PAD.l - 6, PAD.t);
  g.textBaseline = "bottom";
  g.fillText("0", PAD.l - 6, PAD.t + ph);
  const span = cur.n * cur.step;
  const every = TICKS.find((d) => (d / span) * pw >= 90) || TICKS[TICKS.length - 1];
  const zone = new Date(cur.start).getTimezoneOffset() * 6e4;
  g.textAlign = "center";
  g.textBaseline = "top";
  for (let t = Math.ceil((cur.start - zone) / every) * every + zone; t <= cur.start + span; t += every) {
    const x = PAD.l + ((t - cur.start) / span) * pw;
    g.strokeStyle = pal.line;
    g.beginPath();
    g.moveTo(Math.round(x) + 0.5, PAD.t + ph);
    g.lineTo(Math.round(x) + 0.5, PAD.t + ph + 3);
    g.stroke();
    g.fillText(tickLabel(t, span), Math.min(Math.max(x, PAD.l + 20), w - 24), PAD.t + ph + 4);
  }
  cv.dataset.buckets = String(cur.n);
  cv.dataset.bars = String(bars);
  cv.dataset.total = String(sum);
  cv.dataset.step = String(cur.step);
  cv.dataset.start = String(cur.start);
  cv.dataset.since = String(cur.since);
  cv.dataset.until = String(cur.until);
  cv.setAttribute("aria-label", "Events over time: " + sum + " events in " + cur.n + " bars of " + fmtStep(cur.step));
}

// ---------------------------------------------------------------- pointer and keys

function bucketAt(clientX) {
  if (!cur) return -1;
  const r = cv.getBoundingClientRect();
  const { pw } = geometry();
  const i = Math.floor(((clientX - r.left - PAD.l) / pw) * cur.n);
  return Math.max(0, Math.min(cur.n - 1, i));
}

function fmtWhen(t, step) {
  const d = new Date(t);
  const p = (n) => String(n).padStart(2, "0");
  let s = d.toLocaleDateString(undefined, { month: "short", day: "numeric" }) + " " + p(d.getHours()) + ":" + p(d.getMinutes());
  if (step < 6e4) s += ":" + p(d.getSeconds());
  return s;
}

function showTip(i, clientX) {
  if (!cur || i < 0) { tip.hidden = true; return; }
  const b = cur.counts[i];
  const t0 = cur.start + i * cur.step;
  tip.textContent = "";
  const head = document.createElement("div");
  head.className = "tl-when";
  head.textContent = fmtWhen(t0, cur.step) + " – " + fmtWhen(t0 + cur.step, cur.step).split(" ").pop() + " · " + total(b).toLocaleString() + " events";
  tip.appendChild(head);
  for (let l = 0; l < LEVELS.length; l++) {
    const row = document.createElement("div");
    row.className = "tl-row tl-" + LEVELS[l];
    const sw = document.createElement("span");
    sw.className = "tl-sw";
    row.append(sw, document.createTextNode(LEVELS[l] + " " + b[l].toLocaleString()));
    tip.appendChild(row);
  }
  tip.hidden = false;
  const box = cv.parentElement.getBoundingClientRect();
  const x = (clientX === undefined ? cv.getBoundingClientRect().left + PAD.l + (i + 0.5) * (geometry().pw / cur.n) : clientX) - box.left;
  tip.style.left = Math.max(0, Math.min(x + 12, box.width - tip.offsetWidth - 4)) + "px";
}

function showSel(a, b) {
  if (!cur) return;
  const lo = Math.min(a, b), hi = Math.max(a, b);
  const bw = geometry().pw / cur.n;
  sel.style.left = PAD.l + lo * bw + "px";
  sel.style.width = Math.max(2, (hi - lo + 1) * bw) + "px";
  sel.hidden = false;
}

function pick(a, b) {
  sel.hidden = true;
  if (!cur) return;
  const lo = Math.min(a, b), hi = Math.max(a, b);
  onPick(cur.start + lo * cur.step, cur.start + (hi + 1) * cur.step - 1);
}

cv.addEventListener("pointerdown", (e) => {
  if (e.button !== 0 || !cur) return;
  cv.setPointerCapture(e.pointerId);
  const i = bucketAt(e.clientX);
  drag = { i0: i, i1: i, x0: e.clientX, moved: false };
  showSel(i, i);
});
cv.addEventListener("pointermove", (e) => {
  const i = bucketAt(e.clientX);
  if (drag) {
    if (Math.abs(e.clientX - drag.x0) > 3) drag.moved = true;
    drag.i1 = i;
    showSel(drag.i0, i);
  }
  if (i !== hover) { hover = i; schedule(); }
  showTip(i, e.clientX);
});
cv.addEventListener("pointerup", (e) => {
  if (!drag) return;
  const d = drag;
  drag = null;
  d.i1 = bucketAt(e.clientX);
  pick(d.i0, d.moved ? d.i1 : d.i0);
});
cv.addEventListener("pointercancel", () => { drag = null; sel.hidden = true; });
cv.addEventListener("pointerleave", () => {
  if (drag) return;
  hover = -1;
  tip.hidden = true;
  schedule();
});
cv.addEventListener("keydown", (e) => {
  if (!cur) return;
  switch (e.key) {
    case "ArrowLeft": case "ArrowRight": {
      e.preventDefault();
      const d = e.key === "ArrowLeft" ? -1 : 1;
      hover = hover < 0 ? cur.n - 1 : Math.max(0, Math.min(cur.n - 1, hover + d));
      showTip(hover);
      schedule();
      break;
    }
    case "Enter": case " ":
      if (hover >= 0) { e.preventDefault(); pick(hover, hover); }
      break;
    case "Escape":
      hover = -1;
      tip.hidden = true;
      schedule();
      break;
  }
});
cv.addEventListener("blur", () => { if (!drag) { hover = -1; tip.hidden = true; schedule(); } });

new ResizeObserver(schedule).observe(cv);
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", schedule);
