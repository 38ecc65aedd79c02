package e2e

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// notifyMsg is one datagram the agent sent to NOTIFY_SOCKET.
type notifyMsg struct {
	at     time.Time
	fields map[string]string
	raw    string
}

func (m notifyMsg) has(kv string) bool {
	k, v, _ := strings.Cut(kv, "=")
	got, ok := m.fields[k]
	return ok && got == v
}

// notifySocket is the service manager's end of the sd_notify protocol: a
// unixgram socket that records every datagram.
type notifySocket struct {
	path string
	conn *net.UnixConn
	msgs chan notifyMsg
	// onReady runs in the reading goroutine when the first READY=1 comes,
	// before the next datagram is read.
	onReady func()

	mu  sync.Mutex
	all []notifyMsg
}

func listenNotify(t *testing.T, onReady func()) *notifySocket {
	t.Helper()
	// A short directory: socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "etn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	n := &notifySocket{path: path, conn: conn, msgs: make(chan notifyMsg, 4096), onReady: onReady}
	done := make(chan struct{})
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	go func() {
		defer close(done)
		defer close(n.msgs)
		buf := make([]byte, 64<<10)
		readySeen := false
		for {
			k, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				return
			}
			m := notifyMsg{at: time.Now(), fields: map[string]string{}, raw: string(buf[:k])}
			for _, line := range strings.Split(m.raw, "\n") {
				if k, v, ok := strings.Cut(line, "="); ok {
					m.fields[k] = v
				}
			}
			if m.has("READY=1") && !readySeen {
				readySeen = true
				if n.onReady != nil {
					n.onReady()
				}
			}
			n.mu.Lock()
			n.all = append(n.all, m)
			n.mu.Unlock()
			n.msgs <- m
		}
	}()
	return n
}

// await returns the first message, from now on, that has kv; it fails the
// test after d.
func (n *notifySocket) await(t *testing.T, kv string, d time.Duration) notifyMsg {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m, ok := <-n.msgs:
			if !ok {
				t.Fatalf("notify socket closed while waiting for %s", kv)
			}
			if m.has(kv) {
				return m
			}
		case <-deadline:
			t.Fatalf("no %s within %s; got:\n%s", kv, d, n.dump())
		}
	}
}

func (n *notifySocket) since(t0 time.Time) []notifyMsg {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []notifyMsg
	for _, m := range n.all {
		if !m.at.Before(t0) {
			out = append(out, m)
		}
	}
	return out
}

func (n *notifySocket) dump() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var b strings.Builder
	for _, m := range n.all {
		b.WriteString(m.at.Format("15:04:05.000 ") + strings.ReplaceAll(m.raw, "\n", `\n`) + "\n")
	}
	return b.String()
}

// startNotify runs edgetail with NOTIFY_SOCKET and WATCHDOG_USEC, as systemd
// does for Type=notify with WatchdogSec=. It returns once the agent listens.
func startNotify(t *testing.T, cfg string, ns *notifySocket, watchdog time.Duration) *agent {
	t.Helper()
	cmd := exec.Command(binary, "-config", cfg)
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "NOTIFY_") || strings.HasPrefix(k, "WATCHDOG_") || strings.HasPrefix(k, "LISTEN_") {
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, "NOTIFY_SOCKET="+ns.path, "WATCHDOG_USEC="+strconv.FormatInt(watchdog.Microseconds(), 10))
	return launch(t, cmd, cfg, func() string { return "notify messages:\n" + ns.dump() })
}

