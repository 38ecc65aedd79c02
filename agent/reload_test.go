package agent

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgetail/journal/journaltest"
)

// A reload waits for the producers it stops. Here one of them is a
// journalctl that ignores SIGTERM, so stopping it takes journalctl's 2 s
// WaitDelay; meanwhile requests and another source's live stream must not
// wait: the reload holds no lock they need.
func TestReloadDoesNotStallRequestsOrStreams(t *testing.T) {
	jd := journaltest.Start(t)
	real, err := exec.LookPath("journalctl")
	if err != nil {
		t.Skip("no journalctl")
	}
	// A journalctl that ignores SIGTERM: an ignored signal stays ignored
	// across exec.
	bin := t.TempDir()
	os.WriteFile(filepath.Join(bin, "journalctl"), []byte("#!/bin/sh\ntrap '' TERM\nexec "+real+" \"$@\"\n"), 0o755)
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))

	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	os.WriteFile(path, nil, 0o644)
	conf := func(ident string) *Config {
		cfg, err := ParseConfig(fmt.Appendf(nil, `state_dir: %s
sources:
  - name: app
    files: [%s]
  - name: j
    journal: {directory: %s, identifiers: [%s]}
`, filepath.Join(dir, "state"), path, jd.Dir, ident), "r.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, url, done := serveAgent(ctx, t, conf("one"))
	defer func() { cancel(); <-done }()

	resp, err := http.Get(url + "/stream/app?tail=0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				lines <- d
			}
		}
	}()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// roundTrip writes a line and waits for it on the stream.
	roundTrip := func(s string) time.Duration {
		t.Helper()
		t0 := time.Now()
		fmt.Fprintln(f, s)
		select {
		case got := <-lines:
			if got != s {
				t.Fatalf("stream sent %q, want %q", got, s)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("line %q never arrived", s)
		}
		return time.Since(t0)
	}
	roundTrip("warm-up")
	// Reload once journalctl follows (it catches up first, in a process of
	// its own that ends by itself).
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if st, _ := a.journalOf("j").Status(); st == "running" && len(journaltest.Children(os.Getpid(), "journalctl")) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("journalctl never followed")
		}
	}

	reloaded := make(chan error, 1)
	t0 := time.Now()
	go func() { reloaded <- a.Reload(conf("two")) }()
	time.Sleep(200 * time.Millisecond) // the reload is now waiting for journalctl
	var worstHTTP, worstLine time.Duration
	for i := 0; i < 5; i++ {
		for _, p := range []string{"/healthz", "/readyz", "/api/sources", "/metrics"} {
			t1 := time.Now()
			r, err := http.Get(url + p)
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			worstHTTP = max(worstHTTP, time.Since(t1))
		}
		worstLine = max(worstLine, roundTrip(fmt.Sprintf("during reload %d", i)))
		time.Sleep(100 * time.Millisecond)
	}
	measured := time.Since(t0)
	if worstHTTP > 100*time.Millisecond || worstLine > 100*time.Millisecond {
		t.Fatalf("during a reload a request took %v and a line %v: want both under 100ms", worstHTTP, worstLine)
	}
	select {
	case <-reloaded:
		t.Fatalf("the reload ended within %v: journalctl did not hold it, the test shows nothing", measured)
	default:
	}
	if err := <-reloaded; err != nil {
		t.Fatal(err)
	}
	t.Logf("reload took %v; slowest request %v, slowest line %v during it", time.Since(t0), worstHTTP, worstLine)
}
