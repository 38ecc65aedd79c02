package tailer

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"

	"edgetail/event"

	"github.com/nxadm/tail"
	"github.com/nxadm/tail/watch"
	"go.uber.org/zap"
)

// pollBatchMax bounds the lines gathered into one poll-engine batch.
const pollBatchMax = 1024

// ptail is one nxadm/tail follower and its forwarding goroutine.
type ptail struct {
	path string
	tl   *tail.Tail
	off  int64 // bytes delivered so far (approximate: tail reopens silently)
	// refused is closed (once, under poller.mu) when the name became a
	// link out of the globs: forward then stops the tail itself.
	refused     chan struct{}
	refusedOnce sync.Once
}

// poller is the poll engine: nxadm/tail in Poll mode, one tail per file, and
// a timer that re-globs for new files. nxadm/tail handles rotation and
// truncation itself (by reopening the path), so the counters for those stay 0.
type poller struct {
	t   *Tailer
	ctx context.Context
	out Sink
	wg  sync.WaitGroup
	// sendMu keeps the forwarders' calls to out from overlapping, which
	// the Sink contract promises.
	sendMu sync.Mutex

	mu     sync.Mutex
	tails  map[string]*ptail // guarded by mu: forwarders remove their own dead tail
	resume map[string]int64  // guarded by mu: where a dead tail's successor starts
	ever   bool              // a tail was started: its poll goroutine must be let out

	// rel is the sink's release timer, owned by runPoll's loop; kick tells
	// the loop a forwarder handed a batch over (only for a Holder).
	rel  *releaser
	kick chan struct{}
}

// runPoll runs the poll engine until ctx is done.
func (t *Tailer) runPoll(ctx context.Context, out Sink) error {
	interval := t.opts.PollInterval
	if interval == 0 {
		interval = defaultPollInterval
	}
	cctx, cancel := context.WithCancel(ctx)
	p := &poller{t: t, ctx: cctx, out: out, tails: make(map[string]*ptail), resume: make(map[string]int64),
		rel: newReleaser(out), kick: make(chan struct{}, 1)}
	defer p.stop(cancel)
	defer p.rel.stop()

	buf := make([]byte, 64<<10)
	var history []Batch
	for _, path := range t.scan() {
		if lines := p.start(path, true, buf); len(lines) > 0 {
			history = append(history, Batch{Lines: lines, History: true})
		}
	}
	p.sendMu.Lock()
	for _, b := range history {
		if !send(ctx, out, b) {
			p.sendMu.Unlock()
			return nil
		}
	}
	p.rel.check()
	p.sendMu.Unlock()
	t.markStarted()

	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			p.rescan(buf)
		case <-p.kick:
			p.sendMu.Lock()
			p.rel.check()
			p.sendMu.Unlock()
		case now := <-p.rel.c():
			p.sendMu.Lock()
			p.rel.fire(ctx, now)
			p.sendMu.Unlock()
		}
	}
}

// stop ends every tail and waits for them. nxadm/tail's polling goroutine
// sleeps POLL_DURATION before it notices the stop, so wait that long too:
// Run promises that nothing it started outlives it.
func (p *poller) stop(cancel context.CancelFunc) {
	cancel()
	p.wg.Wait()
	if p.ever {
		time.Sleep(watch.POLL_DURATION + 50*time.Millisecond)
	}
}

// rescan starts tails for new matches and refreshes the status of the others.
func (p *poller) rescan(buf []byte) {
	for _, path := range p.t.scan() {
		p.mu.Lock()
		pt := p.tails[path]
		p.mu.Unlock()
		if pt == nil {
			p.start(path, false, buf)
			continue
		}
		if err := p.t.checkLink(path); err != nil {
			p.refuseLink(pt, err)
			continue
		}
		fi, err := os.Stat(path)
		switch {
		case err == nil:
			p.t.setState(path, StateFollowing, "")
			p.mu.Lock()
			if fi.Size() < pt.off { // truncated or replaced: nxadm reopened it
				pt.off = 0
			}
			off := pt.off
			p.mu.Unlock()
			p.t.setProgress(path, off, fi.Size())
		case errors.Is(err, fs.ErrNotExist):
			p.t.setState(path, StateMissing, "")
		default:
			p.t.setState(path, StateUnreadable, reason(err))
		}
	}
}

// start begins following path: from its end (after the prefill) if it was
// there at start, else from 0. Opening it first gives a clean "unreadable"
// state instead of a tail that dies; it is retried on the next rescan.
func (p *poller) start(path string, initial bool, buf []byte) []Line {
	t := p.t
	if err := t.checkLink(path); err != nil {
		t.setState(path, StateUnreadable, err.Error())
		return nil
	}
	fd, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if t.literals[path] {
				t.setState(path, StateMissing, "")
			}
		} else {
			t.setState(path, StateUnreadable, reason(err))
		}
		return nil
	}
	var off int64
	var history []Line
	p.mu.Lock()
	resume, dead := p.resume[path]
	delete(p.resume, path)
	p.mu.Unlock()
	if fi, err := fd.Stat(); dead && err == nil && fi.Size() >= resume {
		// A tail that died is replaced where it stopped, not from 0, so
		// its lines are not repeated.
		off = resume
	}
	if initial {
		if fi, err := fd.Stat(); err == nil {
			off = startOffset(fd, fi.Size(), t.opts.MaxLineBytes, buf)
			if t.opts.Prefill > 0 {
				history = lastLines(fd, path, off, t.opts.Prefill, t.opts.MaxLineBytes, prefillMaxBytes, buf)
			}
		}
	}
	_ = fd.Close()
	tl, err := tail.TailFile(path, tail.Config{
		Location:      &tail.SeekInfo{Offset: off, Whence: io.SeekStart},
		ReOpen:        true,
		MustExist:     false,
		Poll:          true,
		Follow:        true,
		CompleteLines: true,
		Logger:        tail.DiscardingLogger,
	})
	if err != nil {
		t.errs.Add(1)
		t.setState(path, StateUnreadable, reason(err))
		return nil
	}
	pt := &ptail{path: path, tl: tl, off: off, refused: make(chan struct{})}
	p.mu.Lock()
	p.tails[path] = pt
	p.ever = true
	p.mu.Unlock()
	t.setState(path, StateFollowing, "")
	t.setProgress(path, off, off)
	p.wg.Add(1)
	go p.forward(pt)
	return history
}

