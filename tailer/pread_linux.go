//go:build linux && (amd64 || arm64 || riscv64 || ppc64 || ppc64le || s390x || loong64 || mips64 || mips64le)

package tailer

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// nowaitPread is preadv2(fd, {b}, 1, off, RWF_NOWAIT) as a raw system call.
// Only on 64-bit platforms, where the offset is one register (pos_l) and
// pos_h is ignored; 32-bit ones split it by rules of their own and take the
// ordinary call (pread_other.go).
func nowaitPread(fd int, b []byte, off int64) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	iov := unix.Iovec{Base: &b[0]}
	iov.SetLen(len(b))
	r, _, e := syscall.RawSyscall6(unix.SYS_PREADV2, uintptr(fd), uintptr(unsafe.Pointer(&iov)), 1,
		uintptr(off), 0, unix.RWF_NOWAIT)
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
