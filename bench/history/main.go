// Command history benchmarks edgetail's reads of the past (issue 12): a
// since= window over rotated plain logs with a q= filter that matches one
// line in 1,000, beside `grep -F -c` on the same files in the same run, and
// the same over gzipped siblings beside `zgrep -c`. It reports MB/s and the
// agent's peak RSS above its idle RSS. It also times the counts of the
// timeline (issue 21) over the same window: GET /api/counts with no text
// filter (the count index, made by the agent's warm-up, whose time and RSS
// it reports too) and with the needle as q= (read with the needle skip),
// beside `grep -c ”` and `grep -F -c` (zgrep for the gzipped files).
//
//	go run ./bench/history -edgetail ./edgetail [-mb 1024] [-gzmb 256] [-out FILE]
//
// The data is generated in a temporary directory, removed at the end; the
// agent it starts listens on 127.0.0.1 and is stopped by its PID.
package main

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const needle = "needle-7f3a"

func main() {
	bin := flag.String("edgetail", "./edgetail", "the edgetail binary")
	mb := flag.Int("mb", 1024, "MB of plain logs")
	gzmb := flag.Int("gzmb", 256, "MB (decompressed) of gzipped logs")
	out := flag.String("out", "", "also write the report to this file")
	flag.Parse()
	tmp, err := os.MkdirTemp("", "edgetail-history-bench")
	check(err)
	defer os.RemoveAll(tmp)
	base := time.Now().Add(-48 * time.Hour).Truncate(time.Second)

	plain := filepath.Join(tmp, "plain")
	gz := filepath.Join(tmp, "gz")
	check(os.MkdirAll(plain, 0o755))
	check(os.MkdirAll(gz, 0o755))
	fmt.Fprintf(os.Stderr, "generating %d MB plain, %d MB gzipped...\n", *mb, *gzmb)
	pfiles, plines, pmatch := generate(plain, int64(*mb)<<20, base, false)
	gfiles, glines, gmatch := generate(gz, int64(*gzmb)<<20, base, true)

	var rep strings.Builder
	fmt.Fprintf(&rep, "# History read benchmark\n\n%s, %d cores; needle matches 1 line in 1,000.\n\n", time.Now().UTC().Format(time.RFC3339), numCPU())
	fmt.Fprintf(&rep, "| data | tool | lines matched | seconds | MB/s | peak RSS above idle |\n|---|---|---|---|---|---|\n")
	var counts strings.Builder
	for _, set := range []struct {
		name, dir   string
		files       []string
		lines, want int
		grep        string
		bytes       int64
	}{
		{"plain", plain, pfiles, plines, pmatch, "grep", int64(*mb) << 20},
		{"gz", gz, gfiles, glines, gmatch, "zgrep", int64(*gzmb) << 20},
	} {
		// grep first and last: the page cache is warm for both tools.
		g1 := runGrep(set.grep, set.files, set.want, needle)
		ga1 := runGrep(set.grep, set.files, set.lines, "")
		r := runAgent(*bin, tmp, set.dir, base, set.want, set.lines)
		g2 := runGrep(set.grep, set.files, set.want, needle)
		ga2 := runGrep(set.grep, set.files, set.lines, "")
		g, ga := min(g1, g2), min(ga1, ga2)
		mbs := func(d time.Duration) float64 { return float64(set.bytes) / (1 << 20) / d.Seconds() }
		mb := func(n uint64) float64 { return float64(n) / (1 << 20) }
		fmt.Fprintf(&rep, "| %s %d MB | `%s -F -c` | %d | %.2f | %.0f | |\n", set.name, set.bytes>>20, set.grep, set.want, g.Seconds(), mbs(g))
		fmt.Fprintf(&rep, "| %s %d MB | edgetail since= q= | %d | %.2f | %.0f (%.2fx) | %.1f MB |\n", set.name, set.bytes>>20, set.want, r.read.Seconds(), mbs(r.read), g.Seconds()/r.read.Seconds(), mb(r.readPeak))
		if counts.Len() == 0 {
			fmt.Fprintf(&counts, "\n## Counts over time (issue 21)\n\nGET /api/counts over the whole window (the since= window of the read above, default step), beside grep counting the same lines in the same run. The count index is made by the agent's warm-up after it starts; its time is the first row of each set (a count before it ends reads the files instead).\n\n")
			fmt.Fprintf(&counts, "| data | tool | lines counted | seconds | MB/s | peak RSS above idle |\n|---|---|---|---|---|---|\n")
		}
		fmt.Fprintf(&counts, "| %s %d MB | edgetail count index warm-up | %d | %.2f | %.0f | %.1f MB |\n", set.name, set.bytes>>20, set.lines, r.warm.Seconds(), mbs(r.warm), mb(r.warmPeak))
		fmt.Fprintf(&counts, "| %s %d MB | `%s -c ''` | %d | %.2f | %.0f | |\n", set.name, set.bytes>>20, set.grep, set.lines, ga.Seconds(), mbs(ga))
		fmt.Fprintf(&counts, "| %s %d MB | edgetail counts, no filter | %d | %.3f | %.0f (%.0fx) | %.1f MB |\n", set.name, set.bytes>>20, set.lines, r.all.Seconds(), mbs(r.all), ga.Seconds()/r.all.Seconds(), mb(r.allPeak))
		fmt.Fprintf(&counts, "| %s %d MB | `%s -F -c` | %d | %.2f | %.0f | |\n", set.name, set.bytes>>20, set.grep, set.want, g.Seconds(), mbs(g))
		fmt.Fprintf(&counts, "| %s %d MB | edgetail counts q= | %d | %.2f | %.0f (%.2fx) | %.1f MB |\n", set.name, set.bytes>>20, set.want, r.q.Seconds(), mbs(r.q), g.Seconds()/r.q.Seconds(), mb(r.qPeak))
	}
	rep.WriteString(counts.String())
	fmt.Print(rep.String())
	if *out != "" {
		check(os.WriteFile(*out, []byte(rep.String()), 0o644))
	}
}

