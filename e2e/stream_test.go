package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

func fileSource(t *testing.T, extra string) (path, config string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "app.log")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, fmt.Sprintf("sources:\n  - name: app\n    files: [%s]\n%s", path, extra)
}

func TestPrefillAndTail(t *testing.T) {
	path, cfg := fileSource(t, "")
	for i := range 30 {
		appendLines(t, path, fmt.Sprint("history ", i))
	}
	a := start(t, cfg)
	c := a.open("/stream/app") // tail defaults to 10
	for i := 20; i < 30; i++ {
		if got := c.next(t).Data; got != fmt.Sprint("history ", i) {
			t.Fatalf("got %q, want history %d", got, i)
		}
	}
}

// Reconnecting with Last-Event-ID while lines are being written loses
// nothing and repeats nothing.
func TestResumeWhileWriting(t *testing.T) {
	path, cfg := fileSource(t, "")
	a := start(t, cfg)
	const total = 3000
	w := &writer{t: t, path: path, rate: 2000, total: total, every: total + 1}
	c := a.open("/stream/app?tail=0")
	go w.run()
	var seqs []int
	var last string
	for round := 0; len(seqs) < total && round < 20; round++ {
		got := 0
		for got < 200 {
			select {
			case ev, ok := <-c.events:
				if !ok {
					t.Fatal("stream ended")
				}
				if ev.Type != "" {
					t.Fatalf("unexpected %s: %s", ev.Type, ev.Data)
				}
				n, _ := strconv.Atoi(strings.Fields(strings.TrimPrefix(ev.Data, "seq="))[0])
				seqs = append(seqs, n)
				last = ev.LastEventID
				got++
			case <-time.After(5 * time.Second):
				got = 200
			}
			if len(seqs) == total {
				break
			}
		}
		c.close()
		c = a.open("/stream/app", "Last-Event-ID", last)
	}
	lost, repeated, reordered := check(seqs, total)
	t.Logf("%d reconnects: %d lost, %d repeated, %d out of order", 20, lost, repeated, reordered)
	if lost+repeated+reordered > 0 {
		t.Fatalf("%d lost, %d repeated, %d out of order", lost, repeated, reordered)
	}
}

// An id the agent cannot read is a gap of unknown size. (An id older
// than the ring: TestHistoryResumeOlderThanRing.)
func TestResumeBogusID(t *testing.T) {
	_, cfg := fileSource(t, "stream:\n  replay_lines: 100\n")
	a := start(t, cfg)
	g := a.open("/stream/app?lastEventId=bogus")
	if ev := g.next(t); ev.Type != "gap" || ev.Data != `{"missed":-1}` {
		t.Fatalf("bogus id: got %s %q", ev.Type, ev.Data)
	}
}

func TestHeartbeat(t *testing.T) {
	_, cfg := fileSource(t, "stream:\n  heartbeat: 1s\n")
	a := start(t, cfg)
	resp := a.get("/stream/app")
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	deadline := time.AfterFunc(5*time.Second, func() { resp.Body.Close() })
	defer deadline.Stop()
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal("no heartbeat within 5s")
		}
		if strings.HasPrefix(line, ":") {
			return
		}
	}
}

func TestCapsAndBadRequests(t *testing.T) {
	_, cfg := fileSource(t, "stream:\n  max_clients_per_ip: 2\n  retry: 2s\n")
	a := start(t, cfg)
	for path, want := range map[string]int{
		"/stream/app?re=(":       http.StatusBadRequest,
		"/stream/app?level=loud": http.StatusBadRequest,
		"/stream/app?tail=-5":    http.StatusBadRequest,
		"/stream/nope":           http.StatusNotFound,
	} {
		resp := a.get(path)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || strings.Count(string(body), "\n") != 1 {
			t.Errorf("%s: %s %q, want %d and a one-line reason", path, resp.Status, body, want)
		}
	}
	a.open("/stream/app")
	a.open("/stream/app")
	if why := expectRefused(t, a, "/stream/app", http.StatusTooManyRequests, "third stream from one address"); !strings.Contains(why, "stream.max_clients_per_ip") {
		t.Errorf("429 reason %q does not name max_clients_per_ip", why)
	}
}

func TestAgentAndSourceCaps(t *testing.T) {
	for _, cap := range []string{"max_clients", "max_clients_per_source"} {
		_, cfg := fileSource(t, "stream:\n  "+cap+": 1\n")
		a := start(t, cfg)
		a.open("/stream/app")
		if why := expectRefused(t, a, "/stream/app", http.StatusServiceUnavailable, "over "+cap); !strings.Contains(why, "limit stream."+cap+" reached") {
			t.Errorf("503 reason %q does not name %s", why, cap)
		}
	}
}

