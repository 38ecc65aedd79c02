package agent

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/nxadm/tail/watch.(*InotifyTracker).run"),
		goleak.IgnoreTopFunction("github.com/fsnotify/fsnotify.(*inotify).readEvents"),
	)
}

// serveAgent runs an agent on cfg in-process on 127.0.0.1 until ctx is done,
// and returns once it is ready: its URL, and where Serve's error arrives.
func serveAgent(ctx context.Context, t *testing.T, cfg *Config) (*Agent, string, <-chan error) {
	t.Helper()
	a, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	a.OnReady = func() { close(ready) }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("agent stopped before it was ready: %v", err)
	}
	return a, "http://" + ln.Addr().String(), done
}

// The agent in-process: a line goes from a file to a stream, a reload keeps
// the stream, and Serve returns with every goroutine it started stopped.
func TestServeReloadStop(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	os.WriteFile(path, []byte("before\n"), 0o644)
	yaml := fmt.Sprintf("sources:\n  - name: app\n    files: [%s]\n  - name: host\n    metrics: {interval: 100ms}\n", path)
	cfg, err := ParseConfig([]byte(yaml), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, url, done := serveAgent(ctx, t, cfg)

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", url+"/stream/app?tail=1", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	expect := func(want string) {
		t.Helper()
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("stream ended waiting for %q: %v", want, err)
			}
			if strings.TrimSpace(line) == "data: "+want {
				return
			}
		}
	}
	expect("before")

	// Reload with the same app source and without host: app's client stays.
	cfg2, _ := ParseConfig([]byte(fmt.Sprintf("sources:\n  - name: app\n    files: [%s]\n", path)), "t.yaml")
	if err := a.Reload(cfg2); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("after reload\n")
	f.Close()
	expect("after reload")

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return within 5s")
	}
}
