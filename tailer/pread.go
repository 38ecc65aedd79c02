package tailer

import (
	"errors"
	"syscall"
)

// pread is one pread(2) at the file's offset: os.File.ReadAt would make a
// second call to see EOF, on every read of a followed file.
//
// Once a read has reached the end of a file on a local filesystem, what the
// next read finds was written since, so it is in the page cache. Such reads
// skip the runtime's system-call bookkeeping (a raw preadv2 with
// RWF_NOWAIT, see pread_linux.go): an ordinary Syscall of a few microseconds
// wakes the runtime's sysmon thread from its sleep, which then polls every
// 20 µs for a while. At a few hundred reads a second that was most of the
// futex and nanosleep calls of a followed file and a third of the agent's
// CPU. RWF_NOWAIT makes the kernel answer EAGAIN instead of waiting (pages
// not cached, a writer holding the inode's lock), and then the ordinary call
// is made: a raw call must never block, since it would hold up the garbage
// collector's stop-the-world. A file read from its start or after a
// truncation, a read that filled the buffer (catching up), and network or
// FUSE filesystems keep the ordinary call.
func (f *nfile) pread(b []byte) (int, error) {
	for {
		var m int
		var err error
		if f.local && f.atEnd {
			m, err = nowaitPread(f.fd, b, f.off)
			switch {
			case err == nil:
			case errors.Is(err, syscall.EAGAIN):
				m, err = syscall.Pread(f.fd, b, f.off)
			case errors.Is(err, errNoNowait), errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.ENOSYS):
				f.local = false // this kernel or filesystem cannot: never again
				m, err = syscall.Pread(f.fd, b, f.off)
			}
		} else {
			m, err = syscall.Pread(f.fd, b, f.off)
		}
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if m < 0 {
			m = 0
		}
		return m, err
	}
}

// errNoNowait says the platform has no raw non-waiting read.
var errNoNowait = errors.New("no RWF_NOWAIT read on this platform")
