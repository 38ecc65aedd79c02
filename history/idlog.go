package history

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
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
//	c<n> =<i>.<off>_<i>.<off>...        checkpoint n, whole (numbers in base 36)
//	c<n> <m>+<i>.<off>_...              checkpoint n: checkpoint m and these changes
//
// A checkpoint's number is a hash of its offsets, leaving out the run's own
// file: the same position gets the same key whenever it is keyed, live or
// read again from disk after a restart (the fleet publisher's re-sends are
// recognised by their keys), and each distinct position is kept once. Most
// are written as the changes from the writer's previous one (the file the
// previous run read), a whole one every maxDepth, so that a source of many
// files writes a few bytes per switch, not every file's offset.
//
// Beside it, a small file of fixed size says how far each file has been
// read (8 bytes per table index, rewritten in place once per batch), so
// that a resume after a restart knows whether a file deleted meanwhile held
// lines the client had not been sent.
const (
	maxLogBytes  = 8 << 20 // rewritten past this: the log stays under 16 MiB
	keepLogBytes = 4 << 20 // the newest checkpoints kept by a rewrite
	maxDepth     = 32      // changes in a row before a whole checkpoint
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
	// progress is how far each file has been read; dirty lists the
	// indexes the progress file does not hold yet.
	progress map[int]int64
	dirty    []int
	pf       *os.File // the progress file; nil in memory
	err      error
}

// progressHead is the progress file's first 8 bytes: its table's name,
// hashed, so that a table started afresh does not read another's.
func progressHead(gen string) uint64 { return fingerprint([]byte(gen)) }

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
	return l, l.openProgress()
}

