package history

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
)

// A key names its line's file and end offset, and a checkpoint: where every
// other file of the source stood when the run of lines of that file began
// (lines come in runs of one file, and within a run only that file moves).
// The checkpoints are kept here, so that a key stays short however many
// files the source has, and means the same after a restart, kill -9
// included.
//
// The log is a text file beside the position table, appended to once per
// batch with write(2) and no fsync (what the kernel holds survives the
// process), and bounded: past maxLogBytes it is rewritten with its newest
// checkpoints only. Its records:
//
//	g<gen>                              the table it belongs to (first line)
//	c<n> <i>.<off>_<i>.<off>...         checkpoint n (numbers in base 36)
//
// A checkpoint's number is a hash of its offsets, leaving out the run's own
// file: the same position gets the same key whenever it is keyed, live or
// read again from disk after a restart (the fleet publisher's re-sends are
// recognised by their keys), and each distinct position is kept once.
//
//	p<i>.<off>                          file i has been read to off
//
// Progress records say how far a file was read when no checkpoint says it
// yet, so that a resume after a restart knows whether a file deleted
// meanwhile held lines the client had not been sent.
const (
	maxLogBytes  = 8 << 20 // rewritten past this: the log stays under 16 MiB
	keepLogBytes = 4 << 20 // the newest checkpoints kept by a rewrite
)

// idLog is a source's checkpoint log. Its methods are safe for concurrent
// use: the producer adds checkpoints, readers of the past add and resolve
// them.
type idLog struct {
	mu   sync.Mutex
	gen  string
	path string   // "": in memory only
	f    *os.File // the log, opened for appending
	// mem is the whole log, written and pending: checkpoints are resolved
	// from memory, the file is for the next run. It stays small for most
	// sources (a checkpoint per switch between files) and under
	// maxLogBytes for any.
	mem     []byte
	written int              // how much of mem the file holds
	redo    bool             // a write failed: the next flush rewrites the file whole
	offs    map[uint64]int64 // where each checkpoint starts in mem
	// progress is how far each file has been read, as the log says.
	progress map[int]int64
	err      error
}

// openLog opens (or starts) the log at path for a table named gen; a log
// of another table is started afresh. path "" keeps it in memory.
func openLog(path, gen string) (*idLog, error) {
	l := &idLog{gen: gen, path: path, progress: map[int]int64{}, offs: map[uint64]int64{}}
	if path == "" {
		l.mem = append(l.mem, "g"+gen+"\n"...)
		l.written = len(l.mem)
		return l, nil
	}
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return l, l.reset()
	}
	good := l.parse(b)
	if good == 0 {
		// A log of another table, or none yet.
		return l, l.reset()
	}
	l.mem = b[:good]
	if good < len(b) {
		// A last record cut short by a crash: keep what is whole.
		if err := os.Truncate(path, int64(good)); err != nil {
			return l, l.reset()
		}
	}
	l.written = good
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		l.redo = true
		return l, err
	}
	l.f = f
	return l, nil
}

// parse reads a log's records and returns how many of its bytes are whole
// records of this table (0: none usable).
func (l *idLog) parse(b []byte) int {
	head := "g" + l.gen + "\n"
	if !bytes.HasPrefix(b, []byte(head)) {
		return 0
	}
	pos := len(head)
	for pos < len(b) {
		end := bytes.IndexByte(b[pos:], '\n')
		if end < 0 {
			break
		}
		rec := b[pos : pos+end]
		switch {
		case len(rec) > 0 && rec[0] == 'c':
			n, v, ok := parseCheckpoint(rec)
			if !ok {
				return pos
			}
			for i, off := range v {
				l.progress[i] = max(l.progress[i], off)
			}
			l.offs[n] = int64(pos)
		case len(rec) > 0 && rec[0] == 'p':
			i, off, ok := parseEntry(rec[1:])
			if !ok {
				return pos
			}
			l.progress[i] = max(l.progress[i], off)
		default:
			return pos
		}
		pos += end + 1
	}
	return pos
}

// reset starts the log afresh.
func (l *idLog) reset() error {
	l.offs, l.progress = map[uint64]int64{}, map[int]int64{}
	l.mem = append(l.mem[:0], "g"+l.gen+"\n"...)
	l.written, l.redo = 0, true
	return l.write()
}

// add records a checkpoint of the vector (file index -> offset; set[i]
// says whether file i has one), leaving out file skip (the run's own), and
// returns its number. It is written by the next flush; a checkpoint held
// already is not added again.
func (l *idLog) add(off []int64, set []bool, skip int) uint64 {
	h := fnv.New64a()
	var buf [24]byte
	for i := range off {
		if set[i] && i != skip {
			h.Write(appendPair(buf[:0], i, off[i]))
			h.Write([]byte{'_'})
		}
	}
	n := h.Sum64()
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.offs[n]; ok {
		return n
	}
	l.offs[n] = int64(len(l.mem))
	l.mem = append(l.mem, 'c')
	l.mem = strconv.AppendUint(l.mem, n, 36)
	l.mem = append(l.mem, ' ')
	first := true
	for i := range off {
		if !set[i] || i == skip {
			continue
		}
		if !first {
			l.mem = append(l.mem, '_')
		}
		first = false
		l.mem = appendPair(l.mem, i, off[i])
		l.progress[i] = max(l.progress[i], off[i])
	}
	l.mem = append(l.mem, '\n')
	return n
}

