package history

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"edgetail/event"
	"edgetail/timeline"
)

// The count index: for each file a source reads (followed files and their
// rotated siblings), how many lines it holds per minute of their time and
// per level, so that a count over days of logs reads a few kilobytes per
// file instead of the logs. A file's index is named by a fingerprint of
// its first bytes (decompressed), so it outlives renames and compression
// (app.log -> app.log.1 -> app.log.2.gz keeps its index), and covers the
// file's content up to an offset: a file that grew is read on from there,
// one that does not start with the same bytes any more is indexed anew.

// indexFingerprint is how many first content bytes name a file's index.
const indexFingerprint = 256

// MaxIndexMinutes bounds the minutes of one file's index (91 days of
// minutes, about 4 MB in memory while it is built): a file whose lines
// spread over more is counted by reading it.
const MaxIndexMinutes = 1 << 17

// Index keeps the count indexes of one source's files, in a directory of
// small files (one per log file) or, without one, in memory. It is safe for
// concurrent use.
type Index struct {
	dir string // "": in memory only
	tag string // what else decides a file's events: an index with another is rebuilt

	mu    sync.Mutex
	mem   map[string][]byte // the encoded indexes, when dir is ""
	locks [16]sync.Mutex    // one build of a file at a time, by name hash
}

// NewIndex returns the index kept in dir (created when missing), or in
// memory when dir is "". tag names what decides how lines become events
// (a source's multi-line rules, once they exist): an index made under
// another tag is made anew.
func NewIndex(dir, tag string) (*Index, error) {
	ix := &Index{dir: dir, tag: tag}
	if dir == "" {
		ix.mem = make(map[string][]byte)
		return ix, nil
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		ix.dir, ix.mem = "", make(map[string][]byte)
		return ix, err
	}
	return ix, nil
}

// fileIndex is one file's index.
type fileIndex struct {
	fp       uint64
	fpLen    int
	end      int64 // content bytes counted: [0, end), always after a newline
	complete bool  // the whole content: a compressed file, which grows no more
	overflow bool  // more than MaxIndexMinutes minutes: not indexed
	last     int64 // Unix ns of the last timed line before end; 0: none yet
	// lead are the lines before the file's first timed line, by level:
	// they take the time of the line before them (the previous
	// sibling's last) or, first of all, the file's modification time.
	lead [timeline.Levels]uint64
	mins []minuteCounts // sorted by m, each m once
}

// minuteCounts are one minute's lines by level.
type minuteCounts struct {
	m int64                   // Unix minute
	n [timeline.Levels]uint32 // lines
	z [timeline.Levels]uint32 // of which stamped exactly at the minute's start
}

func (fi *fileIndex) name() string {
	return strconv.FormatUint(fi.fp, 16) + "-" + strconv.Itoa(fi.fpLen) + ".idx"
}

const indexMagic = "edgetail-count-index 1\n"

var errBadIndex = errors.New("not a count index")

