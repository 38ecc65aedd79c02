package history

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"
)

// File is one file a read covers: a followed file or one of its rotated
// siblings.
type File struct {
	Path        string
	Compression Compression
	Dev, Ino    uint64
	Size        int64 // on disk (compressed size for .gz/.zst)
	ModTime     time.Time
	Current     bool // a followed file, not a rotated sibling
}

// statFile fills a File from the file system.
func statFile(path string, c Compression, current bool) (File, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return File{}, err
	}
	f := File{Path: path, Compression: c, Size: fi.Size(), ModTime: fi.ModTime(), Current: current}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		f.Dev, f.Ino = uint64(st.Dev), uint64(st.Ino) //nolint:unconvert // widths differ by platform
	}
	return f, nil
}

// maxZstdWindow bounds a zstd frame's window, and with it the decoder's
// memory: logrotate's zstd and the zstd tool's default levels use far less.
const maxZstdWindow = 32 << 20

// opened is a file being read: its content from some offset on.
type opened struct {
	r     io.Reader
	close func()
}

// openAt opens f and positions its content at offset from: a seek for a
// plain file, decompress-and-discard for a compressed one. to bounds a plain
// file's content (< 0: its size when opened).
func openAt(f *File, from, to int64) (*opened, error) {
	fd, err := os.Open(f.Path)
	if err != nil {
		return nil, err
	}
	o := &opened{close: func() { _ = fd.Close() }}
	switch f.Compression {
	case Plain:
		if to < 0 {
			to = f.Size
		}
		o.r = io.NewSectionReader(fd, from, max(to-from, 0))
		return o, nil
	case Gzip:
		zr, err := gzip.NewReader(fd)
		if err != nil {
			o.close()
			return nil, fmt.Errorf("gzip %s: %w", f.Path, err)
		}
		o.r = zr
	case Zstd:
		zr, err := zstd.NewReader(fd, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			o.close()
			return nil, fmt.Errorf("zstd %s: %w", f.Path, err)
		}
		o.r = zr
		o.close = func() { zr.Close(); _ = fd.Close() }
	}
	if to >= 0 {
		o.r = io.LimitReader(o.r, to)
	}
	if from > 0 {
		if _, err := io.CopyN(io.Discard, o.r, from); err != nil {
			o.close()
			return nil, fmt.Errorf("skip to %d in %s: %w", from, f.Path, err)
		}
	}
	return o, nil
}