// note records that file i has been read to off.
func (l *idLog) note(i int, off int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.progress[i] >= off {
		return
	}
	l.progress[i] = off
	l.mem = append(l.mem, 'p')
	l.mem = appendPair(l.mem, i, off)
	l.mem = append(l.mem, '\n')
}

func appendPair(dst []byte, i int, off int64) []byte {
	dst = strconv.AppendInt(dst, int64(i), 36)
	dst = append(dst, '.')
	return strconv.AppendInt(dst, off, 36)
}

// flush writes what was added since the last flush, in one write, and
// rewrites the log when it has grown past its bound.
func (l *idLog) flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.mem) > maxLogBytes {
		l.compact()
	}
	return l.write()
}

// write appends the unwritten part of mem to the file; after a failure it
// rewrites the file whole, so that the file never holds a hole. mu held.
func (l *idLog) write() error {
	if l.path == "" {
		l.written = len(l.mem)
		return nil
	}
	if l.redo || l.f == nil {
		if err := writeAtomic(l.path, l.mem); err != nil {
			l.err = fmt.Errorf("write %s: %w", l.path, err)
			return l.err
		}
		if l.f != nil {
			_ = l.f.Close()
		}
		f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			l.f, l.err = nil, fmt.Errorf("open %s: %w", l.path, err)
			return l.err
		}
		l.f, l.redo, l.written, l.err = f, false, len(l.mem), nil
		return nil
	}
	if l.written == len(l.mem) {
		return l.err
	}
	if _, err := l.f.Write(l.mem[l.written:]); err != nil {
		l.redo, l.err = true, fmt.Errorf("write %s: %w", l.path, err)
		return l.err
	}
	l.written, l.err = len(l.mem), nil
	return nil
}

// compact rewrites the log: one progress record per file, then the newest
// checkpoints, as many as keepLogBytes holds, in their order. Progress
// records are folded, so a source of one file, which has one checkpoint,
// never loses it. The next write rewrites the file. mu held.
func (l *idLog) compact() {
	type ckpt struct {
		n  uint64
		at int64
	}
	all := make([]ckpt, 0, len(l.offs))
	for n, at := range l.offs {
		all = append(all, ckpt{n, at})
	}
	slices.SortFunc(all, func(a, b ckpt) int { return cmp.Compare(b.at, a.at) }) // newest first
	budget := int64(keepLogBytes)
	keep := all[:0]
	for _, c := range all {
		end := bytes.IndexByte(l.mem[c.at:], '\n')
		if budget -= int64(end + 1); budget < 0 {
			break
		}
		keep = append(keep, c)
	}
	slices.Reverse(keep)
	out := append([]byte(nil), "g"+l.gen+"\n"...)
	for i, off := range l.progress {
		out = append(out, 'p')
		out = appendPair(out, i, off)
		out = append(out, '\n')
	}
	offs := make(map[uint64]int64, len(keep))
	for _, c := range keep {
		end := bytes.IndexByte(l.mem[c.at:], '\n')
		offs[c.n] = int64(len(out))
		out = append(out, l.mem[c.at:c.at+int64(end)+1]...)
	}
	l.offs, l.mem, l.redo = offs, out, true
}

// errNoCheckpoint is returned for a checkpoint the log does not hold (one
// rewritten away, or of a log started afresh).
var errNoCheckpoint = errors.New("checkpoint not held")

// vector returns checkpoint n's offsets.
func (l *idLog) vector(n uint64) (vector, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	at, ok := l.offs[n]
	if !ok {
		return nil, errNoCheckpoint
	}
	return l.decodeAt(l.mem[at:], n)
}

// progressOf is how far the log says file i was read (0: it says nothing).
func (l *idLog) progressOf(i int) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.progress[i]
}

func (l *idLog) decodeAt(b []byte, n uint64) (vector, error) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	m, v, ok := parseCheckpoint(b)
	if !ok || m != n {
		return nil, errNoCheckpoint
	}
	return v, nil
}

// parseCheckpoint reads "c<n> <i>.<off>_...".
func parseCheckpoint(rec []byte) (uint64, vector, bool) {
	head, body, ok := bytes.Cut(rec, []byte(" "))
	if !ok || len(head) < 2 || head[0] != 'c' {
		return 0, nil, false
	}
	n, err := strconv.ParseUint(string(head[1:]), 36, 64)
	if err != nil {
		return 0, nil, false
	}
	v := vector{}
	for len(body) > 0 {
		var ent []byte
		ent, body, _ = bytes.Cut(body, []byte("_"))
		i, off, ok := parseEntry(ent)
		if !ok {
			return 0, nil, false
		}
		v[i] = off
	}
	return n, v, true
}

// parseEntry reads "<i>.<off>".
func parseEntry(ent []byte) (int, int64, bool) {
	is, os, ok := bytes.Cut(ent, []byte("."))
	if !ok {
		return 0, 0, false
	}
	i, err1 := strconv.ParseInt(string(is), 36, 32)
	off, err2 := strconv.ParseInt(string(os), 36, 64)
	if err1 != nil || err2 != nil || i < 0 || i >= maxKnown || off < 0 {
		return 0, 0, false
	}
	return int(i), off, true
}

// close releases the log's file.
func (l *idLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		_ = l.f.Close()
		l.f = nil
	}
}

// logPath is where the log of a table kept in statePath lives.
func logPath(statePath string) string {
	dir, base := filepath.Split(statePath)
	return filepath.Join(dir, "ids-"+base+".log")
}