// encode writes the index: magic, tag, header fields, minutes as deltas
// and the levels present, then a CRC-32 of it all.
func (fi *fileIndex) encode(tag string) []byte {
	b := append([]byte(nil), indexMagic...)
	b = binary.AppendUvarint(b, uint64(len(tag)))
	b = append(b, tag...)
	b = binary.LittleEndian.AppendUint64(b, fi.fp)
	b = binary.AppendUvarint(b, uint64(fi.fpLen))
	b = binary.AppendVarint(b, fi.end)
	var flags uint64
	if fi.complete {
		flags |= 1
	}
	if fi.overflow {
		flags |= 2
	}
	b = binary.AppendUvarint(b, flags)
	b = binary.AppendVarint(b, fi.last)
	for _, v := range fi.lead {
		b = binary.AppendUvarint(b, v)
	}
	b = binary.AppendUvarint(b, uint64(len(fi.mins)))
	prev := int64(0)
	for i := range fi.mins {
		mc := &fi.mins[i]
		b = binary.AppendVarint(b, mc.m-prev)
		prev = mc.m
		var mask uint64
		for l := range timeline.Levels {
			if mc.n[l] != 0 {
				mask |= 1 << l
			}
			if mc.z[l] != 0 {
				mask |= 1 << (timeline.Levels + l)
			}
		}
		b = binary.AppendUvarint(b, mask)
		for l := range timeline.Levels {
			if mc.n[l] != 0 {
				b = binary.AppendUvarint(b, uint64(mc.n[l]))
			}
		}
		for l := range timeline.Levels {
			if mc.z[l] != 0 {
				b = binary.AppendUvarint(b, uint64(mc.z[l]))
			}
		}
	}
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

// decodeIndex reads an encoded index made under tag.
func decodeIndex(b []byte, tag string) (*fileIndex, error) {
	if len(b) < len(indexMagic)+4 || string(b[:len(indexMagic)]) != indexMagic {
		return nil, errBadIndex
	}
	body := b[:len(b)-4]
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, errBadIndex
	}
	d := decoder{b: body[len(indexMagic):]}
	tl := d.uvarint()
	if d.err != nil || tl > uint64(len(d.b)) || string(d.b[:tl]) != tag {
		return nil, errBadIndex
	}
	d.b = d.b[tl:]
	fi := &fileIndex{}
	if len(d.b) < 8 {
		return nil, errBadIndex
	}
	fi.fp = binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	fi.fpLen = int(d.uvarint())
	fi.end = d.varint()
	flags := d.uvarint()
	fi.complete, fi.overflow = flags&1 != 0, flags&2 != 0
	fi.last = d.varint()
	for l := range fi.lead {
		fi.lead[l] = d.uvarint()
	}
	n := d.uvarint()
	if d.err != nil || n > MaxIndexMinutes {
		return nil, errBadIndex
	}
	fi.mins = make([]minuteCounts, n)
	prev := int64(0)
	for i := range fi.mins {
		mc := &fi.mins[i]
		mc.m = prev + d.varint()
		prev = mc.m
		mask := d.uvarint()
		for l := range timeline.Levels {
			if mask&(1<<l) != 0 {
				mc.n[l] = uint32(d.uvarint())
			}
		}
		for l := range timeline.Levels {
			if mask&(1<<(timeline.Levels+l)) != 0 {
				mc.z[l] = uint32(d.uvarint())
			}
		}
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, errBadIndex
	}
	return fi, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errBadIndex
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errBadIndex
		return 0
	}
	d.b = d.b[n:]
	return v
}

// lock takes the build lock of an index name and returns its release.
func (ix *Index) lock(name string) func() {
	h := fnv.New32a()
	h.Write([]byte(name))
	m := &ix.locks[h.Sum32()%uint32(len(ix.locks))]
	m.Lock()
	return m.Unlock
}

// load returns the kept index of that name, or nil.
func (ix *Index) load(name string) *fileIndex {
	var b []byte
	if ix.dir == "" {
		ix.mu.Lock()
		b = ix.mem[name]
		ix.mu.Unlock()
	} else {
		var err error
		if b, err = os.ReadFile(filepath.Join(ix.dir, name)); err != nil {
			return nil
		}
	}
	fi, err := decodeIndex(b, ix.tag)
	if err != nil {
		return nil
	}
	return fi
}

