// Package history reads the past of followed log files from disk: the files
// and their rotated siblings (.1, .2.gz, -20261201, .zst), oldest first,
// decompressed, within a time window, through a filter, in bounded memory.
// It also reads the time a line carries. It knows nothing of streams: the
// agent turns what it reads into events.
package history

import (
	"context"
	"os"
	"time"

	"edgetail/multiline"
)

// Query says what to read.
type Query struct {
	// Files are the followed files; each is read with its rotated siblings,
	// and the lines of several files are merged by time.
	Files []string
	// Since and Until bound the window (zero: unbounded), inclusive.
	Since, Until time.Time
	// Tail > 0 keeps only the last Tail matching lines of the window.
	Tail int
	// Match keeps a line when it returns true; nil keeps all.
	Match func(text []byte) bool
	// Needle, when set, is lower-case text every line Match keeps
	// contains in some ASCII case: lines without it are skipped in bulk.
	Needle []byte
	// Range says which part of each file to read; nil reads whole files.
	Range func(f *File) Range
	// Now is the time syslog years are judged against (zero: time.Now()).
	Now time.Time
	// Loc is the zone of timestamps without one (nil: time.Local).
	Loc *time.Location
	// MaxLineBytes bounds a line's kept bytes (0: 65536).
	MaxLineBytes int
	// MaxBatch bounds the lines of one Item (0: 512).
	MaxBatch int
	// Group, when set, groups each file's lines into events (a multiline
	// source) before the window, the filter and Tail see them: an event's
	// time is its first line's, Match sees its lines joined by "\n", Tail
	// counts events. Needle is then not used (a skip could land inside an
	// event).
	Group *multiline.Rules
}

// Range is the part of one file to read: the bytes [From, To) of its
// (decompressed) content, To < 0 meaning to its end. Skip reads none of it.
// Missed > 0 (or -1, unknown) puts a gap before the file's lines.
type Range struct {
	From, To int64
	Skip     bool
	Missed   int64
}

// Item is what a read hands over: a gap (Missed != 0, -1 when the count is
// unknown) or a run of lines, oldest first.
type Item struct {
	Missed int64
	Reason string // why lines are missing, for the agent's log
	Lines  []Line
}

// batchBytes bounds the bytes of one Item's lines.
const batchBytes = 256 << 10

// Read reads the query's lines and hands them to emit in order. The lines
// of an Item are valid only until emit returns. It stops when ctx is done
// or emit returns an error, and returns that error.
func Read(ctx context.Context, q Query, emit func(Item) error) error {
	if q.MaxLineBytes <= 0 {
		q.MaxLineBytes = 64 << 10
	}
	if q.MaxBatch <= 0 {
		q.MaxBatch = 512
	}
	if q.Group != nil {
		q.Needle = nil
	}
	clock := Clock{Now: q.Now, Loc: q.Loc}
	if clock.Now.IsZero() {
		clock.Now = time.Now()
	}
	var gaps []Item
	plans := make([][]File, 0, len(q.Files))
	for _, p := range q.Files {
		files, g := Plan(p)
		gaps = append(gaps, g...)
		plans = append(plans, files)
	}
	chains := make([]*chain, 0, len(q.Files))
	for _, files := range dedupe(plans) {
		chains = append(chains, &chain{q: &q, clock: clock, files: files, find: newFinder(q.Needle)})
	}
	defer func() {
		for _, c := range chains {
			c.close()
		}
	}()
	for _, g := range gaps {
		if err := emit(g); err != nil {
			return err
		}
	}
	var skip int64
	if q.Tail > 0 {
		var err error
		if chains, skip, err = tailChains(ctx, &q, clock, chains); err != nil {
			return err
		}
	}
	return merge(ctx, &q, chains, skip, emit)
}

// Plan lists the files of one followed path in reading order: its siblings
// oldest first, then the file itself. A sibling that cannot be read is
// reported as a gap.
func Plan(path string) ([]File, []Item) {
	var files []File
	var gaps []Item
	sibs, err := Siblings(path)
	if err != nil && !os.IsNotExist(err) {
		gaps = append(gaps, Item{Missed: -1, Reason: err.Error()})
	}
	for _, s := range sibs {
		f, err := statFile(s.Path, s.Compression, false)
		if err != nil {
			gaps = append(gaps, Item{Missed: -1, Reason: err.Error()})
			continue
		}
		files = append(files, f)
	}
	if f, err := statFile(path, Plain, true); err == nil {
		files = append(files, f)
	}
	return files, gaps
}

// tailChains is the first pass of tail=: each chain counts its matching
// lines file by file, newest first, until it holds Tail of them; older
// files cannot hold any of the last Tail lines of the merged read, since
// this chain alone has Tail newer ones. It returns fresh chains over the
// files that remain and how many matching lines of their merge come before
// the last Tail.
func tailChains(ctx context.Context, q *Query, clock Clock, chains []*chain) ([]*chain, int64, error) {
	// Windows are applied by the counting chains too: the count is of
	// lines in the window.
	var total int64
	out := make([]*chain, 0, len(chains))
	for _, c := range chains {
		keepFrom := 0
		var n int64
		for i := len(c.files) - 1; i >= 0; i-- {
			if err := ctx.Err(); err != nil {
				return nil, 0, err
			}
			cc := &chain{q: q, clock: clock, files: c.files[i : i+1], counting: true, find: c.find}
			for {
				if _, _, ok := cc.next(); !ok {
					break
				}
			}
			cc.close()
			n += cc.count
			keepFrom = i
			if n >= int64(q.Tail) {
				break
			}
		}
		total += n
		out = append(out, &chain{q: q, clock: clock, files: c.files[keepFrom:], find: c.find})
	}
	return out, max(total-int64(q.Tail), 0), nil
}

// dedupe drops files that two plans share, so that no file is read twice:
// a sibling that is itself followed (a glob that matches app.log.1) is read
// as a followed file only, and a file listed by two plans is kept in the
// first.
func dedupe(plans [][]File) [][]File {
	followed := make(map[devIno]bool)
	for _, p := range plans {
		for _, f := range p {
			if f.Current {
				followed[devIno{f.Dev, f.Ino}] = true
			}
		}
	}
	seen := make(map[devIno]bool)
	out := make([][]File, 0, len(plans))
	for _, p := range plans {
		kept := p[:0:0]
		for _, f := range p {
			k := devIno{f.Dev, f.Ino}
			if seen[k] || (!f.Current && followed[k]) {
				continue
			}
			seen[k] = true
			kept = append(kept, f)
		}
		if len(kept) > 0 {
			out = append(out, kept)
		}
	}
	return out
}

// PlanAll lists the files of every followed path as Read would read them.
func PlanAll(paths []string) []File {
	plans := make([][]File, 0, len(paths))
	for _, p := range paths {
		files, _ := Plan(p)
		plans = append(plans, files)
	}
	var out []File
	for _, p := range dedupe(plans) {
		out = append(out, p...)
	}
	return out
}
