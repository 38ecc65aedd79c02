// Package filesource is a file source: a tailer feeding a stream source
// from the reading goroutine, each line keyed with its durable id (the
// source's position on disk, in a table kept in the state directory), and
// the reader of the source's past (followed files and rotated siblings)
// that resumes and since= reads use. It owns the file keys' prefix.
package filesource

import (
	"context"
	"time"

	"go.uber.org/zap"

	"edgetail/event"
	"edgetail/history"
	"edgetail/multiline"
	"edgetail/stream"
	"edgetail/tailer"
)

// KeyPrefix is the first byte of every file source's durable key.
const KeyPrefix = 'f'

// Options configure a Source. Zero values are the tailer's defaults.
type Options struct {
	Stream  *stream.Source // required: where the lines are committed
	Globs   []string
	Exclude []string
	Engine  tailer.Engine
	// MaxLineBytes bounds a line's kept bytes, live and read from disk.
	MaxLineBytes int
	// Prefill is how many last lines per file fill the replay buffer at
	// start; 0: none.
	Prefill int
	// StateDir keeps the table of known files that makes ids durable;
	// "": ids are durable within this run only.
	StateDir string
	// Multiline groups the lines of each file into events (stack traces)
	// before they are keyed and committed; nil: every line is an event.
	Multiline *multiline.Rules
	Logger    *zap.Logger
}

// Source follows one file source's files into its stream source.
type Source struct {
	o   Options
	t   *tailer.Tailer
	pos *history.Positions
	log *zap.Logger
}

// New builds the source's tailer and loads its table of known files; it
// starts nothing.
func New(o Options) (*Source, error) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	t, err := tailer.New(tailer.Options{
		Globs:        o.Globs,
		Exclude:      o.Exclude,
		MaxLineBytes: o.MaxLineBytes,
		Prefill:      o.Prefill,
		Engine:       o.Engine,
		Logger:       o.Logger,
	})
	if err != nil {
		return nil, err
	}
	s := &Source{o: o, t: t, log: o.Logger}
	s.pos = newPositions(o.StateDir, o.Stream.Name(), o.Logger)
	s.pos.Report = func(err error) {
		if err != nil {
			s.log.Warn("cannot write the position table: ids of new files may not survive a restart", zap.Error(err))
			return
		}
		s.log.Info("position table written again")
	}
	o.Stream.SetPast(&filePast{t: t, pos: s.pos, maxLine: o.MaxLineBytes, group: o.Multiline, log: o.Logger})
	return s, nil
}

// Tailer returns the source's tailer, for its files and counters.
func (s *Source) Tailer() *tailer.Tailer { return s.t }

// Started is closed once the prefill is committed: a client's read of the
// past stops at the last line committed when it subscribes, which then
// includes the prefill.
func (s *Source) Started() <-chan struct{} { return s.t.Started() }

// Run follows the files until ctx is done, then saves the offsets reached,
// so that a restart knows them.
func (s *Source) Run(ctx context.Context) error {
	var out tailer.Sink = &sink{src: s.o.Stream, pos: s.pos}
	if s.o.Multiline != nil {
		out = &groupSink{sink: sink{src: s.o.Stream, pos: s.pos}, g: newGrouping(s.o.Multiline)}
	}
	err := s.t.Run(ctx, out)
	if serr := s.pos.Save(); serr != nil {
		s.log.Warn("saving the position table", zap.Error(serr))
	}
	return err
}

// sink is where a tailer meets its stream source: the tailer's goroutine
// publishes its batches itself, with no channel between them. Each line
// gets its durable key here, in the order the source commits them, so that
// a key names the source's position on disk as of its line.
type sink struct {
	src   *stream.Source
	pos   *history.Positions
	keys  []byte       // the batch's keys; reused, since the events copy them
	lines []event.Line // the batch as the hub takes it; reused, since it keeps none
}

var _ tailer.Sink = (*sink)(nil)

func (s *sink) Publish(ctx context.Context, b tailer.Batch) error {
	return s.publish(ctx, b.Lines)
}

// publish keys the events in the order they are committed and commits
// them. An event's key is its last line's: for every file, the offset up
// to which the source has committed, so that a multiline source's open
// event (not committed yet) is read again by a resume after the key.
func (s *sink) publish(ctx context.Context, events []tailer.Line) error {
	if len(events) == 0 {
		return nil
	}
	keys, lines := s.keys[:0], s.lines[:0]
	for i := range events {
		l := &events[i]
		start := len(keys)
		if keys = s.pos.Key(keys, l.Dev, l.Ino, l.File, l.End); len(keys) > start {
			l.Key = keys[start:len(keys):len(keys)]
		}
		lines = append(lines, l.Line)
	}
	if cap(keys) <= 1<<20 { // a huge batch's buffers are not kept
		s.keys = keys
	}
	// The keys' checkpoints reach the disk before the lines can reach a
	// client: one write per batch, no fsync. A failure is reported by the
	// table (Report); the lines go on, with ids that may not survive a
	// restart.
	_ = s.pos.Flush()
	err := s.src.Publish(ctx, lines)
	clear(lines) // drop the references to the batch's text
	if cap(lines) <= 1<<14 {
		s.lines = lines
	}
	return err
}

func (s *sink) Patience() time.Duration { return s.src.Patience() }

// groupSink is the sink of a multiline source: lines are grouped into
// events per file, in the tailer's goroutine, then keyed and committed
// like lines. It holds each file's open event between batches, which the
// tailer releases through its one timer (tailer.Holder).
type groupSink struct {
	sink
	g *grouping
}

var _ tailer.Holder = (*groupSink)(nil)

func (s *groupSink) Publish(ctx context.Context, b tailer.Batch) error {
	s.g.add(b.Lines, time.Now())
	err := s.publish(ctx, s.g.out)
	s.g.published()
	return err
}

// Due implements tailer.Holder.
func (s *groupSink) Due() time.Time { return s.g.due() }

// Release implements tailer.Holder.
func (s *groupSink) Release(ctx context.Context, now time.Time) error {
	s.g.release(now)
	err := s.publish(ctx, s.g.out)
	s.g.published()
	return err
}