// store keeps fi. On disk it is written to a temporary file renamed over
// the old one, without fsync: it is a cache, checked by its CRC when read,
// and made again when lost.
func (ix *Index) store(fi *fileIndex) error {
	b := fi.encode(ix.tag)
	if ix.dir == "" {
		ix.mu.Lock()
		ix.mem[fi.name()] = b
		ix.mu.Unlock()
		return nil
	}
	path := filepath.Join(ix.dir, fi.name())
	tmp, err := os.CreateTemp(ix.dir, ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// prune forgets the indexes of files no longer read (deleted by the
// rotation), keeping those named in keep and any written in the last hour
// (a file may be between two names).
func (ix *Index) prune(keep map[string]bool) {
	if ix.dir == "" {
		ix.mu.Lock()
		for name := range ix.mem {
			if !keep[name] {
				delete(ix.mem, name)
			}
		}
		ix.mu.Unlock()
		return
	}
	ents, err := os.ReadDir(ix.dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		name := e.Name()
		if keep[name] || !(strings.HasSuffix(name, ".idx") || strings.HasPrefix(name, ".tmp-")) {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > time.Hour {
			os.Remove(filepath.Join(ix.dir, name))
		}
	}
}

// identify fingerprints the first bytes of f's content (decompressed);
// ok is false for an empty or unreadable file.
func identify(f *File) (fp uint64, n int, err error) {
	o, err := openAt(f, 0, -1)
	if err != nil {
		return 0, 0, err
	}
	defer o.close()
	var buf [indexFingerprint]byte
	n, err = io.ReadFull(o.r, buf[:])
	if n == 0 {
		if err == io.EOF {
			err = nil
		}
		return 0, 0, err
	}
	return fingerprint(buf[:n]), n, nil
}

// gzipSize is the content size a gzip file's trailer gives (mod 2^32), so
// that an index made while the file was plain can be taken as complete
// without reading the file again.
func gzipSize(path string) (uint32, bool) {
	fd, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer fd.Close()
	fi, err := fd.Stat()
	if err != nil || fi.Size() < 18 {
		return 0, false
	}
	var b [4]byte
	if _, err := fd.ReadAt(b[:], fi.Size()-4); err != nil {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b[:]), true
}

// lastNewline returns the offset just after the last newline of a plain
// file in [from, to), or from when there is none.
func lastNewline(path string, from, to int64) (int64, error) {
	fd, err := os.Open(path)
	if err != nil {
		return from, err
	}
	defer fd.Close()
	buf := make([]byte, 64<<10)
	for hi := to; hi > from; {
		lo := max(from, hi-int64(len(buf)))
		n, err := fd.ReadAt(buf[:hi-lo], lo)
		if err != nil && err != io.EOF {
			return from, err
		}
		for i := n - 1; i >= 0; i-- {
			if buf[i] == '\n' {
				return lo + int64(i) + 1, nil
			}
		}
		hi = lo
	}
	return from, nil
}

// minuteSet gathers a file's minutes while it is read: lines come mostly
// in time order, so the minute of the last line is kept at hand.
type minuteSet struct {
	by   map[int64]*minuteCounts
	cur  *minuteCounts
	full bool // more than MaxIndexMinutes
}

func newMinuteSet(fi *fileIndex) *minuteSet {
	s := &minuteSet{by: make(map[int64]*minuteCounts, len(fi.mins)+64)}
	for i := range fi.mins {
		mc := fi.mins[i]
		s.by[mc.m] = &mc
	}
	return s
}

func (s *minuteSet) add(t time.Time, lv int) {
	u := t.Unix()
	m := u / 60
	if u%60 < 0 {
		m--
	}
	mc := s.cur
	if mc == nil || mc.m != m {
		if mc = s.by[m]; mc == nil {
			if len(s.by) >= MaxIndexMinutes {
				s.full = true
				return
			}
			mc = &minuteCounts{m: m}
			s.by[m] = mc
		}
		s.cur = mc
	}
	mc.n[lv]++
	if u == m*60 && t.Nanosecond() == 0 {
		mc.z[lv]++
	}
}

func (s *minuteSet) sorted() []minuteCounts {
	out := make([]minuteCounts, 0, len(s.by))
	for _, mc := range s.by {
		out = append(out, *mc)
	}
	slices.SortFunc(out, func(a, b minuteCounts) int {
		switch {
		case a.m < b.m:
			return -1
		case a.m > b.m:
			return 1
		}
		return 0
	})
	return out
}

func (fi *fileIndex) String() string {
	return fmt.Sprintf("index %s: end %d complete %v, %d minutes", fi.name(), fi.end, fi.complete, len(fi.mins))
}

// ensure returns f's index brought up to content offset to (< 0: the
// file's end), reading the part it does not cover yet through the reader
// of the past, and keeps it. A plain file's index ends at its last
// newline: its unended last line (its newline may still come) is returned
// apart, to be counted by the caller. An empty file has a nil index.
func (ix *Index) ensure(ctx context.Context, q *Query, clock Clock, f *File, to int64, level func([]byte) event.Level) (*fileIndex, []tailLine, error) {
	fp, n, err := identify(f)
	if err != nil || n == 0 {
		return nil, nil, err
	}
	fresh := &fileIndex{fp: fp, fpLen: n}
	name := fresh.name()
	unlock := ix.lock(name)
	defer unlock()
	fi := ix.load(name)
	if fi == nil || fi.fp != fp || fi.fpLen != n {
		fi = fresh
	}
	if fi.overflow {
		return fi, nil, nil
	}
	var from, upto, nl int64
	switch {
	case f.Compression != Plain:
		if fi.complete {
			return fi, nil, nil
		}
		if size, ok := gzipSize(f.Path); ok && f.Compression == Gzip && fi.end > 0 && size == uint32(fi.end) {
			// Indexed to its end while it was plain, and compressed
			// since: nothing more to read.
			fi.complete = true
			return fi, nil, ix.store(fi)
		}
		from, upto, nl = fi.end, -1, -1
	default:
		if fi.end > f.Size {
			fi = fresh // truncated and written again
		}
		if to < 0 || to > f.Size {
			to = f.Size
		}
		if fi.end >= to {
			return fi, nil, nil // up to date, or ahead of to (a later count's)
		}
		from, upto = fi.end, to
		if nl, err = lastNewline(f.Path, from, to); err != nil {
			return fi, nil, err
		}
	}
	rq := Query{MaxLineBytes: q.MaxLineBytes, Group: q.Group, Range: func(*File) Range { return Range{From: from, To: upto} }}
	ch := &chain{q: &rq, clock: clock, files: []File{*f}}
	defer ch.close()
	if fi.last != 0 {
		ch.last = time.Unix(0, fi.last)
	}
	set := newMinuteSet(fi)
	var tail []tailLine
	end := fi.end
	var rerr error
	for n := 0; ; n++ {
		if n&1023 == 0 && ctx.Err() != nil {
			rerr = ctx.Err()
			break
		}
		l, g, ok := ch.next()
		if !ok {
			break
		}
		if g != nil {
			rerr = errors.New(g.Reason)
			break
		}
		lv := level(l.Text)
		if nl >= 0 && l.End > nl {
			tail = append(tail, tailLine{l.Time, lv})
			continue
		}
		if ch.lead {
			fi.lead[lv]++
		} else if set.add(l.Time, int(lv)); set.full {
			break
		}
		if !l.NoTime {
			fi.last = l.Time.UnixNano()
		}
		end = l.End
	}
	switch {
	case set.full:
		*fi = fileIndex{fp: fi.fp, fpLen: fi.fpLen, overflow: true}
		return fi, nil, ix.store(fi)
	case rerr != nil && ctx.Err() == nil:
		return nil, nil, rerr // unreadable, or changed under the read: not kept
	}
	fi.mins = set.sorted()
	fi.end = end
	if rerr == nil && f.Compression != Plain {
		fi.complete = true
	}
	if serr := ix.store(fi); rerr == nil {
		rerr = serr
	}
	return fi, tail, rerr
}

// Warm brings the indexes of the query's files up to date (up to each
// file's Range), so that a count finds them made, and forgets those of
// files no longer there. It reads one file at a time.
func (ix *Index) Warm(ctx context.Context, q CountQuery) error {
	if q.MaxLineBytes <= 0 {
		q.MaxLineBytes = 64 << 10
	}
	if q.Level == nil {
		q.Level = event.DetectLevel
	}
	clock := Clock{Now: q.Now, Loc: q.Loc}
	if clock.Now.IsZero() {
		clock.Now = time.Now()
	}
	keep := map[string]bool{}
	var errs []error
	for _, f := range PlanAll(q.Files) {
		rg := Range{From: 0, To: -1}
		if q.Range != nil {
			rg = q.Range(&f)
		}
		if rg.Skip {
			continue
		}
		fi, _, err := ix.ensure(ctx, &q.Query, clock, &f, rg.To, q.Level)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			errs = append(errs, err)
		}
		if fi != nil {
			keep[fi.name()] = true
		}
	}
	if len(errs) == 0 {
		ix.prune(keep)
	}
	return errors.Join(errs...)
}
