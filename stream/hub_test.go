package stream

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"edgetail/event"
)

func TestLiveStreamHeadersAndFraming(t *testing.T) {
	e := newEnv(t, Options{Retry: 1500 * time.Millisecond}, "app")
	resp := e.get("/stream/app?tail=0")
	defer resp.Body.Close()
	for k, want := range map[string]string{
		"Content-Type":      "text/event-stream; charset=utf-8",
		"Cache-Control":     "no-cache, no-transform",
		"X-Accel-Buffering": "no",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if resp.Header.Get("Content-Encoding") != "" {
		t.Error("stream must not be compressed")
	}
	buf := make([]byte, 64)
	n, _ := io.ReadAtLeast(resp.Body, buf, len("retry: 1500\n\n"))
	if got := string(buf[:n]); !strings.HasPrefix(got, "retry: 1500\n\n") {
		t.Fatalf("first frame %q, want retry: 1500", got)
	}
	e.publish("app", " leading space kept", "second")
	readRaw(t, resp.Body, func(l string) bool { return l == "data:  leading space kept" })
}

func TestIDsIncreaseAndDataIsRaw(t *testing.T) {
	e := newEnv(t, Options{}, "app")
	s := e.open("/stream/app?tail=0")
	e.publish("app", "one", "two")
	e.publish("app", "three")
	var last uint64
	for _, want := range []string{"one", "two", "three"} {
		ev := s.next(t)
		if ev.Data != want || ev.Type != "" {
			t.Fatalf("got %q type %q, want %q", ev.Data, ev.Type, want)
		}
		id, err := strconv.ParseUint(ev.LastEventID, 10, 64)
		if err != nil || id <= last {
			t.Fatalf("id %q not increasing after %d", ev.LastEventID, last)
		}
		last = id
	}
}

func TestTailAndFilters(t *testing.T) {
	var lines []string
	for i := range 50 {
		lvl := []string{"DEBUG", "INFO", "WARN", "ERROR"}[i%4]
		lines = append(lines, fmt.Sprintf("%s line %d user=Alice", lvl, i))
	}
	cases := []struct {
		query string
		want  []string
		live  string // a live line the filter keeps
	}{
		{"tail=3", lines[47:], "anything"},
		{"", lines[40:], "anything"}, // tail defaults to 10
		{"tail=2&level=error", []string{lines[43], lines[47]}, "ERROR live"},
		{"tail=2&level=warn", []string{lines[46], lines[47]}, `{"level":"warning"}`},
		{"tail=2&q=ALICE&not=debug", []string{lines[47], lines[49]}, "alice live"},
		{"tail=1&re=line%204[0-9]$", nil, "line 41"},
		{"tail=2&re=line%204[12]%20", []string{lines[41], lines[42]}, "line 42 again"},
		{"tail=0", nil, "x"},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			e := newEnv(t, Options{}, "app")
			e.publish("app", lines...)
			s := e.open("/stream/app?" + c.query)
			for _, want := range c.want {
				if got := s.next(t).Data; got != want {
					t.Fatalf("got %q, want %q", got, want)
				}
			}
			e.publish("app", "DEBUG dropped by every filter but none", c.live)
			got := s.next(t).Data
			if strings.Contains(c.query, "=") && c.query != "tail=0" && c.query != "tail=3" {
				if got != c.live {
					t.Fatalf("live: got %q, want %q", got, c.live)
				}
			}
		})
	}
}

func TestJSONFormat(t *testing.T) {
	e := newEnv(t, Options{}, "app")
	e.publish("app", `{"level":"warn","msg":"x <b>"}`)
	s := e.open("/stream/app?format=json&tail=1")
	ev := s.next(t)
	for _, want := range []string{`"source":"app"`, `"file":"/var/log/app.log"`, `"level":"warn"`, `"line":"{\"level\":\"warn\",\"msg\":\"x \u003cb\u003e\"}"`, `"time":"`} {
		if !strings.Contains(ev.Data, want) {
			t.Errorf("json %s lacks %s", ev.Data, want)
		}
	}
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t, Options{}, "app")
	for path, want := range map[string]int{
		"/stream/app?re=(":         400,
		"/stream/app?level=loud":   400,
		"/stream/app?tail=-1":      400,
		"/stream/app?tail=x":       400,
		"/stream/app?format=xml":   400,
		"/stream/app?bogus=1":      400,
		"/stream/nope":             404,
		"/stream?sources=app,nope": 404,
		"/stream":                  400,
		"/stream/a/b":              404,
	} {
		resp := e.get(path)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
		}
		if strings.Count(string(body), "\n") != 1 || len(body) < 5 {
			t.Errorf("%s: body %q is not a one-line reason", path, body)
		}
	}
}

