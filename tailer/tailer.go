// Package tailer follows every file matching a source's globs, like `tail -F`,
// and hands complete lines to the caller in batches.
//
// It has two engines because no single mechanism works everywhere. The native
// engine watches the files' directories with inotify (fsnotify) and reads with
// large buffered reads, tracking each file by device+inode and offset; it is
// fast, reacts at once to writes (which keeps the copytruncate loss window
// small) and handles rotation exactly. inotify gives no events on NFS, FUSE or
// /proc, and an inotify instance or watch may not be available (the per-user
// limits are small), so the poll engine, built on nxadm/tail in Poll mode,
// exists for those filesystems and as the automatic fallback.
package tailer

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"edgetail/event"

	"go.uber.org/zap"
)

// Engine selects how files are followed.
type Engine string

const (
	// EngineAuto uses the native engine and falls back to the poll engine when
	// fsnotify cannot get an inotify instance or watch (NewWatcher error,
	// ENOSPC/EMFILE on Add).
	EngineAuto Engine = ""
	// EngineNative uses fsnotify on the files' directories and large buffered
	// reads; files are tracked by device+inode and offset.
	EngineNative Engine = "native"
	// EnginePoll uses nxadm/tail in Poll mode (for NFS/FUSE): one tail per
	// file, glob rescan by timer.
	EnginePoll Engine = "poll"
)

// Line is one complete line of a file: the line as every consumer sees it
// (File is the path it was read from; Text is the line without its "\n"
// and without the "\r" of a CRLF, and lines of one batch share one backing
// array that the tailer never touches after handing it over; Time is when
// it was read; Cut is 0, or the line's full length when it was longer than
// MaxLineBytes, Text then holding its first MaxLineBytes bytes cut back to a
// UTF-8 rune boundary), and where on disk it ends, which only the file
// source's keys need.
type Line struct {
	event.Line
	// Dev and Ino name the file it was read from (device and inode, which
	// a rename does not change), and End is the offset just after its
	// newline: where a reader of the file on disk continues after it. All
	// 0 when unknown (the poll engine).
	Dev, Ino uint64
	End      int64
}

// Sink takes a source's batches. The native engine calls it from the very
// goroutine that read the lines, so that a line travels from read to commit
// without a hand-off; calls never overlap.
type Sink interface {
	// Publish takes one batch. It may block (the files are the buffer) and
	// must return once ctx is done.
	Publish(ctx context.Context, b Batch) error
	// Patience is how long a busy source may hold back its next read, so
	// that lines arriving meanwhile share one batch and one wake-up. An
	// idle source reads its first line at once whatever it says.
	Patience() time.Duration
}

// Holder is a Sink that may hold lines back after Publish returned (a
// multi-line source keeps a file's open event until its next line or its
// wait). The engine asks Due after each batch it hands over and calls
// Release, from the goroutine that calls Publish and never at the same
// time, once that time has come: one timer per source, none per line. A
// Sink that is not a Holder costs the engines nothing.
type Holder interface {
	Sink
	// Due is when held lines must be released even if no line comes;
	// zero: nothing held.
	Due() time.Time
	// Release publishes what is due at now. Like Publish, it may block
	// and must return once ctx is done.
	Release(ctx context.Context, now time.Time) error
}

// Batch is the unit handed to the caller: lines in file order. Lines from one
// file keep their order.
type Batch struct {
	// Lines of the batch, in the order they were read.
	Lines []Line
	// History is true for the prefill delivered at start (the files' last
	// lines before following began).
	History bool
}

