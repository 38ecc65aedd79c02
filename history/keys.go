package history

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"sync"
)

// A line's durable key says where the source stood on disk once that line
// was read: for every file the source has followed (a small index into the
// source's table of known files), the offset up to which it was read. A
// resume can then continue every file of the source right after it, and a
// read of the past can stop exactly where the live stream took over.
//
//	<prefix><gen>~<idx>.<off>_<idx>.<off>...   (numbers in base 36)
//
// prefix is the caller's (the file source owns its keys' first byte); gen
// names the table the indexes refer to: a key of another table is unknown
// rather than misread.

// ErrUnknownKey is returned for a key this table did not make.
var ErrUnknownKey = errors.New("unknown position key")

// maxKnown bounds the table: the file read least recently is forgotten
// first. Keys do not grow with it (see idlog.go); a checkpoint names at
// most this many files.
const maxKnown = 1024

// KnownFile is one file of the table. It is known by device and inode
// and, once a rotation has compressed it into a new file, by a fingerprint
// of its first bytes.
type KnownFile struct {
	Dev   uint64 `json:"dev"`
	Ino   uint64 `json:"ino"`
	Path  string `json:"path"`
	Off   int64  `json:"size"` // committed offset, the part of its size the source has read
	Fp    uint64 `json:"fp,omitempty"`
	FpLen int    `json:"fp_len,omitempty"` // bytes the fingerprint covers; 0: none yet
	Used  uint64 `json:"used"`             // when last read, in Key calls: the least recent is forgotten first
	// Past marks a file the source never followed, known because a read
	// of the past keyed its lines (a rotated sibling found on disk): it is
	// older than anything followed, so a resume after a live key skips it.
	Past bool  `json:"past,omitempty"`
	seen bool  // read in this run: its offset in a key of this run is where it stood
	fpAt int64 // the offset at the last fingerprint attempt (at most two are made)
}

type devIno struct{ dev, ino uint64 }

// Positions is one source's table of known files and the maker of its
// keys. Key is called by the producer, in commit order; Range may be called
// at any time by readers of the past.
type Positions struct {
	mu     sync.Mutex
	prefix byte // first byte of every key, the caller's
	gen    string
	files  []KnownFile
	byID   map[devIno]int
	clock  uint64
	state  string // the file the table is kept in; "": memory only

	// saveMu serializes writes of the table file; they happen without mu,
	// so that readers of the table (a resume checking its key under the
	// hub's lock) never wait for a disk. err is the last write's error.
	saveMu sync.Mutex
	err    error
	logErr error // the checkpoint log's last error, under saveMu
	// Report, when set, is told each failed write of the table as it
	// happens (and a success after failures as nil), so that it is logged
	// when it matters, not at stop.
	Report func(error)

	// log holds the checkpoints keys name (idlog.go).
	log *idLog

	// The run: lines come in runs of one file, and within a run only that
	// file moves, so the run's lines share a checkpoint and the start of
	// their keys (runHead). Valid while runOK, for file runI.
	runHead []byte
	runI    int
	runOK   bool
	snapOff []int64 // scratch of checkpoints
	snapSet []bool
	chain   ckChain // the producer's place in the checkpoint log
}

// NewPositions returns an empty table named gen (printable, no '~' or
// ':'), whose keys start with prefix, kept in memory: its keys are durable
// within this run only.
func NewPositions(prefix byte, gen string) *Positions {
	p := &Positions{prefix: prefix, gen: gen, byID: make(map[devIno]int)}
	p.log, _ = openLog("", gen)
	return p
}

