package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	sse "github.com/tmaxmax/go-sse"
)

// natsProc is a JetStream nats-server process that a test stops and
// starts again on the same port and store, by its PID.
type natsProc struct {
	t     *testing.T
	port  int
	store string
	cmd   *exec.Cmd
	done  chan struct{}
	logs  *logBuffer
}

func newNATSProc(t *testing.T) *natsProc {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &natsProc{t: t, port: ln.Addr().(*net.TCPAddr).Port, store: t.TempDir(), logs: &logBuffer{}}
	ln.Close()
	n.start()
	t.Cleanup(func() {
		n.stop()
		if t.Failed() {
			t.Logf("nats-server log:\n%s", n.logs)
		}
	})
	return n
}

func (n *natsProc) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

func (n *natsProc) start() {
	t := n.t
	t.Helper()
	bin := buildNATS(t)
	cmd := exec.Command(bin, "-a", "127.0.0.1", "-p", fmt.Sprint(n.port), "-js", "-sd", n.store)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			n.logs.add(sc.Text())
		}
	}()
	go func() { _ = cmd.Wait(); close(done) }()
	n.cmd, n.done = cmd, done
	addr := fmt.Sprintf("127.0.0.1:%d", n.port)
	waitFor(t, "nats-server accepts connections", func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

func (n *natsProc) stop() {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(10 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
	}
	n.cmd = nil
}

// fleetViewer reads the hub's merged stream and, when it ends (the hub
// lost NATS), opens it again after the last event it got, as a browser's
// EventSource would.
type fleetViewer struct {
	t      *testing.T
	hub    string
	lastID string
	events chan sse.Event
	stop   context.CancelFunc
	done   chan struct{}
}

func openFleetViewer(t *testing.T, hub string) *fleetViewer {
	ctx, cancel := context.WithCancel(context.Background())
	v := &fleetViewer{t: t, hub: hub, events: make(chan sse.Event, 1<<17), stop: cancel, done: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		defer close(v.done)
		first := true
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, hub+"/stream?tail=0", nil)
			if v.lastID != "" {
				req.Header.Set("Last-Event-ID", v.lastID)
			}
			resp, err := http.DefaultClient.Do(req)
			if first {
				close(ready)
				first = false
			}
			if err != nil || resp.StatusCode != http.StatusOK {
				if resp != nil {
					resp.Body.Close()
				}
				select {
				case <-ctx.Done():
				case <-time.After(200 * time.Millisecond):
				}
				continue
			}
			for ev, err := range sse.Read(resp.Body, &sse.ReadConfig{MaxEventSize: 8 << 20}) {
				if err != nil {
					break
				}
				if ev.Type == "" && ev.Data == "" {
					continue
				}
				if ev.LastEventID != "" {
					v.lastID = ev.LastEventID
				}
				v.events <- ev
			}
			resp.Body.Close()
		}
	}()
	<-ready
	t.Cleanup(func() { v.stop(); <-v.done })
	return v
}

// expect reads the lines want, failing on a gap event, a line out of
// order, or a duplicate; then it checks that nothing more comes for a
// moment.
func (v *fleetViewer) expect(want []string) {
	v.t.Helper()
	v.read(want)
	// No duplicate after the last line (speed is not asserted: a short
	// look for what should never come).
	select {
	case ev := <-v.events:
		v.t.Fatalf("unexpected event after the last line: %s %q", ev.Type, ev.Data)
	case <-time.After(1500 * time.Millisecond):
	}
}

// read reads the lines want, failing on a gap event, a line out of order,
// or a duplicate.
func (v *fleetViewer) read(want []string) {
	v.t.Helper()
	for i := 0; i < len(want); {
		select {
		case ev := <-v.events:
			if ev.Type == "gap" {
				v.t.Fatalf("gap event %q after %d of %d lines", ev.Data, i, len(want))
			}
			if ev.Type != "" {
				continue
			}
			var d struct{ Line, ID string }
			if err := json.Unmarshal([]byte(ev.Data), &d); err != nil {
				v.t.Fatalf("event data %q: %v", ev.Data, err)
			}
			if d.Line != want[i] {
				v.t.Fatalf("line %d is %q, want %q (a duplicate or a lost line)", i, d.Line, want[i])
			}
			if !strings.HasPrefix(d.ID, "f") {
				v.t.Fatalf("line %q: agent id %q is not a file source's durable id", d.Line, d.ID)
			}
			i++
		case <-time.After(60 * time.Second):
			v.t.Fatalf("got %d of %d lines; next wanted %q", i, len(want), want[i])
		}
	}
}