// openProgress opens the progress file, reading it when it is this
// table's, starting it afresh otherwise.
func (l *idLog) openProgress() error {
	pf, err := os.OpenFile(progressPath(l.path), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	l.pf = pf
	b := make([]byte, 8*(maxKnown+1))
	if n, _ := pf.ReadAt(b, 0); n == len(b) && binary.LittleEndian.Uint64(b) == progressHead(l.gen) {
		for i := range maxKnown {
			if off := int64(binary.LittleEndian.Uint64(b[8+8*i:])); off > 0 {
				l.progress[i] = max(l.progress[i], off)
			}
		}
		return nil
	}
	clear(b)
	binary.LittleEndian.PutUint64(b, progressHead(l.gen))
	for i, off := range l.progress {
		binary.LittleEndian.PutUint64(b[8+8*i:], uint64(off))
	}
	_, err = pf.WriteAt(b, 0)
	return err
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
			n, _, v, ok := parseCheckpoint(rec)
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
	if l.pf == nil && l.path != "" {
		if err := l.openProgress(); err != nil {
			return err
		}
	}
	return l.write()
}

// ckChain is a writer's state in the log (the producer's, or one read of the
// past's): its last checkpoint, whose offsets it keeps to write the next
// as changes.
type ckChain struct {
	off    []int64
	set    []bool
	parent uint64
	depth  int
	ok     bool
}

// entryHash mixes one file's offset into a checkpoint's number
// (splitmix64's finalizer).
func entryHash(i int, off int64) uint64 {
	x := uint64(off) ^ uint64(i)*0x9E3779B97F4A7C15
	x ^= x >> 30
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	x *= 0x94D049BB133111EB
	return x ^ x>>31
}

// checkpoint records the vector (file index -> offset; set[i] says
// whether file i has one) as a checkpoint for a run of file run, and
// returns its number. It is written by the next flush; a checkpoint held
// already is not added again.
func (l *idLog) checkpoint(c *ckChain, off []int64, set []bool, run int) uint64 {
	var n uint64
	for i := range off {
		if set[i] && i != run {
			n ^= entryHash(i, off[i])
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.offs[n]; ok {
		return n
	}
	_, parentHeld := l.offs[c.parent]
	whole := !c.ok || !parentHeld || c.depth >= maxDepth || len(c.off) > len(off)
	if !whole {
		for i := range c.set {
			if c.set[i] && !set[i] {
				whole = true // a file left the table: say it whole
			}
		}
	}
	l.offs[n] = int64(len(l.mem))
	l.mem = append(l.mem, 'c')
	l.mem = strconv.AppendUint(l.mem, n, 36)
	l.mem = append(l.mem, ' ')
	if whole {
		l.mem = append(l.mem, '=')
		c.depth = 0
	} else {
		l.mem = strconv.AppendUint(l.mem, c.parent, 36)
		l.mem = append(l.mem, '+')
		c.depth++
	}
	first := true
	for i := range off {
		if !set[i] || (!whole && i < len(c.off) && c.set[i] && c.off[i] == off[i]) {
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
	c.off, c.set = append(c.off[:0], off...), append(c.set[:0], set...)
	c.parent, c.ok = n, true
	return n
}

// note records that file i has been read to off.
func (l *idLog) note(i int, off int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.progress[i] >= off {
		return
	}
	if _, ok := l.progress[i]; !ok || !slices.Contains(l.dirty, i) {
		l.dirty = append(l.dirty, i)
	}
	l.progress[i] = off
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
		l.written, l.dirty = len(l.mem), l.dirty[:0]
		return nil
	}
	if l.pf != nil {
		var b [8]byte
		for _, i := range l.dirty {
			binary.LittleEndian.PutUint64(b[:], uint64(l.progress[i]))
			if _, err := l.pf.WriteAt(b[:], int64(8+8*i)); err != nil {
				l.err = fmt.Errorf("write %s: %w", progressPath(l.path), err)
				return l.err
			}
		}
		l.dirty = l.dirty[:0]
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

// compact rewrites the log with its newest checkpoints, those of its last
// keepLogBytes: a change whose checkpoint goes is written whole instead. A
// source of one file, which has one checkpoint, never loses it. The next
// write rewrites the file. mu held.
func (l *idLog) compact() {
	from := int64(len(l.mem)) - keepLogBytes
	if i := bytes.IndexByte(l.mem[from:], '\n'); i >= 0 {
		from += int64(i) + 1
	}
	out := append([]byte(nil), "g"+l.gen+"\n"...)
	offs := make(map[uint64]int64)
	for pos := from; pos < int64(len(l.mem)); {
		end := pos + int64(bytes.IndexByte(l.mem[pos:], '\n')) + 1
		rec := l.mem[pos:end]
		n, parent, _, ok := parseCheckpoint(rec[:len(rec)-1])
		pos = end
		if !ok || l.offs[n] != end-int64(len(rec)) {
			continue // not a checkpoint held under that number
		}
		offs[n] = int64(len(out))
		if parent == nil || offs[*parent] != 0 {
			out = append(out, rec...)
			continue
		}
		v, err := l.resolve(n, 0)
		if err != nil {
			delete(offs, n)
			continue
		}
		out = appendWhole(out, n, v)
	}
	l.offs, l.mem, l.redo = offs, out, true
}

// appendWhole appends checkpoint n as a whole record.
func appendWhole(dst []byte, n uint64, v vector) []byte {
	dst = append(dst, 'c')
	dst = strconv.AppendUint(dst, n, 36)
	dst = append(dst, " ="...)
	idx := make([]int, 0, len(v))
	for i := range v {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	for k, i := range idx {
		if k > 0 {
			dst = append(dst, '_')
		}
		dst = appendPair(dst, i, v[i])
	}
	return append(dst, '\n')
}

// errNoCheckpoint is returned for a checkpoint the log does not hold (one
// rewritten away, or of a log started afresh).
var errNoCheckpoint = errors.New("checkpoint not held")

// vector returns checkpoint n's offsets.
func (l *idLog) vector(n uint64) (vector, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.resolve(n, 0)
}

// progressOf is how far the log says file i was read (0: it says nothing).
func (l *idLog) progressOf(i int) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.progress[i]
}

// resolve returns checkpoint n's offsets, following the checkpoints it is
// a change of. mu held.
func (l *idLog) resolve(n uint64, depth int) (vector, error) {
	at, ok := l.offs[n]
	if !ok || depth > maxDepth+1 {
		return nil, errNoCheckpoint
	}
	b := l.mem[at:]
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	m, parent, v, ok := parseCheckpoint(b)
	if !ok || m != n {
		return nil, errNoCheckpoint
	}
	if parent == nil {
		return v, nil
	}
	base, err := l.resolve(*parent, depth+1)
	if err != nil {
		return nil, err
	}
	for i, off := range v {
		base[i] = off
	}
	return base, nil
}

// parseCheckpoint reads "c<n> =<i>.<off>_..." (parent nil) or
// "c<n> <parent>+<i>.<off>_...".
func parseCheckpoint(rec []byte) (n uint64, parent *uint64, v vector, ok bool) {
	head, body, ok := bytes.Cut(rec, []byte(" "))
	if !ok || len(head) < 2 || head[0] != 'c' || len(body) == 0 {
		return 0, nil, nil, false
	}
	n, err := strconv.ParseUint(string(head[1:]), 36, 64)
	if err != nil {
		return 0, nil, nil, false
	}
	if body[0] == '=' {
		body = body[1:]
	} else {
		ps, rest, ok := bytes.Cut(body, []byte("+"))
		if !ok {
			return 0, nil, nil, false
		}
		pn, err := strconv.ParseUint(string(ps), 36, 64)
		if err != nil {
			return 0, nil, nil, false
		}
		parent, body = &pn, rest
	}
	v = vector{}
	for len(body) > 0 {
		var ent []byte
		ent, body, _ = bytes.Cut(body, []byte("_"))
		i, off, ok := parseEntry(ent)
		if !ok {
			return 0, nil, nil, false
		}
		v[i] = off
	}
	return n, parent, v, true
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

// close releases the log's files.
func (l *idLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		_ = l.f.Close()
		l.f = nil
	}
	if l.pf != nil {
		_ = l.pf.Close()
		l.pf = nil
	}
}

// logPath is where the log of a table kept in statePath lives
// (positions-app.json: positions-app.ids).
func logPath(statePath string) string { return strings.TrimSuffix(statePath, ".json") + ".ids" }

// progressPath is where the progress file of a log kept in path lives.
func progressPath(path string) string { return strings.TrimSuffix(path, ".ids") + ".progress" }
