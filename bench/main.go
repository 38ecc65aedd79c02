// Command bench is edgetail's load benchmark (issue 7). It writes numbered,
// timestamped lines into a log file at a controlled rate, follows it with
// many clients through edgetail (SSE) and through websocketd + tail -F
// (WebSocket) in the same run, measures the floor (a buffered read of the
// file, loopback TCP), and writes BENCHMARKS.md.
//
//	go run ./bench -edgetail ./edgetail -out BENCHMARKS.md [-quick] [-profile DIR]
//
// All load goes to 127.0.0.1, is bounded in count and time, and every
// server it starts is stopped by its PID before it exits.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type env struct {
	bin      string
	tmp      string
	profDir  string
	lineSize int
	wsd      bool // websocketd is installed
}

// params sizes a run; -quick shrinks it to a smoke test.
type params struct {
	dur, rotDur  time.Duration
	idle, idleWS int
	replay       int64
	replayWSMax  time.Duration
}

func main() {
	var (
		bin    = flag.String("edgetail", "./edgetail", "the edgetail binary")
		out    = flag.String("out", "BENCHMARKS.md", "report to write ('' for none)")
		notes  = flag.String("notes", "bench/NOTES.md", "hand-written profile notes appended to the report ('' for none)")
		quick  = flag.Bool("quick", false, "a short smoke run")
		prof   = flag.String("profile", "", "directory for edgetail's CPU and heap profiles of each scenario (enables its pprof listener)")
		only   = flag.String("only", "", "comma-separated scenarios to run: rest1000,rest10000,restml1000,restml10000,alerts10000,lat1,lat10k,fan100,fan1000,idle,replay,rot1000,rot5000,reconnect")
		noWS   = flag.Bool("no-websocketd", false, "skip websocketd even when installed")
		lineSz = flag.Int("line", 100, "bytes per line, newline included")
		naive  = flag.String("naive", "", "run the naive baseline server on this file (the bench starts it itself)")
		// An A/A run of alerts10000: both agents without rules.
		control   = flag.Bool("alerts-control", false, "alerts10000 with no rules on either side (the noise of the comparison)")
		rounds    = flag.Int("alerts-rounds", 4, "alerts10000: rounds of the writer's window, the agents started in either order in turn")
		rulesFile = flag.String("alerts-rules", "", "alerts10000 with these rules (a YAML alerts: block) instead of the five built in")
		naiveA    = flag.String("naive-addr", "", "the naive server's listen address")
	)
	flag.Parse()
	if *naive != "" {
		fatal(runNaive(*naive, *naiveA))
	}
	raiseFDLimit()

	p := params{dur: 8 * time.Second, rotDur: 8 * time.Second, idle: 10000, idleWS: 200, replay: 2_000_000, replayWSMax: 10 * time.Second}
	if *quick {
		p = params{dur: 2 * time.Second, rotDur: 2 * time.Second, idle: 1000, idleWS: 50, replay: 200_000, replayWSMax: 3 * time.Second}
	}
	e := &env{bin: *bin, profDir: *prof, lineSize: *lineSz}
	if _, err := exec.LookPath("websocketd"); err == nil && !*noWS {
		e.wsd = true
	} else if !*noWS {
		fmt.Fprintln(os.Stderr, "bench: websocketd not found (bash scripts/deps.sh websocketd:websocketd); running edgetail only")
	}
	if e.profDir != "" {
		if err := os.MkdirAll(e.profDir, 0o755); err != nil {
			fatal(err)
		}
	}
	tmp, err := os.MkdirTemp("", "edgetail-bench-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(tmp)
	e.tmp = tmp

	want := func(k string) bool {
		return *only == "" || strings.Contains(","+*only+",", ","+k+",")
	}
	rep := &report{started: time.Now(), quick: *quick, p: p, cmd: strings.Join(os.Args, " "), res: map[string]map[string]result{}}
	servers := []string{kindEdgetail}
	if e.wsd {
		servers = append(servers, kindWebsocketd)
	}
	eachOf := func(servers []string, key string, f func(kind string) result) {
		if !want(key) {
			return
		}
		rep.res[key] = map[string]result{}
		for _, k := range servers {
			t0 := time.Now()
			r := f(k)
			rep.res[key][k] = r
			logResult(key, r, time.Since(t0))
		}
	}
	each := func(key string, f func(kind string) result) { eachOf(servers, key, f) }
	live := func(sp liveSpec) { each(sp.key, func(k string) result { return e.runLive(k, sp) }) }
	// The scenarios of issue 11 also run the naive baseline server.
	withNaive := append(slices.Clone(servers), kindNaive)
	liveN := func(sp liveSpec) { eachOf(withNaive, sp.key, func(k string) result { return e.runLive(k, sp) }) }

	for _, rate := range []int{1000, 10000} {
		key := "rest" + strconv.Itoa(rate)
		if want(key) {
			et, tl := e.runRest(key, rate, p.dur)
			rep.res[key] = map[string]result{kindEdgetail: et, kindTail: tl}
			logResult(key, et, 0)
			logResult(key, tl, 0)
		}
	}
	// The same at rest with a multiline source (issue 20): edgetail with
	// and without `multiline: {preset: java}` beside tail -F in one window.
	for _, rate := range []int{1000, 10000} {
		key := "restml" + strconv.Itoa(rate)
		if want(key) {
			et, ml, tl := e.runRestML(key, rate, p.dur)
			rep.res[key] = map[string]result{kindEdgetail: et, kindEdgetailML: ml, kindTail: tl}
			logResult(key, et, 0)
			logResult(key, ml, 0)
			logResult(key, tl, 0)
		}
	}
	if want("alerts10000") {
		// Rounds of the usual window (-alerts-rounds, see runRules); -alerts-control
		// gives both agents no rules, to see the noise.
		rules := benchRules
		if *rulesFile != "" {
			b, err := os.ReadFile(*rulesFile)
			if err != nil {
				fatal(err)
			}
			rules = string(b)
		}
		if *control {
			rules = ""
		}
		with, without := e.runRules("alerts10000", 10000, p.dur, rules, *rounds)
		rep.res["alerts10000"] = map[string]result{kindEdgetail: with, kindNoRules: without}
		logResult("alerts10000", with, 0)
		logResult("alerts10000", without, 0)
	}
	liveN(liveSpec{key: "lat1", clients: 1, rate: 1000, dur: p.dur})
	eachOf([]string{kindEdgetail}, "lat10k", func(k string) result {
		return e.runLive(k, liveSpec{key: "lat10k", clients: 1, rate: 10000, dur: p.dur})
	})
	liveN(liveSpec{key: "fan100", clients: 100, rate: 1000, dur: p.dur})
	liveN(liveSpec{key: "fan1000", clients: 1000, rate: 100, dur: p.dur})
	each("idle", func(k string) result {
		if k == kindWebsocketd {
			return e.runIdle(k, p.idleWS)
		}
		return e.runIdle(k, p.idle)
	})
	if want("replay") {
		big := tmp + "/big.log"
		size, err := writeFile(big, p.replay, e.lineSize)
		if err != nil {
			fatal(err)
		}
		rep.fileBytes = size
		if rep.bufRead, err = bufferedRead(big); err != nil {
			fatal(err)
		}
		if rep.loopBps, err = loopback(big); err != nil {
			fatal(err)
		}
		fmt.Fprintf(os.Stderr, "floor: buffered read %.2fM lines/s, loopback %.0f MB/s (%.2fM lines/s)\n",
			rep.bufRead/1e6, rep.loopBps/1e6, rep.loopBps/float64(size)*float64(p.replay)/1e6)
		each("replay", func(k string) result { return e.runReplay(k, big, p.replay, p.replayWSMax) })
		_ = os.Remove(big)
	}
	live(liveSpec{key: "rot1000", clients: 1, rate: 1000, dur: p.rotDur, rotateEvery: 2000})
	live(liveSpec{key: "rot5000", clients: 1, rate: 5000, dur: p.rotDur, rotateEvery: 2000})
	live(liveSpec{key: "reconnect", clients: 10, rate: 1000, dur: p.dur, reconnects: 3})
	rep.elapsed = time.Since(rep.started)

	if *out != "" {
		var extra []byte
		if *notes != "" {
			extra, _ = os.ReadFile(*notes)
		}
		if err := os.WriteFile(*out, []byte(rep.markdown(extra)), 0o644); err != nil {
			fatal(err)
		}
		fmt.Fprintf(os.Stderr, "bench: wrote %s in %v\n", *out, rep.elapsed.Round(time.Second))
	}
}

func logResult(key string, r result, d time.Duration) {
	s := r.sum
	fmt.Fprintf(os.Stderr, "%-9s %-10s %5.1fs p50 %.2f p99 %.2f max %.2f ms | lines %d events %d lost %d rep %d reord %d gaps %d | cpu %.1f%% rss %.1f MB | %s",
		key, r.server, d.Seconds(), s.p50, s.p99, s.max, r.total, s.events, s.lost, s.repeats, s.reorders, s.gapEvents,
		r.cpu, float64(r.rss)/1e6, r.statuses)
	if r.linesPerSec > 0 {
		fmt.Fprintf(os.Stderr, " | %.0f lines/s", r.linesPerSec)
	}
	if r.rssBase > 0 {
		fmt.Fprintf(os.Stderr, " | %.1f KB/conn", perConn(r)/1e3)
	}
	if r.note != "" {
		fmt.Fprintf(os.Stderr, " | %s", r.note)
	}
	if r.err != nil {
		fmt.Fprintf(os.Stderr, " | ERROR %v", r.err)
	}
	fmt.Fprintln(os.Stderr)
}

func perConn(r result) float64 {
	if r.conns == 0 || r.rss < r.rssBase {
		return 0
	}
	return float64(r.rss-r.rssBase) / float64(r.conns)
}

// raiseFDLimit lifts RLIMIT_NOFILE to its hard limit; the servers the bench
// starts inherit it.
func raiseFDLimit() {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

func execOutput(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).Output()
	return string(out), err
}
