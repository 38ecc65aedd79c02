package agent

import (
	"bytes"
	"context"
	"fmt"

	"go.uber.org/zap"

	"edgetail/event"
	"edgetail/journal"
	"edgetail/stream"
)

// This file is where the journal package meets the stream hub; neither
// imports the other.

// validateJournal checks a journal: block key by key, with the lines of
// each problem, before anything can reach journalctl's command line.
func (c *Config) validateJournal(k string, j *JournalConfig) []Problem {
	var probs []Problem
	add := func(key string, err error) {
		probs = append(probs, c.doc.Problem(key, "%v", err))
	}
	for i, u := range j.Units {
		if err := journal.CheckUnit(u); err != nil {
			add(fmt.Sprintf("%s.units[%d]", k, i), err)
		}
	}
	for i, id := range j.Identifiers {
		if err := journal.CheckIdentifier(id); err != nil {
			add(fmt.Sprintf("%s.identifiers[%d]", k, i), err)
		}
	}
	for i, m := range j.Matches {
		if err := journal.CheckMatch(m); err != nil {
			add(fmt.Sprintf("%s.matches[%d]", k, i), err)
		}
	}
	if j.Priority != "" {
		if _, err := journal.ParsePriority(j.Priority); err != nil {
			add(k+".priority", err)
		}
	}
	if j.Directory != "" {
		if err := journal.CheckDirectory(j.Directory); err != nil {
			add(k+".directory", err)
		}
	}
	if j.Namespace != "" {
		if err := journal.CheckNamespace(j.Namespace); err != nil {
			add(k+".namespace", err)
		}
		if j.Directory != "" {
			add(k+".namespace", fmt.Errorf("directory and namespace exclude each other"))
		}
	}
	return probs
}

// cursorPrefix marks journal cursors among durable keys.
const cursorPrefix = "c"

// startJournal launches the producer of a journal source; a.mu held. The
// source counts as started once its prefill is in: a journal that cannot be
// read shows its error in /api/sources and never holds /readyz back.
func (a *Agent) startJournal(ctx context.Context, p *producer, s SourceConfig, cfg *Config, log *zap.Logger) error {
	src := a.hub.Source(s.Name, stream.KindJournal)
	// A producer started again (reload) goes on after what its source
	// already holds, rather than reading the prefill a second time.
	after, _ := cursorOf(src.LastKey())
	jc := s.Journal
	j, err := journal.New(journal.Options{
		Units:       jc.Units,
		Identifiers: jc.Identifiers,
		Matches:     jc.Matches,
		Priority:    jc.Priority,
		Directory:   jc.Directory,
		Namespace:   jc.Namespace,
		Prefill:     max(cfg.Stream.ReplayLines, 0),
		After:       after,
		Logger:      log,
	})
	if err != nil {
		return err
	}
	p.journal = j
	src.SetPast(journalPast{j, cfg.Stream.MaxLineBytes})
	p.wg.Go(func() {
		// Started once the prefill is in the replay buffer (so tail= sees
		// it), or once the journal turned out unreadable.
		select {
		case <-j.Started():
			if c := j.StartCursor(); c != "" {
				src.SetStartKey(append([]byte(cursorPrefix), c...))
			}
			close(p.started)
		case <-ctx.Done():
		}
	})
	maxLine := cfg.Stream.MaxLineBytes
	p.wg.Go(func() {
		// One goroutine from journalctl's pipe to the commit: the entries
		// are converted and published where they are read.
		err := j.Run(ctx, func(es []journal.Entry) error {
			return src.Publish(ctx, journalLines(es, maxLine))
		})
		if err != nil && ctx.Err() == nil {
			log.Error("journal source stopped", zap.Error(err))
		}
	})
	return nil
}

// journalLines turns entries into stream lines keyed by their cursors.
func journalLines(es []journal.Entry, maxLine int) []event.Line {
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
		l.Text, l.Time = e.Message, e.Time
		if maxLine > 0 && len(l.Text) > maxLine {
			l.Cut = len(l.Text)
			l.Text = l.Text[:maxLine]
		}
		start := len(keys)
		keys = append(append(keys, cursorPrefix...), e.Cursor...)
		l.Key = keys[start:len(keys):len(keys)]
		l.Level = priorityLevel(e.Priority)
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

// journalPast reads a journal source's past for resumes the replay buffer
// cannot answer.
type journalPast struct {
	j       *journal.Journal
	maxLine int
}

var _ stream.Past = journalPast{}

// ReadPast implements stream.Past: resumes after a cursor, and windows
// by time or the last Tail entries. A key that is not a cursor of ours reads
// nothing and reports a gap.
func (p journalPast) ReadPast(ctx context.Context, q stream.PastQuery, emit func(stream.PastItem) error) error {
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
		it := stream.PastItem{Lines: journalLines(es, p.maxLine)}
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

func cursorOf(key []byte) (string, bool) {
	if !bytes.HasPrefix(key, []byte(cursorPrefix)) || !journal.ValidCursor(string(key[1:])) {
		return "", false
	}
	return string(key[1:]), true
}
