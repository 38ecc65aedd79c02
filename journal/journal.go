// Package journal follows the systemd journal through the system's
// journalctl (JSON output), so that edgetail stays a static binary: the cgo
// bindings need libsystemd at build time. journalctl runs as a child
// process owned by Run, restarted with jittered backoff when it exits, and
// resumed from the last entry delivered.
package journal

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// Journal is one followed selection of the journal. New allocates; Run
// does the work.
type Journal struct {
	opts    Options
	sel     []string // location and priority options
	matches []string // after "--"
	log     *zap.Logger

	started     chan struct{} // closed once the first catch-up has ended
	startCursor string        // written before started is closed

	mu     sync.Mutex
	state  string
	err    string
	logged map[string]bool // messages already logged at warn: repeats go to debug
}

// warn logs msg at warn level the first time it is seen with that text,
// and at debug after: a journal that stays unreadable is retried every few
// seconds, and its log should say so once, not every time.
func (j *Journal) warn(msg, detail string, fields ...zap.Field) {
	j.mu.Lock()
	seen := j.logged[msg+"\x00"+detail]
	if !seen {
		if len(j.logged) > 64 {
			clear(j.logged)
		}
		j.logged[msg+"\x00"+detail] = true
	}
	j.mu.Unlock()
	if seen {
		j.log.Debug(msg, fields...)
	} else {
		j.log.Warn(msg, fields...)
	}
}

// The states Status reports.
const (
	StateStarting = "starting"
	StateRunning  = "running" // journalctl is following
	StateError    = "error"   // journalctl failed; it is started again after a backoff
	StateStopped  = "stopped" // Run has returned
	maxBatch      = 512       // entries per emit
	maxEntryBytes = 64 << 20  // one JSON line of journalctl; longer ones are skipped
	readBufSize   = 256 << 10 // journalctl's stdout buffer
	healthyRun    = 10 * time.Second
)

// New validates opts; it starts nothing.
func New(opts Options) (*Journal, error) {
	sel, matches, err := opts.validate()
	if err != nil {
		return nil, err
	}
	return &Journal{opts: opts, sel: sel, matches: matches, log: opts.Logger, state: StateStarting,
		started: make(chan struct{}), logged: make(map[string]bool)}, nil
}

// Started is closed once the first catch-up (the prefill, or the entries
// after Options.After) has been delivered, or has failed: a journal that
// cannot be read must not hold the agent's readiness back.
func (j *Journal) Started() <-chan struct{} { return j.started }

// StartCursor is the cursor of the last entry delivered by the first
// catch-up ("" when there was none); valid once Started is closed.
func (j *Journal) StartCursor() string {
	<-j.started
	return j.startCursor
}

// Status reports what the follower is doing and, in the error state, why.
func (j *Journal) Status() (state, errMsg string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.state, j.err
}

func (j *Journal) setState(state string, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.state, j.err = state, ""
	if err != nil {
		j.err = err.Error()
	}
}

// args builds journalctl's command line: the fixed output options, the
// run's own, the selection, then the matches after "--".
func (j *Journal) args(run ...string) []string {
	a := []string{"--output=json", "--all", "--no-pager", "--quiet", "--output-fields=" + outputFields}
	a = append(a, run...)
	a = append(a, j.sel...)
	a = append(a, "--")
	return append(a, j.matches...)
}

