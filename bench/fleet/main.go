// Command fleet is the fleet benchmark (issue 14): simulated agents publish
// 100 lines/s each through fleet.Publisher into one JetStream server (in
// this process), one `edgetail hub` process serves 10 viewers, and the
// write-to-viewer latency and the hub's CPU are measured. Then one real
// edgetail agent follows a file at 1,000 lines/s, with and without
// publish: true, to measure what publishing adds to its CPU.
//
//	go run -tags nomsgpack ./bench/fleet -edgetail ./edgetail [-dur 10s] [-agents 4,16,64]
//
// Every load goes to 127.0.0.1 and is bounded in time; every process it
// starts is stopped by its PID.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"edgetail/event"
	"edgetail/fleet"
	"edgetail/stream"
)

func main() {
	bin := flag.String("edgetail", "./edgetail", "the edgetail binary")
	dur := flag.Duration("dur", 10*time.Second, "length of each run")
	agentsFlag := flag.String("agents", "4,16,64", "simulated agent counts")
	flag.Parse()
	tmp, err := os.MkdirTemp("", "edgetail-fleet-bench")
	check(err)
	defer os.RemoveAll(tmp)

	port := freePort()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true,
		StoreDir: filepath.Join(tmp, "js"), NoLog: true, NoSigs: true})
	check(err)
	ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		fail("nats not ready")
	}
	url := ns.ClientURL()

	fmt.Println("| agents | lines/s | p50 write→viewer | p99 | max | lines seen per viewer | hub CPU % | hub CPU % per 1,000 lines/s |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, s := range strings.Split(*agentsFlag, ",") {
		n, _ := strconv.Atoi(s)
		runLoad(*bin, url, n, *dur)
	}
	fmt.Println()
	agentCost(*bin, url, tmp, *dur)
}