// Key records that the line of file (dev, ino) ending at end was read, and
// appends the key of the source's position after it to dst: its
// checkpoint, file and offset (idlog.go), at most about 40 bytes however
// many files the source has. A line of unknown position (ino and end 0)
// gets no key: dst is returned as it is. The keys' checkpoints reach the
// disk with Flush, which the producer calls before it commits the batch.
func (p *Positions) Key(dst []byte, dev, ino uint64, path string, end int64) []byte {
	if end == 0 && ino == 0 {
		return dst
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clock++
	id := devIno{dev, ino}
	i, ok := p.byID[id]
	if !ok {
		i = p.slot()
		p.files[i] = KnownFile{Dev: dev, Ino: ino, Path: path}
		p.byID[id] = i
	}
	f := &p.files[i]
	truncated := end < f.Off
	f.Off, f.Used, f.Path, f.seen = end, p.clock, path, true
	var snap []byte
	if !ok || truncated || f.FpLen < fingerprintLen && end >= fingerprintLen && f.fpAt < fingerprintLen {
		// A new file, a truncated one (new first bytes), or one that has
		// grown past a short fingerprint: keep the table on disk before
		// the key is handed out, so that it still means the same after a
		// kill -9. The file is read and the table written without mu:
		// only the producer changes the table, and readers must not wait
		// for a disk.
		f.fpAt = end
		p.mu.Unlock()
		fp, n := fingerprintPath(path, dev, ino)
		p.mu.Lock()
		f = &p.files[i]
		f.Fp, f.FpLen = fp, n
		snap = p.snapshotLocked()
	}
	if !ok || !p.runOK || p.runI != i {
		// A new run: a checkpoint of where every file stands, and where
		// the previous run's file was left.
		if p.runOK && p.runI < len(p.files) {
			p.log.note(p.runI, p.files[p.runI].Off)
		}
		off, set := p.vectorLocked()
		c := p.log.checkpoint(&p.chain, off, set, i)
		p.runHead = appendKeyHead(p.runHead[:0], p.prefix, p.gen, c, i)
		p.runI, p.runOK = i, true
	}
	dst = append(dst, p.runHead...)
	dst = strconv.AppendInt(dst, end, 36)
	if snap != nil {
		p.mu.Unlock()
		p.write(snap)
		p.mu.Lock() // for the deferred Unlock
	}
	return dst
}

// slot returns a free index, forgetting the least recently read file when
// the table is full. mu held.
func (p *Positions) slot() int {
	if len(p.files) < maxKnown {
		p.files = append(p.files, KnownFile{})
		return len(p.files) - 1
	}
	old := 0
	for i := range p.files {
		if p.files[i].Used < p.files[old].Used {
			old = i
		}
	}
	delete(p.byID, devIno{p.files[old].Dev, p.files[old].Ino})
	return old
}

// vectorLocked returns the table's offsets, for a checkpoint: the files
// a read of the past registered are left out (a resume after a live key
// skips them). mu held.
func (p *Positions) vectorLocked() ([]int64, []bool) {
	p.snapOff, p.snapSet = p.snapOff[:0], p.snapSet[:0]
	for i := range p.files {
		p.snapOff = append(p.snapOff, p.files[i].Off)
		p.snapSet = append(p.snapSet, !p.files[i].Past)
	}
	return p.snapOff, p.snapSet
}

// appendKeyHead appends a key's text before its offset:
// <prefix><gen>:<checkpoint>.<file>.
func appendKeyHead(dst []byte, prefix byte, gen string, c uint64, i int) []byte {
	dst = append(dst, prefix)
	dst = append(dst, gen...)
	dst = append(dst, ':')
	dst = strconv.AppendUint(dst, c, 36)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, int64(i), 36)
	return append(dst, '.')
}

// Flush writes the checkpoints of the keys handed out since the last
// Flush, and how far the file of the current run has been read: one
// write, no fsync (the kernel keeps it across a kill -9). The producer
// calls it once per batch, before the batch is committed.
func (p *Positions) Flush() error {
	p.mu.Lock()
	// How far the run's file is read: after a kill -9, a file deleted
	// while the agent was down is judged by it (Gone). A small record in
	// the batch's one write.
	if p.runOK {
		p.log.note(p.runI, p.files[p.runI].Off)
	}
	p.mu.Unlock()
	err := p.log.flush()
	p.reportLog(err)
	return err
}

// reportLog tells Report about a change in the log's health.
func (p *Positions) reportLog(err error) {
	p.saveMu.Lock()
	defer p.saveMu.Unlock()
	if p.Report != nil && fmt.Sprint(err) != fmt.Sprint(p.logErr) {
		p.Report(err)
	}
	p.logErr = err
}

// vector is a decoded key: the offset of each file index it names.
type vector map[int]int64

// decode parses a key of this table into the offsets it names: the
// checkpoint's, with its own file's; or, for a key of the earlier format
// (<prefix><gen>~<i>.<off>_...), the offsets it spells out.
func (p *Positions) decode(key []byte) (vector, error) {
	if len(key) == 0 || key[0] != p.prefix {
		return nil, ErrUnknownKey
	}
	rest, ok := bytes.CutPrefix(key[1:], []byte(p.gen))
	if !ok || len(rest) == 0 {
		return nil, ErrUnknownKey
	}
	switch rest[0] {
	case ':':
		parts := bytes.SplitN(rest[1:], []byte("."), 3)
		if len(parts) != 3 {
			return nil, ErrUnknownKey
		}
		c, err1 := strconv.ParseUint(string(parts[0]), 36, 64)
		i, err2 := strconv.ParseInt(string(parts[1]), 36, 32)
		off, err3 := strconv.ParseInt(string(parts[2]), 36, 64)
		if err1 != nil || err2 != nil || err3 != nil || i < 0 || i >= maxKnown || off < 0 {
			return nil, ErrUnknownKey
		}
		v, err := p.log.vector(c)
		if err != nil {
			return nil, ErrUnknownKey
		}
		v[int(i)] = off
		return v, nil
	case '~':
		rest = rest[1:]
	default:
		return nil, ErrUnknownKey
	}
	v := make(vector)
	for len(rest) > 0 {
		var ent []byte
		ent, rest, _ = bytes.Cut(rest, []byte("_"))
		i, off, ok := parseEntry(ent)
		if !ok {
			return nil, ErrUnknownKey
		}
		v[i] = off
	}
	return v, nil
}

