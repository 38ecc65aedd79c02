package tailer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// readBufSize is the native engine's read size: large reads keep the syscall
// count per line low, and one read becomes one batch.
const readBufSize = 256 << 10

// retiredTick is how often retired files are read and their grace checked.
const retiredTick = 250 * time.Millisecond

// errWatchLimit marks inotify resource exhaustion, which makes EngineAuto
// fall back to polling.
var errWatchLimit = errors.New("inotify limit reached")

// nfile is one open file of the native engine, known by its inode rather
// than its name.
type nfile struct {
	path       string
	id         fileID
	f          *os.File
	fd         int // f's descriptor, for pread
	off        int64
	size       int64
	sp         splitter
	retired    bool      // its path no longer names it; read until grace passes
	lastGrowth time.Time // for the retired grace
	readIn     uint64    // the native engine's hold cycle of its last read
	local      bool      // on a local filesystem: see pread
	atEnd      bool      // a read has reached the end: what follows was just written
}

// native is the inotify engine. All its state is owned by the goroutine
// running run; only the Tailer's status and counters are shared.
type native struct {
	t       *Tailer
	w       *fsnotify.Watcher // nil when inotify is unavailable (rescan only)
	watched map[string]bool
	warned  bool // watch-limit warning given once

	active  map[string]*nfile // by path
	byID    map[fileID]*nfile // active and retired
	retired []*nfile
	initial map[string]fileID // files present at the initial scan, not opened yet: start at their end

	startedUp bool // prefill is only for the initial scan

	buf    []byte
	rescan time.Duration
	ctx    context.Context
	out    Sink

	// hot are the files that had new lines since the loop last paused:
	// after a pause they are read again before events are taken.
	hot        []*nfile // files whose reads found lines since the last hold
	spare      []*nfile // the other buffer of hot, swapped by hold
	lastData   time.Time
	busy       bool   // reads keep finding lines: hold back the next one
	holding    bool   // reading after a hold: lines found mean still busy
	cycle      uint64 // holds so far; nfile.readIn says when a file was read
	pause      *time.Timer
	rel        *releaser // the sink's held lines (multi-line events)
	lastRescan time.Time
	lastTaken  time.Time             // when a hold last took events
	events     <-chan fsnotify.Event // nil without a watcher, or once closed
	errs       <-chan error
}

// newNative creates the watcher and watches the globs' directories. With
// EngineAuto, inotify exhaustion is an error so that Run falls back to the
// poll engine before anything started; with EngineNative it degrades to the
// safety rescan alone.
func newNative(t *Tailer) (*native, error) {
	n := &native{
		t:       t,
		watched: make(map[string]bool),
		active:  make(map[string]*nfile),
		byID:    make(map[fileID]*nfile),
		initial: make(map[string]fileID),
		buf:     make([]byte, readBufSize),
		rescan:  t.opts.PollInterval,
	}
	if n.rescan == 0 {
		n.rescan = defaultRescan
	}
	strict := t.opts.Engine == EngineAuto
	w, err := fsnotify.NewWatcher()
	if err != nil {
		if strict {
			return nil, fmt.Errorf("fsnotify watcher: %w", err)
		}
		t.log.Warn("inotify unavailable, native engine relies on its rescan alone", zap.Error(err))
	}
	n.w = w
	for _, d := range t.dirs() {
		if err := n.addWatch(d); err != nil && strict {
			_ = w.Close()
			return nil, err
		}
	}
	return n, nil
}

// addWatch watches a directory. A missing or unreadable directory is retried
// on the next rescan; exhaustion is returned as errWatchLimit.
func (n *native) addWatch(dir string) error {
	if n.w == nil {
		return nil
	}
	err := n.w.Add(dir)
	if err == nil {
		n.watched[dir] = true
		return nil
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EMFILE) {
		if !n.warned {
			n.warned = true
			n.t.log.Warn("inotify watch limit reached, relying on rescan", zap.String("dir", dir), zap.Error(err))
		}
		return fmt.Errorf("watch %s: %w: %w", dir, errWatchLimit, err)
	}
	return nil
}

