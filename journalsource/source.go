// Package journalsource is a journal source: the journal package's
// follower of journalctl feeding a stream source from the reading
// goroutine, each entry keyed with its cursor, and the reader of the
// journal's past that resumes and since= reads use. It owns the journal
// keys' prefix and the mapping of PRIORITY to levels.
package journalsource

import (
	"bytes"
	"context"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"edgetail/event"
	"edgetail/journal"
	"edgetail/stream"
)

// KeyPrefix is the first byte of every journal source's durable key: the
// key is the prefix and journalctl's cursor.
const KeyPrefix = 'c'

const cursorPrefix = string(KeyPrefix)

// Options configure a Source.
type Options struct {
	Stream  *stream.Source  // required: where the entries are committed
	Journal journal.Options // what to read; After is set from Stream
	// MaxLineBytes bounds a message's kept bytes; 0: no bound.
	MaxLineBytes int
	Logger       *zap.Logger
}

// Source follows one journal source into its stream source.
type Source struct {
	o       Options
	j       *journal.Journal
	started chan struct{}
	log     *zap.Logger
}

// New builds the source's follower; it starts nothing. A source made again
// (a reload) goes on after what its stream source already holds, rather
// than reading the prefill a second time.
func New(o Options) (*Source, error) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	jo := o.Journal
	jo.After, _ = cursorOf(o.Stream.LastKey())
	jo.Logger = o.Logger
	j, err := journal.New(jo)
	if err != nil {
		return nil, err
	}
	o.Stream.SetPast(past{j, o.MaxLineBytes})
	return &Source{o: o, j: j, started: make(chan struct{}), log: o.Logger}, nil
}

// Started is closed once the prefill is in the replay buffer (so tail= sees
// it), or once the journal turned out unreadable: a journal that cannot be
// read shows its error in Status and never holds readiness back.
func (s *Source) Started() <-chan struct{} { return s.started }

// Status says how the follower is doing: its state and last error.
func (s *Source) Status() (state, err string) { return s.j.Status() }

// Run follows the journal until ctx is done. One goroutine goes from
// journalctl's pipe to the commit: the entries are converted and published
// where they are read.
func (s *Source) Run(ctx context.Context) error {
	var g errgroup.Group
	g.Go(func() error {
		select {
		case <-s.j.Started():
			if c := s.j.StartCursor(); c != "" {
				s.o.Stream.SetStartKey(append([]byte(cursorPrefix), c...))
			}
			close(s.started)
		case <-ctx.Done():
		}
		return nil
	})
	g.Go(func() error {
		return s.j.Run(ctx, func(es []journal.Entry) error {
			return s.o.Stream.Publish(ctx, lines(es, s.o.MaxLineBytes))
		})
	})
	return g.Wait()
}

var newline = []byte{'\n'}

// lines turns entries into stream lines keyed by their cursors.
func lines(es []journal.Entry, maxLine int) []event.Line {
	lines := make([]event.Line, len(es))
	// One array for the batch's journal fields and one for its keys, not
	// two allocations per entry (encode copies the keys into the frames).
	fields := make([]event.JournalFields, len(es))
	n := 0
	for i := range es {
		n += len(cursorPrefix) + len(es[i].Cursor)
	}
	keys := make([]byte, 0, n)
	for i := range es {
		e := &es[i]
		l := &lines[i]
		// A final newline ends the message's last line; it does not start
		// an empty one.
		l.Text, l.Time = bytes.TrimSuffix(e.Message, newline), e.Time
		if maxLine > 0 && len(l.Text) > maxLine {
			l.Cut = len(l.Text)
			l.Text = l.Text[:maxLine]
		}
		// A message of several lines is one event of several lines: one
		// data: field per line (SPEC "Journal sources").
		if n := bytes.Count(l.Text, newline); n > 0 {
			l.Lines = n + 1
		}
		start := len(keys)
		keys = append(append(keys, cursorPrefix...), e.Cursor...)
		l.Key = keys[start:len(keys):len(keys)]
		// The message's own JSON or logfmt level, else PRIORITY; with
		// neither, the hub reads a level word from the text.
		if l.Level = event.FieldLevel(l.Text); l.Level == event.LevelUnknown {
			l.Level = priorityLevel(e.Priority)
		}
		fields[i] = event.JournalFields{Unit: e.Unit, Identifier: e.Identifier, PID: e.PID,
			Priority: e.Priority, Boot: e.Boot, Cursor: e.Cursor}
		l.Journal = &fields[i]
	}
	return lines
}

// priorityLevel maps a syslog priority to a level: 0-3 error, 4 warn, 5-6
// info, 7 debug.
func priorityLevel(p int) event.Level {
	switch {
	case p < 0:
		return event.LevelUnknown
	case p <= 3:
		return event.LevelError
	case p == 4:
		return event.LevelWarn
	case p <= 6:
		return event.LevelInfo
	default:
		return event.LevelDebug
	}
}

// past reads a journal source's past for resumes the replay buffer cannot
// answer.
type past struct {
	j       *journal.Journal
	maxLine int
}

var _ stream.Past = past{}

// ReadPast implements stream.Past: resumes after a cursor, and windows
// by time or the last Tail entries. A key that is not a cursor of ours reads
// nothing and reports a gap.
func (p past) ReadPast(ctx context.Context, q stream.PastQuery, emit func(stream.PastItem) error) error {
	var jq journal.Query
	if q.After != nil {
		after, ok := cursorOf(q.After)
		if !ok {
			return emit(stream.PastItem{Missed: -1})
		}
		jq.After = after
	}
	jq.Through, _ = cursorOf(q.Through)
	jq.Since, jq.Until, jq.Tail = q.Since, q.Until, q.Tail
	return p.j.ReadPast(ctx, jq, func(missed bool, es []journal.Entry) error {
		it := stream.PastItem{Lines: lines(es, p.maxLine)}
		if missed {
			it.Missed = -1
		}
		if q.Match != nil {
			kept := it.Lines[:0]
			for i := range it.Lines {
				if q.Match(&it.Lines[i]) {
					kept = append(kept, it.Lines[i])
				}
			}
			it.Lines = kept
		}
		return emit(it)
	})
}

// cursorOf returns the cursor of a journal key.
func cursorOf(key []byte) (string, bool) {
	if !bytes.HasPrefix(key, []byte(cursorPrefix)) || !journal.ValidCursor(string(key[1:])) {
		return "", false
	}
	return string(key[1:]), true
}
