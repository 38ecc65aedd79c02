package fleet

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"edgetail/event"
	"edgetail/query"
	"edgetail/sse"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// HubOptions configure a Hub. Every zero value means the default in
// brackets.
type HubOptions struct {
	Conn   *nats.Conn          // required
	JS     jetstream.JetStream // required
	Stream string              // [EDGETAIL]

	Heartbeat    time.Duration // comment frame interval [15s]
	Retry        time.Duration // the retry: hint [3s]
	WriteTimeout time.Duration // deadline of each write [10s]
	// ClientBuffer is how many events a viewer may fall behind before it is
	// sent a gap [8192]: more than an agent's 1024, since one message
	// brings up to 256 lines at once, and a publisher catching up after a
	// stall sends many such messages back to back.
	ClientBuffer    int
	MaxClients      int // streams in the whole hub [1000]
	MaxClientsPerIP int // streams per client address [32]
	ReplayLines     int // events a view keeps for viewers joining later [10000]
	ReplayBytes     int // bytes a view keeps [64 MiB]
	// TailScan is how many of the newest messages a new view reads to
	// find the last tail= lines [10000].
	TailScan uint64
	// ClientIP names the address the per-IP cap counts; nil: the peer.
	ClientIP func(*http.Request) string
	Logger   *zap.Logger
}

func (o *HubOptions) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.Stream == "" {
		o.Stream = DefaultStream
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = sse.DefaultHeartbeat
	}
	if o.Retry <= 0 {
		o.Retry = sse.DefaultRetry
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = sse.DefaultWriteTimeout
	}
	def(&o.ClientBuffer, 8192)
	def(&o.MaxClients, 1000)
	def(&o.MaxClientsPerIP, 32)
	def(&o.ReplayLines, 10000)
	def(&o.ReplayBytes, 64<<20)
	if o.TailScan == 0 {
		o.TailScan = 10000
	}
	if o.ClientIP == nil {
		o.ClientIP = func(r *http.Request) string {
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				return r.RemoteAddr
			}
			return host
		}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
}

// Hub serves the fleet view. It holds no state of its own worth keeping:
// every id is a JetStream position, so a viewer resumes on any hub, and a
// hub restarted from nothing picks up where its viewers left.
type Hub struct {
	opts HubOptions
	log  *zap.Logger

	mu      sync.Mutex
	views   map[string]*view // shared views by key
	clients int
	perIP   map[string]int

	hosts *hostTable
	ready atomic.Bool
	done  chan struct{}
	once  sync.Once

	sent, sentBytes, dropped       atomic.Uint64
	messages, badMessages          atomic.Uint64
	duplicates, rejected, resumes  atomic.Uint64
	consumers, retentionGaps, refs atomic.Int64
	consumerResets                 atomic.Uint64
	// streamLast is the stream's last sequence at the last check (Run):
	// readers ask about an idle consumer only when there is more.
	streamLast atomic.Uint64
}

// NewHub returns a Hub; it starts nothing until Run.
func NewHub(o HubOptions) *Hub {
	o.setDefaults()
	return &Hub{opts: o, log: o.Logger, views: make(map[string]*view), perIP: make(map[string]int),
		hosts: newHostTable(), done: make(chan struct{})}
}

// Run checks that the stream is reachable, keeps the host table, and on ctx
// done ends every stream and consumer.
func (h *Hub) Run(ctx context.Context) error {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	var hosts *reader
	defer func() {
		if hosts != nil {
			hosts.stop()
		}
	}()
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := h.opts.JS.Stream(cctx, h.opts.Stream)
		cancel()
		if err == nil {
			h.streamLast.Store(st.CachedInfo().State.LastSeq)
		}
		ok := err == nil && h.opts.Conn.IsConnected()
		if ok != h.ready.Load() {
			if ok {
				h.log.Info("fleet stream reachable", zap.String("stream", h.opts.Stream))
			} else {
				h.log.Warn("fleet stream not reachable", zap.String("stream", h.opts.Stream), zap.Error(err))
			}
		}
		if ok && hosts == nil {
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if hosts, err = h.hosts.start(sctx, h); err != nil {
				h.log.Warn("fleet: host table", zap.Error(err))
				hosts = nil
			}
			cancel()
		}
		h.ready.Store(ok)
		select {
		case <-ctx.Done():
			h.Close()
			return nil
		case <-t.C:
		}
	}
}

