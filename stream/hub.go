// Package stream turns lines and samples into Server-Sent-Events streams: it
// assigns ids, keeps a bounded replay buffer per source, filters once per
// distinct filter, encodes each event once, and fans the same bytes out to
// every client that wants them without ever letting a slow client hold up a
// source or another client.
package stream

import (
	"context"
	"net"
	"net/http"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"edgetail/sse"
	"edgetail/timeline"

	"go.uber.org/zap"
)

// Options configure a Hub. Every zero value means the default in brackets.
type Options struct {
	ReplayLines         int           // events kept per source for tail= and resume [10000]; < 0 keeps none
	ReplayBytes         int           // bytes kept per source [64 MiB]
	Heartbeat           time.Duration // comment frame interval [15s]
	Retry               time.Duration // the retry: hint [3s]
	ClientBuffer        int           // events queued per client before it is sent a gap [1024]
	MaxClients          int           // streams in the whole agent [1000]
	MaxClientsPerSource int           // streams per source [500]
	MaxClientsPerIP     int           // streams per client address [32]
	Workers             int           // batches encoded and filtered at once [GOMAXPROCS]
	BatchMaxLines       int           // lines per batch [512]
	// BatchMaxWait bounds how long a busy source's producer holds back a
	// read to gather a larger batch (see Source.Patience) [20ms]; a
	// negative value never holds one back.
	BatchMaxWait time.Duration
	WriteTimeout time.Duration // deadline of each write to a client [10s]
	// ConnectRatePerIP bounds new streams per second from one address
	// (bursts of twice that) [20]; a negative value turns the limit off.
	ConnectRatePerIP float64
	// ClientIP names the address the per-IP cap counts; nil uses the
	// connection's remote address, which is right without a trusted proxy.
	ClientIP func(*http.Request) string
	Logger   *zap.Logger // nil: no logs
	Observer Observer    // nil: nothing observed
	// MaxHistoryReads bounds the reads of the past (since=, until=, tail=
	// beyond the replay buffer, resumes from disk, downloads) running at
	// once [4]; more are refused with 503.
	MaxHistoryReads int
	// NoHijack keeps HTTP/1.1 streams on net/http's connection handling
	// rather than taking the connection over after the headers.
	NoHijack bool
}

// Observer receives the pipeline's measurements; the agent turns them into
// Prometheus histograms. Implementations must be cheap and safe for
// concurrent use: they are called on the hot path.
type Observer interface {
	// Batch is called once per published batch with its size.
	Batch(lines int)
	// Delivered is called once per batch written to a client with the age
	// of its oldest event: from the line's read to its write.
	Delivered(age time.Duration)
}

type nopObserver struct{}

func (nopObserver) Batch(int)               {}
func (nopObserver) Delivered(time.Duration) {}

// Defaults holds the value each zero field of Options stands for. The
// agent's config takes its defaults from here too, so that each is written
// once.
var Defaults = Options{
	ReplayLines:         10000,
	ReplayBytes:         64 << 20,
	Heartbeat:           sse.DefaultHeartbeat,
	Retry:               sse.DefaultRetry,
	ClientBuffer:        1024,
	MaxClients:          1000,
	MaxClientsPerSource: 500,
	MaxClientsPerIP:     32,
	BatchMaxLines:       512,
	BatchMaxWait:        20 * time.Millisecond,
	WriteTimeout:        sse.DefaultWriteTimeout,
	ConnectRatePerIP:    20,
	MaxHistoryReads:     4,
}

