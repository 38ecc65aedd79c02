package history

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// fingerprintLen is how many first bytes of a file its fingerprint covers;
// minFingerprint is the least that identifies a file without its inode (a
// log line's timestamp and a few words).
const (
	fingerprintLen = 256
	minFingerprint = 64
)

func fingerprint(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// fingerprintPath fingerprints the first bytes of a plain file, if path
// still names the file (dev, ino): after a rotation it names another.
func fingerprintPath(path string, dev, ino uint64) (uint64, int) {
	fd, err := os.Open(path)
	if err != nil {
		return 0, 0
	}
	defer fd.Close()
	if fi, err := fd.Stat(); err != nil {
		return 0, 0
	} else if st, ok := fi.Sys().(*syscall.Stat_t); ok && (uint64(st.Dev) != dev || uint64(st.Ino) != ino) { //nolint:unconvert
		return 0, 0
	}
	var buf [fingerprintLen]byte
	n, _ := io.ReadFull(fd, buf[:])
	if n == 0 {
		return 0, 0
	}
	return fingerprint(buf[:n]), n
}

// fingerprintFile fingerprints the first n bytes of f's content,
// decompressed; a file with fewer gets no match (0).
func fingerprintFile(f *File, n int) (uint64, bool) {
	o, err := openAt(f, 0, -1)
	if err != nil {
		return 0, false
	}
	defer o.close()
	buf := make([]byte, n)
	if m, _ := io.ReadFull(o.r, buf); m < n {
		return 0, false
	}
	return fingerprint(buf), true
}

// stateFile is how a table is kept on disk.
type stateFile struct {
	Gen   string      `json:"gen"`
	Files []KnownFile `json:"files"`
}

// LoadPositions returns the table kept in path (keys starting with prefix),
// or a new one named gen when
// there is none yet (or it cannot be read: it is then started afresh). The
// table saves itself there whenever a file is added.
func LoadPositions(path string, prefix byte, gen string) (*Positions, error) {
	p := NewPositions(prefix, gen)
	p.state = path
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return p, p.startLog()
		}
		return p, err
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil || st.Gen == "" || len(st.Files) > maxKnown {
		return p, errors.Join(fmt.Errorf("%s: not a position table, starting afresh", path), p.startLog())
	}
	p.gen, p.files = st.Gen, st.Files
	lerr := p.openLog()
	for i := range p.files {
		f := &p.files[i]
		p.byID[devIno{f.Dev, f.Ino}] = i
		p.clock = max(p.clock, f.Used)
		// The table is saved when files are added, not at every line: a
		// file still at its path is taken as read to its current end (the
		// tailer follows it from there), which later keys then say.
		if cur, err := statFile(f.Path, Plain, false); err == nil && cur.Dev == f.Dev && cur.Ino == f.Ino && !f.Past {
			f.Off = max(f.Off, cur.Size)
		} else {
			// Gone, moved, or a sibling only reads of the past have seen:
			// as far as the checkpoint log saw it read.
			f.Off = max(f.Off, p.log.progressOf(i))
		}
	}
	return p, lerr
}

// startLog starts the table and its checkpoint log afresh, on disk.
func (p *Positions) startLog() error {
	return errors.Join(p.openLog(), p.Save())
}

// openLog opens the checkpoint log of the table kept in p.state.
func (p *Positions) openLog() error {
	l, err := openLog(logPath(p.state), p.gen)
	p.log = l
	return err
}

// Save writes the table to its file (a temporary file, then a rename, so
// that a crash leaves the old table or the new one, never half of one).
func (p *Positions) Save() error {
	p.mu.Lock()
	snap := p.snapshotLocked()
	p.mu.Unlock()
	return errors.Join(p.write(snap), p.Flush())
}

// snapshotLocked encodes the table for its file; nil when it has none. mu
// held.
func (p *Positions) snapshotLocked() []byte {
	if p.state == "" {
		return nil
	}
	b, err := json.Marshal(stateFile{Gen: p.gen, Files: p.files})
	if err != nil {
		return nil // plain strings and numbers: cannot happen
	}
	return b
}

// write writes an encoded table to the table's file, one write at a time,
// without mu. A snapshot taken earlier never overwrites a later one: the
// producer takes and writes its snapshots in order, and Save runs after it
// has stopped.
func (p *Positions) write(snap []byte) error {
	if snap == nil {
		return nil
	}
	p.saveMu.Lock()
	defer p.saveMu.Unlock()
	err := writeAtomic(p.state, snap)
	if p.Report != nil && (err != nil || p.err != nil) && fmt.Sprint(err) != fmt.Sprint(p.err) {
		p.Report(err)
	}
	p.err = err
	return err
}

func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Sync(); err != nil {
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
