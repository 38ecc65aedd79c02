package stream

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"edgetail/event"

	sse "github.com/tmaxmax/go-sse"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is a hub with sources behind a real HTTP server on 127.0.0.1.
type env struct {
	t   *testing.T
	hub *Hub
	srv *httptest.Server
	ctx context.Context
}

func newEnv(t *testing.T, opts Options, sources ...string) *env {
	t.Helper()
	h := New(opts)
	for _, s := range sources {
		h.Source(s, KindFile)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = h.Run(ctx); close(done) }()
	srv := httptest.NewServer(h.Handler())
	t.Cleanup(func() {
		cancel()
		<-done
		srv.CloseClientConnections()
		srv.Close()
	})
	return &env{t: t, hub: h, srv: srv, ctx: ctx}
}

// publish sends lines to a source through the same path the agent uses.
func (e *env) publish(source string, lines ...string) {
	e.t.Helper()
	h := e.hub
	h.mu.Lock()
	s := h.sources[source]
	h.mu.Unlock()
	ls := make([]event.Line, len(lines))
	for i, l := range lines {
		ls[i] = event.Line{File: "/var/log/" + source + ".log", Text: []byte(l), Time: time.Now()}
	}
	if err := s.Publish(context.Background(), ls); err != nil {
		e.t.Fatal(err)
	}
}

// sseClient is a client reading one stream with a real SSE parser.
type sseClient struct {
	resp   *http.Response
	events chan sse.Event
	errc   chan error
	cancel context.CancelFunc
}

func (e *env) get(path string, hdr ...string) *http.Response {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

func (e *env) open(path string, hdr ...string) *sseClient {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		cancel()
		e.t.Fatalf("GET %s: %s %s", path, resp.Status, b)
	}
	s := &sseClient{resp: resp, events: make(chan sse.Event, 100000), errc: make(chan error, 1), cancel: cancel}
	go func() {
		defer close(s.events)
		for ev, err := range sse.Read(resp.Body, &sse.ReadConfig{MaxEventSize: 4 << 20}) {
			if err != nil {
				s.errc <- err
				return
			}
			s.events <- ev
		}
	}()
	e.t.Cleanup(s.close)
	return s
}

func (s *sseClient) close() {
	s.cancel()
	s.resp.Body.Close()
	for range s.events {
	}
}

// next returns the next event, failing after a deadline.
func (s *sseClient) next(t *testing.T) sse.Event {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatal("stream ended")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return sse.Event{}
}

// expectNone checks that nothing arrives for a short while.
func (s *sseClient) expectNone(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if ok {
			t.Fatalf("unexpected event %+v", ev)
		}
	case <-time.After(d):
	}
}

// readRaw reads raw lines from a response until one satisfies match.
func readRaw(t *testing.T, r io.Reader, match func(string) bool) {
	t.Helper()
	done := make(chan bool, 1)
	go func() {
		br := bufio.NewReader(r)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				done <- false
				return
			}
			if match(strings.TrimRight(line, "\n")) {
				done <- true
				return
			}
		}
	}()
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("stream ended before the expected line")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("expected line not seen within 5s")
	}
}