func TestResume(t *testing.T) {
	e := newEnv(t, Options{ReplayLines: 20}, "app")
	e.publish("app", "a", "b", "c")
	s := e.open("/stream/app?tail=3")
	var ids []string
	for range 3 {
		ids = append(ids, s.next(t).LastEventID)
	}
	s.close()
	e.publish("app", "d", "e")

	t.Run("header", func(t *testing.T) {
		s := e.open("/stream/app", "Last-Event-ID", ids[1])
		for _, want := range []string{"c", "d", "e"} {
			if got := s.next(t); got.Data != want || got.Type != "" {
				t.Fatalf("got %+v, want %q", got, want)
			}
		}
		s.expectNone(t, 100*time.Millisecond)
	})
	t.Run("query", func(t *testing.T) {
		s := e.open("/stream/app?lastEventId=" + ids[2])
		if got := s.next(t).Data; got != "d" {
			t.Fatalf("got %q, want d", got)
		}
	})
	t.Run("evicted", func(t *testing.T) {
		for i := range 30 {
			e.publish("app", fmt.Sprint("x", i))
		}
		// held now: x10..x29; after ids[2] ("c") came d, e, x0..x9: 12 missed.
		s := e.open("/stream/app", "Last-Event-ID", ids[2])
		g := s.next(t)
		if g.Type != "gap" || g.Data != `{"missed":12}` {
			t.Fatalf("got %+v, want gap of 12", g)
		}
		if got := s.next(t).Data; got != "x10" {
			t.Fatalf("after gap got %q, want x10", got)
		}
	})
	for name, id := range map[string]string{"garbage": "not-an-id", "earlier run": "5", "merged id": "m123"} {
		t.Run(name, func(t *testing.T) {
			s := e.open("/stream/app", "Last-Event-ID", id)
			if g := s.next(t); g.Type != "gap" || g.Data != `{"missed":-1}` {
				t.Fatalf("got %+v, want gap -1", g)
			}
			if got := s.next(t).Data; got != "x10" {
				t.Fatalf("after gap got %q, want the oldest held", got)
			}
		})
	}
}

func TestMergedStream(t *testing.T) {
	e := newEnv(t, Options{}, "a", "b")
	e.publish("a", "a1")
	e.publish("b", "b1")
	s := e.open("/stream?sources=a,b&tail=10")
	ev1, ev2 := s.next(t), s.next(t)
	if !strings.Contains(ev1.Data, `"source":"a"`) || !strings.Contains(ev2.Data, `"source":"b"`) {
		t.Fatalf("merged events must say their source: %q %q", ev1.Data, ev2.Data)
	}
	s.close()
	e.publish("a", "a2")
	e.publish("b", "b2")
	r := e.open("/stream?sources=a,b", "Last-Event-ID", ev2.LastEventID)
	for _, want := range []string{`"line":"a2"`, `"line":"b2"`} {
		if got := r.next(t).Data; !strings.Contains(got, want) {
			t.Fatalf("resume: got %q, want %s", got, want)
		}
	}
	r.expectNone(t, 100*time.Millisecond)
	txt := e.open("/stream?sources=a,b&format=text&tail=1")
	if got := txt.next(t).Data; got != "[b] b2" {
		t.Fatalf("merged text: %q", got)
	}
}

func TestHeartbeat(t *testing.T) {
	e := newEnv(t, Options{Heartbeat: 50 * time.Millisecond}, "app")
	resp := e.get("/stream/app")
	defer resp.Body.Close()
	readRaw(t, resp.Body, func(l string) bool { return strings.HasPrefix(l, ":") })
}