// Offsets returns the offset of each file (by table index) that key names:
// where the source stood on disk after its line.
func (p *Positions) Offsets(key []byte) (map[int]int64, error) {
	v, err := p.decode(key)
	return map[int]int64(v), err
}

// Known reports whether key was made by this table: its name, and only
// indexes of files the table holds.
func (p *Positions) Known(key []byte) bool {
	v, err := p.decode(key)
	if err != nil {
		return false
	}
	p.mu.Lock()
	n := len(p.files)
	p.mu.Unlock()
	for i := range v {
		if i >= n {
			return false
		}
	}
	return true
}

// Bounds are the positions a read of the past runs between.
type Bounds struct {
	after, through vector
	// pastKey says after names a file only reads of the past have seen:
	// it is a key of such a read, and the files it does not name come
	// after it. A live key names none, and those older files come before.
	pastKey bool
	p       *Positions
	files   []KnownFile // the table as of the call
	fps     map[fpKey]uint64
	// read maps the files Range was asked about, by device and inode,
	// to their index in files: the Keyer of the read names a line's file
	// by them alone, without the path or compression the fingerprint
	// check of index needs.
	read map[devIno]int
}

type fpKey struct {
	path string
	n    int
}

// Bounds decodes after (resume right after this key; nil: from the start)
// and through (stop right after this key; nil: read to the files' ends).
func (p *Positions) Bounds(after, through []byte) (*Bounds, error) {
	b := &Bounds{p: p}
	var err error
	if after != nil {
		if b.after, err = p.decode(after); err != nil {
			return nil, err
		}
	}
	if through != nil {
		if b.through, err = p.decode(through); err != nil {
			return nil, err
		}
	}
	p.mu.Lock()
	b.files = append([]KnownFile(nil), p.files...)
	p.mu.Unlock()
	for i := range b.after {
		if i < len(b.files) && b.files[i].Past {
			b.pastKey = true
		}
	}
	return b, nil
}

// index finds a file in the table: by device and inode when its first
// bytes still match (an inode can be reused by a new file), else by its
// fingerprint alone (the table's file, compressed by a rotation).
func (b *Bounds) index(f *File) (int, bool) {
	for i := range b.files {
		kf := &b.files[i]
		if kf.Dev == f.Dev && kf.Ino == f.Ino && (kf.FpLen == 0 || b.fpOf(f, kf.FpLen) == kf.Fp) {
			return i, true
		}
	}
	for i := range b.files {
		kf := &b.files[i]
		if kf.FpLen >= minFingerprint && b.fpOf(f, kf.FpLen) == kf.Fp {
			return i, true
		}
	}
	return 0, false
}

// fpOf returns the fingerprint of f's first n bytes, remembered per read.
func (b *Bounds) fpOf(f *File, n int) uint64 {
	if b.fps == nil {
		b.fps = make(map[fpKey]uint64)
	}
	key := fpKey{f.Path, n}
	if fp, ok := b.fps[key]; ok {
		return fp
	}
	fp, _ := fingerprintFile(f, n)
	b.fps[key] = fp
	return fp
}

// Range is a Query.Range: a known file is read from its offset in after to
// its offset in through; a file the source has not read by through is
// skipped (its lines come live); a rotated sibling the source never
// followed is older than anything it followed, so it is read whole, unless
// the read resumes after a key that does not name it. A sibling read here
// for the first time joins the table (as Past), so that its lines get keys.
func (b *Bounds) Range(f *File) Range {
	r := Range{From: 0, To: -1}
	i, known := b.index(f)
	if !known && !f.Current {
		i, known = b.register(f)
	}
	if known {
		if b.read == nil {
			b.read = make(map[devIno]int)
		}
		b.read[devIno{f.Dev, f.Ino}] = i
	}
	if !known {
		if f.Current {
			r.Skip = b.through != nil
		} else {
			r.Skip = b.after != nil
		}
		return r
	}
	if b.through != nil && b.files[i].seen {
		// A file not read in this run (one rotated away before a restart)
		// has nothing more to come live: it is read to its end.
		off, ok := b.through[i]
		if !ok {
			return Range{Skip: true}
		}
		r.To = off
	}
	if b.after != nil {
		off, ok := b.after[i]
		if !ok && b.files[i].Past && !b.pastKey {
			return Range{Skip: true} // older than the live key's position
		}
		r.From = off // 0 when the file came after the key
	}
	if r.To >= 0 && r.From >= r.To {
		return Range{Skip: true}
	}
	return r
}

