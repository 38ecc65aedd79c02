package history

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

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

func (fi *fileIndex) String() string {
	return fmt.Sprintf("index %s: end %d complete %v, %d minutes", fi.name(), fi.end, fi.complete, len(fi.mins))
}
