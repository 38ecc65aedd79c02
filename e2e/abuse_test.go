package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// A bounded abuse run on 127.0.0.1: slowloris, connect/disconnect churn and
// clients that never read. Throughout, an existing client must get every
// line, and the agent's fds, goroutines and heap must come back or stay
// bounded.
func TestAbuse(t *testing.T) {
	if testing.Short() {
		t.Skip("abuse run skipped in -short mode")
	}
	path, cfg := fileSource(t, "stream:\n  max_clients: 3000\n  max_clients_per_source: 3000\n  max_clients_per_ip: 3000\n  connect_rate_per_ip: -1\n")
	a := start(t, cfg)
	addr := strings.TrimPrefix(a.url, "http://")
	pid := a.cmd.Process.Pid
	watcher := a.open("/stream/app?tail=0")

	// A steady writer the watcher must follow without a loss.
	stop := make(chan struct{})
	written := make(chan int, 1)
	go func() {
		f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		defer f.Close()
		n := 0
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				written <- n
				return
			case <-tick.C:
				fmt.Fprintf(f, "seq=%d %s\n", n, strings.Repeat("p", 200))
				n++
			}
		}
	}()
	var seqs []int
	var seqMu sync.Mutex
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for ev := range watcher.events {
			if n, err := strconv.Atoi(strings.Fields(strings.TrimPrefix(ev.Data, "seq="))[0]); err == nil && ev.Type == "" {
				seqMu.Lock()
				seqs = append(seqs, n)
				seqMu.Unlock()
			}
		}
	}()

	time.Sleep(300 * time.Millisecond)
	fd0, g0 := fds(t, pid), goroutines(t, a)
	t.Logf("baseline: %d fds, %d goroutines", fd0, g0)

	// 1. 200 slowloris connections: headers that never end.
	var slow []net.Conn
	for range 200 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET /stream/app HTTP/1.1\r\nHost: x\r\n")
		slow = append(slow, c)
	}
	for range 3 {
		for _, c := range slow {
			c.Write([]byte("X-Drip: 1\r\n"))
		}
		if got, _ := status(t, a, "GET", "/healthz"); got != 200 {
			t.Fatalf("healthz under slowloris: %d", got)
		}
		time.Sleep(time.Second)
	}
	for _, c := range slow {
		c.Close()
	}

	// 2. 5,000 connect/disconnect cycles, 8 at a time.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var wg sync.WaitGroup
	var failures sync.Map
	for w := range 8 {
		wg.Go(func() {
			for range 5000 / 8 {
				resp, err := client.Get(a.url + "/stream/app?tail=0")
				if err != nil {
					failures.Store(w, err.Error())
					continue
				}
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	failures.Range(func(k, v any) bool { t.Errorf("connect cycle: %v", v); return false })

	// 3. 1,000 clients that never read, while lines flow.
	var stuck []net.Conn
	for range 1000 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetReadBuffer(4096)
		}
		fmt.Fprintf(c, "GET /stream/app?tail=0 HTTP/1.1\r\nHost: x\r\n\r\n")
		stuck = append(stuck, c)
	}
	waitFor(t, "1000 stuck clients registered", func() bool { return sourceClients(t, a) >= 1001 })
	time.Sleep(2 * time.Second)
	heap := metricValue(t, a, "go_memstats_heap_inuse_bytes")
	if heap == 0 {
		heap = metricValue(t, a, "go_memstats_alloc_bytes")
	}
	t.Logf("with 1000 stuck clients: %d fds, %d goroutines, heap %.1f MB", fds(t, pid), goroutines(t, a), heap/1e6)
	if heap > 200e6 {
		t.Errorf("heap %.0f MB with 1000 stuck clients", heap/1e6)
	}
	for _, c := range stuck {
		c.Close()
	}

	// Everything comes back.
	waitFor(t, "connections released", func() bool { return sourceClients(t, a) == 1 })
	var fd1, g1 int
	waitFor(t, "fds and goroutines back to baseline", func() bool {
		fd1, g1 = fds(t, pid), goroutines(t, a)
		return fd1 <= fd0+10 && g1 <= g0+10
	})
	t.Logf("after: %d fds, %d goroutines", fd1, g1)

	close(stop)
	n := <-written
	waitFor(t, "watcher caught up", func() bool {
		seqMu.Lock()
		defer seqMu.Unlock()
		return len(seqs) >= n
	})
	seqMu.Lock()
	lost, repeated, reordered := check(seqs, n)
	seqMu.Unlock()
	t.Logf("watcher: %d lines written during the run, %d lost, %d repeated", n, lost, repeated)
	if lost+repeated+reordered > 0 {
		t.Fatalf("existing client: %d lost, %d repeated, %d out of order", lost, repeated, reordered)
	}
}

func fds(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func metricValue(t *testing.T, a *agent, name string) float64 {
	t.Helper()
	_, body := statusFull(t, a, "/metrics")
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

func goroutines(t *testing.T, a *agent) int { return int(metricValue(t, a, "go_goroutines")) }

func sourceClients(t *testing.T, a *agent) int {
	return int(metricValue(t, a, "edgetail_streams"))
}

func statusFull(t *testing.T, a *agent, path string) (int, string) {
	t.Helper()
	resp := a.get(path)
	defer resp.Body.Close()
	var b strings.Builder
	bufio.NewReader(resp.Body).WriteTo(&b)
	return resp.StatusCode, b.String()
}

// Running out of file descriptors slows accepts down (net/http backs off up
// to a second) and neither crashes the agent nor makes it spin.
func TestOutOfFileDescriptors(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) not found")
	}
	_, cfg := fileSource(t, "stream:\n  max_clients_per_ip: 1000\n  connect_rate_per_ip: -1\n")
	f := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(f, []byte("listen: 127.0.0.1:0\n"+cfg), 0o644)
	cmd := exec.Command(prlimit, "--nofile=48:48", binary, "-config", f)
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	a := launch(t, cmd, f, nil)
	addr := strings.TrimPrefix(a.url, "http://")
	var conns []net.Conn
	for range 80 {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			break
		}
		fmt.Fprintf(c, "GET /stream/app?tail=0 HTTP/1.1\r\nHost: x\r\n\r\n")
		conns = append(conns, c)
	}
	time.Sleep(time.Second)
	if a.cmd.ProcessState != nil {
		t.Fatalf("the agent exited: %v\n%s", a.cmd.ProcessState, a.logs)
	}
	for _, c := range conns {
		c.Close()
	}
	waitFor(t, "serving again", func() bool {
		code, _ := status(t, a, "GET", "/healthz")
		return code == 200
	})
	pid := a.cmd.Process.Pid
	t0 := cpuTicks(t, pid)
	time.Sleep(time.Second)
	ticks := cpuTicks(t, pid) - t0
	t.Logf("%d connections opened against 48 fds; %d accept errors logged; %d CPU ticks in the idle second after",
		len(conns), strings.Count(a.logs.String(), "too many open files"), ticks)
	if ticks > 30 {
		t.Fatalf("%d CPU ticks in an idle second: spinning", ticks)
	}
}

func cpuTicks(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.Atoi(f[11])
	s, _ := strconv.Atoi(f[12])
	return u + s
}
