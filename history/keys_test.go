package history

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func idOf(t *testing.T, path string) (uint64, uint64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return uint64(st.Dev), uint64(st.Ino) //nolint:unconvert
}

// A table kept in a state file gives the same meaning to a key after a
// restart, and recognises its file compressed into a new inode.
func TestPositionsSurviveRestartAndCompression(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "positions.json")
	log := filepath.Join(dir, "app.log")
	data := []byte(strings.Repeat("2026-12-01T10:00:00Z some line of text\n", 20))
	os.WriteFile(log, data, 0o644)
	p, err := LoadPositions(state, 'f', "g1")
	if err != nil {
		t.Fatal(err)
	}
	dev, ino := idOf(t, log)
	key := p.Key(nil, dev, ino, log, 400)
	if !bytes.HasPrefix(key, []byte("fg1:")) || !bytes.HasSuffix(key, []byte(".0.b4")) {
		t.Fatalf("key %q", key)
	}
	if err := p.Flush(); err != nil { // as the producer does before its commit
		t.Fatal(err)
	}
	// A restart: the table comes back from the file, with its name.
	p2, err := LoadPositions(state, 'f', "other")
	if err != nil || !p2.Known(key) {
		t.Fatalf("reloaded table does not know %q: %v", key, err)
	}
	b, err := p2.Bounds(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := b.Range(&File{Path: log, Dev: dev, Ino: ino, Size: int64(len(data)), Current: true})
	if r.From != 400 || r.Skip {
		t.Fatalf("range %+v, want from 400", r)
	}
	// Rotated and compressed: a new inode, the same first bytes.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	os.WriteFile(log+".1.gz", gz.Bytes(), 0o644)
	os.Remove(log)
	gdev, gino := idOf(t, log+".1.gz")
	r = b.Range(&File{Path: log + ".1.gz", Compression: Gzip, Dev: gdev, Ino: gino})
	if r.From != 400 || r.Skip {
		t.Fatalf("compressed sibling: range %+v, want from 400", r)
	}
	// A file the table never saw is older than the resume point.
	other := filepath.Join(dir, "app.log.2")
	os.WriteFile(other, []byte("something else entirely, older than anything read\n"), 0o644)
	odev, oino := idOf(t, other)
	if r := b.Range(&File{Path: other, Dev: odev, Ino: oino}); !r.Skip {
		t.Fatalf("unknown sibling after a key: %+v, want skipped", r)
	}
	// Another table's key, or garbage, is unknown.
	for _, k := range []string{"fzz~0.1", "f", "fg1~0", "fg1~x.y", "123"} {
		if p2.Known([]byte(k)) {
			t.Errorf("%q known", k)
		}
	}
}

// Every key names the whole table's position as of its line, across runs
// of one file, switches between files and a new file in the middle, and
// stays short: the checkpoint of its run holds the other files.
func TestKeyNamesTheTablesPosition(t *testing.T) {
	p := NewPositions('f', "g1")
	steps := []struct {
		ino uint64
		end int64
	}{{1, 10}, {1, 20}, {2, 5}, {2, 9}, {1, 30}, {3, 7}, {2, 12}, {3, 8}, {3, 9}, {1, 31}}
	for _, st := range steps {
		got := p.Key(nil, 9, st.ino, "/nonexistent/f", st.end)
		p.mu.Lock()
		want := vector{}
		for i, f := range p.files {
			want[i] = f.Off
		}
		p.mu.Unlock()
		v, err := p.decode(got)
		if err != nil {
			t.Fatalf("after ino %d end %d: key %q: %v", st.ino, st.end, got, err)
		}
		if fmt.Sprint(v) != fmt.Sprint(want) {
			t.Fatalf("after ino %d end %d: key %q names %v, want the table's %v", st.ino, st.end, got, v, want)
		}
		if len(got) > 24 {
			t.Fatalf("key %q: %d bytes", got, len(got))
		}
	}
}