// TestSystemdNotify runs the binary under a real NOTIFY_SOCKET with the
// watchdog on and checks the whole sd_notify conversation: READY=1 once the
// sources are up, WATCHDOG=1 at half of WATCHDOG_USEC, STATUS= lines that
// follow the clients, RELOADING=1 then READY=1 on SIGHUP, STOPPING=1 on
// SIGTERM and no ping after it.
func TestSystemdNotify(t *testing.T) {
	dir := t.TempDir()
	logA := filepath.Join(dir, "a.log")
	logB := filepath.Join(dir, "b.log")
	appendLines(t, logA, "a first")
	appendLines(t, logB, "b first")
	cfg := filepath.Join(dir, "edgetail.yaml")
	write := func(body string) {
		if err := os.WriteFile(cfg, []byte("listen: 127.0.0.1:0\n"+body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("sources:\n  - name: app\n    files: [" + logA + "]\n  - name: host\n    metrics: {interval: 1s}\n")

	// At READY=1, /readyz must already answer 200: every source has started.
	var url string
	urlSet := make(chan struct{})
	readyzAtReady := make(chan int, 1)
	ns := listenNotify(t, func() {
		select {
		case <-urlSet:
		case <-time.After(30 * time.Second):
			readyzAtReady <- -1
			return
		}
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			readyzAtReady <- -2
			return
		}
		resp.Body.Close()
		readyzAtReady <- resp.StatusCode
	})
	const watchdog = time.Second
	a := startNotify(t, cfg, ns, watchdog)
	url = a.url
	close(urlSet)

	ready := ns.await(t, "READY=1", 60*time.Second)
	if code := <-readyzAtReady; code != http.StatusOK {
		t.Fatalf("/readyz answered %d when READY=1 came; want 200", code)
	}
	if st := ready.fields["STATUS"]; !strings.Contains(st, "2 sources") || !strings.Contains(st, "1 of 1 file followed") || !strings.Contains(st, "0 clients") {
		t.Errorf("STATUS with READY=1 = %q; want 2 sources, 1 of 1 file followed, 0 clients", st)
	}
	for _, m := range ns.since(time.Time{}) {
		if m.at.Before(ready.at) && (m.has("READY=1") || m.has("WATCHDOG=1")) {
			t.Errorf("%q before the first READY=1", m.raw)
		}
	}

	// Watchdog: a ping every WATCHDOG_USEC/2, never a gap of WATCHDOG_USEC.
	window := 4 * time.Second
	t0 := time.Now()
	time.Sleep(window)
	var pings []time.Time
	for _, m := range ns.since(t0) {
		if m.has("WATCHDOG=1") {
			pings = append(pings, m.at)
		}
	}
	want := int(window / (watchdog / 2))
	if len(pings) < want-3 || len(pings) > want+2 {
		t.Errorf("%d WATCHDOG=1 in %s; want about %d (one per %s)", len(pings), window, want, watchdog/2)
	}
	for i := 1; i < len(pings); i++ {
		if gap := pings[i].Sub(pings[i-1]); gap >= watchdog {
			t.Errorf("%s between two pings: systemd would have killed the service (WatchdogSec=%s)", gap, watchdog)
		}
	}

	// STATUS= follows the clients.
	c := a.open("/stream/app?tail=0")
	waitFor(t, "STATUS with 1 client", func() bool {
		for _, m := range ns.since(t0) {
			if strings.Contains(m.fields["STATUS"], "1 client connected") {
				return true
			}
		}
		return false
	})
	c.close()

	// SIGHUP: RELOADING=1 (with MONOTONIC_USEC, for Type=notify-reload),
	// then READY=1 with the new sources in STATUS=.
	write("sources:\n  - name: app\n    files: [" + logA + "]\n  - name: other\n    files: [" + logB + "]\n  - name: host\n    metrics: {interval: 1s}\n")
	if err := a.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	rel := ns.await(t, "RELOADING=1", 30*time.Second)
	if _, ok := rel.fields["MONOTONIC_USEC"]; !ok {
		t.Errorf("RELOADING=1 without MONOTONIC_USEC: %q", rel.raw)
	}
	again := ns.await(t, "READY=1", 30*time.Second)
	if st := again.fields["STATUS"]; !strings.Contains(st, "3 sources") || !strings.Contains(st, "2 of 2 files followed") {
		t.Errorf("STATUS after the reload = %q; want 3 sources, 2 of 2 files followed", st)
	}

	// SIGTERM: STOPPING=1, exit 0, and the pinger is gone.
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stop := ns.await(t, "STOPPING=1", 30*time.Second)
	select {
	case err := <-a.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("edgetail did not exit within 30s of SIGTERM")
	}
	for _, m := range ns.since(stop.at) {
		if m.at.After(stop.at) && (m.has("WATCHDOG=1") || m.has("READY=1")) {
			t.Errorf("%q after STOPPING=1", m.raw)
		}
	}
}