// runLoad runs n simulated agents at 100 lines/s into the stream and 10
// viewers on one hub process.
func runLoad(bin, url string, n int, dur time.Duration) {
	hubPort := freePort()
	hub := exec.Command(bin, "hub", "-listen", fmt.Sprintf("127.0.0.1:%d", hubPort), "-nats", url, "-log-level", "error")
	check(hub.Start())
	defer stop(hub)
	hubURL := fmt.Sprintf("http://127.0.0.1:%d", hubPort)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait() // runs after cancel: deferred calls run last first
	defer cancel()
	srcs := make([]*stream.Source, n)
	for i := range n {
		nc, err := fleet.Connect(fleet.ConnOptions{URLs: []string{url}})
		check(err)
		defer nc.Close()
		js, err := fleet.NewJetStream(nc)
		check(err)
		if i == 0 {
			for {
				if _, err := fleet.EnsureStream(ctx, js, fleet.StreamOptions{}); err == nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		h := stream.New(stream.Options{})
		srcs[i] = h.Source("app", stream.KindFile)
		p := fleet.NewPublisher(fleet.PublisherOptions{Conn: nc, JS: js, Host: fmt.Sprintf("agent-%02d", i), Source: fleet.SourceOf[*stream.Tap](srcs[i])})
		wg.Go(func() { _ = p.Run(ctx) })
	}
	waitHTTP(hubURL + "/readyz")

	// Ten viewers: five of the whole fleet (one shared consumer), five of
	// a host glob with a level, each with its own consumer, since
	// their filters differ by the glob.
	var mu sync.Mutex
	var lat []time.Duration
	seen := make([]int, 10)
	vctx, vcancel := context.WithCancel(ctx)
	var vwg sync.WaitGroup
	for v := range 10 {
		q := "/stream?tail=0"
		if v >= 5 {
			q = fmt.Sprintf("/stream?tail=0&hosts=agent-%d*&level=info", v-5)
		}
		req, _ := http.NewRequestWithContext(vctx, http.MethodGet, hubURL+q, nil)
		resp, err := http.DefaultClient.Do(req)
		check(err)
		vwg.Go(func() {
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			var local []time.Duration
			for sc.Scan() {
				d, ok := bytes.CutPrefix(sc.Bytes(), []byte("data: "))
				if !ok {
					continue
				}
				var e struct{ Line string }
				if json.Unmarshal(d, &e) != nil {
					continue
				}
				f := strings.Fields(e.Line)
				if len(f) < 2 {
					continue
				}
				ns, _ := strconv.ParseInt(f[1], 10, 64)
				local = append(local, time.Since(time.Unix(0, ns)))
			}
			mu.Lock()
			lat = append(lat, local...)
			seen[v] = len(local)
			mu.Unlock()
		})
	}
	time.Sleep(500 * time.Millisecond) // viewers subscribed

	cpu0, t0 := cpuTicks(hub.Process.Pid), time.Now()
	// Each agent commits a line every 10 ms, staggered.
	var gwg sync.WaitGroup
	end := time.Now().Add(dur)
	for i := range n {
		gwg.Go(func() {
			time.Sleep(time.Duration(i) * 10 * time.Millisecond / time.Duration(n))
			t := time.NewTicker(10 * time.Millisecond)
			defer t.Stop()
			k := 0
			for now := range t.C {
				if now.After(end) {
					return
				}
				line := fmt.Sprintf("INFO %d agent-%02d request %d ok", time.Now().UnixNano(), i, k)
				k++
				_ = srcs[i].Publish(ctx, []event.Line{{File: "/var/log/app.log", Text: []byte(line), Time: time.Now()}})
			}
		})
	}
	gwg.Wait()
	time.Sleep(time.Second) // let the last lines arrive
	cpu1, t1 := cpuTicks(hub.Process.Pid), time.Now()
	vcancel()
	vwg.Wait()

	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	rate := float64(n * 100)
	hubPct := float64(cpu1-cpu0) / 100 / t1.Sub(t0).Seconds() * 100
	fmt.Printf("| %d | %.0f | %v | %v | %v | %v | %.1f | %.2f |\n", n, rate, pct(.5).Round(10*time.Microsecond),
		pct(.99).Round(10*time.Microsecond), pct(1).Round(10*time.Microsecond), seen, hubPct, hubPct/(rate/1000))
}

// agentCost runs one edgetail agent following a file written at 1,000
// lines/s, without then with publish: true, and prints its CPU.
func agentCost(bin, url, tmp string, dur time.Duration) {
	fmt.Println("| agent, 1,000 lines/s | CPU % | CPU % per 1,000 lines/s |")
	fmt.Println("|---|---|---|")
	var base float64
	for _, publish := range []bool{false, true} {
		logPath := filepath.Join(tmp, fmt.Sprintf("app-%v.log", publish))
		check(os.WriteFile(logPath, nil, 0o644))
		cfg := fmt.Sprintf("listen: 127.0.0.1:%d\nlog_level: error\nsources:\n  - name: app\n    files: [%s]\n    publish: %v\nfleet:\n  nats: [%s]\n  host: bench-agent\n",
			freePort(), logPath, publish, url)
		cfgPath := filepath.Join(tmp, fmt.Sprintf("agent-%v.yaml", publish))
		check(os.WriteFile(cfgPath, []byte(cfg), 0o644))
		cmd := exec.Command(bin, "-config", cfgPath)
		check(cmd.Start())
		time.Sleep(time.Second)
		f, err := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
		check(err)
		c0, t0 := cpuTicks(cmd.Process.Pid), time.Now()
		tick := time.NewTicker(10 * time.Millisecond) // 10 lines per tick
		end := time.Now().Add(dur)
		k := 0
		for now := range tick.C {
			if now.After(end) {
				break
			}
			var b []byte
			for range 10 {
				b = fmt.Appendf(b, "2026-12-01T10:00:00Z INFO request %d served in 3ms\n", k)
				k++
			}
			_, _ = f.Write(b)
		}
		tick.Stop()
		c1, t1 := cpuTicks(cmd.Process.Pid), time.Now()
		f.Close()
		stop(cmd)
		p := float64(c1-c0) / 100 / t1.Sub(t0).Seconds() * 100
		label := "not publishing"
		if publish {
			label = "publishing"
		} else {
			base = p
		}
		fmt.Printf("| %s | %.1f | %.1f |\n", label, p, p)
		if publish && base > 0 {
			fmt.Printf("\npublishing adds %.1f%% CPU per 1,000 lines/s (%.0f %% of the agent's cost without it)\n", p-base, (p-base)/base*100)
		}
	}
}

func cpuTicks(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	f := bytes.Fields(b[i+1:])
	u, _ := strconv.ParseUint(string(f[11]), 10, 64)
	s, _ := strconv.ParseUint(string(f[12]), 10, 64)
	return u + s
}

func stop(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func waitHTTP(u string) {
	for range 300 {
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	fail("not ready: " + u)
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func check(err error) {
	if err != nil {
		fail(err.Error())
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "bench/fleet:", msg)
	os.Exit(1)
}