// register adds a sibling the source never followed to the table, as Past.
func (b *Bounds) register(f *File) (int, bool) {
	fp, ok := fingerprintFile(f, minFingerprint)
	if !ok {
		return 0, false // too short to know again once rotated further
	}
	i, snap := b.p.register(f, fp, minFingerprint)
	b.p.write(snap)
	b.p.mu.Lock()
	b.files = append(b.files[:0], b.p.files...)
	b.p.mu.Unlock()
	return i, true
}

// register adds a file found by a read of the past (see KnownFile.Past)
// and returns its index and the table to write.
func (p *Positions) register(f *File, fp uint64, fpLen int) (int, []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i, ok := p.byID[devIno{f.Dev, f.Ino}]; ok {
		return i, nil
	}
	p.clock++
	i := p.slot()
	p.files[i] = KnownFile{Dev: f.Dev, Ino: f.Ino, Path: f.Path, Fp: fp, FpLen: fpLen, Used: p.clock, Past: true}
	p.byID[devIno{f.Dev, f.Ino}] = i
	p.runOK = false // the checkpoints must not name the index's former file
	return i, p.snapshotLocked()
}

// Gone lists the files the resume point names that are no longer on disk
// with lines after it: theirs are lost. A file read to its end before the
// resume point (as far as the table or the checkpoint log know it) lost
// nothing when it went.
func (b *Bounds) Gone(found []File) []KnownFile {
	if b.after == nil {
		return nil
	}
	var out []KnownFile
	for i, off := range b.after {
		if i >= len(b.files) {
			continue
		}
		kf := b.files[i]
		if th, ok := b.through[i]; b.through != nil && kf.seen && (!ok || th <= off) {
			continue // nothing after the key was committed from it
		}
		if !kf.seen && off >= max(kf.Off, b.p.log.progressOf(i)) {
			continue // read to its end up to the key, in an earlier run
		}
		present := false
		for j := range found {
			if k, ok := b.index(&found[j]); ok && k == i {
				present = true
				break
			}
		}
		if !present {
			out = append(out, kf)
		}
	}
	return out
}

// Keyer makes the keys of lines read from the past: the resume point after
// each line as far as the read knows it, starting from the read's resume
// point, under a checkpoint per run of one file as live keys are. A line
// of a file not in the table gets no key.
type Keyer struct {
	b     *Bounds
	v     []int64
	n     []bool
	head  []byte
	runI  int
	ok    bool
	chain ckChain // the read's place in the checkpoint log
	// reached is how far the read has gone in files only reads of the
	// past see, told to the table at Flush: they do not change, so the
	// farthest a read went is where their lines end once one read them
	// through (Gone asks it).
	reached map[int]int64
}

// Keyer returns the key maker of a read within these bounds.
func (b *Bounds) Keyer() *Keyer {
	k := &Keyer{b: b, v: make([]int64, maxKnown), n: make([]bool, maxKnown)}
	for i, off := range b.after {
		k.v[i], k.n[i] = off, true
	}
	return k
}

// Key appends the key after the line of file (dev, ino) that ends at end;
// for a file not in the table it returns dst as it is. Range has seen
// every file of the read before its lines, and noted the known ones.
func (k *Keyer) Key(dst []byte, dev, ino uint64, end int64) []byte {
	i, ok := k.b.read[devIno{dev, ino}]
	if !ok {
		return dst
	}
	if !k.ok || k.runI != i {
		p := k.b.p
		c := p.log.checkpoint(&k.chain, k.v, k.n, i)
		k.head = appendKeyHead(k.head[:0], p.prefix, p.gen, c, i)
		k.runI, k.ok = i, true
	}
	k.v[i], k.n[i] = end, true
	if k.b.files[i].Past && end > k.reached[i] {
		if k.reached == nil {
			k.reached = map[int]int64{}
		}
		k.reached[i] = end
	}
	dst = append(dst, k.head...)
	return strconv.AppendInt(dst, end, 36)
}

// Flush writes the checkpoints of the keys made since the last Flush; the
// reader calls it before it hands the lines on.
func (k *Keyer) Flush() error {
	p := k.b.p
	if len(k.reached) > 0 {
		p.mu.Lock()
		for i, off := range k.reached {
			if i < len(p.files) && p.files[i].Past && p.files[i].Dev == k.b.files[i].Dev && p.files[i].Ino == k.b.files[i].Ino {
				p.files[i].Off = max(p.files[i].Off, off)
			}
		}
		p.mu.Unlock()
		for i, off := range k.reached {
			p.log.note(i, off)
		}
		clear(k.reached)
	}
	err := p.log.flush()
	k.b.p.reportLog(err)
	return err
}
