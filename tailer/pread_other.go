//go:build !(linux && (amd64 || arm64 || riscv64 || ppc64 || ppc64le || s390x || loong64 || mips64 || mips64le))

package tailer

// nowaitPread is not offered here: every read takes the ordinary call.
func nowaitPread(int, []byte, int64) (int, error) { return -1, errNoNowait }

// localFS is false here, so nowaitPread is never tried.
func localFS(int) bool { return false }
