package hostmetrics

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// skippedFSTypes are pseudo and special filesystems whose "usage" means
// nothing to an operator (or is always 100 %, like squashfs images). tmpfs
// and overlay are kept on purpose: /dev/shm or /run filling up is a real
// outage, and a container's root filesystem is usually overlay.
var skippedFSTypes = map[string]bool{
	"autofs": true, "binfmt_misc": true, "bpf": true, "cgroup": true,
	"cgroup2": true, "configfs": true, "debugfs": true, "devpts": true,
	"devtmpfs": true, "efivarfs": true, "fusectl": true, "fuse.lxcfs": true,
	"hugetlbfs": true, "mqueue": true, "nsfs": true, "proc": true,
	"pstore": true, "ramfs": true, "rootfs": true, "rpc_pipefs": true,
	"securityfs": true, "selinuxfs": true, "squashfs": true, "sysfs": true,
	"tracefs": true,
}

// skippedMountPrefixes hide whatever is mounted inside /proc and /sys
// (cgroup tmpfs, binfmt_misc, container runtimes masking /proc entries with
// tmpfs): none of it is storage.
var skippedMountPrefixes = []string{"/proc/", "/sys/"}

// mountEntry is one line of /proc/self/mounts.
type mountEntry struct {
	device string
	mount  string
	fstype string
}

// parseMounts parses /proc/self/mounts. When a mount point appears twice
// (something mounted over it) the later, visible entry replaces the earlier
// one in place. Pseudo filesystems are NOT filtered here; see keepMount.
func parseMounts(r io.Reader) ([]mountEntry, error) {
	var out []mountEntry
	index := make(map[string]int)
	err := eachRecord(r, 3, func(_ int, fields []string, _ *lineErrors) {
		m := mountEntry{
			device: unescapeMount(fields[0]),
			mount:  unescapeMount(fields[1]),
			fstype: fields[2],
		}
		if i, ok := index[m.mount]; ok {
			out[i] = m
			return
		}
		index[m.mount] = len(out)
		out = append(out, m)
	})
	return out, err
}

// unescapeMount undoes the kernel's octal escaping of space, tab, newline
// and backslash ("\040") in mounts fields. Anything that is not a valid
// three-digit octal escape is kept verbatim.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			v := (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
			b.WriteByte(v)
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// keepMount reports whether a mount is storage worth reporting.
func keepMount(m mountEntry) bool {
	if skippedFSTypes[m.fstype] {
		return false
	}
	for _, p := range skippedMountPrefixes {
		if strings.HasPrefix(m.mount, p) {
			return false
		}
	}
	return true
}

// fsUsage is the platform-neutral result of statfs, in bytes.
type fsUsage struct {
	total, free, avail uint64
}

// statfsResult is what a statfs goroutine hands back.
type statfsResult struct {
	usage fsUsage
	err   error
}

// statfsCall is one statfs running in its own goroutine. done has room for
// the result so the goroutine never blocks on send, even if nobody waits.
type statfsCall struct {
	done chan statfsResult
}

// startStatfs runs statfs(path) in a goroutine. statfs on a dead NFS or FUSE
// mount can block in the kernel indefinitely and cannot be interrupted, so
// the only protection is not to wait for it.
func (s *Sampler) startStatfs(path string) *statfsCall {
	c := &statfsCall{done: make(chan statfsResult, 1)}
	fn := s.statfs
	go func() {
		u, err := fn(path)
		c.done <- statfsResult{usage: u, err: err}
	}()
	return c
}

// collectFS statfs-es every kept mount concurrently and waits at most
// StatfsTimeout in total (not per mount), so many stuck mounts cannot add up
// to a long sample. A call that times out is remembered in s.fsPending, and
// no new call is started for that mount until it returns: at most one stuck
// goroutine per mount exists at any time.
func (s *Sampler) collectFS(ctx context.Context, mounts []mountEntry) ([]FSStats, []error) {
	type job struct {
		m    mountEntry
		call *statfsCall
		err  error
	}
	jobs := make([]job, 0, len(mounts))
	listed := make(map[string]bool, len(mounts))
	for _, m := range mounts {
		if !keepMount(m) {
			continue
		}
		listed[m.mount] = true
		j := job{m: m}
		if c, ok := s.fsPending[m.mount]; ok {
			select {
			case <-c.done:
				// It finished late; its result is stale, so start afresh.
				delete(s.fsPending, m.mount)
			default:
				j.err = fmt.Errorf("statfs %s: previous call still blocked", m.mount)
				jobs = append(jobs, j)
				continue
			}
		}
		j.call = s.startStatfs(m.mount)
		jobs = append(jobs, j)
	}
	s.prunePending(listed)

	timer := time.NewTimer(s.opts.StatfsTimeout)
	defer timer.Stop()
	expired := false
	out := make([]FSStats, 0, len(jobs))
	var errs []error
	for _, j := range jobs {
		if j.call == nil {
			errs = append(errs, j.err)
			continue
		}
		var res statfsResult
		got := false
		if !expired {
			select {
			case res = <-j.call.done:
				got = true
			case <-timer.C:
				expired = true
			case <-ctx.Done():
				expired = true
			}
		}
		if !got {
			// Deadline gone: take a result only if it is already there.
			select {
			case res = <-j.call.done:
				got = true
			default:
				s.fsPending[j.m.mount] = j.call
				errs = append(errs, fmt.Errorf("statfs %s: no answer within %s", j.m.mount, s.opts.StatfsTimeout))
				continue
			}
		}
		if res.err != nil {
			errs = append(errs, fmt.Errorf("statfs %s: %w", j.m.mount, res.err))
			continue
		}
		out = append(out, fsStats(j.m, res.usage))
	}
	return out, errs
}

// prunePending forgets finished calls of mounts that are no longer listed.
// A still-blocked call of an unmounted path stays: its goroutine still
// exists, and forgetting it would let a remount start a second one.
func (s *Sampler) prunePending(listed map[string]bool) {
	for mount, c := range s.fsPending {
		if listed[mount] {
			continue
		}
		select {
		case <-c.done:
			delete(s.fsPending, mount)
		default:
		}
	}
}

// waitPending gives in-flight statfs calls up to d to finish, so that Run
// normally returns with no goroutine of ours left. Calls still blocked after
// that are stuck in the kernel and cannot be waited for.
func (s *Sampler) waitPending(d time.Duration) {
	if len(s.fsPending) == 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	for mount, c := range s.fsPending {
		select {
		case <-c.done:
			delete(s.fsPending, mount)
		case <-timer.C:
			return
		}
	}
}

// fsStats builds the reported row from a mount and its statfs usage.
func fsStats(m mountEntry, u fsUsage) FSStats {
	free := min(u.free, u.total)
	avail := min(u.avail, free)
	fs := FSStats{
		Mount:  m.mount,
		Device: m.device,
		FSType: m.fstype,
		Total:  u.total,
		Free:   free,
		Avail:  avail,
		Used:   u.total - free,
	}
	if d := fs.Used + fs.Avail; d > 0 {
		fs.UsedPercent = round2(float64(fs.Used) * 100 / float64(d))
	}
	return fs
}
