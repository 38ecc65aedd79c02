package main

import (
	"context"
	"os"
	"time"
)

// lineWriter appends numbered, timestamped lines to a log file at a steady
// rate, one write() per line, and can rotate it by rename.
type lineWriter struct {
	path        string
	size        int // bytes per line, newline included
	rotateEvery int // lines; 0: never
	f           *os.File
	seq         int64
	rotations   int
	buf         []byte
}

func newLineWriter(path string, size, rotateEvery int) (*lineWriter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	return &lineWriter{path: path, size: size, rotateEvery: rotateEvery, f: f}, nil
}

func (w *lineWriter) writeOne() error {
	w.seq++
	w.buf = appendLine(w.buf[:0], w.seq, time.Now().UnixNano(), w.size)
	if _, err := w.f.Write(w.buf); err != nil {
		return err
	}
	if w.rotateEvery > 0 && w.seq%int64(w.rotateEvery) == 0 {
		return w.rotate()
	}
	return nil
}

// rotate renames the file away and starts a new one under the same name,
// as logrotate's default (create) mode does.
func (w *lineWriter) rotate() error {
	if err := os.Rename(w.path, w.path+".1"); err != nil {
		return err
	}
	nf, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_ = w.f.Close()
	w.f = nf
	w.rotations++
	return nil
}

// run writes rate lines per second for d (or until ctx ends), catching up
// after a late wake so that the average rate holds.
func (w *lineWriter) run(ctx context.Context, rate int, d time.Duration) error {
	start := time.Now()
	total := int64(float64(rate) * d.Seconds())
	first := w.seq
	for w.seq-first < total {
		due := min(total, int64(time.Since(start).Seconds()*float64(rate))+1)
		for w.seq-first < due {
			if err := w.writeOne(); err != nil {
				return err
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		next := start.Add(time.Duration(float64(w.seq-first) / float64(rate) * float64(time.Second)))
		if s := time.Until(next); s > 0 {
			time.Sleep(s)
		}
	}
	return nil
}

func (w *lineWriter) close() { _ = w.f.Close() }

// writeFile writes n lines to path at full speed, for the replay scenario.
func writeFile(path string, n int64, size int) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 0, 1<<20)
	now := time.Now().UnixNano()
	var bytes int64
	for seq := int64(1); seq <= n; seq++ {
		buf = appendLine(buf, seq, now, size)
		if len(buf) > 1<<20-size {
			bytes += int64(len(buf))
			if _, err := f.Write(buf); err != nil {
				return 0, err
			}
			buf = buf[:0]
		}
	}
	bytes += int64(len(buf))
	_, err = f.Write(buf)
	return bytes, err
}