func (o *Options) setDefaults() {
	d := &Defaults
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	switch {
	case o.ReplayLines == 0:
		o.ReplayLines = d.ReplayLines
	case o.ReplayLines < 0:
		o.ReplayLines = 0
	}
	def(&o.ReplayBytes, d.ReplayBytes)
	def(&o.ClientBuffer, d.ClientBuffer)
	def(&o.MaxClients, d.MaxClients)
	def(&o.MaxClientsPerSource, d.MaxClientsPerSource)
	def(&o.MaxClientsPerIP, d.MaxClientsPerIP)
	def(&o.Workers, runtime.GOMAXPROCS(0))
	def(&o.BatchMaxLines, d.BatchMaxLines)
	def(&o.MaxHistoryReads, d.MaxHistoryReads)
	if o.ConnectRatePerIP == 0 {
		o.ConnectRatePerIP = d.ConnectRatePerIP
	}
	switch {
	case o.BatchMaxWait == 0:
		o.BatchMaxWait = d.BatchMaxWait
	case o.BatchMaxWait < 0:
		o.BatchMaxWait = 0
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = d.Heartbeat
	}
	if o.Retry <= 0 {
		o.Retry = d.Retry
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = d.WriteTimeout
	}
	if o.ClientIP == nil {
		o.ClientIP = remoteIP
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Hub owns the sources and the clients of one agent. One lock orders every
// commit of every source, which gives the merged stream a single order (G)
// that one id can resume.
type Hub struct {
	opts Options
	log  *zap.Logger
	sem  chan struct{} // worker pool slots for the per-line work
	// histSem holds a slot per read of the past running.
	histSem chan struct{}

	mu      sync.Mutex
	g       uint64 // last G handed out
	gBase   uint64 // G values of this hub are above it
	sources map[string]*Source
	clients map[*client]struct{}
	// nclients is len(clients), read by handlers without the lock to size
	// their flush window.
	nclients atomic.Int64
	perIP    map[string]int
	rates    rateLimiter

	done      chan struct{}
	ctx       context.Context // done as a context: cancelled by Close
	cancel    context.CancelFunc
	closeOnce sync.Once
	streams   sync.WaitGroup // streams on hijacked connections

	rejected [numRejectReasons]atomic.Uint64
	sent     atomic.Uint64 // events written to clients
	sentB    atomic.Uint64 // bytes written to clients
	dropped  atomic.Uint64 // events a slow client missed
}

// New returns a Hub; it starts nothing until Run.
func New(opts Options) *Hub {
	opts.setDefaults()
	base := uint64(time.Now().UnixMicro())
	ctx, cancel := context.WithCancel(context.Background())
	return &Hub{
		ctx:     ctx,
		cancel:  cancel,
		opts:    opts,
		log:     opts.Logger,
		sem:     make(chan struct{}, opts.Workers),
		histSem: make(chan struct{}, opts.MaxHistoryReads),
		g:       base,
		gBase:   base,
		sources: make(map[string]*Source),
		clients: make(map[*client]struct{}),
		perIP:   make(map[string]int),
		done:    make(chan struct{}),
	}
}

// Run sends heartbeats until ctx is done, then ends every stream. It returns
// once the heartbeat loop has stopped and every stream on a hijacked
// connection has ended; handlers still under net/http notice the closed hub
// on their own.
func (h *Hub) Run(ctx context.Context) error {
	t := time.NewTicker(h.opts.Heartbeat)
	defer t.Stop()
	var beat []*client // the heartbeat's copy of the clients, reused
	for {
		select {
		case <-ctx.Done():
			h.Close()
			h.streams.Wait()
			return nil
		case <-h.done:
			h.streams.Wait()
			return nil
		case <-t.C:
			// The clients are copied under the lock and woken after it:
			// waking a taken-over stream moves its read deadline, a
			// runtime call per client that commits must not wait behind.
			h.mu.Lock()
			beat = beat[:0]
			for c := range h.clients {
				beat = append(beat, c)
			}
			h.mu.Unlock()
			for _, c := range beat {
				c.heartbeat.Store(true)
				c.wake()
			}
			clear(beat)
		}
	}
}

// Close ends every stream: handlers return, so http.Server.Shutdown, which
// does not interrupt streaming handlers, can complete. The channel closes
// under the hub lock, where hijack counts a stream only while it is open:
// once Close returns, no stream can be added to what Run waits for.
func (h *Hub) Close() {
	h.closeOnce.Do(func() {
		h.mu.Lock()
		close(h.done)
		h.cancel()
		for c := range h.clients {
			if c.reader.Load() != nil {
				c.wake() // its goroutine waits in a read, not on done
			}
		}
		h.mu.Unlock()
	})
}

// Done is closed when the hub is closed.
func (h *Hub) Done() <-chan struct{} { return h.done }

// SourceKind names what a source produces, as shown by /api/sources.
type SourceKind string

// The source kinds.
const (
	KindFile    SourceKind = "file"
	KindMetrics SourceKind = "metrics"
	KindJournal SourceKind = "journal"
)

// Source returns the source of that name, creating it when it does not
// exist or has another kind. An existing source keeps its replay buffer and
// clients, which is how a reload leaves the clients of unchanged sources
// connected.
func (h *Hub) Source(name string, kind SourceKind) *Source {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s, ok := h.sources[name]; ok {
		if s.kind == kind {
			return s
		}
		h.removeLocked(s)
	}
	s := &Source{
		hub:    h,
		name:   name,
		kind:   kind,
		base:   uint64(time.Now().UnixMicro()),
		ring:   newRing(h.opts.ReplayLines, h.opts.ReplayBytes),
		groups: make(map[string]*group),
	}
	s.lastID.Store(s.base)
	h.sources[name] = s
	return s
}

// Remove deletes a source and ends the streams that read it.
func (h *Hub) Remove(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s, ok := h.sources[name]; ok {
		h.removeLocked(s)
	}
}

func (h *Hub) removeLocked(s *Source) {
	delete(h.sources, s.name)
	s.removed = true
	for _, g := range s.groups {
		for _, c := range g.clients {
			c.end()
		}
	}
}

// Names lists the sources, sorted.
func (h *Hub) Names() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	names := make([]string, 0, len(h.sources))
	for n := range h.sources {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// SourceStats is one source's line in /api/sources.
type SourceStats struct {
	Name        string     `json:"name"`
	Kind        SourceKind `json:"kind"`
	Clients     int        `json:"clients"`
	Lines       uint64     `json:"lines"`
	LastEventID string     `json:"last_event_id"`
	// Levels are the events committed per level (indexed by event.Level),
	// for /metrics.
	Levels [timeline.Levels]uint64 `json:"-"`
}

// Stats reports every source, sorted by name.
func (h *Hub) Stats() []SourceStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]SourceStats, 0, len(h.sources))
	for _, s := range h.sources {
		st := SourceStats{Name: s.name, Kind: s.kind, Clients: s.nclients, Lines: s.lines.Load(), Levels: s.LevelCounts()}
		if s.lastKey != nil {
			st.LastEventID = string(s.lastKey)
		} else if id := s.lastID.Load(); id > s.base {
			st.LastEventID = formatID(id)
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Counters are the hub's totals, for /metrics.
type Counters struct {
	Clients  int
	Sent     uint64
	SentB    uint64
	Dropped  uint64
	Rejected map[string]uint64
}

// Busy reports whether the hub's load can use more than one CPU: enough
// clients for a flush to write them from two goroutines, or a read of the
// past running. The agent sizes the runtime by it (package procs).
func (h *Hub) Busy() bool {
	return h.nclients.Load() >= splitAt || len(h.histSem) > 0
}

// Counters reads the hub's totals.
func (h *Hub) Counters() Counters {
	c := Counters{Clients: int(h.nclients.Load()), Sent: h.sent.Load(), SentB: h.sentB.Load(), Dropped: h.dropped.Load(),
		Rejected: make(map[string]uint64, numRejectReasons)}
	for i := range h.rejected {
		c.Rejected[rejectReason(i).String()] = h.rejected[i].Load()
	}
	return c
}

// Lookup returns the source of that name, or nil; unlike Source it never
// creates or replaces one.
func (h *Hub) Lookup(name string) *Source {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sources[name]
}