// run is the engine's loop: initial scan and prefill, then events and ticks.
func (n *native) run(ctx context.Context, out Sink) error {
	n.ctx, n.out = ctx, out
	n.rel = newReleaser(out)
	defer n.rel.stop()
	defer n.closeAll()
	if n.w != nil {
		n.events, n.errs = n.w.Events, n.w.Errors
	}

	// Watches were added in newNative, before this listing: a file created
	// in between is seen by both, and de-duplicated by path and inode.
	paths := n.t.scan()
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil {
			n.initial[p] = idOf(fi)
		}
	}
	var history []Batch
	for _, p := range paths {
		if lines := n.checkPath(p); len(lines) > 0 {
			history = append(history, Batch{Lines: lines, History: true})
		}
	}
	for _, b := range history {
		if !send(ctx, out, b) {
			return nil
		}
	}
	n.t.markStarted()
	n.startedUp = true
	// Files of the initial scan were not read yet, so that nothing live
	// overtakes the history: read what arrived meanwhile.
	for _, f := range n.active {
		n.read(f)
	}

	tick := time.NewTicker(retiredTick)
	defer tick.Stop()
	n.pause = time.NewTimer(time.Hour)
	n.pause.Stop()
	defer n.pause.Stop()
	n.lastRescan = time.Now()
	for ctx.Err() == nil {
		n.rel.check()
		if n.busy && n.hold() {
			// Take what is ready without waiting (events only every
			// holdEvents: taking one wakes fsnotify's goroutine), then
			// read the files that had lines unless an event just did.
			take := time.Since(n.lastTaken) >= holdEvents
			if take {
				n.lastTaken = time.Now()
			}
			n.holding = true
			for n.next(tick.C, false, take) {
			}
			for _, f := range n.spare {
				if f.readIn != n.cycle && n.byID[f.id] == f {
					n.read(f)
				}
			}
			n.holding = false
			continue
		}
		n.next(tick.C, true, true)
	}
	return nil
}

// holdEvents is how often a busy source takes its inotify events between
// holds. Its hot files are read every hold anyway; events only matter for
// other files and rotations, which a busy source then notices within this.
const holdEvents = 100 * time.Millisecond

// next handles one event (unless takeEvents is false), watcher error or
// tick, waiting for one when wait is set; it reports whether it handled one.
func (n *native) next(tick <-chan time.Time, wait, takeEvents bool) bool {
	events := n.events
	if !takeEvents {
		events = nil
	}
	if !wait {
		select {
		case ev, ok := <-events:
			n.onEventOK(ev, ok)
		case err, ok := <-n.errs:
			n.onError(err, ok)
		case now := <-tick:
			n.onTick(now)
		case now := <-n.rel.c():
			n.rel.fire(n.ctx, now)
		default:
			return false
		}
		return true
	}
	select {
	case <-n.ctx.Done():
		return false
	case ev, ok := <-events:
		n.onEventOK(ev, ok)
	case err, ok := <-n.errs:
		n.onError(err, ok)
	case now := <-tick:
		n.onTick(now)
	case now := <-n.rel.c():
		n.rel.fire(n.ctx, now)
	}
	return true
}

func (n *native) onEventOK(ev fsnotify.Event, ok bool) {
	if !ok {
		n.events = nil
		return
	}
	n.onEvent(ev)
}

func (n *native) onError(err error, ok bool) {
	switch {
	case !ok:
		n.errs = nil
	case errors.Is(err, fsnotify.ErrEventOverflow):
		n.t.log.Warn("inotify queue overflow, rescanning")
		n.doRescan()
	default:
		n.t.errs.Add(1)
		n.t.log.Warn("inotify error", zap.Error(err))
	}
}

