package tailer

import (
	"bytes"
	"io"
	"os"
	"time"
)

// startOffset returns where following begins for a file that existed at
// start: just after its last newline, so that a line still being written is
// delivered whole once its newline arrives instead of as a fragment. If no
// newline is found within the last max bytes, it starts at the end.
func startOffset(f *os.File, size int64, max int, buf []byte) int64 {
	pos := size
	limit := size - int64(max) - 2
	if limit < 0 {
		limit = 0
	}
	for pos > limit {
		n := int64(len(buf))
		if pos-limit < n {
			n = pos - limit
		}
		pos -= n
		if _, err := f.ReadAt(buf[:n], pos); err != nil && err != io.EOF {
			return size
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return pos + int64(i) + 1
		}
	}
	if limit == 0 {
		return 0 // the whole file is one incomplete line
	}
	return size
}

// lastLines reads up to n complete lines that end at end (end is 0 or just
// after a newline), reading backwards in chunks and at most maxBytes, and
// returns them with the same cutting as followed lines.
func lastLines(f *os.File, path string, end int64, n, max int, maxBytes int64, buf []byte) []Line {
	if n <= 0 || end <= 0 {
		return nil
	}
	pos, start := end, int64(-1)
	count := 0
	firstNL := int64(-1)
	for pos > 0 && end-pos < maxBytes && start < 0 {
		c := int64(len(buf))
		if pos < c {
			c = pos
		}
		if maxBytes-(end-pos) < c {
			c = maxBytes - (end - pos)
		}
		pos -= c
		if _, err := f.ReadAt(buf[:c], pos); err != nil && err != io.EOF {
			return nil
		}
		for i := c - 1; i >= 0; i-- {
			if buf[i] != '\n' {
				continue
			}
			firstNL = pos + i
			count++ // the first one found is the last line's own terminator
			if count == n+1 {
				start = pos + i + 1
				break
			}
		}
	}
	if start < 0 {
		if pos == 0 {
			start = 0
		} else if firstNL >= 0 && firstNL+1 < end {
			// Byte bound hit: skip the fragment before the first newline seen.
			start = firstNL + 1
		} else {
			return nil
		}
	}
	now := time.Now()
	var id fileID
	if fi, err := f.Stat(); err == nil {
		id = idOf(fi)
	}
	sp := newSplitter(max, id)
	var lines []Line
	for off := start; off < end; {
		c := int64(len(buf))
		if end-off < c {
			c = end - off
		}
		m, err := f.ReadAt(buf[:c], off)
		if m > 0 {
			lines, _ = sp.feed(buf[:m], off, path, now, lines)
			off += int64(m)
		}
		if err != nil || m == 0 {
			break
		}
	}
	return lines
}
