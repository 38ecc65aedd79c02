package history

import (
	"bytes"
	"io"
	"os"
	"time"
)

// probeSize is how much a time probe reads: a binary search step looks for
// the first timed line in this many bytes after its offset.
const probeSize = 64 << 10

// prober reads times at offsets of a plain file, for seeking by time: the
// lines of a log file are in time order, so the first line of a window is
// found by binary search on offsets rather than by reading up to it.
type prober struct {
	fd    *os.File
	clock Clock
	buf   []byte
}

// timeAt returns the time of the first timed line starting after off
// (at off when off == lo, the start of the range), within probeSize bytes.
func (p *prober) timeAt(off, lo, hi int64) (time.Time, bool) {
	start := off
	if off > lo {
		start = off - 1 // so that a line starting exactly at off is seen
	}
	n, err := p.fd.ReadAt(p.buf[:min(int64(len(p.buf)), hi-start)], start)
	if n <= 0 && err != nil && err != io.EOF {
		return time.Time{}, false
	}
	b := p.buf[:n]
	if off > lo {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return time.Time{}, false
		}
		b = b[i+1:]
	}
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break // a cut line: its time may be wrong
		}
		if t, ok := ParseTime(b[:i], p.clock); ok {
			return t, true
		}
		b = b[i+1:]
	}
	return time.Time{}, false
}

// lastTime returns the time of the last timed line before hi.
func (p *prober) lastTime(lo, hi int64) (time.Time, bool) {
	start := max(lo, hi-int64(len(p.buf)))
	n, _ := p.fd.ReadAt(p.buf[:hi-start], start)
	b := p.buf[:n]
	if start > lo {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	var last time.Time
	ok := false
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		line := b
		if i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if t, tok := ParseTime(line, p.clock); tok {
			last, ok = t, true
		}
	}
	return last, ok
}

// seekAfter returns an offset in [lo, hi] at which reading may start
// without missing a line at or after since: every line before it is older.
// An offset where no time is found counts as "maybe in the window", so the
// search errs towards reading more, never less.
func (p *prober) seekAfter(lo, hi int64, since time.Time) int64 {
	return p.bisect(lo, hi, func(t time.Time, ok bool) bool { return ok && t.Before(since) })
}

// seekPast returns an offset in [lo, hi] from which on every line is after
// until, give or take probeSize: from it on, a read parses every line's time
// and stops at the first one after until.
func (p *prober) seekPast(lo, hi int64, until time.Time) int64 {
	return p.bisect(lo, hi, func(t time.Time, ok bool) bool { return !ok || !t.After(until) })
}

// bisect narrows [lo, hi] to probeSize and returns lo: a probe whose time
// (ok false when none was found) makes right say true moves lo up to it,
// any other moves hi down.
func (p *prober) bisect(lo, hi int64, right func(t time.Time, ok bool) bool) int64 {
	base := lo
	for hi-lo > probeSize {
		mid := lo + (hi-lo)/2
		if right(p.timeAt(mid, base, hi)) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}
