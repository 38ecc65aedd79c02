package fleet

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	sse "github.com/tmaxmax/go-sse"
	"go.uber.org/goleak"

	"edgetail/event"
	"edgetail/stream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// natsServer is an embedded JetStream server on 127.0.0.1.
type natsServer struct {
	t    *testing.T
	srv  *server.Server
	opts *server.Options
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startNATS runs a JetStream server; port 0 picks one. The same options
// start it again after a shutdown, on the same port and store.
func startNATS(t *testing.T, port int) *natsServer {
	t.Helper()
	if port == 0 {
		port = freePort(t)
	}
	ns := &natsServer{t: t, opts: &server.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: t.TempDir(),
		NoLog: true, NoSigs: true,
	}}
	ns.start()
	t.Cleanup(ns.stop)
	return ns
}

func (ns *natsServer) start() {
	ns.t.Helper()
	s, err := server.NewServer(ns.opts)
	if err != nil {
		ns.t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		ns.t.Fatal("nats server not ready")
	}
	ns.srv = s
}

func (ns *natsServer) stop() {
	if ns.srv != nil {
		ns.srv.Shutdown()
		ns.srv.WaitForShutdown()
		ns.srv = nil
	}
}

func (ns *natsServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", ns.opts.Port) }

// connect opens a client connection that the test closes at its end.
func connect(t *testing.T, urls ...string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := Connect(ConnOptions{URLs: urls, Name: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	js, err := NewJetStream(nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc, js
}

func ensure(t *testing.T, js jetstream.JetStream, o StreamOptions) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		// A cluster answers only once it has elected its meta leader.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := EnsureStream(ctx, js, o)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// testAgent is an agent's stream hub with a publisher per source.
type testAgent struct {
	t    *testing.T
	host string
	hub  *stream.Hub
	pubs map[string]*Publisher
	srcs map[string]*stream.Source
	n    map[string]int
	stop func()
}

type agentOpts struct {
	replay    int // the agent's replay buffer
	buffer    int // the publisher's tap queue
	statePath string
}

func newAgent(t *testing.T, nc *nats.Conn, js jetstream.JetStream, host string, o agentOpts, sources ...string) *testAgent {
	t.Helper()
	a := &testAgent{t: t, host: host, hub: stream.New(stream.Options{ReplayLines: o.replay}),
		pubs: map[string]*Publisher{}, srcs: map[string]*stream.Source{}, n: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, name := range sources {
		src := a.hub.Source(name, stream.KindFile)
		p := NewPublisher(PublisherOptions{Conn: nc, JS: js, Host: host, Source: SourceOf[*stream.Tap](src), Buffer: o.buffer, StatePath: o.statePath})
		a.srcs[name], a.pubs[name] = src, p
		wg.Go(func() { _ = p.Run(ctx) })
	}
	var once sync.Once
	a.stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(a.stop)
	return a
}

// write commits lines "<host> <source> <n> <text>" to a source, numbered
// per source from 0.
func (a *testAgent) write(source string, texts ...string) {
	a.t.Helper()
	ls := make([]event.Line, len(texts))
	for i, tx := range texts {
		ls[i] = event.Line{File: "/var/log/" + source + ".log", Time: time.Now(),
			Text: fmt.Appendf(nil, "%s %s %d %s", a.host, source, a.n[source], tx)}
		a.n[source]++
	}
	if err := a.srcs[source].Publish(context.Background(), ls); err != nil {
		a.t.Fatal(err)
	}
}

// waitAcked waits until a source's publisher has every line acknowledged.
func (a *testAgent) waitAcked(source string) {
	a.t.Helper()
	waitFor(a.t, "publisher of "+source+" acknowledged", func() bool {
		st := a.hub.Stats()
		for _, s := range st {
			if s.Name == source {
				return s.LastEventID == fmt.Sprint(a.pubs[source].Stats().Acked)
			}
		}
		return false
	})
}

// testHub is a fleet hub behind a real HTTP server.
type testHub struct {
	t   *testing.T
	hub *Hub
	srv *httptest.Server
}

func newHub(t *testing.T, nc *nats.Conn, js jetstream.JetStream, o HubOptions, access *Access) *testHub {
	t.Helper()
	o.Conn, o.JS = nc, js
	h := NewHub(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = h.Run(ctx); close(done) }()
	mux := http.NewServeMux()
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if access != nil {
				r = r.WithContext(WithAccess(r.Context(), *access))
			}
			next.ServeHTTP(w, r)
		})
	}
	mux.Handle("/stream", wrap(h.StreamHandler()))
	mux.Handle("/api/hosts", wrap(h.HostsHandler()))
	srv := httptest.NewServer(mux)
	th := &testHub{t: t, hub: h, srv: srv}
	t.Cleanup(func() { th.close(); cancel(); <-done })
	waitFor(t, "hub ready", h.Ready)
	return th
}

func (th *testHub) close() {
	th.hub.Close()
	th.srv.CloseClientConnections()
	th.srv.Close()
}

// sseClient reads one stream with a real SSE parser.
type sseClient struct {
	t      *testing.T
	status int
	events chan sse.Event
	cancel context.CancelFunc
	done   chan struct{}
}

func (th *testHub) open(path string, hdr ...string) *sseClient {
	th.t.Helper()
	return openSSE(th.t, th.srv.URL+path, hdr...)
}

func openSSE(t *testing.T, url string, hdr ...string) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	c := &sseClient{t: t, status: resp.StatusCode, events: make(chan sse.Event, 1<<16), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return
		}
		for ev, err := range sse.Read(resp.Body, &sse.ReadConfig{MaxEventSize: 1 << 20}) {
			if err != nil {
				return
			}
			c.events <- ev
		}
	}()
	t.Cleanup(c.close)
	return c
}

func (c *sseClient) close() {
	c.cancel()
	<-c.done
}

// next returns the next event, failing after a generous timeout (a
// deadlock guard, not a speed assertion).
func (c *sseClient) next() sse.Event {
	c.t.Helper()
	select {
	case ev := <-c.events:
		return ev
	case <-time.After(20 * time.Second):
		c.t.Fatal("no event within 20s")
	}
	return sse.Event{}
}

// lines reads n line events (not gaps), returning gaps seen on the way.
func (c *sseClient) lines(n int) (lines []sse.Event, gaps []sse.Event) {
	c.t.Helper()
	for len(lines) < n {
		ev := c.next()
		if ev.Type == "gap" {
			gaps = append(gaps, ev)
			continue
		}
		lines = append(lines, ev)
	}
	return lines, gaps
}

// quiet reports whether no event arrives for d: used only to show that
// nothing more is coming, never to assert speed.
func (c *sseClient) quiet(d time.Duration) (sse.Event, bool) {
	select {
	case ev := <-c.events:
		return ev, false
	case <-time.After(d):
		return sse.Event{}, true
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func texts(n int, prefix string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix
	}
	return out
}

// fieldOf pulls a string field out of a JSON data line.
func fieldOf(data, key string) string {
	k := `"` + key + `":"`
	i := strings.Index(data, k)
	if i < 0 {
		return ""
	}
	rest := data[i+len(k):]
	if j := strings.IndexByte(rest, '"'); j >= 0 {
		return rest[:j]
	}
	return ""
}
