//go:build linux

package hostmetrics

import "syscall"

// realStatfs calls statfs(2). Sizes use f_frsize, the unit the kernel
// counts blocks in, falling back to f_bsize for filesystems that leave it 0.
func realStatfs(path string) (fsUsage, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return fsUsage{}, err
	}
	unit := uint64(st.Frsize)
	if unit == 0 {
		unit = uint64(st.Bsize)
	}
	return fsUsage{
		total: st.Blocks * unit,
		free:  st.Bfree * unit,
		avail: st.Bavail * unit,
	}, nil
}