// Options configure a Tailer.
type Options struct {
	// Globs are absolute paths or globs (filepath.Match syntax); a literal
	// path that does not exist is watched for.
	Globs []string
	// Exclude patterns are matched against the file's base name and its full
	// path; a match on either excludes the file.
	Exclude []string
	// MaxLineBytes bounds a line's kept bytes; 0 means DefaultMaxLineBytes.
	MaxLineBytes int
	// Prefill is how many last lines per file to deliver as History at start;
	// 0 means none.
	Prefill int
	// Engine selects the engine; see EngineAuto.
	Engine Engine
	// PollInterval is the poll engine's interval and the native engine's
	// safety rescan interval; 0 means 250ms for poll and 1s for native.
	PollInterval time.Duration
	// Logger receives state changes (followed, missing, unreadable, rotated,
	// truncated), once per change and never per line; nil means no logging.
	Logger *zap.Logger
}

// FileStatus describes one followed (or expected) path.
type FileStatus struct {
	Path   string `json:"path"`
	State  string `json:"state"`           // "following", "missing", "unreadable"
	Error  string `json:"error,omitempty"` // why, for unreadable (e.g. "permission denied")
	Offset int64  `json:"offset"`          // bytes read so far in the current file
	Size   int64  `json:"size"`            // last seen size (read lag = Size-Offset)
}

// File states reported in FileStatus.State.
const (
	StateFollowing  = "following"
	StateMissing    = "missing"
	StateUnreadable = "unreadable"
)

// Stats are cumulative counters of a Tailer.
type Stats struct {
	Lines, Bytes, Rotations, Truncations, CutLines, Errors uint64
	// FilesFollowed is the number of paths currently in state "following".
	FilesFollowed int
}

// DefaultMaxLineBytes is what a zero Options.MaxLineBytes stands for.
const DefaultMaxLineBytes = 64 * 1024

const (
	defaultPollInterval = 250 * time.Millisecond
	defaultRescan       = time.Second
	// retiredGrace is how long a rotated-away or deleted file is still read
	// after its last growth: writers often keep writing to the old fd briefly.
	retiredGrace = 2 * time.Second
	// prefillMaxBytes bounds the bytes read backwards per file for Prefill.
	prefillMaxBytes = 8 << 20
)

// Tailer follows the files of one source. Create it with New, start it with Run.
type Tailer struct {
	opts     Options
	log      *zap.Logger
	globs    []string
	literals map[string]bool // globs without metacharacters: reported "missing" when absent

	started     chan struct{}
	startedOnce sync.Once
	running     atomic.Bool
	engine      atomic.Value // Engine actually in use

	lines, bytes, rotations, truncations, cutLines, errs atomic.Uint64

	statusMu sync.Mutex
	status   map[string]*FileStatus
}

// New validates opts and returns a Tailer; it starts nothing.
func New(opts Options) (*Tailer, error) {
	switch opts.Engine {
	case EngineAuto, EngineNative, EnginePoll:
	default:
		return nil, fmt.Errorf("unknown engine %q", opts.Engine)
	}
	if len(opts.Globs) == 0 {
		return nil, errors.New("no globs given")
	}
	if opts.MaxLineBytes < 0 || opts.Prefill < 0 || opts.PollInterval < 0 {
		return nil, errors.New("MaxLineBytes, Prefill and PollInterval must not be negative")
	}
	if opts.MaxLineBytes == 0 {
		opts.MaxLineBytes = DefaultMaxLineBytes
	}
	t := &Tailer{
		opts:     opts,
		log:      opts.Logger,
		literals: make(map[string]bool),
		started:  make(chan struct{}),
		status:   make(map[string]*FileStatus),
	}
	if t.log == nil {
		t.log = zap.NewNop()
	}
	seen := make(map[string]bool)
	for _, g := range opts.Globs {
		if g == "" {
			return nil, errors.New("empty glob")
		}
		if _, err := filepath.Match(g, ""); err != nil {
			return nil, fmt.Errorf("bad glob %q: %w", g, err)
		}
		g = filepath.Clean(g)
		if seen[g] {
			continue
		}
		seen[g] = true
		t.globs = append(t.globs, g)
		if !hasMeta(g) {
			t.literals[g] = true
		}
	}
	for _, x := range opts.Exclude {
		if _, err := filepath.Match(x, ""); err != nil {
			return nil, fmt.Errorf("bad exclude pattern %q: %w", x, err)
		}
	}
	eng := opts.Engine
	if eng == EngineAuto {
		eng = EngineNative
	}
	t.engine.Store(eng)
	return t, nil
}

