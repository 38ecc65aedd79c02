package history

import (
	"bytes"
	"io"
	"time"
)

// chunkSize is the read size of a history scan: large enough that a read
// costs little per byte, small enough that many concurrent reads stay well
// inside the memory bound (one chunk per file being read).
const chunkSize = 256 << 10

// scanner splits a file's content into lines without copying them: a line
// aliases the chunk buffer and is valid until the next call. It keeps at
// most max bytes of a longer line and counts the rest, like the tailer.
type scanner struct {
	r          io.Reader
	buf        []byte
	start, end int
	off        int64 // content offset of buf[start]
	max        int
	eof        bool
	err        error // a read error other than EOF
	lineStart  int   // where the line last returned starts in buf (-1: not in buf)
}

func newScanner(r io.Reader, off int64, max int, buf []byte) *scanner {
	return &scanner{r: r, buf: buf, off: off, max: max}
}

// next returns the next line (without "\n" or "\r\n"), the content offset
// just after it, and its full length when it was cut (0 otherwise). ok is
// false at the end; a last line without a newline is returned as a line.
func (s *scanner) next() (line []byte, end int64, cut int, ok bool) {
	for {
		if i := bytes.IndexByte(s.buf[s.start:s.end], '\n'); i >= 0 {
			s.lineStart = s.start
			line = s.buf[s.start : s.start+i]
			s.start += i + 1
			s.off += int64(i + 1)
			return trimCR(line, s.max), s.off, cutOf(len(line), s.max), true
		}
		if s.eof {
			if s.start == s.end {
				return nil, s.off, 0, false
			}
			s.lineStart = s.start
			line = s.buf[s.start:s.end]
			s.off += int64(s.end - s.start)
			s.start = s.end
			return trimCR(line, s.max), s.off, cutOf(len(line), s.max), true
		}
		if s.start == 0 && s.end == len(s.buf) {
			return s.longLine()
		}
		s.fill()
	}
}

// fill moves what is left to the front and reads more.
func (s *scanner) fill() {
	if s.start > 0 {
		s.end = copy(s.buf, s.buf[s.start:s.end])
		s.start = 0
	}
	s.fill2(s.end)
}

// longLine handles a line longer than the buffer: its first max bytes are
// returned, the rest is read and counted up to its newline.
func (s *scanner) longLine() ([]byte, int64, int, bool) {
	s.lineStart = -1
	full := s.end
	keep := min(s.max, s.end)
	// Keep the head at the front; read the tail through the rest.
	s.start, s.end = keep, keep
	for {
		s.fill2(keep)
		if i := bytes.IndexByte(s.buf[keep:s.end], '\n'); i >= 0 {
			full += i
			s.off += int64(full + 1)
			rest := s.end - (keep + i + 1)
			copy(s.buf[keep:], s.buf[keep+i+1:s.end])
			line := s.buf[:keep:keep]
			// The remaining bytes follow the kept head; next() starts there.
			s.start, s.end = keep, keep+rest
			return line, s.off, full, true
		}
		full += s.end - keep
		s.end = keep
		if s.eof {
			s.off += int64(full)
			s.start = s.end
			return s.buf[:keep:keep], s.off, full, true
		}
	}
}

// fill2 reads into buf[from:] (discarding what was there).
func (s *scanner) fill2(from int) {
	s.end = from
	for s.end < len(s.buf) && !s.eof {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if err != nil {
			s.eof = true
			if err != io.EOF {
				s.err = err
			}
		}
		if n > 0 {
			return
		}
	}
}

func trimCR(line []byte, max int) []byte {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > max {
		line = line[:max]
	}
	return line
}

func cutOf(n, max int) int {
	if n > max {
		return n
	}
	return 0
}

// skip passes over the whole lines that cannot hold the needle, leaving
// the scanner at the start of the line of its next occurrence. It searches
// no further than content offset limit: lines past it are left to next.
func (s *scanner) skip(f *finder, limit int64) {
	for {
		region := s.buf[s.start:s.end]
		if !f.adapted && len(region) >= len(s.buf)/2 {
			f.adapt(region)
		}
		limited := false
		if lim := limit - s.off; lim < int64(len(region)) {
			region = region[:max(lim, 0)]
			limited = true
		}
		if i := f.index(region); i >= 0 {
			ls := bytes.LastIndexByte(region[:i], '\n') + 1
			s.start += ls
			s.off += int64(ls)
			return
		}
		j := bytes.LastIndexByte(region, '\n')
		if j >= 0 {
			s.start += j + 1
			s.off += int64(j + 1)
		}
		if limited || j < 0 || s.eof {
			return
		}
		s.fill()
	}
}

// lookBack is the time of the nearest line before the last one returned
// that carries one, among the few still in the buffer: a line without a
// time of its own takes its predecessor's, and the lines a q= skip passed
// over were never parsed.
func (s *scanner) lookBack(c Clock) (t time.Time, ok bool) {
	if s.lineStart <= 0 {
		return time.Time{}, false
	}
	b := s.buf[:s.lineStart-1] // without the newline that ends the line before
	for n := 0; n < 64 && len(b) > 0; n++ {
		i := bytes.LastIndexByte(b, '\n')
		if t, ok := ParseTime(b[i+1:], c); ok {
			return t, true
		}
		if i < 0 {
			break
		}
		b = b[:i]
	}
	return time.Time{}, false
}