// onTick reads the retired files and, every rescan interval, rescans.
func (n *native) onTick(now time.Time) {
	n.readRetired(now)
	if now.Sub(n.lastRescan) >= n.rescan {
		n.lastRescan = now
		n.doRescan()
	}
}

// hold holds back a busy source: one whose reads keep finding lines less
// than the sink's patience apart. The loop stops taking events for one
// patience; meanwhile fsnotify's goroutine blocks on its channel and the
// kernel merges the writes' events, so a steady stream of writes costs a few
// wake-ups per patience rather than one wake-up (and one batch) per write. A
// quiet source never gets here: its first line is read at once. It reports
// false when there is nothing to wait for.
func (n *native) hold() bool {
	n.busy = false
	wait := n.out.Patience()
	if wait <= 0 {
		n.hot = n.hot[:0]
		return false
	}
	n.pause.Reset(wait)
	select {
	case <-n.ctx.Done():
		return false
	case <-n.pause.C:
	}
	n.cycle++
	// The files read from here on are this cycle's hot files.
	hot := n.hot
	n.hot = n.spare[:0]
	n.spare = hot
	return true
}

// onEvent treats an event as "look again" at its name, never as a count.
func (n *native) onEvent(ev fsnotify.Event) {
	name := filepath.Clean(ev.Name)
	if n.watched[name] && ev.Has(fsnotify.Remove|fsnotify.Rename) {
		// The directory itself went away: its watch is gone; the rescan
		// adds it again once it exists.
		delete(n.watched, name)
	}
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Stat(name); err == nil && fi.IsDir() {
			n.doRescan() // may be a directory that a glob's directory part matches
			return
		}
	}
	if n.t.wanted(name) {
		if f := n.active[name]; f != nil && ev.Op == fsnotify.Write {
			// A plain write to a followed name: read at once (small
			// copytruncate window) without re-checking the inode.
			n.read(f)
		} else {
			n.checkPath(name)
		}
	}
	// Writes to a rotated file arrive under its new name, which usually does
	// not match the globs: reading the retired files is cheap.
	if len(n.retired) > 0 {
		n.readRetired(time.Now())
	}
}

// doRescan is the safety net that makes nothing depend on events alone:
// re-add missing watches, re-glob, re-stat and read every file.
func (n *native) doRescan() {
	if n.w != nil {
		// The kernel drops the watch of a deleted directory; trust the
		// watcher's own list over our bookkeeping of events.
		live := make(map[string]bool)
		for _, d := range n.w.WatchList() {
			live[d] = true
		}
		n.watched = live
	}
	for _, d := range n.t.dirs() {
		if !n.watched[d] {
			_ = n.addWatch(d)
		}
	}
	seen := make(map[string]bool)
	for _, p := range n.t.scan() {
		seen[p] = true
		n.checkPath(p)
	}
	var gone []string
	for p := range n.active {
		if !seen[p] {
			gone = append(gone, p)
		}
	}
	for _, p := range gone {
		n.checkPath(p)
	}
	// An unreadable glob match that disappeared is no longer of interest.
	for _, st := range n.t.Files() {
		if !seen[st.Path] && n.active[st.Path] == nil && st.State == StateUnreadable {
			n.t.forget(st.Path)
		}
	}
	n.readRetired(time.Now())
}

