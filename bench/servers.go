package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// server is one server under test, started by the bench and stopped by its
// PID (websocketd by its own process group, so that its tails go with it).
type server struct {
	kind      string // "edgetail" or "websocketd"
	cmd       *exec.Cmd
	addr      string
	pprofAddr string
	tree      bool // measure the process and its children
	exited    chan struct{}
}

func (s *server) pid() int { return s.cmd.Process.Pid }

const (
	kindEdgetail   = "edgetail"
	kindWebsocketd = "websocketd"
	kindNaive      = "naive"   // bench/naive.go, run as a child of the bench
	kindTail       = "tail -F" // the at-rest baseline
	// kindEdgetailML is edgetail with `multiline: {preset: java}` on its
	// source, beside plain edgetail in the restml scenarios.
	kindEdgetailML = "edgetail multiline"
)

// edgetailConfig is the agent's YAML for one scenario: one file source,
// the caps raised for thousands of local clients.
func edgetailConfig(file, stateDir string, replayLines int, pprof bool, multiline string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: 127.0.0.1:0\nlog_level: info\n")
	// A state directory of its own: the known-files table of another run
	// would make this run's ids longer (they name every known file).
	fmt.Fprintf(&b, "state_dir: %q\n", stateDir)
	if pprof {
		b.WriteString("pprof: 127.0.0.1:0\n")
	}
	fmt.Fprintf(&b, "sources:\n  - name: app\n    files: [%q]\n", file)
	if multiline != "" {
		fmt.Fprintf(&b, "    multiline: %s\n", multiline)
	}
	b.WriteString("stream:\n  max_clients: 20000\n  max_clients_per_source: 20000\n  max_clients_per_ip: 20000\n  connect_rate_per_ip: -1\n")
	if replayLines > 0 {
		fmt.Fprintf(&b, "  replay_lines: %d\n  replay_bytes: %d\n", replayLines, 1<<30)
	}
	return b.String()
}

// startEdgetail runs edgetail on one file; multiline, when set, is the
// source's multiline setting (YAML flow form).
func startEdgetail(bin, dir, file string, replayLines int, pprof bool, multiline string) (*server, error) {
	return startEdgetailWith(bin, dir, file, replayLines, pprof, multiline, "")
}

// startEdgetailWith is startEdgetail with more config (extra, YAML added
// at the end), its config, log and state in dir (two agents on one file
// each have their own table of known files).
func startEdgetailWith(bin, dir, file string, replayLines int, pprof bool, multiline, extra string) (*server, error) {
	cfg := filepath.Join(dir, "edgetail.yaml")
	yaml := edgetailConfig(file, filepath.Join(dir, "state"), replayLines, pprof, multiline) + extra
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "edgetail.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-config", cfg)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{kind: kindEdgetail, cmd: cmd, exited: make(chan struct{})}
	addrs := make(chan [2]string, 2)
	go func() {
		defer logf.Close()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			_, _ = logf.Write(append(line, '\n'))
			var m struct{ Msg, Addr string }
			if json.Unmarshal(line, &m) == nil && m.Addr != "" {
				select {
				case addrs <- [2]string{m.Msg, m.Addr}:
				default:
				}
			}
		}
		_, _ = io.Copy(logf, stderr)
	}()
	go func() { _ = cmd.Wait(); close(s.exited) }()

	deadline := time.After(15 * time.Second)
	for s.addr == "" || (pprof && s.pprofAddr == "") {
		select {
		case a := <-addrs:
			switch a[0] {
			case "listening":
				s.addr = a[1]
			case "pprof listening":
				s.pprofAddr = a[1]
			}
		case <-s.exited:
			return nil, fmt.Errorf("edgetail exited at start; see %s", logf.Name())
		case <-deadline:
			s.stop()
			return nil, errors.New("edgetail did not say where it listens")
		}
	}
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + s.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if i > 150 {
			s.stop()
			return nil, errors.New("edgetail not ready within 15 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startNaive runs the naive baseline server (this very binary, -naive).
func startNaive(dir, file string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "naive.log"))
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(self, "-naive", file, "-naive-addr", addr)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	s := &server{kind: kindNaive, cmd: cmd, addr: addr, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(s.exited) }()
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return s, nil
		}
		if i > 100 {
			s.stop()
			return nil, errors.New("naive server did not start listening")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startWebsocketd serves a command (tail -F ...) over WebSocket, one
// process per client.
func startWebsocketd(dir string, args ...string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "websocketd.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("websocketd", append([]string{"--address=127.0.0.1", "--port=" + strconv.Itoa(port), "--loglevel=error"}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	s := &server{kind: kindWebsocketd, cmd: cmd, addr: "127.0.0.1:" + strconv.Itoa(port), tree: true, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(s.exited) }()
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil {
			c.Close()
			return s, nil
		}
		if i > 100 {
			s.stop()
			return nil, errors.New("websocketd did not start listening")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// stop sends SIGTERM (to websocketd's own group, so its tails end too) and
// SIGKILL after 5 s.
func (s *server) stop() {
	pid := s.pid()
	target := pid
	if s.kind == kindWebsocketd {
		target = -pid // the group this process leads
	}
	_ = syscall.Kill(target, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(target, syscall.SIGKILL)
		<-s.exited
	}
	if s.kind == kindWebsocketd {
		_ = syscall.Kill(-pid, syscall.SIGKILL) // tails that outlived their parent
	}
}

// connect opens one client of the right kind.
func (s *server) connect(ctx context.Context, path, lastID string, st *clientStats, bufSize int, onStatus func(int)) error {
	if s.kind == kindWebsocketd {
		return wsClient(ctx, s.addr, "/", st, bufSize, onStatus)
	}
	return sseClient(ctx, s.addr, path, lastID, st, bufSize, onStatus)
}

// sourceLines asks edgetail how many lines its source holds.
func (s *server) sourceLines() (uint64, error) {
	resp, err := http.Get("http://" + s.addr + "/api/sources")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var srcs []struct {
		Name  string
		Lines uint64
	}
	if err := json.NewDecoder(resp.Body).Decode(&srcs); err != nil {
		return 0, err
	}
	for _, x := range srcs {
		if x.Name == "app" {
			return x.Lines, nil
		}
	}
	return 0, errors.New("no source app")
}

// linesRead reads edgetail's own edgetail_lines_read_total of source app.
func (s *server) linesRead() (uint64, error) {
	resp, err := http.Get("http://" + s.addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	prefix := `edgetail_lines_read_total{source="app"} `
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, errors.New("no edgetail_lines_read_total for app")
}

// profile fetches a pprof profile from edgetail into file (no-op without
// a pprof listener).
func (s *server) profile(ctx context.Context, file, what string) {
	if s.pprofAddr == "" || file == "" {
		return
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.pprofAddr+"/debug/pprof/"+what, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, resp.Body)
}

// goMemory reads edgetail's own Go memory gauges from /metrics.
func (s *server) goMemory() map[string]float64 {
	resp, err := http.Get("http://" + s.addr + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || !strings.HasPrefix(k, "go_") {
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			m[k] = f
		}
	}
	return m
}
