package filesource

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"edgetail/event"
	"edgetail/history"
	"edgetail/multiline"
	"edgetail/stream"
	"edgetail/tailer"
)

// filePast reads a file source's past from disk for the stream: the
// followed files and their rotated siblings, between the positions named by
// durable keys.
type filePast struct {
	t       *tailer.Tailer
	pos     *history.Positions
	maxLine int
	group   *multiline.Rules // the source's grouping into events; nil: lines
	log     *zap.Logger
}

var (
	_ stream.Past       = (*filePast)(nil)
	_ stream.KeyChecker = (*filePast)(nil)
)

// tables numbers the position tables of this process, so that two sources
// (or one source before and after a reload) never read each other's keys.
var tables atomic.Uint64

// newPositions returns the source's table of known files, kept in the
// state directory so that its keys outlive the process. Without a usable
// state directory the table lives in memory, named for this run: ids are
// then durable only within it.
func newPositions(stateDir, source string, log *zap.Logger) *history.Positions {
	gen := strconv.FormatInt(time.Now().UnixNano(), 36) + "g" + strconv.FormatUint(tables.Add(1), 36)
	if stateDir == "" {
		return history.NewPositions(KeyPrefix, gen)
	}
	if err := os.MkdirAll(stateDir, 0o750); err != nil {
		log.Warn("no state directory: ids will not survive a restart", zap.String("state_dir", stateDir), zap.Error(err))
		return history.NewPositions(KeyPrefix, gen)
	}
	p, err := history.LoadPositions(filepath.Join(stateDir, "positions-"+source+".json"), KeyPrefix, gen)
	if err != nil {
		log.Warn("position table", zap.String("state_dir", stateDir), zap.Error(err))
	}
	return p
}

// KnowsKey implements stream.KeyChecker.
func (p *filePast) KnowsKey(key []byte) bool { return p.pos.Known(key) }

// paths lists the files the source follows now.
func (p *filePast) paths() []string {
	var out []string
	for _, f := range p.t.Files() {
		out = append(out, f.Path)
	}
	return out
}

// ReadPast implements stream.Past.
func (p *filePast) ReadPast(ctx context.Context, q stream.PastQuery, emit func(stream.PastItem) error) error {
	b, err := p.pos.Bounds(q.After, q.Through)
	if err != nil {
		return err
	}
	paths := p.paths()
	var gone []history.KnownFile
	if q.After != nil { // only a resume point names files that may be gone
		gone = b.Gone(history.PlanAll(paths))
	}
	if len(gone) > 0 {
		for _, g := range gone {
			p.log.Info("resume point names a file no longer on disk", zap.String("file", g.Path))
		}
		if err := emit(stream.PastItem{Missed: -1}); err != nil {
			return err
		}
	}
	hq := history.Query{
		Files: paths, Since: q.Since, Until: q.Until, Tail: q.Tail,
		Range: b.Range, MaxLineBytes: p.maxLine, Needle: q.Contains,
		Group: p.group,
	}
	if q.Match != nil {
		var l event.Line
		hq.Match = func(text []byte) bool {
			l.Text = text
			if p.group != nil {
				l.Lines = 1 + bytes.Count(text, []byte{'\n'})
			}
			return q.Match(&l)
		}
	}
	var keys *history.Keyer
	if !q.NoKeys {
		keys = b.Keyer()
	}
	var lines []event.Line
	var kbuf []byte
	return history.Read(ctx, hq, func(it history.Item) error {
		if it.Missed != 0 {
			p.log.Info("history read skips lines", zap.String("why", it.Reason))
			return emit(stream.PastItem{Missed: it.Missed})
		}
		lines = lines[:0]
		kbuf = kbuf[:0]
		for _, l := range it.Lines {
			var key []byte
			if keys != nil {
				start := len(kbuf)
				if kbuf = keys.Key(kbuf, l.Dev, l.Ino, l.End); len(kbuf) > start {
					key = kbuf[start:len(kbuf):len(kbuf)]
				}
			}
			lines = append(lines, event.Line{File: l.File, Text: l.Text, Time: l.Time, Cut: l.Cut, Key: key,
				Lines: l.Lines, Partial: l.Partial})
		}
		if keys != nil {
			_ = keys.Flush() // the keys' checkpoints before the lines leave
		}
		return emit(stream.PastItem{Lines: lines})
	})
}
