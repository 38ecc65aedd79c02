package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

type report struct {
	started   time.Time
	elapsed   time.Duration
	quick     bool
	p         params
	cmd       string
	res       map[string]map[string]result // scenario -> server -> result
	bufRead   float64                      // lines/s
	loopBps   float64                      // bytes/s
	fileBytes int64
}

func (r *report) get(key, server string) (result, bool) {
	m, ok := r.res[key]
	if !ok {
		return result{}, false
	}
	x, ok := m[server]
	return x, ok && x.err == nil
}

type row struct {
	scenario, measure, et, target, ws, ratio, met string
}

func ms(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func mb(b uint64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }

func ratio(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "-"
	}
	x := a / b
	switch {
	case x >= 10:
		return fmt.Sprintf("%.0f×", x)
	case x >= 0.1:
		return fmt.Sprintf("%.2f×", x)
	}
	return fmt.Sprintf("%.3f×", x)
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func (r *report) rows() []row {
	var rows []row
	na := "not run"
	side := func(key string, f func(result) string) (string, string) {
		et, ws := na, na
		if x, ok := r.get(key, kindEdgetail); ok {
			et = f(x)
		} else if x, ok := r.res[key][kindEdgetail]; ok {
			et = "error: " + x.err.Error()
		}
		if x, ok := r.get(key, kindWebsocketd); ok {
			ws = f(x)
		}
		return et, ws
	}
	cmp := func(key string, f func(result) float64) string {
		a, ok1 := r.get(key, kindEdgetail)
		b, ok2 := r.get(key, kindWebsocketd)
		if !ok1 || !ok2 {
			return "-"
		}
		return ratio(f(a), f(b))
	}
	met := func(key string, f func(result) bool) string {
		x, ok := r.get(key, kindEdgetail)
		if !ok {
			return "-"
		}
		return yes(f(x))
	}
	p99 := func(x result) float64 { return x.sum.p99 }
	cpu := func(x result) float64 { return x.cpu }
	rss := func(x result) float64 { return float64(x.rss) }

	if _, ok := r.res["lat1"]; ok {
		et, ws := side("lat1", func(x result) string {
			return fmt.Sprintf("%s / %s ms (max %s)", ms(x.sum.p50), ms(x.sum.p99), ms(x.sum.max))
		})
		rows = append(rows, row{"1 client, 1,000 lines/s", "latency p50 / p99", et, "≤ 0.5 / 2 ms", ws,
			"p50 " + cmp("lat1", func(x result) float64 { return x.sum.p50 }) + ", p99 " + cmp("lat1", p99),
			met("lat1", func(x result) bool { return x.sum.p50 <= 0.5 && x.sum.p99 <= 2 && x.sum.lost == 0 })})
	}
	fan := func(key, name string, p99t, cput float64, rsst uint64) {
		if _, ok := r.res[key]; !ok {
			return
		}
		et, ws := side(key, func(x result) string { return ms(x.sum.p99) + " ms" })
		rows = append(rows, row{name, "latency p99", et, fmt.Sprintf("≤ %s ms", ms(p99t)), ws, cmp(key, p99),
			met(key, func(x result) bool { return x.sum.p99 <= p99t })})
		et, ws = side(key, func(x result) string { return fmt.Sprintf("%.1f %%", x.cpu) })
		rows = append(rows, row{"", "server CPU", et, fmt.Sprintf("≤ %.0f %%", cput), ws, cmp(key, cpu),
			met(key, func(x result) bool { return x.cpu <= cput })})
		et, ws = side(key, func(x result) string { return mb(x.rss) })
		rows = append(rows, row{"", "server RSS (peak)", et, fmt.Sprintf("≤ %d MB", rsst/1e6), ws, cmp(key, rss),
			met(key, func(x result) bool { return x.rss <= rsst })})
	}
	fan("fan100", "100 clients × 1,000 lines/s", 5, 10, 25e6)
	fan("fan1000", "1,000 clients × 100 lines/s", 20, 25, 60e6)
	if _, ok := r.res["idle"]; ok {
		et, ws := side("idle", func(x result) string {
			s := fmt.Sprintf("%.1f KB (%d connections, %s total)", perConn(x)/1e3, x.conns, mb(x.rss))
			if x.server == kindWebsocketd {
				s = fmt.Sprintf("%.0f KB (measured over %d connections, a process each; extrapolated per connection)", perConn(x)/1e3, x.conns)
			}
			return s
		})
		rows = append(rows, row{"idle connections", "RSS per connection", et, "≤ 12 KB (10,000 in ≤ 150 MB)", ws,
			cmp("idle", perConn), met("idle", func(x result) bool { return perConn(x) <= 12e3 && x.rss <= 150e6 })})
	}
	if _, ok := r.res["replay"]; ok {
		n := r.p.replay
		et, ws := side("replay", func(x result) string {
			s := fmt.Sprintf("%.2fM lines/s", x.linesPerSec/1e6)
			if x.note != "" {
				s += " (" + x.note + ")"
			}
			return s
		})
		rows = append(rows, row{fmt.Sprintf("one client reading a %s-line file from its start (tail=)", commas(n)), "lines/s", et, "≥ 2M", ws,
			cmp("replay", func(x result) float64 { return x.linesPerSec }),
			met("replay", func(x result) bool { return x.linesPerSec >= 2e6 && x.sum.lost == 0 })})
		et, ws = side("replay", func(x result) string {
			return fmt.Sprintf("%.0f %% of %.2fM lines/s", 100*x.linesPerSec/r.bufRead, r.bufRead/1e6)
		})
		rows = append(rows, row{"", "÷ plain buffered read, same file, same run", et, "≥ 50 %", ws, "-",
			met("replay", func(x result) bool { return x.linesPerSec >= 0.5*r.bufRead })})
		if r.loopBps > 0 {
			loopLines := r.loopBps / float64(r.fileBytes) * float64(n)
			et, ws = side("replay", func(x result) string {
				return fmt.Sprintf("%.0f %% of %.2fM lines/s", 100*x.linesPerSec/loopLines, loopLines/1e6)
			})
			rows = append(rows, row{"", "÷ loopback TCP of the same bytes (not a target: the ceiling for any network server)", et, "-", ws, "-", "-"})
		}
	}
	lostRep := func(key, name string) {
		if _, ok := r.res[key]; !ok {
			return
		}
		et, ws := side(key, func(x result) string {
			s := fmt.Sprintf("%d lost, %d repeated of %s", x.sum.lost, x.sum.repeats, commas(x.total*int64(x.conns)))
			if x.rotations > 0 {
				s += fmt.Sprintf(" (%d rotations)", x.rotations)
			}
			return s
		})
		rows = append(rows, row{name, "lost / repeated", et, "0 / 0", ws, "-",
			met(key, func(x result) bool { return x.sum.lost == 0 && x.sum.repeats == 0 && x.total > 0 })})
	}
	lostRep("rot1000", "rename rotation every 2,000 lines at 1,000 lines/s")
	lostRep("rot5000", "rename rotation every 2,000 lines at 5,000 lines/s")
	lostRep("reconnect", "reconnect with Last-Event-ID while writing (10 clients, 3 drops of 300 ms each)")
	return rows
}

func commas(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

var order = []string{"rest1000", "rest10000", "restml1000", "restml10000", "alerts10000", "lat1", "lat10k", "fan100", "fan1000", "idle", "replay", "rot1000", "rot5000", "reconnect"}

func (r *report) markdown(notes []byte) string {
	var b strings.Builder
	b.WriteString("# Benchmarks\n\n")
	b.WriteString("Written by `make bench` (the load benchmark in [bench/](bench/), issue 7). Every figure comes from\n" +
		"one run on one machine: edgetail and websocketd + `tail -F` side by side, with the load tool on the same\n" +
		"2 cores. The machine is shared with other developers' builds, so read the ratios, not the absolutes.\n\n")
	if r.quick {
		b.WriteString("**This is a `-quick` smoke run: shorter scenarios and fewer connections than the issue asks.**\n\n")
	}
	b.WriteString("| scenario | measure | edgetail | target | websocketd + tail -F | edgetail ÷ websocketd | target met |\n|---|---|---|---|---|---|---|\n")
	for _, x := range r.rows() {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", x.scenario, x.measure, x.et, x.target, x.ws, x.ratio, x.met)
	}
	b.WriteString("\nLatency is from the line's `write()` (its timestamp is inside the line) to its parse by the client.\n" +
		"CPU is utime+stime of the server (websocketd: with all its tail processes) over the write window; 100 % is one core.\n" +
		"RSS of websocketd is summed over its process tree, so pages shared between its tails count once per process.\n\n")

	b.WriteString(r.costTable())
	fmt.Fprintf(&b, "## Floor, same run\n\n")
	if r.bufRead > 0 {
		lines := float64(r.p.replay)
		fmt.Fprintf(&b, "- A %s-line file of %.0f MB (%d bytes a line).\n", commas(r.p.replay), float64(r.fileBytes)/1e6, r.fileBytes/r.p.replay)
		fmt.Fprintf(&b, "- Plain buffered read (64 KiB bufio, split on newlines, page cache warm): %.2fM lines/s.\n", r.bufRead/1e6)
		fmt.Fprintf(&b, "- Loopback TCP, the same bytes, 256 KiB writes: %.0f MB/s, %.2fM lines/s.\n\n", r.loopBps/1e6, r.loopBps/float64(r.fileBytes)*lines/1e6)
	} else {
		b.WriteString("Not run (the replay scenario was skipped).\n\n")
	}

	b.WriteString("## Every scenario in detail\n\n")
	b.WriteString("| scenario | server | lines written | clients | events received | lost (clients with loss) | repeated | reordered | gap events | p50 / p99 / max ms | CPU | RSS | connects |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, k := range order {
		for _, s := range []string{kindEdgetail, kindEdgetailML, kindWebsocketd, kindNaive, kindTail, kindNoRules} {
			x, ok := r.res[k][s]
			if !ok {
				continue
			}
			if x.err != nil {
				fmt.Fprintf(&b, "| %s | %s | error: %v |||||||||||\n", k, s, x.err)
				continue
			}
			lat := "-"
			if x.sum.samples > 0 {
				lat = ms(x.sum.p50) + " / " + ms(x.sum.p99) + " / " + ms(x.sum.max)
			}
			rss := mb(x.rss)
			if x.rssBase > 0 {
				rss = mb(x.rssBase) + " → " + mb(x.rss)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %d (%d) | %d | %d | %d | %s | %.1f %% | %s | %s |\n",
				k, s, commas(x.total), x.conns, commas(x.sum.events), x.sum.lost, x.sum.withLoss, x.sum.repeats, x.sum.reorders,
				x.sum.gapEvents, lat, x.cpu, rss, x.statuses)
			var notes []string
			if x.note != "" {
				notes = append(notes, x.note)
			}
			if x.ingest > 0 {
				notes = append(notes, fmt.Sprintf("file into the replay buffer at %.2fM lines/s", x.ingest/1e6))
			}
			if x.sum.bad > 0 {
				notes = append(notes, fmt.Sprintf("%d unparsable lines", x.sum.bad))
			}
			if len(notes) > 0 {
				fmt.Fprintf(&b, "| | | %s |||||||||||\n", strings.Join(notes, "; "))
			}
		}
	}
	p := r.p
	fmt.Fprintf(&b, "\nScenario lengths: %v of writing per live scenario, %v per rotation scenario; %d idle edgetail\n"+
		"connections and %d idle websocketd connections; replay of %s lines (websocketd bounded to %v). Lines are\n"+
		"written one `write()` each. Reconnect: each client drops 3 times for 300 ms and resumes with Last-Event-ID\n"+
		"(websocketd has no ids: it starts a new `tail -F -n 0`).\n\n",
		p.dur, p.rotDur, p.idle, p.idleWS, commas(p.replay), p.replayWSMax)

	b.WriteString("## Run\n\n")
	fmt.Fprintf(&b, "- Command: `make bench` (runs `%s`), %v in all.\n", r.cmd, r.elapsed.Round(time.Second))
	fmt.Fprintf(&b, "- Machine: %d CPUs (nproc), %s, %s, Linux %s, load average at start %s.\n",
		runtime.NumCPU(), cpuModel(), runtime.Version(), readTrim("/proc/sys/kernel/osrelease"), loadavg(r))
	fmt.Fprintf(&b, "- Date: %s.\n", r.started.UTC().Format("2006-01-02 15:04 MST"))
	if v := websocketdVersion(); v != "" {
		fmt.Fprintf(&b, "- websocketd: %s.\n", v)
	}
	if len(notes) > 0 {
		b.WriteString("\n")
		b.Write(notes)
	}
	return b.String()
}

var startLoad = readTrim("/proc/loadavg")

func loadavg(*report) string {
	f := strings.Fields(startLoad)
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func readTrim(p string) string {
	b, _ := os.ReadFile(p)
	return strings.TrimSpace(string(b))
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func websocketdVersion() string {
	out, err := execOutput("websocketd", "--version")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// costTable is issue 11's table: edgetail's cost per line against the two
// baselines measured in the same run, `tail -F` at rest and the naive SSE
// server with viewers, as ratios.
func (r *report) costTable() string {
	var b strings.Builder
	get := func(key, kind string) (result, bool) { return r.get(key, kind) }
	type line struct {
		scenario, measure, base string
		key, kind               string
		val                     func(result) float64
		unit                    string
		target                  float64
		who                     string // the measured server: "" is edgetail
	}
	cpu := func(x result) float64 { return x.cpu }
	p99 := func(x result) float64 { return x.sum.p99 }
	lines := []line{
		{"1,000 lines/s, no client", "CPU", "`tail -F -n 0`", "rest1000", kindTail, cpu, "%", 1.0, ""},
		{"10,000 lines/s, no client", "CPU", "`tail -F -n 0`", "rest10000", kindTail, cpu, "%", 1.0, ""},
		{"10,000 lines/s, no client, five alert rules (none matching)", "CPU", "the same agent without rules", "alerts10000", kindNoRules, cpu, "%", 1.1, ""},
		{"1 client, 1,000 lines/s", "CPU", "naive server", "lat1", kindNaive, cpu, "%", 1.0, ""},
		{"", "p99", "naive server", "lat1", kindNaive, p99, "ms", 1.0, ""},
		{"100 clients × 1,000 lines/s", "CPU", "naive server", "fan100", kindNaive, cpu, "%", 1.0, ""},
		{"", "p99", "naive server", "fan100", kindNaive, p99, "ms", 0.7, ""},
		{"1,000 clients × 100 lines/s", "CPU", "naive server", "fan1000", kindNaive, cpu, "%", 0, ""},
		{"", "p99", "naive server", "fan1000", kindNaive, p99, "ms", 0.7, ""},
		// Issue 20: the multiline source, with plain edgetail and tail -F in
		// the same window.
		{"1,000 lines/s, no client, `multiline: {preset: java}`", "CPU", "`tail -F -n 0`", "restml1000", kindTail, cpu, "%", 1.0, kindEdgetailML},
		{"", "CPU", "edgetail without multiline", "restml1000", kindEdgetail, cpu, "%", 0, kindEdgetailML},
		{"1,000 lines/s, no client, without multiline (same run)", "CPU", "`tail -F -n 0`", "restml1000", kindTail, cpu, "%", 1.0, ""},
		{"10,000 lines/s, no client, `multiline: {preset: java}`", "CPU", "`tail -F -n 0`", "restml10000", kindTail, cpu, "%", 1.0, kindEdgetailML},
		{"", "CPU", "edgetail without multiline", "restml10000", kindEdgetail, cpu, "%", 0, kindEdgetailML},
		{"10,000 lines/s, no client, without multiline (same run)", "CPU", "`tail -F -n 0`", "restml10000", kindTail, cpu, "%", 1.0, ""},
	}
	b.WriteString("## Cost per line against a baseline in the same run (issue 11)\n\n")
	b.WriteString("| scenario | measure | edgetail | baseline | baseline's | ratio | target | met |\n|---|---|---|---|---|---|---|---|\n")
	for _, l := range lines {
		who := l.who
		if who == "" {
			who = kindEdgetail
		}
		et, ok1 := get(l.key, who)
		bs, ok2 := get(l.key, l.kind)
		if !ok1 || !ok2 {
			continue
		}
		f := func(v float64) string {
			if l.unit == "%" {
				return fmt.Sprintf("%.1f %%", v)
			}
			return ms(v) + " ms"
		}
		target, met := "-", "-"
		if l.target > 0 {
			target = fmt.Sprintf("≤ %.1f×", l.target)
			ok := l.val(et) <= l.target*l.val(bs)
			if l.unit == "ms" && l.target == 1.0 {
				target = "lower"
				ok = l.val(et) < l.val(bs)
			}
			met = yes(ok && et.sum.lost == 0 && et.sum.repeats == 0)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", l.scenario, l.measure, f(l.val(et)), l.base, f(l.val(bs)), ratio(l.val(et), l.val(bs)), target, met)
	}
	if x, ok := get("lat1", kindEdgetail); ok {
		fmt.Fprintf(&b, "\nLatency that batching costs, one client: p50 / p99 %s / %s ms at 1,000 lines/s", ms(x.sum.p50), ms(x.sum.p99))
		if y, ok := get("lat10k", kindEdgetail); ok {
			fmt.Fprintf(&b, ", %s / %s ms at 10,000 lines/s", ms(y.sum.p50), ms(y.sum.p99))
		}
		b.WriteString(".\n")
	}
	for _, k := range []string{"rest1000", "rest10000", "restml1000", "restml10000", "alerts10000"} {
		for _, s := range []string{kindEdgetail, kindEdgetailML} {
			if x, ok := r.res[k][s]; ok && x.note != "" {
				fmt.Fprintf(&b, "%s (%s): %s.\n", k, s, x.note)
			}
		}
	}
	b.WriteString("\n")
	return b.String()
}
