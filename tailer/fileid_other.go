//go:build !unix

package tailer

import "os"

// fileID identifies a file; without inode numbers the best available is the
// modification-time-independent size-less identity, so rotation detection
// degrades to truncation detection on such platforms.
type fileID struct {
	dev, ino uint64
}

func idOf(fi os.FileInfo) fileID { return fileID{} }