// checkPath looks at what a path names now and reconciles it with the open
// files. It returns the prefill lines when it opens a file of the initial scan.
func (n *native) checkPath(p string) []Line {
	t := n.t
	fi, err := os.Stat(p)
	cur := n.active[p]
	if err != nil {
		if cur != nil {
			n.retire(cur)
		}
		switch {
		case errors.Is(err, fs.ErrNotExist):
			delete(n.initial, p)
			if t.literals[p] || cur != nil {
				t.setState(p, StateMissing, "")
			} else {
				t.forget(p)
			}
		default:
			t.setState(p, StateUnreadable, reason(err))
		}
		return nil
	}
	if !fi.Mode().IsRegular() {
		// A FIFO would block the loop on open, a directory cannot be read.
		if cur != nil {
			n.retire(cur)
		}
		if t.literals[p] {
			t.setState(p, StateUnreadable, "not a regular file")
		}
		return nil
	}
	if err := t.checkLink(p); err != nil {
		if cur != nil {
			n.retire(cur)
		}
		t.setState(p, StateUnreadable, err.Error())
		return nil
	}
	id := idOf(fi)
	if cur != nil {
		if cur.id == id {
			n.read(cur)
			return nil
		}
		n.retire(cur) // the path names a new file now: rotation or re-creation
	}
	if f := n.byID[id]; f != nil {
		n.adopt(f, p)
		return nil
	}
	return n.open(p)
}

// adopt makes a known file (renamed into this name, or retired) the active
// file of path p, keeping its offset: a rename is not new data.
func (n *native) adopt(f *nfile, p string) {
	old := f.path
	if old != p && n.active[old] == f {
		if fi, err := os.Stat(old); err == nil && idOf(fi) == f.id {
			return // a hard link: keep following it under its first name
		}
		delete(n.active, old)
		if n.t.literals[old] {
			n.t.setState(old, StateMissing, "")
		} else {
			n.t.forget(old)
		}
	}
	if old != p && n.active[old] == nil && !n.t.literals[old] {
		n.forgetIfMissing(old) // it was retired under its old name just before
	}
	if f.retired {
		f.retired = false
		for i, r := range n.retired {
			if r == f {
				n.retired = append(n.retired[:i], n.retired[i+1:]...)
				break
			}
		}
	}
	if old != p {
		n.t.log.Info("file renamed", zap.String("from", old), zap.String("to", p))
	}
	f.path = p
	n.active[p] = f
	n.t.setState(p, StateFollowing, "")
	n.read(f)
}

// open starts following a file: at its end if it was there at start (like
// tail -F, with the prefill read backwards), else from offset 0.
func (n *native) open(p string) []Line {
	t := n.t
	fd, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if t.literals[p] {
				t.setState(p, StateMissing, "")
			}
			return nil
		}
		t.setState(p, StateUnreadable, reason(err))
		return nil
	}
	fi, err := fd.Stat()
	if err != nil {
		_ = fd.Close()
		t.errs.Add(1)
		t.setState(p, StateUnreadable, reason(err))
		return nil
	}
	id := idOf(fi)
	if n.byID[id] != nil { // raced with a rename between stat and open
		_ = fd.Close()
		n.adopt(n.byID[id], p)
		return nil
	}
	f := &nfile{path: p, id: id, f: fd, fd: int(fd.Fd()), size: fi.Size(), sp: newSplitter(t.opts.MaxLineBytes, id)}
	f.local = localFS(f.fd)
	n.active[p] = f
	n.byID[id] = f
	t.setState(p, StateFollowing, "")
	iid, wasThere := n.initial[p]
	delete(n.initial, p)
	if wasThere && iid == id {
		// The very file that was there at start (perhaps unreadable until
		// now): start at its end like tail -F. Any other file is new.
		f.off = startOffset(fd, f.size, t.opts.MaxLineBytes, n.buf)
		t.setProgress(p, f.off, f.size)
		if t.opts.Prefill > 0 && !n.startedUp {
			return lastLines(fd, p, f.off, t.opts.Prefill, t.opts.MaxLineBytes, prefillMaxBytes, n.buf)
		}
		return nil
	}
	n.read(f)
	return nil
}

// closeAll closes every file and the watcher, which waits for its goroutine.
func (n *native) closeAll() {
	for _, f := range n.byID {
		_ = f.f.Close()
	}
	if n.w != nil {
		_ = n.w.Close()
	}
}
