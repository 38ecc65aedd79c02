package history

import (
	"os"
	"path/filepath"
	"testing"
)

// The log is bounded: past maxLogBytes it is rewritten, keeping every file's
// progress and the newest checkpoints, and an old checkpoint that a source
// of one file keeps using survives however much progress is noted.
func TestIDLogBoundedKeepsCheckpoints(t *testing.T) {
	path := filepath.Join(t.TempDir(), "positions-app.ids")
	l, err := openLog(path, "g1")
	if err != nil {
		t.Fatal(err)
	}
	one := l.checkpoint(&ckChain{}, []int64{0}, []bool{false}, 0) // the empty checkpoint of a one-file source
	for off := int64(1); off < 2_000_000; off++ {
		l.note(0, off)
		if off%10_000 == 0 {
			if err := l.flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.flush(); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if fi.Size() > 16<<20 || len(l.mem) > 16<<20 {
		t.Fatalf("log of %d bytes (%d in memory): unbounded", fi.Size(), len(l.mem))
	}
	if _, err := l.vector(one); err != nil {
		t.Fatalf("the checkpoint in use was dropped: %v", err)
	}
	l.close()
	// After a restart (or a kill -9: the file is all there is), the same.
	l2, err := openLog(path, "g1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l2.vector(one); err != nil || l2.progressOf(0) != 1_999_999 {
		t.Fatalf("reopened: %v, progress %d", err, l2.progressOf(0))
	}
	l2.close()
}

// A last record cut short (a machine crash) is dropped, the rest kept; a log
// of another table is started afresh.
func TestIDLogTornTailAndOtherTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "positions-app.ids")
	l, _ := openLog(path, "g1")
	a := l.checkpoint(&ckChain{}, []int64{5, 7}, []bool{true, true}, 1)
	if err := l.flush(); err != nil {
		t.Fatal(err)
	}
	l.close()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("c12345 0.")
	f.Close()
	l2, err := openLog(path, "g1")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := l2.vector(a); err != nil || v[0] != 5 || v[1] != 7 {
		t.Fatalf("checkpoint after a torn tail: %v %v", v, err)
	}
	b := l2.checkpoint(&ckChain{}, []int64{9}, []bool{true}, -1)
	if err := l2.flush(); err != nil {
		t.Fatal(err)
	}
	l2.close()
	l3, _ := openLog(path, "g1")
	if _, err := l3.vector(b); err != nil {
		t.Fatalf("a checkpoint written after the torn tail: %v", err)
	}
	l3.close()
	l4, _ := openLog(path, "g2")
	if _, err := l4.vector(a); err == nil {
		t.Fatal("another table's log was kept")
	}
	l4.close()
}