// Run follows the journal until ctx is done, handing entries to emit in
// batches, oldest first, from the goroutine that reads journalctl. emit
// may keep the entries but not the slice. An error from emit stops Run
// with that error. Run returns once journalctl has been stopped.
func (j *Journal) Run(ctx context.Context, emit func([]Entry) error) error {
	defer j.setState(StateStopped, nil)
	cursor := j.opts.After
	first := true
	markStarted := sync.OnceFunc(func() {
		j.startCursor = cursor
		close(j.started)
	})
	defer markStarted()
	backoff := j.opts.MinBackoff
	for {
		began := time.Now()
		delivered := 0
		// Catch up without -f first: -f implies the current boot (systemd
		// 250-257), which would miss the end of an earlier one, and shows
		// only the last 10 entries of a backlog.
		var run []string
		skip := 0
		switch {
		case cursor != "":
			run = []string{"--cursor=" + cursor}
		case first:
			run = []string{fmt.Sprintf("--lines=%d", max(j.opts.Prefill, 1))}
			if j.opts.Prefill == 0 {
				skip = 1 // read only to learn where the journal ends
			}
		}
		first = false
		n, c, err := j.read(ctx, j.args(run...), cursor, skip, emit)
		delivered += n
		if c != "" {
			cursor = c
		}
		markStarted()
		if err == nil && ctx.Err() == nil {
			// Follow from the newest cursor (or from the start when
			// nothing matched yet: every entry is then new). --no-tail,
			// or -f holds back all but the last 10 entries.
			run = []string{"--follow", "--no-tail"}
			if cursor != "" {
				run = append(run, "--cursor="+cursor)
			}
			j.setState(StateRunning, nil)
			n, c, err = j.read(ctx, j.args(run...), cursor, 0, emit)
			delivered += n
			if c != "" {
				cursor = c
			}
			if err == nil {
				err = errors.New("journalctl --follow ended")
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		var ee *emitError
		if errors.As(err, &ee) {
			return ee.err
		}
		j.setState(StateError, err)
		if delivered > 0 || time.Since(began) > healthyRun {
			backoff = j.opts.MinBackoff
		}
		j.warn("journalctl stopped; starting it again", err.Error(), zap.Error(err), zap.Duration("after", backoff))
		// Jitter: half to all of the backoff, so that agents restarted
		// together do not restart their children in step.
		wait := backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, j.opts.MaxBackoff)
	}
}

// emitError marks an error returned by the caller's emit.
type emitError struct{ err error }

func (e *emitError) Error() string { return e.err.Error() }

// errStop ends a read early without it counting as a failure.
var errStop = errors.New("stop")

// read runs journalctl once with args and hands its entries to emit. The
// first entry is dropped when its cursor is drop (journalctl's --cursor
// includes the entry; --after-cursor has bugs, see PITFALLS.md), and the
// first skip entries are dropped too. It returns the entries delivered and
// the cursor of the last one read. It returns nil when journalctl ended
// with status 0 or was stopped by ctx, and errStop from emit unwrapped.
func (j *Journal) read(ctx context.Context, args []string, drop string, skip int, emit func([]Entry) error) (int, string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, j.opts.Journalctl, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 2 * time.Second
	stderr := &stderrLog{j: j}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, "", err
	}
	if err := cmd.Start(); err != nil {
		return 0, "", fmt.Errorf("start journalctl: %w", err)
	}
	j.log.Debug("journalctl started", zap.Int("pid", cmd.Process.Pid), zap.Strings("args", args))
	br := bufio.NewReaderSize(out, readBufSize)
	var batch []Entry
	delivered, cursor := 0, ""
	firstEntry := true
	var emitErr error
	flush := func() {
		if len(batch) == 0 || emitErr != nil {
			return
		}
		if err := emit(batch); err != nil {
			emitErr = err
			cancel()
			return
		}
		delivered += len(batch)
		cursor = batch[len(batch)-1].Cursor
		clear(batch)
		batch = batch[:0]
	}
	var long []byte // a line longer than the reader's buffer, being gathered
	tooLong := false
	for emitErr == nil {
		line, rerr := br.ReadSlice('\n')
		if errors.Is(rerr, bufio.ErrBufferFull) {
			if !tooLong && len(long)+len(line) <= maxEntryBytes {
				long = append(long, line...)
			} else {
				tooLong, long = true, long[:0]
			}
			continue
		}
		switch {
		case tooLong:
			j.log.Warn("skipped a journal entry longer than the limit", zap.Int("limit", maxEntryBytes))
			tooLong, long, line = false, nil, nil
		case long != nil:
			line = append(long, line...)
			long = nil
		}
		if len(bytes.TrimSpace(line)) > 0 {
			e, perr := ParseEntry(line)
			switch {
			case perr != nil:
				j.log.Warn("skipped a journal entry edgetail cannot read", zap.Error(perr), zap.Int("bytes", len(line)))
			case firstEntry && drop != "" && e.Cursor == drop:
				cursor = e.Cursor
			case skip > 0:
				skip--
				cursor = e.Cursor
			default:
				batch = append(batch, e)
			}
			if perr == nil {
				firstEntry = false
			}
		}
		// Hand over what was read once the pipe has no more for now, so
		// that a lone entry goes out at once and a burst in batches.
		if len(batch) >= maxBatch || (len(batch) > 0 && br.Buffered() == 0) {
			flush()
		}
		if rerr != nil {
			flush()
			break
		}
	}
	werr := cmd.Wait() // a failed emit has cancelled journalctl already
	if emitErr != nil {
		if errors.Is(emitErr, errStop) {
			return delivered, cursor, errStop
		}
		return delivered, cursor, &emitError{emitErr}
	}
	if ctx.Err() != nil {
		return delivered, cursor, nil
	}
	if werr != nil {
		if msg := stderr.last(); msg != "" {
			return delivered, cursor, fmt.Errorf("journalctl: %w: %s", werr, msg)
		}
		return delivered, cursor, fmt.Errorf("journalctl: %w", werr)
	}
	return delivered, cursor, nil
}