// Close ends every stream and consumer.
func (h *Hub) Close() {
	h.once.Do(func() {
		close(h.done)
		h.mu.Lock()
		views := make([]*view, 0, len(h.views))
		for _, v := range h.views {
			views = append(views, v)
		}
		h.mu.Unlock()
		for _, v := range views {
			v.stop()
		}
	})
}

// Ready reports whether NATS and the stream answered the last check.
func (h *Hub) Ready() bool { return h.ready.Load() }

// Access is what a request may read: host and source globs, nil for all.
type Access struct {
	Hosts, Sources []string
}

type accessKey struct{}

// WithAccess returns a context that limits the streams of a request.
func WithAccess(ctx context.Context, a Access) context.Context {
	return context.WithValue(ctx, accessKey{}, a)
}

func accessOf(ctx context.Context) Access {
	a, _ := ctx.Value(accessKey{}).(Access)
	return a
}

// Granted reports whether a grants every name in a request's list (exact
// names or globs); a glob is granted when a grant glob matches it as a
// name, which "*" and the same glob do.
func Granted(grants, names []string) (string, bool) {
	if len(grants) == 0 {
		return "", true
	}
	for _, n := range names {
		if !matchAny(grants, n) {
			return n, false
		}
	}
	return "", true
}

// refusal is a request answered before its stream starts.
type refusal struct {
	status int
	msg    string
}

func (h *Hub) refuse(w http.ResponseWriter, r *refusal) {
	h.rejected.Add(1)
	if r.status == http.StatusServiceUnavailable || r.status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(h.opts.Retry/time.Second))))
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(r.status)
	_, _ = w.Write([]byte(strings.Map(func(c rune) rune {
		if c < 0x20 {
			return ' '
		}
		return c
	}, r.msg) + "\n"))
}

// parseStream validates a stream request: hosts= and sources= here, every
// other parameter as on an agent.
func (h *Hub) parseStream(r *http.Request) (*viewSpec, *query.Request, *refusal) {
	q := r.URL.Query()
	var hosts, sources []string
	for name, dst := range map[string]*[]string{"hosts": &hosts, "sources": &sources} {
		if s := q.Get(name); s != "" {
			for _, p := range strings.Split(s, ",") {
				if p = strings.TrimSpace(p); p != "" {
					if len(p) > 256 {
						return nil, nil, &refusal{http.StatusBadRequest, name + ": entry longer than 256 bytes"}
					}
					*dst = append(*dst, p)
				}
			}
			if len(*dst) > 64 {
				return nil, nil, &refusal{http.StatusBadRequest, name + " names more than 64 entries"}
			}
		}
		q.Del(name)
	}
	req, err := query.ParseRequest(q, h.opts.ReplayLines)
	if err != nil {
		return nil, nil, &refusal{http.StatusBadRequest, err.Error()}
	}
	if q.Get("format") == "" {
		req.Format = query.FormatJSON // every event says its host and source
	}
	if req.Fields != nil {
		return nil, nil, &refusal{http.StatusBadRequest, "fields= is for metrics sources, which the fleet does not carry"}
	}
	acc := accessOf(r.Context())
	if n, ok := Granted(acc.Hosts, hosts); !ok {
		return nil, nil, &refusal{http.StatusForbidden, "this token does not grant host " + strconv.Quote(n)}
	}
	if n, ok := Granted(acc.Sources, sources); !ok {
		return nil, nil, &refusal{http.StatusForbidden, "this token does not grant source " + strconv.Quote(n)}
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		req.LastID = id
	}
	sp := &viewSpec{hosts: hosts, sources: sources, grantH: acc.Hosts, grantS: acc.Sources,
		filter: req.Filter, format: req.Format, replay: h.opts.ReplayLines, maxBytes: h.opts.ReplayBytes}
	var levels []string
	if lv := req.Filter.Level; lv != event.LevelUnknown {
		for l := lv; l <= event.LevelError; l++ {
			levels = append(levels, l.String())
		}
		levels = append(levels, levelGap)
	}
	nh, ns := hosts, sources
	if nh == nil && !hasGlob(acc.Hosts) {
		nh = acc.Hosts
	}
	if ns == nil && !hasGlob(acc.Sources) {
		ns = acc.Sources
	}
	sp.subjects = filterSubjects(h.opts.Stream, nh, ns, levels)
	js, _ := json.Marshal([]any{hosts, sources, acc.Hosts, acc.Sources, req.Filter.Key(), req.Format})
	sp.key = string(js)
	return sp, req, nil
}