// forward moves lines from one tail to out, batching whatever is
// immediately available. It owns the tail and stops it on exit.
func (p *poller) forward(pt *ptail) {
	defer p.wg.Done()
	texts := make([]string, 0, pollBatchMax)
	for {
		select {
		case <-p.ctx.Done():
			_ = pt.tl.Stop()
			return
		case <-pt.refused:
			// Stop the tail here, its owner: Kill does not wait, and the
			// tail's goroutine may be blocked handing over a line, so
			// drain Lines until it closes them on exit.
			pt.tl.Kill(nil)
			for range pt.tl.Lines {
			}
			p.died(pt)
			return
		case l, ok := <-pt.tl.Lines:
			if !ok {
				p.died(pt)
				return
			}
			texts = p.add(texts[:0], l)
		more:
			for len(texts) < pollBatchMax {
				select {
				case l, ok := <-pt.tl.Lines:
					if !ok {
						break more
					}
					texts = p.add(texts, l)
				default:
					break more
				}
			}
			p.deliver(pt, texts)
		}
	}
}

// add keeps a line's text, counting the error lines nxadm/tail emits.
func (p *poller) add(texts []string, l *tail.Line) []string {
	if l.Err != nil {
		p.t.errs.Add(1)
		return texts
	}
	return append(texts, l.Text)
}

// died handles a tail that stopped by itself (e.g. the file became
// unreadable on reopen): forget it so the rescan starts a new one.
func (p *poller) died(pt *ptail) {
	err := pt.tl.Stop()
	p.mu.Lock()
	if p.tails[pt.path] == pt {
		delete(p.tails, pt.path)
		p.resume[pt.path] = pt.off
	}
	p.mu.Unlock()
	if err != nil {
		p.t.errs.Add(1)
		p.t.log.Warn("tail stopped", zap.String("path", pt.path), zap.Error(err))
		p.t.setState(pt.path, StateUnreadable, err.Error())
	}
}

// refuseLink reports a followed name that became a link out of the globs
// and asks its forward goroutine to stop the tail and forget it.
func (p *poller) refuseLink(pt *ptail, err error) {
	p.t.setState(pt.path, StateUnreadable, err.Error())
	pt.refusedOnce.Do(func() { close(pt.refused) })
}

// deliver converts texts to Lines (CR strip and cut as in the native engine,
// one backing array per batch) and sends them.
func (p *poller) deliver(pt *ptail, texts []string) {
	if len(texts) == 0 {
		return
	}
	// nxadm/tail reopens by name: if the name became a link out of the
	// globs, what it read is not ours to send. Drop it and stop the tail
	// (forward, the caller, then stops it and forgets it).
	if err := p.t.checkLink(pt.path); err != nil {
		p.refuseLink(pt, err)
		return
	}
	max := p.t.opts.MaxLineBytes
	total, read := 0, 0
	for i, s := range texts {
		read += len(s) + 1
		if n := len(s); n > 0 && s[n-1] == '\r' {
			s = s[:n-1]
			texts[i] = s
		}
		total += min(len(s), max)
	}
	backing := make([]byte, 0, total)
	lines := make([]Line, 0, len(texts))
	now := time.Now()
	cuts := 0
	for _, s := range texts {
		l := Line{Line: event.Line{File: pt.path, Time: now}}
		text := s
		if len(s) > max {
			l.Cut = len(s)
			cuts++
			text = string(runeCut([]byte(s[:max])))
		}
		start := len(backing)
		backing = append(backing, text...)
		l.Text = backing[start:len(backing):len(backing)]
		lines = append(lines, l)
	}
	p.t.lines.Add(uint64(len(lines)))
	p.t.bytes.Add(uint64(read))
	p.t.cutLines.Add(uint64(cuts))
	p.mu.Lock()
	pt.off += int64(read)
	p.mu.Unlock()
	p.sendMu.Lock()
	send(p.ctx, p.out, Batch{Lines: lines})
	p.sendMu.Unlock()
	if p.rel.h != nil {
		select { // the loop arms the timer for what the sink now holds
		case p.kick <- struct{}{}:
		default:
		}
	}
}

// nxadm/tail checks a polled file every watch.POLL_DURATION (250 ms), a
// package-wide setting; a rename rotation loses what was written since the
// last check, so check more often. Set once, before any tail starts.
func init() { watch.POLL_DURATION = 100 * time.Millisecond }
