package history

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"slices"
	"time"

	"edgetail/event"
)

// Making and updating a file's count index: the part of the file it does
// not cover yet is read through the reader of the past (chain.next, which
// groups a multiline source's lines into events), one file at a time.

// identify fingerprints the first bytes of f's content (decompressed);
// ok is false for an empty or unreadable file.
func identify(f *File) (fp uint64, n int, err error) {
	o, err := openAt(f, 0, -1)
	if err != nil {
		return 0, 0, err
	}
	defer o.close()
	var buf [indexFingerprint]byte
	n, err = io.ReadFull(o.r, buf[:])
	if n == 0 {
		if err == io.EOF {
			err = nil
		}
		return 0, 0, err
	}
	return fingerprint(buf[:n]), n, nil
}

// gzipSize is the content size a gzip file's trailer gives (mod 2^32), so
// that an index made while the file was plain can be taken as complete
// without reading the file again.
func gzipSize(path string) (uint32, bool) {
	fd, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer fd.Close()
	fi, err := fd.Stat()
	if err != nil || fi.Size() < 18 {
		return 0, false
	}
	var b [4]byte
	if _, err := fd.ReadAt(b[:], fi.Size()-4); err != nil {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b[:]), true
}

// lastNewline returns the offset just after the last newline of a plain
// file in [from, to), or from when there is none.
func lastNewline(path string, from, to int64) (int64, error) {
	fd, err := os.Open(path)
	if err != nil {
		return from, err
	}
	defer fd.Close()
	buf := make([]byte, 64<<10)
	for hi := to; hi > from; {
		lo := max(from, hi-int64(len(buf)))
		n, err := fd.ReadAt(buf[:hi-lo], lo)
		if err != nil && err != io.EOF {
			return from, err
		}
		for i := n - 1; i >= 0; i-- {
			if buf[i] == '\n' {
				return lo + int64(i) + 1, nil
			}
		}
		hi = lo
	}
	return from, nil
}

// minuteSet gathers a file's minutes while it is read: lines come mostly
// in time order, so the minute of the last line is kept at hand.
type minuteSet struct {
	by   map[int64]*minuteCounts
	cur  *minuteCounts
	full bool // more than MaxIndexMinutes
}

func newMinuteSet(fi *fileIndex) *minuteSet {
	s := &minuteSet{by: make(map[int64]*minuteCounts, len(fi.mins)+64)}
	for i := range fi.mins {
		mc := fi.mins[i]
		s.by[mc.m] = &mc
	}
	return s
}

func (s *minuteSet) add(t time.Time, lv int) {
	u := t.Unix()
	m := u / 60
	if u%60 < 0 {
		m--
	}
	mc := s.cur
	if mc == nil || mc.m != m {
		if mc = s.by[m]; mc == nil {
			if len(s.by) >= MaxIndexMinutes {
				s.full = true
				return
			}
			mc = &minuteCounts{m: m}
			s.by[m] = mc
		}
		s.cur = mc
	}
	mc.n[lv]++
	if u == m*60 && t.Nanosecond() == 0 {
		mc.z[lv]++
	}
}

func (s *minuteSet) sorted() []minuteCounts {
	out := make([]minuteCounts, 0, len(s.by))
	for _, mc := range s.by {
		out = append(out, *mc)
	}
	slices.SortFunc(out, func(a, b minuteCounts) int {
		switch {
		case a.m < b.m:
			return -1
		case a.m > b.m:
			return 1
		}
		return 0
	})
	return out
}

