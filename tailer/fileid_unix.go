//go:build unix

package tailer

import (
	"os"
	"syscall"
)

// fileID identifies a file independently of its name, so that a rename is
// recognised as the same file and a re-created path as a different one.
type fileID struct {
	dev, ino uint64
}

func idOf(fi os.FileInfo) fileID {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)} //nolint:unconvert // widths differ by platform
	}
	return fileID{}
}