// generate writes app.log.3 .. app.log (or app.log.3.gz .. app.log.1.gz and
// app.log) of about size bytes in all, one line a millisecond from base.
func generate(dir string, size int64, base time.Time, compress bool) ([]string, int, int) {
	path := filepath.Join(dir, "app.log")
	names := []string{path + ".3", path + ".2", path + ".1", path}
	if compress {
		names = []string{path + ".3.gz", path + ".2.gz", path + ".1.gz", path}
	}
	per := size / int64(len(names))
	n, matches := 0, 0
	pad := strings.Repeat("abcdefghij", 5)
	for _, name := range names {
		f, err := os.Create(name)
		check(err)
		var w io.Writer = f
		var zw *gzip.Writer
		if strings.HasSuffix(name, ".gz") {
			zw, _ = gzip.NewWriterLevel(f, gzip.BestSpeed)
			w = zw
		}
		bw := bufio.NewWriterSize(w, 1<<20)
		var written int64
		for written < per {
			word := "info"
			if n%1000 == 500 {
				word = needle
				matches++
			}
			k, _ := fmt.Fprintf(bw, "%s INFO request %d %s served path=/x/%d %s\n",
				base.Add(time.Duration(n)*time.Millisecond).UTC().Format("2006-01-02T15:04:05.000Z"), n, word, n%977, pad)
			written += int64(k)
			n++
		}
		check(bw.Flush())
		if zw != nil {
			check(zw.Close())
		}
		check(f.Close())
	}
	return names, n, matches
}

func runGrep(tool string, files []string, want int, pattern string) time.Duration {
	start := time.Now()
	args := []string{"-c", ""}
	if pattern != "" {
		args = []string{"-F", "-c", pattern}
	}
	out, _ := exec.Command(tool, append(args, files...)...).Output()
	d := time.Since(start)
	total := 0
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if i := strings.LastIndexByte(l, ':'); i >= 0 {
			l = l[i+1:]
		}
		n, _ := strconv.Atoi(l)
		total += n
	}
	if total != want {
		fmt.Fprintf(os.Stderr, "%s %q counted %d, want %d\n", tool, pattern, total, want)
	}
	return d
}

// agentRun is what runAgent measured: durations and peak RSS above the
// RSS before each phase.
type agentRun struct {
	warm, read, all, q                 time.Duration
	warmPeak, readPeak, allPeak, qPeak uint64
}

