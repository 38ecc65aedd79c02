// The one stream reader of the UI, shared by the agent's page (app.js) and
// the fleet hub's page (fleet.js).
//
// It reads text/event-stream with fetch() and parses it here rather than
// with EventSource: EventSource hides heartbeat comments (needed to notice a
// dead link after 60 s), gives up for good on a non-2xx answer, and cannot
// show the one-line reason of a 400, 403, 429 or 503.
//
// Nothing here touches the page: what the reader has to say goes through
// the callbacks a page hands it (status light, events, refusals).

export const IDLE_MS = 60000; // no byte (heartbeats included) for this long: reconnect
const MAX_BACKOFF_MS = 30000;
const MAX_EVENT = 16 << 20; // bytes of one event (or of an unended line)

// SSEParser turns the chunks of a text/event-stream body into events, as
// the HTML standard's "event stream interpretation" does: lines end in CRLF,
// LF or a lone CR; a line starting with ":" is a comment (a heartbeat); the
// fields are data, event, id (ignored when it holds NUL) and retry (digits
// only); a blank line dispatches the event, which has no effect without a
// data field but still commits its id; an event left unended when the
// stream stops is dropped. Events without an event field are "message".
//
// onEvent(type, data, lastId) is called per event; onRetry(ms) per valid
// retry field. lastId is the id to resume after: it changes only when an
// event is dispatched, so a link lost in the middle of an event resumes
// before it.
export class SSEParser {
  constructor(onEvent, onRetry = () => {}, lastId = "") {
    this.onEvent = onEvent;
    this.onRetry = onRetry;
    this.lastId = lastId; // committed: the id of the last dispatched event
    this.buf = "";
    this.cr = false; // the last chunk ended in CR: a LF starting the next is part of it
    this.reset();
    this.idBuf = lastId;
  }

  reset() {
    this.type = "";
    this.data = [];
    this.size = 0;
  }

  // push parses one chunk of decoded text.
  push(chunk) {
    const buf = this.buf + chunk;
    let start = 0;
    if (this.cr && buf.charCodeAt(0) === 10) start = 1;
    this.cr = false;
    // The next CR and LF at or after start (-1: none left), each looked
    // for again only once passed, so that a chunk is scanned once.
    let cr = buf.indexOf("\r", start), nl = buf.indexOf("\n", start);
    for (;;) {
      if (cr >= 0 && cr < start) cr = buf.indexOf("\r", start);
      if (nl >= 0 && nl < start) nl = buf.indexOf("\n", start);
      const end = cr < 0 ? nl : nl < 0 ? cr : Math.min(cr, nl);
      if (end < 0) break;
      const line = buf.slice(start, end);
      start = end + 1;
      if (end === cr) {
        if (start === buf.length) this.cr = true;
        else if (buf.charCodeAt(start) === 10) start++;
      }
      this.line(line);
    }
    this.buf = start ? buf.slice(start) : buf;
    if (this.buf.length > MAX_EVENT) throw new Error("event too large");
  }

  line(line) {
    if (line === "") { this.dispatch(); return; }
    if (line.charCodeAt(0) === 58) return; // ":" comment: heartbeat
    const c = line.indexOf(":");
    const field = c < 0 ? line : line.slice(0, c);
    let val = c < 0 ? "" : line.slice(c + 1);
    if (val.charCodeAt(0) === 32) val = val.slice(1);
    switch (field) {
      case "data":
        this.data.push(val);
        this.size += val.length + 1;
        if (this.size > MAX_EVENT) throw new Error("event too large");
        break;
      case "event": this.type = val; break;
      case "id": if (!val.includes("\0")) this.idBuf = val; break;
      case "retry": if (/^[0-9]+$/.test(val)) this.onRetry(parseInt(val, 10)); break;
    }
  }

  dispatch() {
    this.lastId = this.idBuf;
    const { type, data } = this;
    this.reset();
    if (!data.length) return;
    this.onEvent(type || "message", data.length === 1 ? data[0] : data.join("\n"), this.lastId);
  }
}

// firstLine is the one-line reason of a refused request: the first line of
// its body, which the agent and the hub keep to one line.
export async function firstLine(resp) {
  try { return (await resp.text()).trim().split("\n")[0]; } catch (_) { return ""; }
}

