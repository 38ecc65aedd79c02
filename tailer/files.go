package tailer

import (
	"errors"
	"io/fs"
	"slices"
	"time"

	"go.uber.org/zap"
)

// retire drains a file whose path no longer names it and keeps it open for
// the grace period, because writers often write to the old fd a little
// longer after a rotation.
func (n *native) retire(f *nfile) {
	n.read(f)
	delete(n.active, f.path)
	f.retired = true
	f.lastGrowth = time.Now()
	n.retired = append(n.retired, f)
	n.t.rotations.Add(1)
	n.t.log.Info("file rotated or removed, draining the old one", zap.String("path", f.path), zap.Int64("offset", f.off))
}

// readRetired reads the retired files and closes those idle past the grace.
func (n *native) readRetired(now time.Time) {
	kept := n.retired[:0]
	for _, f := range n.retired {
		if n.read(f) {
			f.lastGrowth = now
		}
		if now.Sub(f.lastGrowth) < retiredGrace {
			kept = append(kept, f)
			continue
		}
		// Its last line will never get a newline now: deliver it as is.
		lines, cuts := f.sp.flush(f.path, now, f.off, nil)
		n.deliver(lines, cuts)
		_ = f.f.Close()
		delete(n.byID, f.id)
		if n.active[f.path] == nil && !n.t.literals[f.path] {
			n.forgetIfMissing(f.path)
		}
	}
	clear(n.retired[len(kept):])
	n.retired = kept
}

func (n *native) forgetIfMissing(p string) {
	for _, st := range n.t.Files() {
		if st.Path == p && st.State == StateMissing {
			n.t.forget(p)
		}
	}
}

// read reads a file from its offset to EOF, one batch per read, and reports
// whether anything was read. A size below the offset is a truncation
// (copytruncate): count it and restart at 0.
func (n *native) read(f *nfile) bool {
	t := n.t
	grew, checked := false, false
	f.readIn = n.cycle
	for n.ctx.Err() == nil {
		m, err := f.pread(n.buf)
		// A short read reached the end: the next one finds only what is
		// written since. A full one is catching up on older data.
		f.atEnd = m < len(n.buf) && err == nil
		if m > 0 {
			grew = true
			f.off += int64(m)
			if f.off > f.size {
				f.size = f.off
			}
			t.bytes.Add(uint64(m))
			lines, cuts := f.sp.feed(n.buf[:m], f.off-int64(m), f.path, time.Now(), nil)
			n.deliver(lines, cuts)
		}
		if err != nil {
			t.errs.Add(1)
			t.log.Warn("read failed", zap.String("path", f.path), zap.Error(err))
			break
		}
		if m == len(n.buf) {
			continue
		}
		if m > 0 || checked {
			break
		}
		// Nothing new: only then is it worth a stat, to tell a
		// truncation (copytruncate) from a file that did not grow.
		checked = true
		fi, err := f.f.Stat()
		if err != nil {
			t.errs.Add(1)
			break
		}
		f.size = fi.Size()
		if f.size >= f.off {
			break
		}
		t.truncations.Add(1)
		t.log.Info("file truncated, reading from the start", zap.String("path", f.path), zap.Int64("was", f.off), zap.Int64("size", f.size))
		f.off = 0
		f.atEnd = false
		f.sp.reset()
	}
	if !f.retired {
		t.setProgress(f.path, f.off, f.size)
	}
	if grew {
		n.noteData(f)
	}
	return grew
}

// noteData records that f had new lines, for coalesce: a read that finds
// lines within a patience of the previous one marks the source busy.
func (n *native) noteData(f *nfile) {
	now := time.Now()
	if n.holding || now.Sub(n.lastData) < n.out.Patience() {
		n.busy = true
	}
	n.lastData = now
	if !slices.Contains(n.hot, f) {
		n.hot = append(n.hot, f)
	}
}

// deliver counts and sends the lines of one read as one batch.
func (n *native) deliver(lines []Line, cuts int) {
	if len(lines) == 0 {
		return
	}
	n.t.lines.Add(uint64(len(lines)))
	n.t.cutLines.Add(uint64(cuts))
	send(n.ctx, n.out, Batch{Lines: lines})
}

// reason turns an open/stat error into the short text shown in FileStatus.
func reason(err error) string {
	if errors.Is(err, fs.ErrPermission) {
		return "permission denied"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