// Query says which past entries ReadPast reads.
type Query struct {
	// After resumes right after the entry with this cursor; "": from Since,
	// or the last Tail entries, or the start of the journal.
	After string
	// Through stops after the entry with this cursor ("" or not met: at
	// the end of the journal).
	Through string
	Since   time.Time // entries at or after this time; zero: unbounded
	Until   time.Time // entries at or before this time; zero: unbounded
	Tail    int       // > 0 with After "" and Since zero: only the last Tail entries
}

// ReadPast reads past entries, oldest first, without following. missed is
// true on the first call when After's entry is no longer in the journal
// (vacuumed): the entries then start at the oldest that remains.
func (j *Journal) ReadPast(ctx context.Context, q Query, emit func(missed bool, entries []Entry) error) error {
	var run []string
	switch {
	case q.After != "":
		if !ValidCursor(q.After) {
			return fmt.Errorf("%q is not a journal cursor", q.After)
		}
		run = append(run, "--cursor="+q.After)
	case !q.Since.IsZero():
		run = append(run, "--since="+journalTime(q.Since))
	case q.Tail > 0:
		run = append(run, fmt.Sprintf("--lines=%d", q.Tail))
	}
	if !q.Until.IsZero() {
		run = append(run, "--until="+journalTime(q.Until))
	}
	first := true
	_, _, err := j.read(ctx, j.args(run...), "", 0, func(es []Entry) error {
		missed := false
		if first && q.After != "" {
			if es[0].Cursor == q.After {
				es = es[1:]
			} else {
				missed = true
			}
		}
		first = false
		stop := false
		for i := range es {
			if q.Through != "" && es[i].Cursor == q.Through {
				es, stop = es[:i+1], true
				break
			}
		}
		if len(es) > 0 || missed {
			if err := emit(missed, es); err != nil {
				return err
			}
		}
		if stop {
			return errStop
		}
		return nil
	})
	var ee *emitError
	switch {
	case errors.Is(err, errStop):
		return nil
	case errors.As(err, &ee):
		return ee.err
	}
	return err
}

// journalTime writes a time the way journalctl's --since and --until read
// it exactly: "@" and seconds since the epoch, with microseconds.
func journalTime(t time.Time) string {
	us := t.UnixMicro()
	return fmt.Sprintf("@%d.%06d", us/1e6, us%1e6)
}

// stderrLog writes journalctl's stderr to the agent's log, a line at a
// time, and keeps the last line for the error journalctl exits with.
type stderrLog struct {
	j       *Journal
	mu      sync.Mutex
	partial []byte
	lastMsg string
}

var _ io.Writer = (*stderrLog)(nil)

func (s *stderrLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			if len(s.partial) > 4096 {
				i = len(s.partial)
			} else {
				break
			}
		}
		line := string(bytes.TrimSpace(s.partial[:i]))
		s.partial = s.partial[min(i+1, len(s.partial)):]
		if line == "" {
			continue
		}
		if len(line) > 512 {
			line = line[:512]
		}
		s.lastMsg = line
		s.j.warn("journalctl says", line, zap.String("stderr", line))
	}
	return len(p), nil
}

func (s *stderrLog) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := string(bytes.TrimSpace(s.partial)); p != "" {
		return p
	}
	return s.lastMsg
}