// Stream keeps one connection at a time, reconnecting with jittered
// exponential backoff and resuming after the last event's id.
//
// opts: status(state, text, title) shows the connection's state (state is
//   connecting, live, reconnecting or offline; title, when not undefined, is
//   the why of it); headers() gives the headers of each request (a token);
//   auth(), when set, is awaited on a 401 before trying again; without it a
//   401 is a refusal.
//
// spec (one per view, handed to connect): build(lastId) -> url; lastId
//   ("" for a fresh start; kept up to date); lastIdHeader (send Last-Event-ID
//   as a header too, as EventSource does); final (statuses that are not
//   retried, [400] by default); onEvent(type, data, id) (id: the event's
//   id, or the last one before it); onOpen(); onBreak(why);
//   onRefused(reason, status) for a final status; onRetry(reason, status)
//   for any other non-2xx answer, which is retried (Retry-After honoured);
//   ends() and onEnd(): a stream that ends while ends() holds is complete,
//   not broken.
export class Stream {
  constructor(opts = {}) {
    this.status = opts.status || (() => {});
    this.headers = opts.headers || (() => ({}));
    this.auth = opts.auth || null;
    this.idleMs = opts.idleMs || IDLE_MS;
    this.gen = 0;
    this.ctrl = null;
    this.spec = null;
    this.backoff = 0;
    this.retryHint = 0;
    this.timer = 0;
    this.idle = 0;
    this.wasLive = false;
    if (typeof window !== "undefined") {
      window.addEventListener("offline", () => {
        if (this.spec) { this.disconnect(); this.status("offline", "offline"); }
      });
      window.addEventListener("online", () => {
        if (this.spec) { this.backoff = 0; this.disconnect(); this.run(++this.gen); }
      });
    }
  }

  // connect reads spec's stream, instead of the one read so far.
  connect(spec) {
    this.disconnect();
    this.spec = spec;
    this.backoff = 0;
    this.wasLive = false;
    this.run(++this.gen);
  }

  // disconnect stops reading, and any retry that is due.
  disconnect() {
    this.gen++;
    clearTimeout(this.timer);
    clearTimeout(this.idle);
    if (this.ctrl) this.ctrl.abort();
    this.ctrl = null;
  }

  retry(gen, minMs, why) {
    if (gen !== this.gen) return;
    clearTimeout(this.idle);
    this.backoff = Math.min(this.backoff ? this.backoff * 2 : 500, MAX_BACKOFF_MS);
    // Jitter: many tabs cut off at once do not come back at once.
    let d = this.backoff * (0.5 + Math.random() * 0.5);
    d = Math.max(d, minMs, Math.min(this.retryHint, MAX_BACKOFF_MS));
    if (typeof navigator !== "undefined" && navigator.onLine === false) {
      this.status("offline", "offline");
      return; // the "online" event reconnects
    }
    this.status("reconnecting", "reconnecting in " + Math.ceil(d / 1000) + " s", why || "");
    this.timer = setTimeout(() => this.run(gen), d);
  }

  armIdle(gen, ctrl) {
    clearTimeout(this.idle);
    this.idle = setTimeout(() => {
      if (gen === this.gen) { ctrl.idleAbort = true; ctrl.abort(); }
    }, this.idleMs);
  }

  async run(gen) {
    if (gen !== this.gen) return;
    const spec = this.spec;
    if (!this.wasLive) this.status("connecting", "connecting");
    const ctrl = new AbortController();
    this.ctrl = ctrl;
    const headers = { Accept: "text/event-stream", ...this.headers() };
    if (spec.lastIdHeader && spec.lastId) headers["Last-Event-ID"] = spec.lastId;
    let resp;
    try {
      resp = await fetch(spec.build(spec.lastId), {
        headers, credentials: "same-origin", cache: "no-store", signal: ctrl.signal,
      });
    } catch (_) {
      return this.retry(gen, 0, "network error");
    }
    if (gen !== this.gen) { ctrl.abort(); return; }
    if (!resp.ok) {
      const reason = await firstLine(resp);
      if (gen !== this.gen) return;
      if (resp.status === 401 && this.auth) {
        this.status("offline", "sign-in needed");
        await this.auth();
        return this.run(gen);
      }
      if ((spec.final || [400]).includes(resp.status) || resp.status === 401) {
        this.status("offline", "refused", reason);
        if (spec.onRefused) spec.onRefused(reason, resp.status);
        return;
      }
      if (spec.onRetry) spec.onRetry(reason, resp.status);
      const ra = parseFloat(resp.headers.get("Retry-After") || "") * 1000;
      return this.retry(gen, Number.isFinite(ra) ? ra : 0, resp.status + " " + reason);
    }
    this.backoff = 0;
    this.wasLive = true;
    this.status("live", "live", "");
    if (spec.onOpen) spec.onOpen();
    this.armIdle(gen, ctrl);
    const parser = new SSEParser(
      (type, data, id) => { spec.lastId = id; spec.onEvent(type, data, id); },
      (ms) => { this.retryHint = ms; },
      spec.lastId,
    );
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (gen !== this.gen) return;
        if (done) break;
        this.armIdle(gen, ctrl);
        parser.push(value);
        // An id on an event without data still moves the resume point.
        spec.lastId = parser.lastId;
      }
    } catch (_) {
      if (gen !== this.gen) return;
    }
    if (gen !== this.gen) return;
    if (!ctrl.idleAbort && spec.ends && spec.ends()) {
      clearTimeout(this.idle);
      this.status("offline", "range shown");
      if (spec.onEnd) spec.onEnd();
      return;
    }
    const why = ctrl.idleAbort ? "no heartbeat for " + Math.round(this.idleMs / 1000) + " s" : "stream ended";
    if (spec.onBreak) spec.onBreak(why);
    this.retry(gen, 0, why);
  }
}
