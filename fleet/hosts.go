package fleet

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// hostTable knows every host and source in the stream and when each was
// last heard from. It reads the headers only: the last message of every
// subject first, then every new one.
type hostTable struct {
	mu    sync.Mutex
	hosts map[string]*hostEntry
}

type hostEntry struct {
	sources  map[string]bool
	lastSeen time.Time
}

func newHostTable() *hostTable { return &hostTable{hosts: make(map[string]*hostEntry)} }

// start reads the stream for the table (headers only: the last message of
// every subject, then every new one) until the reader is stopped.
func (t *hostTable) start(ctx context.Context, h *Hub) (*reader, error) {
	rd := newReader(h.opts.JS, h.opts.Conn, readerConfig{Stream: h.opts.Stream, LastPerSubject: true, HeadersOnly: true,
		Handle: t.handle, Logger: h.log.With(zap.String("reader", "hosts")), Resets: &h.consumerResets, StreamLast: h.streamLast.Load})
	if _, err := rd.start(ctx); err != nil {
		return nil, err
	}
	return rd, nil
}

func (t *hostTable) handle(m jetstream.Msg) {
	host, source, _, ok := namesOf(m)
	if !ok || host == "" {
		return
	}
	var ts time.Time
	if meta, err := m.Metadata(); err == nil {
		ts = meta.Timestamp
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.hosts[host]
	if e == nil {
		if len(t.hosts) >= 100000 {
			return // bounded, whatever is published
		}
		e = &hostEntry{sources: make(map[string]bool)}
		t.hosts[host] = e
	}
	if source != "" && len(e.sources) < 1000 {
		e.sources[source] = true
	}
	if ts.After(e.lastSeen) {
		e.lastSeen = ts
	}
}

// HostInfo is one element of GET /api/hosts.
type HostInfo struct {
	Host     string    `json:"host"`
	Sources  []string  `json:"sources"`
	LastSeen time.Time `json:"last_seen"`
}

func (t *hostTable) list(acc Access) []HostInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := []HostInfo{}
	for name, e := range t.hosts {
		if !matchAny(acc.Hosts, name) {
			continue
		}
		hi := HostInfo{Host: name, Sources: []string{}, LastSeen: e.lastSeen.UTC().Truncate(time.Second)}
		for s := range e.sources {
			if matchAny(acc.Sources, s) {
				hi.Sources = append(hi.Sources, s)
			}
		}
		sort.Strings(hi.Sources)
		out = append(out, hi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out
}

// HostsHandler serves GET /api/hosts: the hosts the request may read.
func (h *Hub) HostsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(h.hosts.list(accessOf(r.Context())))
	})
}

// HubStats are the hub's counters, for /metrics.
type HubStats struct {
	Streams, Views                int64
	Sent, SentBytes, Dropped      uint64
	Messages, BadMessages         uint64
	Duplicates, Rejected, Resumes uint64
	RetentionGaps                 int64
	// ConsumerReplacements counts the consumers replaced after they
	// stopped delivering (a NATS server died, a connection moved).
	ConsumerReplacements uint64
	Ready                bool
}

// Stats reads the counters.
func (h *Hub) Stats() HubStats {
	return HubStats{Streams: h.refs.Load(), Views: h.consumers.Load(), Sent: h.sent.Load(), SentBytes: h.sentBytes.Load(),
		Dropped: h.dropped.Load(), Messages: h.messages.Load(), BadMessages: h.badMessages.Load(),
		Duplicates: h.duplicates.Load(), Rejected: h.rejected.Load(), Resumes: h.resumes.Load(),
		RetentionGaps: h.retentionGaps.Load(), ConsumerReplacements: h.consumerResets.Load(), Ready: h.Ready()}
}