// resumeSetup is an agent publishing one file source to a real
// nats-server, a hub, and a viewer of the hub.
type resumeSetup struct {
	nats    *natsProc
	hub     *agent
	viewer  *fleetViewer
	log     string
	cfgPath string
	lines   []string // every line written, in order
}

func newResumeSetup(t *testing.T) *resumeSetup {
	t.Helper()
	s := &resumeSetup{nats: newNATSProc(t)}
	dir := t.TempDir()
	s.log = filepath.Join(dir, "app.log")
	if err := os.WriteFile(s.log, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// A small replay buffer: what is written while the agent or NATS is
	// away can only come from the file on disk.
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
state_dir: %s
stream: {replay_lines: 10}
sources:
  - name: app
    files: [%s]
    publish: true
fleet:
  nats: [%s]
  host: web-1
`, filepath.Join(dir, "state"), s.log, s.nats.url())
	s.cfgPath = filepath.Join(dir, "edgetail.yaml")
	if err := os.WriteFile(s.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// openHub starts the hub, once an agent has created the stream, and a
// viewer of it.
func (s *resumeSetup) openHub(t *testing.T) {
	t.Helper()
	s.hub = startHub(t, s.nats.url())
	s.viewer = openFleetViewer(t, s.hub.url)
}

func (s *resumeSetup) startAgent(t *testing.T) *agent {
	t.Helper()
	return startArgs(t, s.cfgPath, "-config", s.cfgPath)
}

// write appends n lines "<prefix> <i>" to the log file.
func (s *resumeSetup) write(t *testing.T, prefix string, n int) {
	t.Helper()
	f, err := os.OpenFile(s.log, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := range n {
		l := fmt.Sprintf("%s %d", prefix, i)
		s.lines = append(s.lines, l)
		fmt.Fprintln(w, l)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func stopAgent(t *testing.T, a *agent, sig syscall.Signal) {
	t.Helper()
	_ = a.cmd.Process.Signal(sig)
	select {
	case <-a.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("agent did not stop on %v", sig)
	}
}

// An agent stopped (SIGTERM, then SIGKILL) while lines are written
// publishes, once started again, every line it missed from the file on
// disk: the viewer gets every line exactly once, in order, with no gap.
func TestFleetResumesAcrossAgentRestart(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			s := newResumeSetup(t)
			a := s.startAgent(t)
			s.openHub(t)
			s.write(t, "before", 20)
			s.viewer.expect(s.lines)
			// The agent stops while it publishes: with SIGKILL a message
			// may be stored and not acknowledged, and is sent again.
			s.write(t, "busy", 3000)
			s.viewer.read(s.lines[20:520])
			stopAgent(t, a, sig)
			st, _ := os.ReadFile(filepath.Join(filepath.Dir(s.cfgPath), "state", "fleet-app.json"))
			t.Logf("publisher state after %v: %s", sig, st)
			s.write(t, "down", 500)
			s.startAgent(t)
			s.write(t, "after", 20)
			s.viewer.expect(s.lines[520:])
		})
	}
}

// NATS away while more lines are written than the replay buffer and the
// publisher's queue hold: once it is back, they are published from the
// file on disk, with no gap.
func TestFleetNATSAwayPublishesFromDisk(t *testing.T) {
	s := newResumeSetup(t)
	a := s.startAgent(t)
	s.openHub(t)
	s.write(t, "before", 20)
	s.viewer.expect(s.lines)
	s.nats.stop()
	s.write(t, "away", 20000) // the publisher's queue holds 16384, the buffer 10
	// NATS comes back only once the agent has read them all: the queue
	// has overflowed by then.
	waitFor(t, "the agent read every line", func() bool {
		return metricValue(t, a, `edgetail_lines_read_total{source="app"}`) >= 20020
	})
	s.nats.start()
	s.write(t, "back", 20)
	s.viewer.expect(s.lines[20:])
	if m := metricValue(t, a, `edgetail_fleet_missed_lines_total{source="app"}`); m != 0 {
		t.Errorf("missed lines %v, want 0", m)
	}
}