func TestHostileLines(t *testing.T) {
	e := newEnv(t, Options{}, "app")
	s := e.open("/stream/app?tail=0")
	big := strings.Repeat("x", 1<<20)
	hostile := []string{
		"forged\r\ndata: evil\r\n\r\nid: 999",
		"cr\ronly",
		"\x00\x01binary\xff\xfe",
		"bad utf8 \xc3\x28 end",
		big,
		"event: gap",
	}
	e.publish("app", hostile...)
	for i, in := range hostile {
		ev := s.next(t)
		if ev.Type != "" {
			t.Fatalf("line %d forged event type %q", i, ev.Type)
		}
		if !utf8.ValidString(ev.Data) || strings.ContainsAny(ev.Data, "\r\n") {
			t.Fatalf("line %d: data not safe: %q", i, ev.Data)
		}
		if len(ev.Data) < len(in) {
			t.Fatalf("line %d shrank from %d to %d bytes", i, len(in), len(ev.Data))
		}
	}
}

func TestCaps(t *testing.T) {
	e := newEnv(t, Options{MaxClientsPerIP: 2, MaxClientsPerSource: 3, MaxClients: 4, Retry: 2 * time.Second}, "a", "b")
	e.open("/stream/a")
	e.open("/stream/a")
	refusedBy(t, e, "/stream/a", http.StatusTooManyRequests, "stream.max_clients_per_ip")
	// The other caps count every address: lift the per-IP cap by
	// pretending each request comes from its own address.
	n := 0
	e.hub.opts.ClientIP = func(*http.Request) string { n++; return fmt.Sprint("10.0.0.", n) }
	e.open("/stream/a")
	refusedBy(t, e, "/stream/a", http.StatusServiceUnavailable, "stream.max_clients_per_source")
	e.open("/stream/b")
	refusedBy(t, e, "/stream/b", http.StatusServiceUnavailable, "stream.max_clients")
}

// TestConnectRateNamesItsKey: a refusal by the connect rate says so, so that
// raising max_clients_per_ip is not mistaken for the fix.
func TestConnectRateNamesItsKey(t *testing.T) {
	// 0.5 per second holds one token: the second stream finds none (it
	// would take two seconds to refill one).
	e := newEnv(t, Options{ConnectRatePerIP: 0.5, Retry: 2 * time.Second}, "a")
	e.open("/stream/a")
	refusedBy(t, e, "/stream/a", http.StatusTooManyRequests, "stream.connect_rate_per_ip")
}

// refusedBy checks that a stream request is refused with status, a
// Retry-After and a one-line reason that names the limit's config key.
func refusedBy(t *testing.T, e *env, path string, status int, key string) {
	t.Helper()
	resp := e.get(path)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != status || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("%s: %s Retry-After %q, want %d with Retry-After 2", path, resp.Status, resp.Header.Get("Retry-After"), status)
	}
	if !strings.Contains(string(body), "limit "+key+" reached") || strings.Count(string(body), "\n") != 1 {
		t.Errorf("%s: reason %q does not name %s on one line", path, body, key)
	}
}

// A client that stops reading must not slow the source or other clients,
// and what the hub holds for it stays bounded.
func TestSlowClient(t *testing.T) {
	e := newEnv(t, Options{ClientBuffer: 256, WriteTimeout: time.Second}, "app")
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	fmt.Fprintf(conn, "GET /stream/app?tail=0 HTTP/1.1\r\nHost: x\r\n\r\n")
	fast := e.open("/stream/app?tail=0")
	waitFor(t, func() bool { return e.hub.Counters().Clients == 2 })

	// Publish in steps the fast client keeps up with; the slow one falls
	// ever further behind.
	line := strings.Repeat("y", 4000)
	for i := range 30 {
		batch := make([]string, 100)
		for j := range batch {
			batch[j] = fmt.Sprintf("%d %s", i*100+j, line)
		}
		e.publish("app", batch...)
		for j := range batch {
			ev := fast.next(t)
			if !strings.HasPrefix(ev.Data, strconv.Itoa(i*100+j)+" ") {
				t.Fatalf("fast client: event %d is %.20q", i*100+j, ev.Data)
			}
		}
	}
	e.hub.mu.Lock()
	for c := range e.hub.clients {
		c.mu.Lock()
		if c.q.Len() > c.q.Max() || c.q.Cap() > c.q.Max() {
			t.Errorf("client queue %d (cap %d) beyond its bound %d", c.q.Len(), c.q.Cap(), c.q.Max())
		}
		c.mu.Unlock()
	}
	e.hub.mu.Unlock()
	if e.hub.Counters().Dropped == 0 {
		// The slow client was either sent gaps or cut off by the write
		// deadline; both are fine, as long as it cost the others nothing.
		waitFor(t, func() bool { return e.hub.Counters().Clients == 1 })
	}
}

