// Package e2e runs the built edgetail binary against real files in temp
// directories and reads its streams over real HTTP with a real SSE parser.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	sse "github.com/tmaxmax/go-sse"
)

var binary string

// httpsReady makes start use https (tests of TLS set it).
var httpsReady bool

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "edgetail-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "edgetail")
	// The race detector on the binary too: races in the daemon fail the
	// end-to-end tests, not only the unit tests.
	args := []string{"build", "-tags", "nomsgpack", "-o", binary}
	if os.Getenv("E2E_NO_RACE") == "" {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "../cmd/edgetail")...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build edgetail:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// agent is one running edgetail process.
type agent struct {
	t    *testing.T
	cmd  *exec.Cmd
	url  string
	logs *logBuffer
	done chan error
	cfg  string
}

type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (l *logBuffer) add(s string) {
	l.mu.Lock()
	l.lines = append(l.lines, s)
	l.mu.Unlock()
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// start runs edgetail with the YAML config (listen 127.0.0.1:0 is added
// when absent) and waits until it is ready.
func start(t *testing.T, config string, args ...string) *agent {
	t.Helper()
	if !strings.Contains(config, "listen:") {
		config = "listen: 127.0.0.1:0\n" + config
	}
	if !strings.Contains(config, "state_dir:") {
		// Each test its own state: the default, /var/lib/edgetail, is
		// shared by every agent of the machine.
		config = "state_dir: " + t.TempDir() + "\n" + config
	}
	cfg := filepath.Join(t.TempDir(), "edgetail.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return startArgs(t, cfg, append([]string{"-config", cfg}, args...)...)
}

func startArgs(t *testing.T, cfg string, args ...string) *agent {
	t.Helper()
	cmd := exec.Command(binary, args...)
	// The race runtime sleeps a second at exit by default; the shutdown
	// tests measure the agent, not that.
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	a := launch(t, cmd, cfg, nil)
	waitFor(t, "ready", func() bool {
		resp, err := http.Get(a.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return a
}

// launch starts cmd, collects its log, stops it when the test ends (failing
// the test on a data race in the agent), and returns once it listens.
// extra, if set, adds to the log shown when the test fails.
func launch(t *testing.T, cmd *exec.Cmd, cfg string, extra func() string) *agent {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &agent{t: t, cmd: cmd, logs: &logBuffer{}, done: make(chan error, 1), cfg: cfg}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			a.logs.add(line)
			var m struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &m) == nil && m.Msg == "listening" {
				select {
				case addr <- m.Addr:
				default:
				}
			}
		}
	}()
	go func() { a.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-a.done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-a.done
			}
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", a.logs)
			if extra != nil {
				t.Logf("%s", extra())
			}
		}
		if strings.Contains(a.logs.String(), "WARNING: DATA RACE") {
			t.Errorf("data race in the agent:\n%s", a.logs)
		}
	})
	select {
	case ad := <-addr:
		scheme := "http://"
		if httpsReady {
			scheme = "https://"
		}
		// Tests reach the agent on loopback whatever it listens on.
		ad = strings.Replace(strings.Replace(ad, "0.0.0.0", "127.0.0.1", 1), "[::]", "127.0.0.1", 1)
		a.url = scheme + ad
	case err := <-a.done:
		t.Fatalf("edgetail exited: %v\n%s", err, a.logs)
	case <-time.After(60 * time.Second):
		t.Fatalf("edgetail did not listen within 60s\n%s", a.logs)
	}
	return a
}

func (a *agent) get(path string, hdr ...string) *http.Response {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, a.url+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	return resp
}

// client reads one stream with go-sse's parser.
type client struct {
	events chan sse.Event
	cancel context.CancelFunc
	body   io.ReadCloser
}

func (a *agent) open(path string, hdr ...string) *client {
	a.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.url+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		a.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		cancel()
		a.t.Fatalf("GET %s: %s %s", path, resp.Status, b)
	}
	c := &client{events: make(chan sse.Event, 1<<20), cancel: cancel, body: resp.Body}
	go func() {
		defer close(c.events)
		for ev, err := range sse.Read(resp.Body, &sse.ReadConfig{MaxEventSize: 8 << 20}) {
			if err != nil {
				return
			}
			c.events <- ev
		}
	}()
	a.t.Cleanup(c.close)
	return c
}

func (c *client) close() {
	c.cancel()
	c.body.Close()
	for range c.events {
	}
}

func (c *client) next(t *testing.T) sse.Event {
	t.Helper()
	select {
	case ev, ok := <-c.events:
		if !ok {
			t.Fatal("stream ended")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return sse.Event{}
}

// ended reports whether the stream closes within d.
func (c *client) ended(d time.Duration) bool {
	deadline := time.After(d)
	for {
		select {
		case _, ok := <-c.events:
			if !ok {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func appendLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		if _, err := f.WriteString(l + "\n"); err != nil {
			t.Fatal(err)
		}
	}
}

func execOut(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}