// ensure returns f's index brought up to content offset to (< 0: the
// file's end), reading the part it does not cover yet through the reader
// of the past, and keeps it. A plain file's index ends at its last
// newline: its unended last line (its newline may still come) is returned
// apart, to be counted by the caller. An empty file has a nil index.
func (ix *Index) ensure(ctx context.Context, q *Query, clock Clock, f *File, to int64, level func([]byte) event.Level) (*fileIndex, []tailLine, error) {
	fp, n, err := identify(f)
	if err != nil || n == 0 {
		return nil, nil, err
	}
	fresh := &fileIndex{fp: fp, fpLen: n}
	name := fresh.name()
	unlock := ix.lock(name)
	defer unlock()
	fi := ix.load(name)
	if fi == nil || fi.fp != fp || fi.fpLen != n {
		fi = fresh
	}
	if fi.overflow {
		return fi, nil, nil
	}
	var from, upto, nl int64
	switch {
	case f.Compression != Plain:
		if fi.complete {
			return fi, nil, nil
		}
		if size, ok := gzipSize(f.Path); ok && f.Compression == Gzip && fi.end > 0 && size == uint32(fi.end) {
			// Indexed to its end while it was plain, and compressed
			// since: nothing more to read.
			fi.complete = true
			return fi, nil, ix.store(fi)
		}
		from, upto, nl = fi.end, -1, -1
	default:
		if fi.end > f.Size {
			fi = fresh // truncated and written again
		}
		if to < 0 || to > f.Size {
			to = f.Size
		}
		if fi.end >= to {
			return fi, nil, nil // up to date, or ahead of to (a later count's)
		}
		from, upto = fi.end, to
		if nl, err = lastNewline(f.Path, from, to); err != nil {
			return fi, nil, err
		}
	}
	rq := Query{MaxLineBytes: q.MaxLineBytes, Group: q.Group, Range: func(*File) Range { return Range{From: from, To: upto} }}
	ch := &chain{q: &rq, clock: clock, files: []File{*f}}
	defer ch.close()
	if fi.last != 0 {
		ch.last = time.Unix(0, fi.last)
	}
	set := newMinuteSet(fi)
	var tail []tailLine
	end := fi.end
	var rerr error
	for n := 0; ; n++ {
		if n&1023 == 0 && ctx.Err() != nil {
			rerr = ctx.Err()
			break
		}
		l, g, ok := ch.next()
		if !ok {
			break
		}
		if g != nil {
			rerr = errors.New(g.Reason)
			break
		}
		lv := level(l.Text)
		if nl >= 0 && l.End > nl {
			tail = append(tail, tailLine{l.Time, lv})
			continue
		}
		if ch.lead {
			fi.lead[lv]++
		} else if set.add(l.Time, int(lv)); set.full {
			break
		}
		if !l.NoTime {
			fi.last = l.Time.UnixNano()
		}
		end = l.End
	}
	switch {
	case set.full:
		*fi = fileIndex{fp: fi.fp, fpLen: fi.fpLen, overflow: true}
		return fi, nil, ix.store(fi)
	case rerr != nil && ctx.Err() == nil:
		return nil, nil, rerr // unreadable, or changed under the read: not kept
	}
	fi.mins = set.sorted()
	fi.end = end
	if rerr == nil && f.Compression != Plain {
		fi.complete = true
	}
	if serr := ix.store(fi); rerr == nil {
		rerr = serr
	}
	return fi, tail, rerr
}

// Warm brings the indexes of the query's files up to date (up to each
// file's Range), so that a count finds them made, and forgets those of
// files no longer there. It reads one file at a time.
func (ix *Index) Warm(ctx context.Context, q CountQuery) error {
	if q.MaxLineBytes <= 0 {
		q.MaxLineBytes = 64 << 10
	}
	if q.Level == nil {
		q.Level = event.DetectLevel
	}
	clock := Clock{Now: q.Now, Loc: q.Loc}
	if clock.Now.IsZero() {
		clock.Now = time.Now()
	}
	keep := map[string]bool{}
	var errs []error
	for _, f := range PlanAll(q.Files) {
		rg := Range{From: 0, To: -1}
		if q.Range != nil {
			rg = q.Range(&f)
		}
		if rg.Skip {
			continue
		}
		fi, _, err := ix.ensure(ctx, &q.Query, clock, &f, rg.To, q.Level)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			errs = append(errs, err)
		}
		if fi != nil {
			keep[fi.name()] = true
		}
	}
	if len(errs) == 0 {
		ix.prune(keep)
	}
	return errors.Join(errs...)
}
