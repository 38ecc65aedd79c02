package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// kindNoRules is the baseline of the alerts scenario: the same agent,
// without rules, on the same file in the same window.
const kindNoRules = "edgetail, no rules"

// benchRules are five alert rules with different filters that match no
// line the writer writes (level=info, "bench line"): their cost is the
// evaluation of every line, with nothing to notify.
const benchRules = `alerts:
  - name: errors
    level: error
    webhook: {url: "http://127.0.0.1:9/never"}
  - name: timeouts
    level: warn
    q: timeout
    webhook: {url: "http://127.0.0.1:9/never"}
  - name: panics
    q: "panic:"
    webhook: {url: "http://127.0.0.1:9/never"}
  - name: segfaults
    re: 'segfault at [0-9a-f]+'
    webhook: {url: "http://127.0.0.1:9/never"}
  - name: refused
    q: refused
    not: bench
    webhook: {url: "http://127.0.0.1:9/never"}
`

// runRules measures what alert rules cost at rest: two agents follow the
// same file at rate lines/s with no client, one with rules (benchRules)
// and one without, measured in the same window. It runs rounds times (at
// least twice), d each, with the agents started in either order in turn: whichever follows the file
// first was measured 2-3 % dearer in an A/A run (both without rules), and
// the two rounds cancel that out. CPU is read from schedstat (exact
// nanoseconds per thread), not from /proc/PID/stat's 10 ms ticks: at 2 %
// of a core the ticks alone would blur a 10 % difference.
func (e *env) runRules(key string, rate int, d time.Duration, rules string, rounds int) (with, without result) {
	with, without = result{server: kindEdgetail}, result{server: kindNoRules}
	var cpu [2]time.Duration // with, without
	var wall time.Duration
	for round := range max(rounds, 2) {
		c, w, n, err := e.rulesRound(key, rate, d, rules, round%2 == 1)
		if err != nil {
			with.err, without.err = err, err
			return with, without
		}
		cpu[0] += c[0]
		cpu[1] += c[1]
		wall += w
		with.total += n
	}
	without.total = with.total
	with.cpu = 100 * cpu[0].Seconds() / wall.Seconds()
	without.cpu = 100 * cpu[1].Seconds() / wall.Seconds()
	if without.cpu > 0 {
		with.note = fmt.Sprintf("%.2f× the agent without rules (%.2f %% against %.2f %% of a core)", with.cpu/without.cpu, with.cpu, without.cpu)
	}
	return with, without
}

// rulesRound is one round of runRules: the CPU each agent used (with
// rules, without), the window, and the lines written.
func (e *env) rulesRound(key string, rate int, d time.Duration, rules string, swap bool) (cpu [2]time.Duration, wall time.Duration, n int64, err error) {
	dir, err := e.newDir(key, kindEdgetail)
	if err != nil {
		return cpu, 0, 0, err
	}
	file := filepath.Join(dir, "app.log")
	w, err := newLineWriter(file, e.lineSize, 0)
	if err != nil {
		return cpu, 0, 0, err
	}
	defer w.close()
	extras := [2]string{rules, ""}
	order := [2]int{0, 1}
	if swap {
		order = [2]int{1, 0}
	}
	var srvs [2]*server
	for _, i := range order {
		sd := filepath.Join(dir, strconv.Itoa(i))
		if err := os.MkdirAll(sd, 0o755); err != nil {
			return cpu, 0, 0, err
		}
		if srvs[i], err = startEdgetailWith(e.bin, sd, file, 0, false, "", extras[i]); err != nil {
			return cpu, 0, 0, err
		}
		defer srvs[i].stop()
	}
	time.Sleep(time.Second)
	c0 := [2]time.Duration{schedCPU(srvs[0].pid()), schedCPU(srvs[1].pid())}
	t0 := time.Now()
	if err := w.run(context.Background(), rate, d); err != nil {
		return cpu, 0, 0, err
	}
	c1 := [2]time.Duration{schedCPU(srvs[0].pid()), schedCPU(srvs[1].pid())}
	wall = time.Since(t0)
	for i := range srvs {
		cpu[i] = c1[i] - c0[i]
		end := time.Now().Add(5 * time.Second)
		for {
			got, err := srvs[i].linesRead()
			if err == nil && got >= uint64(w.seq) {
				break
			}
			if time.Now().After(end) {
				return cpu, 0, 0, fmt.Errorf("edgetail_lines_read_total %d of %d written after 5 s (%v)", got, w.seq, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return cpu, wall, w.seq, nil
}

// schedCPU is the CPU time a process has used: the sum of its threads'
// schedstat run times. Threads that have exited are not counted; the
// agent's threads live as long as it does.
func schedCPU(pid int) time.Duration {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var sum time.Duration
	for _, t := range ents {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
		if err != nil {
			continue
		}
		if i := bytes.IndexByte(b, ' '); i > 0 {
			ns, _ := strconv.ParseInt(string(b[:i]), 10, 64)
			sum += time.Duration(ns)
		}
	}
	return sum
}
