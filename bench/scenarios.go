package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// result is one scenario against one server.
type result struct {
	server      string
	sum         summary
	total       int64   // lines written (or in the file)
	cpu         float64 // % of one core over the write window
	rss         uint64  // peak bytes during the window (idle: after connecting)
	rssBase     uint64  // idle: before connecting
	conns       int
	statuses    string
	linesPerSec float64 // replay: delivered lines per second
	rotations   int
	ingest      float64 // replay, edgetail: lines/s from the file into the replay buffer
	note        string
	err         error
}

// liveSpec is a scenario that writes while clients follow.
type liveSpec struct {
	key         string
	clients     int
	rate        int // lines per second
	dur         time.Duration
	rotateEvery int // lines; 0: never
	reconnects  int // times each client drops and resumes
}

func (e *env) newDir(key, kind string) (string, error) {
	return os.MkdirTemp(e.tmp, key+"-"+kind+"-")
}

func (e *env) start(kind, dir, file string, replayLines int, tailArgs ...string) (*server, error) {
	switch kind {
	case kindEdgetail:
		return startEdgetail(e.bin, dir, file, replayLines, e.profDir != "", "")
	case kindNaive:
		return startNaive(dir, file)
	}
	return startWebsocketd(dir, append([]string{"tail"}, append(tailArgs, file)...)...)
}

func (e *env) profPath(key, what string) string {
	if e.profDir == "" {
		return ""
	}
	return filepath.Join(e.profDir, key+"."+what+".pprof")
}

