package tailer

import (
	"errors"
	"syscall"
	"unsafe"
)

// pread is one pread(2) at the file's offset: os.File.ReadAt would make a
// second call to see EOF, on every read of a followed file.
//
// Once a read has reached the end of a file on a local filesystem, what the
// next read finds was written since, so it is in the page cache and the call
// cannot wait for a disk. Such reads skip the runtime's system-call
// bookkeeping (RawSyscall): an ordinary Syscall of a few microseconds wakes
// the runtime's sysmon thread from its sleep, which then polls every 20 µs
// for a while. At a few hundred reads a second that was most of the futex
// and nanosleep calls of a followed file and a third of the agent's CPU. A
// file read from its start, or on a network or FUSE filesystem, where a read
// may block, keeps the ordinary call.
func (f *nfile) pread(b []byte) (int, error) {
	for {
		var m int
		var err error
		if f.local && f.atEnd {
			m, err = rawPread(f.fd, b, f.off)
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

func rawPread(fd int, b []byte, off int64) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	r, _, e := syscall.RawSyscall6(syscall.SYS_PREAD64, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(off), 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// localFS reports whether fd is on a filesystem whose reads of recently
// written data never leave the machine: the kinds log files live on. Any
// other kind (NFS, CIFS, FUSE, ...) or a failed statfs counts as remote.
func localFS(fd int) bool {
	var st syscall.Statfs_t
	if err := syscall.Fstatfs(fd, &st); err != nil {
		return false
	}
	switch uint32(st.Type) {
	case 0xEF53, // ext2, ext3, ext4
		0x58465342, // xfs
		0x9123683E, // btrfs
		0x01021994, // tmpfs
		0x858458F6, // ramfs
		0x794C7630, // overlayfs
		0xF2F52010, // f2fs
		0x2FC12FC1: // zfs
		return true
	}
	return false
}