func hasGlob(names []string) bool {
	for _, n := range names {
		if isGlob(n) {
			return true
		}
	}
	return false
}

// StreamHandler serves GET /stream?hosts=&sources=&... .
func (h *Hub) StreamHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			h.refuse(w, &refusal{http.StatusMethodNotAllowed, "streams answer GET only"})
			return
		}
		sp, req, ref := h.parseStream(r)
		if ref != nil {
			h.refuse(w, ref)
			return
		}
		ip := h.opts.ClientIP(r)
		if ref := h.admit(ip); ref != nil {
			h.refuse(w, ref)
			return
		}
		defer h.release(ip)
		vw, v, head, backlog, ref := h.subscribe(r.Context(), sp, req)
		if ref != nil {
			h.refuse(w, ref)
			return
		}
		defer h.unsubscribe(v, vw)
		hd := w.Header()
		hd.Set("Content-Type", "text/event-stream; charset=utf-8")
		hd.Set("Cache-Control", "no-cache, no-transform")
		hd.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		start := time.Now()
		h.log.Info("fleet stream opened", zap.String("client", ip), zap.Strings("hosts", sp.hosts),
			zap.Strings("sources", sp.sources), zap.Stringer("filter", &req.Filter), zap.Int("backlog", len(backlog)))
		why := h.pump(w, r.Context().Done(), vw, head, backlog)
		h.log.Info("fleet stream closed", zap.String("client", ip), zap.String("why", why), zap.Duration("after", time.Since(start)))
	})
}

func (h *Hub) admit(ip string) *refusal {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.done:
		return &refusal{http.StatusServiceUnavailable, "shutting down"}
	default:
	}
	if h.clients >= h.opts.MaxClients {
		return &refusal{http.StatusServiceUnavailable, "the hub serves its maximum of " + strconv.Itoa(h.opts.MaxClients) + " streams (stream.max_clients)"}
	}
	if h.perIP[ip] >= h.opts.MaxClientsPerIP {
		return &refusal{http.StatusTooManyRequests, "this address has its maximum of " + strconv.Itoa(h.opts.MaxClientsPerIP) + " streams open (stream.max_clients_per_ip)"}
	}
	h.clients++
	h.perIP[ip]++
	return nil
}

func (h *Hub) release(ip string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.clients--
	if h.perIP[ip]--; h.perIP[ip] <= 0 {
		delete(h.perIP, ip)
	}
}

