package history

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A new file makes the table write itself (with an fsync) before its first
// key is handed out. Readers of the table, which a resume calls under the
// stream hub's lock that every source's commit needs, must not wait for that
// write: here it is held, as a disk that does not answer would hold it.
func TestSlowTableWriteDoesNotBlockReaders(t *testing.T) {
	dir := t.TempDir()
	p, err := LoadPositions(filepath.Join(dir, "positions.json"), 'f', "g1")
	if err != nil {
		t.Fatal(err)
	}
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	os.WriteFile(a, []byte("one\n"), 0o644)
	os.WriteFile(b, []byte("two\n"), 0o644)
	da, ia := idOf(t, a)
	known := p.Key(nil, da, ia, a, 4)

	p.saveMu.Lock() // the disk stops answering
	keyed := make(chan []byte)
	db, ib := idOf(t, b)
	go func() { keyed <- p.Key(nil, db, ib, b, 4) }() // a new file: its key waits for the write
	select {
	case k := <-keyed:
		p.saveMu.Unlock()
		t.Fatalf("a new file's key %q was handed out before the table was written", k)
	case <-time.After(100 * time.Millisecond):
	}
	readers := make(chan bool, 1)
	go func() {
		ok := p.Known(known)
		_, err := p.Bounds(known, nil)
		readers <- ok && err == nil
	}()
	select {
	case ok := <-readers:
		if !ok {
			t.Error("a key of the table is not known")
		}
	case <-time.After(time.Second):
		t.Error("readers of the table waited for its write")
		defer func() { <-readers }()
	}
	p.saveMu.Unlock()
	if k := <-keyed; !p.Known(k) {
		t.Errorf("key %q unknown", k)
	}
}

// A failed write of the table is reported when it happens, not at stop.
func TestTableWriteFailureReported(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state", "positions.json")
	os.MkdirAll(filepath.Dir(state), 0o755)
	p, err := LoadPositions(state, 'f', "g1")
	if err != nil {
		t.Fatal(err)
	}
	var reported []error
	p.Report = func(err error) { reported = append(reported, err) }
	// The state directory goes away: the next write fails.
	os.RemoveAll(filepath.Dir(state))
	log := filepath.Join(dir, "a.log")
	os.WriteFile(log, []byte("one\n"), 0o644)
	d, i := idOf(t, log)
	p.Key(nil, d, i, log, 4)
	if len(reported) != 1 || reported[0] == nil {
		t.Fatalf("reported %v, want one error", reported)
	}
	os.MkdirAll(filepath.Dir(state), 0o755)
	if err := p.Save(); err != nil {
		t.Fatal(err)
	}
	if len(reported) != 2 || reported[1] != nil || errors.Is(reported[0], os.ErrExist) {
		t.Fatalf("reported %v, want the error then its recovery (nil)", reported)
	}
}
