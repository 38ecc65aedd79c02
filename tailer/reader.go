package tailer

import (
	"bytes"
	"time"
	"unicode/utf8"

	"edgetail/event"
)

// splitter turns a file's byte stream into complete lines. It holds an
// incomplete last line until its newline arrives, keeping at most max bytes of
// it so that a huge line (or a binary file without newlines) cannot exhaust
// memory: the rest is only counted, and the line is emitted with Cut set.
type splitter struct {
	max     int
	id      fileID // the file's device and inode, given to every line
	held    []byte // first bytes (at most max) of the incomplete line
	heldLen int    // full length of the incomplete line so far
	last    byte   // last byte of the incomplete line, to strip a CR that was not kept

	spans []span // scratch, reused between feeds
}

// span is one complete line found in a chunk before it is copied out.
type span struct {
	text []byte // the kept bytes (at most max), possibly still ending in '\r'
	full int    // the line's full length without '\n'
	end  int    // offset just after its newline, in the chunk it ended in
}

func newSplitter(max int, id fileID) splitter { return splitter{max: max, id: id} }

// reset forgets the incomplete line (the file was truncated under it).
func (s *splitter) reset() {
	s.held = s.held[:0]
	s.heldLen = 0
}

// feed splits chunk, which starts at offset base of the file, into lines
// and returns them appended to dst, all texts sharing one new backing array
// (one allocation per chunk rather than per line), each with its file's
// identity and the offset just after its newline (Line.End). Bytes after
// the last newline are held for the next feed. It also returns the number
// of lines that were cut.
func (s *splitter) feed(chunk []byte, base int64, file string, now time.Time, dst []Line) ([]Line, int) {
	s.spans = s.spans[:0]
	rest := chunk
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		seg := rest[:i]
		rest = rest[i+1:]
		end := len(chunk) - len(rest)
		if s.heldLen <= 0 { // nothing held, or the held line was completed above
			s.spans = append(s.spans, s.makeSpan(seg, len(seg), lastByte(seg, 0), end))
			continue
		}
		// The line began in an earlier chunk: complete it in s.held, which
		// is only reset after the spans were copied out below.
		s.keep(seg)
		s.spans = append(s.spans, s.makeSpan(s.held, s.heldLen+len(seg), lastByte(seg, s.last), end))
		s.heldLen = -1 // marks held as consumed; reset once copied
	}
	dst, cuts := s.materialize(file, now, base, dst)
	if s.heldLen < 0 {
		s.reset()
	}
	if len(rest) > 0 {
		s.keep(rest)
		s.heldLen += len(rest)
		s.last = rest[len(rest)-1]
	}
	return dst, cuts
}

// flush returns the held incomplete line as a final line, ending at offset
// end of the file; used when a file is closed for good, where no newline
// will ever come.
func (s *splitter) flush(file string, now time.Time, end int64, dst []Line) ([]Line, int) {
	if s.heldLen == 0 {
		return dst, 0
	}
	s.spans = append(s.spans[:0], s.makeSpan(s.held, s.heldLen, s.last, 0))
	dst, cuts := s.materialize(file, now, end, dst)
	s.reset()
	return dst, cuts
}

// keep appends b to the held bytes without exceeding max.
func (s *splitter) keep(b []byte) {
	if room := s.max - len(s.held); room > 0 {
		if len(b) > room {
			b = b[:room]
		}
		s.held = append(s.held, b...)
	}
}

func lastByte(seg []byte, prev byte) byte {
	if len(seg) > 0 {
		return seg[len(seg)-1]
	}
	return prev
}

// makeSpan applies the CR strip and the max cut to a line whose first kept
// bytes are text and whose full length (CR included) is full.
func (s *splitter) makeSpan(text []byte, full int, last byte, end int) span {
	if last == '\r' && full > 0 {
		full--
	}
	if len(text) > full {
		text = text[:full]
	}
	if len(text) > s.max {
		text = text[:s.max]
	}
	if full > s.max {
		text = runeCut(text)
	}
	return span{text: text, full: full, end: end}
}

// materialize copies the spans into one backing array and appends the
// lines; a span's end is relative to base.
func (s *splitter) materialize(file string, now time.Time, base int64, dst []Line) ([]Line, int) {
	if len(s.spans) == 0 {
		return dst, 0
	}
	total := 0
	for _, sp := range s.spans {
		total += len(sp.text)
	}
	if dst == nil {
		dst = make([]Line, 0, len(s.spans))
	}
	backing := make([]byte, total)
	cuts, pos := 0, 0
	for _, sp := range s.spans {
		n := copy(backing[pos:], sp.text)
		l := Line{Line: event.Line{File: file, Text: backing[pos : pos+n : pos+n], Time: now},
			Dev: s.id.dev, Ino: s.id.ino, End: base + int64(sp.end)}
		pos += n
		if sp.full > s.max {
			l.Cut = sp.full
			cuts++
		}
		dst = append(dst, l)
	}
	s.spans = s.spans[:0]
	return dst, cuts
}

// runeCut drops an incomplete UTF-8 sequence at the end of a cut line, so the
// cut never splits a rune. Invalid bytes count as complete and are kept.
func runeCut(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i]
			}
			return b
		}
	}
	return b
}