// runAgent starts edgetail on dir's app.log, waits for its count index
// warm-up, reads the whole window with the needle as q=, then counts it
// with no filter and with the needle, and returns the times and the peak
// RSS of each phase above the RSS before it.
func runAgent(bin, tmp, dir string, base time.Time, want, lines int) agentRun {
	var r agentRun
	cfg := filepath.Join(tmp, "edgetail.yaml")
	check(os.WriteFile(cfg, []byte(fmt.Sprintf("listen: 127.0.0.1:0\nstate_dir: %s\nstream:\n  replay_lines: 1000\nsources:\n  - name: app\n    files: [%s]\n",
		filepath.Join(tmp, "state-"+filepath.Base(dir)), filepath.Join(dir, "app.log"))), 0o644))
	cmd := exec.Command(bin, "-config", cfg, "-log-level", "debug")
	stderr, err := cmd.StderrPipe()
	check(err)
	check(cmd.Start())
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	pid := cmd.Process.Pid
	addr := make(chan string, 1)
	warmed := make(chan time.Duration, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m struct {
				Msg, Addr string
				Took      float64 // seconds
			}
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				continue
			}
			switch m.Msg {
			case "listening":
				addr <- m.Addr
			case "count index up to date":
				select {
				case warmed <- time.Duration(m.Took * float64(time.Second)):
				default:
				}
			}
		}
	}()
	u := "http://" + <-addr
	for {
		if r, err := http.Get(u + "/readyz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	ready := status(pid, "VmRSS:")
	resetPeak(pid)
	select {
	case r.warm = <-warmed:
	case <-time.After(10 * time.Minute):
		fmt.Fprintln(os.Stderr, "no count index warm-up within 10 minutes")
	}
	r.warmPeak = rise(pid, ready)
	time.Sleep(500 * time.Millisecond)

	window := url.Values{"since": {base.Add(-time.Minute).Format(time.RFC3339)}, "until": {time.Now().Format(time.RFC3339)}}
	q := url.Values{"q": {needle}}
	for k, v := range window {
		q[k] = v
	}
	idle := status(pid, "VmRSS:")
	resetPeak(pid)
	start := time.Now()
	resp, err := http.Get(u + "/stream/app?" + q.Encode())
	check(err)
	got := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			got++
		}
	}
	resp.Body.Close()
	r.read = time.Since(start)
	if got != want {
		fmt.Fprintf(os.Stderr, "edgetail sent %d lines, want %d\n", got, want)
	}
	r.readPeak = rise(pid, idle)

	r.all, r.allPeak = timeCount(u, pid, window, lines)
	r.q, r.qPeak = timeCount(u, pid, q, want)
	return r
}

// timeCount times one GET /api/counts and checks its total.
func timeCount(u string, pid int, q url.Values, want int) (time.Duration, uint64) {
	time.Sleep(300 * time.Millisecond)
	idle := status(pid, "VmRSS:")
	resetPeak(pid)
	start := time.Now()
	resp, err := http.Get(u + "/api/counts?" + q.Encode())
	check(err)
	var ans struct {
		Buckets  []struct{ Count int }
		Problems []string
	}
	err = json.NewDecoder(resp.Body).Decode(&ans)
	resp.Body.Close()
	d := time.Since(start)
	check(err)
	total := 0
	for _, b := range ans.Buckets {
		total += b.Count
	}
	if total != want || len(ans.Problems) > 0 {
		fmt.Fprintf(os.Stderr, "edgetail counted %d (%v), want %d\n", total, ans.Problems, want)
	}
	return d, rise(pid, idle)
}

// resetPeak resets the process's peak RSS (VmHWM), so that the next peak
// read is of what follows.
func resetPeak(pid int) {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// rise is the peak RSS since the last reset above before.
func rise(pid int, before uint64) uint64 {
	peak := status(pid, "VmHWM:")
	if peak < before {
		return 0
	}
	return peak - before
}

// status reads a kB field of /proc/PID/status, in bytes.
func status(pid int, field string) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	check(err)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field) {
			f := strings.Fields(l)
			n, _ := strconv.ParseUint(f[1], 10, 64)
			return n << 10
		}
	}
	return 0
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