// runLive: N clients connect, then lines are written at a steady rate
// (rotating when asked), then the clients drain.
func (e *env) runLive(kind string, sp liveSpec) (res result) {
	res = result{server: kind, conns: sp.clients}
	dir, err := e.newDir(sp.key, kind)
	if err != nil {
		res.err = err
		return
	}
	file := filepath.Join(dir, "app.log")
	w, err := newLineWriter(file, e.lineSize, sp.rotateEvery)
	if err != nil {
		res.err = err
		return
	}
	defer w.close()
	srv, err := e.start(kind, dir, file, 0, "-n", "0", "-F")
	if err != nil {
		res.err = err
		return
	}
	defer srv.stop()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var statuses statusCounts
	stats := make([]*clientStats, sp.clients)
	for i := range stats {
		stats[i] = &clientStats{latency: true}
	}
	var wg sync.WaitGroup
	connected := make(chan struct{}, sp.clients)
	sem := make(chan struct{}, 64) // connects in flight
	for i := range sp.clients {
		st := stats[i]
		wg.Go(func() {
			first := true
			sem <- struct{}{}
			onStatus := func(code int) {
				statuses.add(code)
				if first {
					first = false
					<-sem
					connected <- struct{}{}
				}
			}
			for k := 0; k <= sp.reconnects; k++ {
				cctx, ccancel := ctx, context.CancelFunc(func() {})
				if k < sp.reconnects {
					cctx, ccancel = context.WithTimeout(ctx, sp.dur/time.Duration(sp.reconnects+1))
				}
				lastID := ""
				if k > 0 {
					lastID = string(st.lastID)
				}
				_ = srv.connect(cctx, "/stream/app?tail=0", lastID, st, 16<<10, onStatus)
				ccancel()
				if ctx.Err() != nil || k == sp.reconnects {
					return
				}
				select { // offline while lines keep coming
				case <-ctx.Done():
					return
				case <-time.After(300 * time.Millisecond):
				}
			}
		})
	}
	if !waitN(connected, sp.clients, 120*time.Second) {
		res.err = errors.New("clients did not connect within 120 s")
		cancel()
		wg.Wait()
		return
	}
	// Give websocketd's tails time to start and seek to the end: wait
	// until it has forked one per client.
	if kind == kindWebsocketd {
		end := time.Now().Add(30 * time.Second)
		for sampleTree(srv.pid(), true).procs < sp.clients+1 && time.Now().Before(end) {
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(time.Duration(sp.clients) * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)

	every := 250 * time.Millisecond
	if srv.tree {
		every = time.Second
	}
	peak := watchRSS(srv.pid(), srv.tree, every)
	profDone := make(chan struct{})
	if kind == kindEdgetail && e.profDir != "" {
		go func() {
			defer close(profDone)
			srv.profile(ctx, e.profPath(sp.key, "cpu"), "profile?seconds="+strconv.Itoa(max(1, int(sp.dur.Seconds()))))
		}()
	} else {
		close(profDone)
	}
	s0 := sampleTree(srv.pid(), srv.tree)
	werr := w.run(ctx, sp.rate, sp.dur)
	s1 := sampleTree(srv.pid(), srv.tree)
	res.cpu = cpuPercent(s0, s1)
	res.total = w.seq
	res.rotations = w.rotations
	if werr != nil {
		res.err = werr
	}
	drain := 5 * time.Second
	if kind == kindWebsocketd {
		drain = 15 * time.Second
	}
	if !waitDrain(stats, res.total, drain) {
		res.note = fmt.Sprintf("not every client had the last line %v after the writer stopped", drain)
	}
	res.rss = peak.end()
	<-profDone
	if kind == kindEdgetail {
		srv.profile(ctx, e.profPath(sp.key, "heap"), "heap")
	}
	cancel()
	wg.Wait()
	res.statuses = statuses.String()
	res.sum = summarize(stats, res.total)
	return res
}

func waitN(ch <-chan struct{}, n int, d time.Duration) bool {
	t := time.After(d)
	for range n {
		select {
		case <-ch:
		case <-t:
			return false
		}
	}
	return true
}

func waitDrain(stats []*clientStats, total int64, d time.Duration) bool {
	end := time.Now().Add(d)
	for {
		all := true
		for _, st := range stats {
			if st.maxSeq.Load() < total {
				all = false
				break
			}
		}
		if all {
			return true
		}
		if time.Now().After(end) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runIdle opens n streams that receive nothing and reports the growth of
// the server's RSS per connection.
func (e *env) runIdle(kind string, n int) (res result) {
	res = result{server: kind, conns: n}
	dir, err := e.newDir("idle", kind)
	if err != nil {
		res.err = err
		return
	}
	file := filepath.Join(dir, "app.log")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		res.err = err
		return
	}
	srv, err := e.start(kind, dir, file, 0, "-n", "0", "-F")
	if err != nil {
		res.err = err
		return
	}
	defer srv.stop()
	time.Sleep(time.Second)
	r0 := sampleTree(srv.pid(), srv.tree)
	m0 := srv.goMemory()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var statuses statusCounts
	var wg sync.WaitGroup
	connected := make(chan struct{}, n)
	sem := make(chan struct{}, 100)
	for range n {
		wg.Go(func() {
			sem <- struct{}{}
			once := false
			_ = srv.connect(ctx, "/stream/app?tail=0", "", &clientStats{}, 512, func(code int) {
				statuses.add(code)
				if !once {
					once = true
					<-sem
					connected <- struct{}{}
				}
			})
		})
	}
	if !waitN(connected, n, 180*time.Second) {
		res.note = "not every client connected within 180 s"
	}
	time.Sleep(2 * time.Second) // websocketd's tails start; the Go heap settles
	r1 := sampleTree(srv.pid(), srv.tree)
	if kind == kindEdgetail {
		srv.profile(ctx, e.profPath("idle", "heap"), "heap")
		srv.profile(ctx, e.profPath("idle", "goroutine"), "goroutine")
	}
	res.rssBase, res.rss = r0.rss, r1.rss
	res.statuses = statuses.String()
	if kind == kindWebsocketd {
		res.note = fmt.Sprintf("%d processes", r1.procs)
	} else if m1 := srv.goMemory(); m0 != nil && m1 != nil {
		per := func(k string) float64 { return (m1[k] - m0[k]) / float64(n) / 1e3 }
		res.note = fmt.Sprintf("per connection: Go heap in use %.1f KB, goroutine stacks %.1f KB, %.1f goroutines",
			per("go_memstats_heap_inuse_bytes"), per("go_memstats_stack_inuse_bytes"), per("go_goroutines")*1e3)
	}
	cancel()
	wg.Wait()
	return res
}

// runReplay: one client asks for a whole 2,000,000-line history at once.
// edgetail holds it in its replay buffer (tail=N); websocketd runs
// tail -n +1 -F over the file, bounded in time.
func (e *env) runReplay(kind, big string, n int64, limit time.Duration) (res result) {
	res = result{server: kind, conns: 1, total: n}
	dir, err := e.newDir("replay", kind)
	if err != nil {
		res.err = err
		return
	}
	file := filepath.Join(dir, "app.log")
	var srv *server
	if kind == kindEdgetail {
		// Start on a missing file, then let the whole file appear: the
		// agent reads a new file from its start into the replay buffer.
		srv, err = e.start(kind, dir, file, int(n))
		if err == nil {
			// Past the tailer's first 1 s rescan: a file that appears in
			// the first instants was once taken for one present at start,
			// which is followed from its end (see the notes).
			time.Sleep(1500 * time.Millisecond)
			if err = os.Link(big, file); err == nil {
				t0 := time.Now()
				err = waitLines(srv, uint64(n), 120*time.Second)
				res.ingest = float64(n) / time.Since(t0).Seconds()
			}
		}
	} else {
		srv, err = e.start(kind, dir, big, 0, "-n", "+1", "-F")
	}
	if err != nil {
		res.err = err
		if srv != nil {
			srv.stop()
		}
		return
	}
	defer srv.stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var statuses statusCounts
	st := &clientStats{}
	done := make(chan struct{})
	peak := watchRSS(srv.pid(), srv.tree, 250*time.Millisecond)
	profDone := make(chan struct{})
	if kind == kindEdgetail && e.profDir != "" {
		go func() {
			defer close(profDone)
			// Not ctx: the read ends before the profile does.
			srv.profile(context.Background(), e.profPath("replay", "cpu"), "profile?seconds=2")
		}()
		time.Sleep(100 * time.Millisecond)
	} else {
		close(profDone)
	}
	s0 := sampleTree(srv.pid(), srv.tree)
	t0 := time.Now()
	go func() {
		defer close(done)
		_ = srv.connect(ctx, "/stream/app?tail="+strconv.FormatInt(n, 10), "", st, 256<<10, statuses.add)
	}()
	end := time.Now().Add(limit)
	for st.maxSeq.Load() < n && time.Now().Before(end) {
		time.Sleep(2 * time.Millisecond)
	}
	el := time.Since(t0)
	s1 := sampleTree(srv.pid(), srv.tree)
	cancel()
	<-done
	res.rss = peak.end()
	<-profDone
	res.cpu = cpuPercent(s0, s1)
	res.statuses = statuses.String()
	res.sum = summarize([]*clientStats{st}, n)
	res.linesPerSec = float64(st.distinct) / el.Seconds()
	if st.distinct < n {
		res.note = fmt.Sprintf("stopped after %v with %d of %d lines", limit, st.distinct, n)
	}
	return res
}

func waitLines(srv *server, n uint64, d time.Duration) error {
	end := time.Now().Add(d)
	for {
		got, err := srv.sourceLines()
		if err == nil && got >= n {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("edgetail held %d of %d lines after %v", got, n, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// bufferedRead is the floor: lines per second of a plain 64 KiB buffered
// read that splits lines, best of two (the file is in the page cache).
func bufferedRead(path string) (float64, error) {
	best := 0.0
	for range 2 {
		f, err := os.Open(path)
		if err != nil {
			return 0, err
		}
		t0 := time.Now()
		r := bufio.NewReaderSize(f, 64<<10)
		n := 0
		for {
			_, err := r.ReadSlice('\n')
			if err != nil {
				break
			}
			n++
		}
		best = max(best, float64(n)/time.Since(t0).Seconds())
		f.Close()
	}
	return best, nil
}

// loopback is the other floor: the file's bytes through a 127.0.0.1 TCP
// connection, in bytes per second.
func loopback(path string) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- 0
			return
		}
		defer c.Close()
		n, _ := io.CopyBuffer(io.Discard, c, make([]byte, 256<<10))
		got <- n
	}()
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	buf := make([]byte, 256<<10)
	for {
		m, rerr := f.Read(buf)
		if m > 0 {
			if _, err := c.Write(buf[:m]); err != nil {
				c.Close()
				return 0, err
			}
		}
		if rerr != nil {
			break
		}
	}
	c.Close()
	n := <-got
	return float64(n) / time.Since(t0).Seconds(), nil
}

// runRest follows one file at a steady rate with no client, edgetail beside
// `tail -F -n 0 FILE >/dev/null` on the same file in the same window, and
// checks with edgetail's own lines_read counter that it read every line.
func (e *env) runRest(key string, rate int, d time.Duration) (et, tl result) {
	res, tl := e.runRestOf(key, rate, d, []restVariant{{kindEdgetail, ""}})
	return res[0], tl
}

// runRestML is runRest with two edgetails on the same file in the same
// window: one plain, one whose source has `multiline: {preset: java}`, so
// that the cost of grouping is read against tail -F and against edgetail
// without it, from one run.
func (e *env) runRestML(key string, rate int, d time.Duration) (plain, ml, tl result) {
	res, tl := e.runRestOf(key, rate, d, []restVariant{{kindEdgetail, ""}, {kindEdgetailML, "{preset: java}"}})
	return res[0], res[1], tl
}

// restVariant is one edgetail of a rest scenario: its result's name and
// its source's multiline setting ("" none).
type restVariant struct{ kind, multiline string }

func (e *env) runRestOf(key string, rate int, d time.Duration, variants []restVariant) (ets []result, tl result) {
	tl = result{server: kindTail}
	ets = make([]result, len(variants))
	for i, v := range variants {
		ets[i] = result{server: v.kind}
	}
	fail := func(err error) {
		for i := range ets {
			ets[i].err = err
		}
		tl.err = err
	}
	dir, err := e.newDir(key, kindEdgetail)
	if err != nil {
		fail(err)
		return
	}
	file := filepath.Join(dir, "app.log")
	w, err := newLineWriter(file, e.lineSize, 0)
	if err != nil {
		fail(err)
		return
	}
	defer w.close()
	srvs := make([]*server, len(variants))
	for i, v := range variants {
		sd := filepath.Join(dir, strconv.Itoa(i))
		if err := os.MkdirAll(sd, 0o755); err != nil {
			fail(err)
			return
		}
		srv, err := startEdgetail(e.bin, sd, file, 0, e.profDir != "", v.multiline)
		if err != nil {
			ets[i].err = err
			return
		}
		defer srv.stop()
		srvs[i] = srv
	}
	tail := exec.Command("tail", "-F", "-n", "0", file)
	if err := tail.Start(); err != nil { // stdout: /dev/null
		tl.err = err
		return
	}
	defer func() { _ = tail.Process.Kill(); _ = tail.Wait() }()
	time.Sleep(300 * time.Millisecond)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var profs sync.WaitGroup
	if e.profDir != "" {
		for i, srv := range srvs {
			name := key
			if len(srvs) > 1 {
				name += "-" + strconv.Itoa(i)
			}
			profs.Go(func() {
				srv.profile(ctx, e.profPath(name, "cpu"), "profile?seconds="+strconv.Itoa(max(1, int(d.Seconds()))))
			})
		}
	}
	e0 := make([]procSample, len(srvs))
	for i, srv := range srvs {
		e0[i] = sampleTree(srv.pid(), false)
	}
	t0 := sampleTree(tail.Process.Pid, false)
	werr := w.run(ctx, rate, d)
	t1 := sampleTree(tail.Process.Pid, false)
	for i, srv := range srvs {
		ets[i].cpu = cpuPercent(e0[i], sampleTree(srv.pid(), false))
		ets[i].total = w.seq
	}
	profs.Wait()
	tl.cpu, tl.total = cpuPercent(t0, t1), w.seq
	if werr != nil {
		fail(werr)
		return
	}
	for i, srv := range srvs {
		end := time.Now().Add(5 * time.Second)
		for {
			got, err := srv.linesRead()
			if err == nil && got >= uint64(w.seq) {
				ets[i].note = fmt.Sprintf("edgetail_lines_read_total %d of %d written", got, w.seq)
				break
			}
			if time.Now().After(end) {
				ets[i].err = fmt.Errorf("edgetail_lines_read_total %d of %d written after 5 s (%v)", got, w.seq, err)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return
}