func TestCloseEndsStreams(t *testing.T) {
	e := newEnv(t, Options{}, "app")
	s := e.open("/stream/app")
	e.hub.Close()
	select {
	case _, ok := <-s.events:
		if ok {
			t.Fatal("event after close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stream still open 5s after Close")
	}
	resp := e.get("/stream/app")
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("after close: %s", resp.Status)
	}
}

func TestRemoveSourceEndsItsStreams(t *testing.T) {
	e := newEnv(t, Options{}, "a", "b")
	sa := e.open("/stream/a")
	sb := e.open("/stream/b?tail=0")
	e.hub.Remove("a")
	select {
	case _, ok := <-sa.events:
		if ok {
			t.Fatal("event after remove")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stream of a removed source still open")
	}
	e.publish("b", "still here")
	if got := sb.next(t).Data; got != "still here" {
		t.Fatalf("other source: %q", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMetricsFields(t *testing.T) {
	e := newEnv(t, Options{})
	src := e.hub.Source("host", KindMetrics)
	sample := []byte(`{"time":"2026-11-22T10:00:00Z","cpu":{"total":{"percent":12.5}},"mem":{"total":1024},"load":{"load1":0.5}}`)
	src.PublishMetric(time.Now(), sample)
	all := e.open("/stream/host?tail=1")
	if ev := all.next(t); ev.Type != "metric" || ev.Data != string(sample) {
		t.Fatalf("full sample: %s %q", ev.Type, ev.Data)
	}
	cpu := e.open("/stream/host?tail=1&fields=cpu")
	want := `{"cpu":{"total":{"percent":12.5}},"time":"2026-11-22T10:00:00Z"}`
	if ev := cpu.next(t); ev.Type != "metric" || ev.Data != want {
		t.Fatalf("fields=cpu backlog: %s %q", ev.Type, ev.Data)
	}
	src.PublishMetric(time.Now(), sample)
	if ev := cpu.next(t); ev.Data != want {
		t.Fatalf("fields=cpu live: %q", ev.Data)
	}
	if ev := all.next(t); ev.Data != string(sample) {
		t.Fatalf("full sample live: %q", ev.Data)
	}
	merged := e.open("/stream?sources=host&tail=1&fields=mem")
	if ev := merged.next(t); ev.Type != "metric" || ev.Data != `{"source":"host","mem":{"total":1024},"time":"2026-11-22T10:00:00Z"}` {
		t.Fatalf("merged fields=mem: %s %q", ev.Type, ev.Data)
	}
}

func TestConnectRatePerIP(t *testing.T) {
	e := newEnv(t, Options{ConnectRatePerIP: 2, Retry: time.Second}, "app")
	codes := map[int]int{}
	for range 8 {
		resp := e.get("/stream/app?tail=0")
		codes[resp.StatusCode]++
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		resp.Body.Close()
	}
	// A burst of 4 is allowed, then about 2 a second.
	if codes[http.StatusOK] < 4 || codes[http.StatusOK] > 5 || codes[http.StatusTooManyRequests] < 3 {
		t.Fatalf("8 quick connects gave %v", codes)
	}
}

func TestRateLimiterBounded(t *testing.T) {
	var r rateLimiter
	now := time.Now()
	for i := range maxBuckets + 10 {
		r.allow(fmt.Sprint(i), 10, now)
	}
	if len(r.buckets) > maxBuckets {
		t.Fatalf("%d buckets", len(r.buckets))
	}
}

func TestNoReplay(t *testing.T) {
	e := newEnv(t, Options{ReplayLines: -1}, "app")
	e.publish("app", "gone")
	s := e.open("/stream/app?tail=10")
	e.publish("app", "live")
	ev := s.next(t)
	if ev.Data != "live" {
		t.Fatalf("with no replay buffer got %q first, want the live line", ev.Data)
	}
	s.close()
	e.publish("app", "missed")
	r := e.open("/stream/app", "Last-Event-ID", ev.LastEventID)
	if g := r.next(t); g.Type != "gap" || g.Data != `{"missed":1}` {
		t.Fatalf("resume without a buffer: %s %q", g.Type, g.Data)
	}
}

// Publish splits what it is given into batches of at most BatchMaxLines and
// keeps every line, in order.
func TestPublishBatches(t *testing.T) {
	h := New(Options{BatchMaxLines: 7})
	src := h.Source("app", KindFile)
	ctx := context.Background()
	n := 0
	for _, size := range []int{1, 20, 3, 7, 15} {
		ls := make([]event.Line, size)
		for i := range ls {
			ls[i] = event.Line{Text: []byte(strconv.Itoa(n))}
			n++
		}
		if err := src.Publish(ctx, ls); err != nil {
			t.Fatal(err)
		}
	}
	if got := src.lines.Load(); got != uint64(n) {
		t.Fatalf("%d lines committed, want %d", got, n)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := 0; i < src.ring.n; i++ {
		if got := string(src.ring.at(i).Line); got != strconv.Itoa(i) {
			t.Fatalf("line %d is %q", i, got)
		}
	}
	if src.ring.n != n {
		t.Fatalf("%d lines held, want %d", src.ring.n, n)
	}
}

// A taken-over stream runs on one goroutine, which also notices the peer
// leave (it waits in a read of the connection) and is woken for new lines.
func TestTakenOverStreamOneGoroutine(t *testing.T) {
	e := newEnv(t, Options{}, "app")
	const n = 20
	clients := make([]*sseClient, n)
	for i := range clients {
		clients[i] = e.open("/stream/app?tail=0")
	}
	e.publish("app", "first")
	for _, c := range clients {
		if ev := c.next(t); ev.Data != "first" {
			t.Fatalf("got %q", ev.Data)
		}
	}
	// The streams are taken over once their head is out; the producer has
	// written "first" to each, so by now each pump is waiting.
	var hubGoroutines int
	defer func() {
		if t.Failed() {
			t.Logf("%d goroutines ran taken-over streams, want one per stream (%d); clients: %d", hubGoroutines, n, e.hub.Counters().Clients)
		}
	}()
	waitFor(t, func() bool {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		hubGoroutines = 0
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "stream.(*Hub).pumpConn") {
				hubGoroutines++
			}
		}
		return hubGoroutines == n
	})

	for _, c := range clients[:n/2] {
		c.close()
	}
	waitFor(t, func() bool { return e.hub.Counters().Clients == n/2 })
	e.publish("app", "second")
	for _, c := range clients[n/2:] {
		if ev := c.next(t); ev.Data != "second" {
			t.Fatalf("got %q", ev.Data)
		}
	}
}

// A direct write comes long after the stream's goroutine last wrote (a
// heartbeat, which arms a write deadline of WriteTimeout): the passed
// deadline must not fail it.
func TestDirectWriteAfterTheWriteDeadlinePassed(t *testing.T) {
	e := newEnv(t, Options{WriteTimeout: 100 * time.Millisecond, Heartbeat: 300 * time.Millisecond}, "app")
	c := e.open("/stream/app?tail=0")
	e.publish("app", "first")
	if ev := c.next(t); ev.Data != "first" {
		t.Fatalf("got %q", ev.Data)
	}
	// Heartbeats (written by the stream's goroutine) at 300 and 600 ms;
	// the last one's deadline has passed by 750 ms.
	time.Sleep(750 * time.Millisecond)
	e.publish("app", "second")
	for {
		ev := c.next(t) // fails when the stream ends
		if ev.Data == "second" {
			return
		}
	}
}