// expectRefused checks that a stream request is refused with status and a
// Retry-After, and returns the reason.
func expectRefused(t *testing.T, a *agent, path string, status int, what string) string {
	t.Helper()
	resp := a.get(path)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != status || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("%s: %s, Retry-After %q; want %d with Retry-After", what, resp.Status, resp.Header.Get("Retry-After"), status)
	}
	return string(body)
}

func TestHostileLines(t *testing.T) {
	path, cfg := fileSource(t, "")
	a := start(t, cfg)
	c := a.open("/stream/app?tail=0")
	big := strings.Repeat("0123456789", 100_000) // 1 MB
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// CR inside lines, a forged event, binary without newline until the
	// end, invalid UTF-8, a 1 MB line, then a normal line.
	hostile := "a\rdata: forged\r\n" +
		"event: gap\rdata: x\n" +
		"\x00\x01\x02\xff\xfe binary\n" +
		"bad \xc3\x28 utf8\n" +
		big + "\n" +
		"normal\n"
	if _, err := f.WriteString(hostile); err != nil {
		t.Fatal(err)
	}
	f.Close()
	want := 6
	for i := range want {
		ev := c.next(t)
		if ev.Type != "" {
			t.Fatalf("event %d: a line forged event type %q", i, ev.Type)
		}
		if !utf8.ValidString(ev.Data) || strings.ContainsAny(ev.Data, "\r\n") {
			t.Fatalf("event %d: unsafe data %.80q", i, ev.Data)
		}
		switch i {
		case 4:
			if len(ev.Data) > 70_000 || !strings.HasPrefix(ev.Data, "0123456789") || !strings.Contains(ev.Data, "cut") {
				t.Fatalf("1 MB line: %d bytes, want it cut near 64 KiB and marked", len(ev.Data))
			}
		case 5:
			if ev.Data != "normal" {
				t.Fatalf("after the hostile lines: %q", ev.Data)
			}
		}
	}
}

// A client that stops reading leaves the others and the agent's memory
// unaffected.
func TestSlowClient(t *testing.T) {
	path, cfg := fileSource(t, "stream:\n  client_buffer: 1024\n")
	a := start(t, cfg)
	conn, err := net.Dial("tcp", strings.TrimPrefix(a.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /stream/app?tail=0 HTTP/1.1\r\nHost: x\r\n\r\n")
	fast := a.open("/stream/app?tail=0")
	rss0 := rss(t, a.cmd.Process.Pid)
	line := strings.Repeat("z", 2000)
	const total = 20000
	// The writer never runs more than 500 lines ahead of the fast client,
	// so the fast client is never over its 1024-event queue, while the
	// stuck one falls ever further behind.
	var received atomic.Int64
	go func() {
		f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		defer f.Close()
		bw := bufio.NewWriterSize(f, 1<<16)
		for i := range total {
			fmt.Fprintf(bw, "%d %s\n", i, line)
			if i%100 == 99 {
				bw.Flush()
				for int64(i)-received.Load() > 500 {
					time.Sleep(time.Millisecond)
				}
			}
		}
		bw.Flush()
	}()
	for i := range total {
		received.Store(int64(i))
		ev := fast.next(t)
		if ev.Type != "" {
			t.Fatalf("fast client got %s at %d: %s", ev.Type, i, ev.Data)
		}
		if !strings.HasPrefix(ev.Data, strconv.Itoa(i)+" ") {
			t.Fatalf("fast client: line %d is %.20q", i, ev.Data)
		}
	}
	rss1 := rss(t, a.cmd.Process.Pid)
	resp := a.get("/metrics")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var heap int
	for _, l := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(l, "go_memstats_heap_inuse_bytes "); ok {
			heap, _ = strconv.Atoi(v)
		}
	}
	t.Logf("40 MB through a stuck client: RSS %d kB before, %d kB after (race detector on), heap in use %d kB", rss0, rss1, heap/1024)
	// The replay buffer holds up to 10,000 lines of 2 kB (20 MB); the stuck
	// client holds at most its queue of pointers into it. The heap must stay
	// near that, not grow with the 40 MB sent.
	if heap > 60<<20 {
		t.Fatalf("heap in use %d MB", heap>>20)
	}
	if !strings.Contains(string(body), "edgetail_lines_dropped_total") {
		t.Fatal("no drop counter in /metrics")
	}
}

func rss(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.Fields(v)[0])
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