// Run follows the files until ctx is done and returns nil then, handing every
// batch to out. Every goroutine it started has exited when it returns. Run
// may be called only once.
func (t *Tailer) Run(ctx context.Context, out Sink) error {
	if !t.running.CompareAndSwap(false, true) {
		return errors.New("tailer: Run called twice")
	}
	if t.opts.Engine == EnginePoll {
		return t.runPoll(ctx, out)
	}
	n, err := newNative(t)
	if err != nil {
		if t.opts.Engine == EngineNative {
			return err
		}
		t.log.Warn("inotify unavailable, falling back to the poll engine", zap.Error(err))
		t.engine.Store(EnginePoll)
		return t.runPoll(ctx, out)
	}
	return n.run(ctx, out)
}

// Started is closed once the initial glob scan is done and the prefill
// batches have been sent on out. It is never closed if Run returns before
// that (ctx cancelled or error), so wait on it together with ctx.
func (t *Tailer) Started() <-chan struct{} { return t.started }

func (t *Tailer) markStarted() { t.startedOnce.Do(func() { close(t.started) }) }

// Engine returns the engine actually in use, after any fallback.
func (t *Tailer) Engine() Engine { return t.engine.Load().(Engine) }

// Files returns the status of every known path, sorted by Path.
func (t *Tailer) Files() []FileStatus {
	t.statusMu.Lock()
	res := make([]FileStatus, 0, len(t.status))
	for _, s := range t.status {
		res = append(res, *s)
	}
	t.statusMu.Unlock()
	sort.Slice(res, func(i, j int) bool { return res[i].Path < res[j].Path })
	return res
}

// Stats returns the counters, each read atomically.
func (t *Tailer) Stats() Stats {
	s := Stats{
		Lines:       t.lines.Load(),
		Bytes:       t.bytes.Load(),
		Rotations:   t.rotations.Load(),
		Truncations: t.truncations.Load(),
		CutLines:    t.cutLines.Load(),
		Errors:      t.errs.Load(),
	}
	t.statusMu.Lock()
	for _, st := range t.status {
		if st.State == StateFollowing {
			s.FilesFollowed++
		}
	}
	t.statusMu.Unlock()
	return s
}

// setState records a path's state and logs it only when it changed, so a file
// that stays unreadable is logged once, not on every rescan.
func (t *Tailer) setState(path, state, why string) {
	t.statusMu.Lock()
	st := t.status[path]
	if st == nil {
		st = &FileStatus{Path: path}
		t.status[path] = st
	}
	changed := st.State != state || st.Error != why
	st.State, st.Error = state, why
	if state != StateFollowing {
		st.Offset = 0
	}
	t.statusMu.Unlock()
	if !changed {
		return
	}
	switch state {
	case StateFollowing:
		t.log.Info("following file", zap.String("path", path))
	case StateMissing:
		t.log.Info("file missing, watching for it", zap.String("path", path))
	case StateUnreadable:
		t.log.Warn("file unreadable", zap.String("path", path), zap.String("error", why))
	}
}

// setProgress records how far a path has been read.
func (t *Tailer) setProgress(path string, offset, size int64) {
	t.statusMu.Lock()
	if st := t.status[path]; st != nil {
		st.Offset, st.Size = offset, size
	}
	t.statusMu.Unlock()
}

// forget drops a path's status (a glob match that went away for good).
func (t *Tailer) forget(path string) {
	t.statusMu.Lock()
	delete(t.status, path)
	t.statusMu.Unlock()
}

// send hands a batch to the sink and reports false once ctx is done.
func send(ctx context.Context, out Sink, b Batch) bool {
	if len(b.Lines) == 0 {
		return true
	}
	return out.Publish(ctx, b) == nil && ctx.Err() == nil
}