// subscribe finds or starts the view a request reads, and what the viewer
// is sent before live events: the retry: frame, a gap when its resume
// point has passed the stream's retention, and its backlog.
func (h *Hub) subscribe(ctx context.Context, sp *viewSpec, req *query.Request) (*viewer, *view, []byte, []*hevent, *refusal) {
	head := sse.AppendRetry(nil, h.opts.Retry)
	resume, resuming := pos{}, false
	if req.LastID != "" {
		if p, ok := parseID(req.LastID); ok {
			resume, resuming = p, true
			h.resumes.Add(1)
		} else {
			head = sse.AppendGap(head, -1, "")
		}
	}
	vw := newViewer(h.opts.ClientBuffer)

	h.mu.Lock()
	v := h.views[sp.key]
	if v != nil && resuming {
		v.mu.Lock()
		if v.coversLocked(resume) && !v.stopped {
			backlog := v.afterLocked(resume)
			v.viewers[vw] = struct{}{}
			h.refs.Add(1)
			v.mu.Unlock()
			h.mu.Unlock()
			return vw, v, head, backlog, nil
		}
		v.mu.Unlock()
		v = nil // a view of its own, from the resume point
	}
	if v != nil {
		h.mu.Unlock()
		return h.join(ctx, v, vw, head, req.Tail)
	}
	h.mu.Unlock()

	// A new view: from the resume point, or from TailScan messages back.
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := h.opts.JS.Stream(sctx, h.opts.Stream)
	if err != nil {
		return nil, nil, nil, nil, &refusal{http.StatusServiceUnavailable, "the fleet stream is not reachable: " + err.Error()}
	}
	state := st.CachedInfo().State
	var floor pos
	if resuming {
		floor = resume
		if state.FirstSeq > resume.seq+1 && state.Msgs > 0 || state.Msgs == 0 && state.LastSeq > resume.seq {
			// The stream no longer holds what followed the resume point.
			head = sse.AppendGap(head, -1, "")
			h.retentionGaps.Add(1)
		}
	} else if state.LastSeq > h.opts.TailScan && req.Tail > 0 {
		floor = pos{state.LastSeq - h.opts.TailScan, whole}
	} else if req.Tail == 0 {
		floor = pos{state.LastSeq, whole}
	}
	nv := newView(h, *sp, floor)
	vctx, vcancel := context.WithTimeout(ctx, 6*time.Second)
	err = nv.start(vctx, h.opts.JS)
	vcancel()
	if err != nil {
		return nil, nil, nil, nil, &refusal{http.StatusServiceUnavailable, "cannot read the fleet stream: " + err.Error()}
	}
	h.consumers.Add(1)
	h.mu.Lock()
	select {
	case <-h.done: // closed meanwhile: Close did not see this view
		h.mu.Unlock()
		nv.stop()
		h.consumers.Add(-1)
		return nil, nil, nil, nil, &refusal{http.StatusServiceUnavailable, "shutting down"}
	default:
	}
	if _, taken := h.views[sp.key]; !taken {
		h.views[sp.key] = nv // a resumed view serves later viewers too
	}
	h.mu.Unlock()
	if resuming {
		// What the view read before the viewer joined is in its ring:
		// everything there is after the resume point.
		nv.mu.Lock()
		backlog := nv.afterLocked(resume)
		nv.viewers[vw] = struct{}{}
		h.refs.Add(1)
		nv.mu.Unlock()
		return vw, nv, head, backlog, nil
	}
	return h.join(ctx, nv, vw, head, req.Tail)
}

// join adds a viewer to a view once the view has caught up, so that its
// tail= lines are the newest ones.
func (h *Hub) join(ctx context.Context, v *view, vw *viewer, head []byte, tail int) (*viewer, *view, []byte, []*hevent, *refusal) {
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-v.caught:
	case <-t.C: // serve what is there rather than nothing
	case <-ctx.Done():
		return nil, nil, nil, nil, &refusal{http.StatusServiceUnavailable, "client went away"}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.stopped {
		return nil, nil, nil, nil, &refusal{http.StatusServiceUnavailable, "shutting down"}
	}
	v.viewers[vw] = struct{}{}
	h.refs.Add(1)
	return vw, v, head, v.lastLocked(tail), nil
}

// unsubscribe removes a viewer; a view with no viewer left stops.
func (h *Hub) unsubscribe(v *view, vw *viewer) {
	h.mu.Lock()
	v.mu.Lock()
	delete(v.viewers, vw)
	h.refs.Add(-1)
	last := len(v.viewers) == 0
	if last && h.views[v.spec.key] == v {
		delete(h.views, v.spec.key)
	}
	v.mu.Unlock()
	h.mu.Unlock()
	if last {
		v.stop()
		h.consumers.Add(-1)
	}
}
