package tailer

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

var engines = []Engine{EngineNative, EnginePoll}

func baseOpts(e Engine, dir string) Options {
	o := Options{Globs: []string{dirGlob(dir)}, Engine: e}
	if e == EnginePoll {
		o.PollInterval = 50 * time.Millisecond
	}
	return o
}

// writer writes numbered lines 1..n to path, calling rotate every `every`
// lines (with the file closed), like a logging process whose log is rotated.
func writer(t *testing.T, path string, n, every int, rotate func()) {
	t.Helper()
	open := func() *os.File {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			t.Error(err)
		}
		return f
	}
	f := open()
	for i := 1; i <= n; i++ {
		if _, err := f.WriteString(lineN(i)); err != nil {
			t.Error(err)
			return
		}
		if i%10 == 0 {
			time.Sleep(time.Millisecond) // a steady, not instantaneous, writer
		}
		if i%every == 0 && i < n {
			f.Close()
			rotate()
			f = open()
		}
	}
	f.Close()
}

func TestEngines(t *testing.T) {
	for _, e := range engines {
		t.Run(string(e), func(t *testing.T) {
			t.Run("append_and_partial", func(t *testing.T) { testAppendPartial(t, e) })
			t.Run("rename_rotation", func(t *testing.T) { testRenameRotation(t, e) })
			t.Run("copytruncate", func(t *testing.T) { testCopyTruncate(t, e) })
			t.Run("truncate", func(t *testing.T) { testTruncate(t, e) })
			t.Run("delete_recreate", func(t *testing.T) { testDeleteRecreate(t, e) })
			t.Run("new_file_and_exclude", func(t *testing.T) { testNewFileExclude(t, e) })
			t.Run("permission", func(t *testing.T) { testPermission(t, e) })
			t.Run("long_line", func(t *testing.T) { testLongLine(t, e) })
			t.Run("prefill", func(t *testing.T) { testPrefill(t, e) })
			t.Run("crlf_binary", func(t *testing.T) { testCRLF(t, e) })
		})
	}
}

func testAppendPartial(t *testing.T, e Engine) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.log")
	appendFile(t, p, "old\n")
	tl, c := start(t, baseOpts(e, dir))
	appendFile(t, p, "one\ntwo\npar")
	waitFor(t, 5*time.Second, "two lines", func() bool { return c.count() >= 2 })
	if e == EngineNative {
		// The partial bytes were read (offset), yet not emitted.
		waitFor(t, 5*time.Second, "offset past partial", func() bool { return status(tl, p).Offset == 15 })
	} else {
		time.Sleep(600 * time.Millisecond) // let nxadm's 250ms poll see "par" (writer pacing)
	}
	appendFile(t, p, "tial\n")
	waitFor(t, 5*time.Second, "partial line", func() bool { return c.count() >= 3 })
	if got := strings.Join(c.texts(), ","); got != "one,two,partial" {
		t.Fatalf("lines = %q", got)
	}
	if st := tl.Stats(); st.FilesFollowed != 1 || st.Lines != 3 {
		t.Errorf("stats = %+v", st)
	}
}

func testRenameRotation(t *testing.T, e Engine) {
	const n, every = 3000, 500
	dir, p := emptyLog(t, "app.log")
	tl, c := start(t, baseOpts(e, dir))
	writer(t, p, n, every, func() {
		if err := os.Rename(p, p+".1"); err != nil {
			t.Error(err)
		}
	})
	if e == EngineNative {
		waitFor(t, 10*time.Second, "all lines", func() bool { return c.count() >= n })
	} else {
		eventually(3*time.Second, func() bool { return c.count() >= n }) // poll: record what it saw
	}
	lost, rep, dis := numbers(c.snapshot(), n)
	t.Logf("%s rename rotation: %d lines written, %d received, lost %d, repeated %d, out of order %d, stats %+v",
		e, n, c.count(), lost, rep, dis, tl.Stats())
	if e == EngineNative && (lost != 0 || rep != 0 || dis != 0) {
		t.Fatalf("native must be exact: lost %d, repeated %d, out of order %d", lost, rep, dis)
	}
}

func testCopyTruncate(t *testing.T, e Engine) {
	const n, every = 3000, 500
	dir, p := emptyLog(t, "app.log")
	tl, c := start(t, baseOpts(e, dir))
	writer(t, p, n, every, func() {
		// The brief pause logrotate's users rely on: let the reader catch up,
		// then copy and truncate in place.
		fi, _ := os.Stat(p)
		wait := 3 * time.Second
		if e == EnginePoll {
			wait = 500 * time.Millisecond // its offsets are approximate; it often loses lines here
		}
		caught := eventually(wait, func() bool { return status(tl, p).Offset >= fi.Size() })
		if !caught && e == EngineNative {
			t.Error("native reader did not catch up before the copy")
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Error(err)
		}
		if err := os.WriteFile(p+".1", data, 0o644); err != nil {
			t.Error(err)
		}
		if err := os.Truncate(p, 0); err != nil {
			t.Error(err)
		}
		time.Sleep(20 * time.Millisecond)
	})
	if e == EngineNative {
		waitFor(t, 10*time.Second, "all lines", func() bool { return c.count() >= n })
	} else {
		eventually(3*time.Second, func() bool { return c.count() >= n }) // poll: record what it saw
	}
	lost, rep, dis := numbers(c.snapshot(), n)
	t.Logf("%s copytruncate: %d lines written, %d received, lost %d, repeated %d, out of order %d, stats %+v",
		e, n, c.count(), lost, rep, dis, tl.Stats())
	if e == EngineNative {
		if rep != 0 || lost != 0 {
			t.Fatalf("native: lost %d, repeated %d", lost, rep)
		}
		if got := tl.Stats().Truncations; got != n/every-1 {
			t.Errorf("truncations = %d, want %d", got, n/every-1)
		}
	}
}

func testTruncate(t *testing.T, e Engine) {
	dir, p := emptyLog(t, "a.log")
	tl, c := start(t, baseOpts(e, dir))
	appendFile(t, p, "aaaaaaaaaa\nbbbbbbbbbb\n")
	waitFor(t, 5*time.Second, "first lines", func() bool { return c.count() >= 2 })
	if err := os.Truncate(p, 0); err != nil {
		t.Fatal(err)
	}
	if e == EngineNative {
		waitFor(t, 5*time.Second, "truncation seen", func() bool { return tl.Stats().Truncations == 1 })
	} else {
		time.Sleep(600 * time.Millisecond) // nxadm must see the smaller size first
	}
	appendFile(t, p, "c\n")
	waitFor(t, 5*time.Second, "line after truncation", func() bool { return c.hasText("c") })
	if got := strings.Join(c.texts(), ","); got != "aaaaaaaaaa,bbbbbbbbbb,c" {
		t.Errorf("lines = %q", got)
	}
}

func testDeleteRecreate(t *testing.T, e Engine) {
	dir, p := emptyLog(t, "a.log")
	tl, c := start(t, baseOpts(e, dir))
	appendFile(t, p, "before\n")
	waitFor(t, 5*time.Second, "before", func() bool { return c.hasText("before") })
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if e == EngineNative {
		waitFor(t, 5*time.Second, "missing", func() bool { return status(tl, p).State == StateMissing })
	}
	appendFile(t, p, "after1\nafter2\n")
	waitFor(t, 5*time.Second, "after", func() bool { return c.hasText("after2") })
	if got := strings.Join(c.texts(), ","); got != "before,after1,after2" {
		t.Errorf("lines = %q", got)
	}
	waitFor(t, 5*time.Second, "following", func() bool { return status(tl, p).State == StateFollowing })
}

func testNewFileExclude(t *testing.T, e Engine) {
	dir, p := emptyLog(t, "a.log")
	o := baseOpts(e, dir)
	o.Exclude = []string{"*.skip.log"}
	tl, c := start(t, o)
	appendFile(t, filepath.Join(dir, "x.skip.log"), "excluded\n")
	nb := filepath.Join(dir, "b.log")
	appendFile(t, nb, "b1\nb2\n")
	waitFor(t, 5*time.Second, "new file lines", func() bool { return c.hasText("b2") })
	appendFile(t, p, "marker\n")
	waitFor(t, 5*time.Second, "marker", func() bool { return c.hasText("marker") })
	for _, l := range c.snapshot() {
		if string(l.Text) == "excluded" {
			t.Fatal("excluded file was followed")
		}
		if string(l.Text) == "b1" && l.File != nb {
			t.Errorf("b1 from %s", l.File)
		}
	}
	if st := status(tl, filepath.Join(dir, "x.skip.log")); st.Path != "" {
		t.Errorf("excluded file has a status: %+v", st)
	}
	if !c.hasText("b1") {
		t.Error("new file not read from offset 0")
	}
}

func testPermission(t *testing.T, e Engine) {
	if os.Geteuid() == 0 {
		t.Skip("running as root: chmod 000 does not deny reading, so permission denied cannot be produced")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "a.log")
	appendFile(t, p, "secret\n")
	if err := os.Chmod(p, 0); err != nil {
		t.Fatal(err)
	}
	ok := filepath.Join(dir, "ok.log")
	appendFile(t, ok, "")
	tl, c := start(t, baseOpts(e, dir))
	waitFor(t, 5*time.Second, "unreadable", func() bool {
		st := status(tl, p)
		return st.State == StateUnreadable && st.Error == "permission denied"
	})
	appendFile(t, ok, "other\n")
	waitFor(t, 5*time.Second, "other file", func() bool { return c.hasText("other") })
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "following", func() bool { return status(tl, p).State == StateFollowing })
	appendFile(t, p, "visible\n")
	waitFor(t, 5*time.Second, "line after chmod", func() bool { return c.hasText("visible") })
}

func testLongLine(t *testing.T, e Engine) {
	const size = 1 << 20
	dir, p := emptyLog(t, "a.log")
	o := baseOpts(e, dir)
	o.MaxLineBytes = 64 << 10
	tl, c := start(t, o)
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	// Write it in pieces so the held partial line is exercised; the rune
	// straddling the cut must not be split.
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	copy(chunk[len(chunk)-1:], "é") // first byte of a 2-byte rune at offset 65535
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < size/len(chunk); i++ {
		if i == 1 {
			chunk[0] = "é"[1]
		}
		if _, err := f.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	f.Write([]byte("\nshort\n"))
	f.Close()
	waitFor(t, 10*time.Second, "two lines", func() bool { return c.count() >= 2 })
	ls := c.snapshot()
	if len(ls) != 2 {
		t.Fatalf("got %d lines", len(ls))
	}
	if ls[0].Cut != size || len(ls[0].Text) > 64<<10 || len(ls[0].Text) != 64<<10-1 {
		t.Errorf("cut line: Cut %d, len %d", ls[0].Cut, len(ls[0].Text))
	}
	if string(ls[1].Text) != "short" || ls[1].Cut != 0 {
		t.Errorf("second line %q cut %d", ls[1].Text, ls[1].Cut)
	}
	if tl.Stats().CutLines != 1 {
		t.Errorf("CutLines = %d", tl.Stats().CutLines)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if e == EngineNative && after.HeapAlloc > before.HeapAlloc+4<<20 {
		t.Errorf("heap grew from %d to %d", before.HeapAlloc, after.HeapAlloc)
	}
}

func testPrefill(t *testing.T, e Engine) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.log")
	var sb strings.Builder
	for i := 1; i <= 100; i++ {
		sb.WriteString(lineN(i))
	}
	sb.WriteString("101-partial")
	appendFile(t, p, sb.String())
	o := baseOpts(e, dir)
	o.Prefill = 10
	_, c := start(t, o)
	// History was sent before Started closed; the collector may still be
	// appending it.
	waitFor(t, 5*time.Second, "history", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.history) >= 10
	})
	c.mu.Lock()
	var got []string
	for _, l := range c.history {
		got = append(got, string(l.Text))
	}
	c.mu.Unlock()
	if strings.Join(got, ",") != "91,92,93,94,95,96,97,98,99,100" {
		t.Errorf("history = %v", got)
	}
	appendFile(t, p, "-done\n102\n")
	waitFor(t, 5*time.Second, "live lines", func() bool { return c.count() >= 2 })
	if got := strings.Join(c.texts(), ","); got != "101-partial-done,102" {
		t.Errorf("live = %q", got)
	}
}

func testCRLF(t *testing.T, e Engine) {
	dir, p := emptyLog(t, "a.log")
	_, c := start(t, baseOpts(e, dir))
	bad := "bad\xff\xfe\x00nul"
	appendFile(t, p, "crlf\r\n"+bad+"\n\r\n")
	waitFor(t, 5*time.Second, "lines", func() bool { return c.count() >= 3 })
	ls := c.texts()
	if len(ls) != 3 || ls[0] != "crlf" || ls[1] != bad || ls[2] != "" {
		t.Errorf("lines = %q", ls)
	}
}

// TestRenameToMatchingName checks that a file renamed to a name that also
// matches the globs is the same file: offset kept, nothing repeated.
func TestRenameToMatchingName(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	appendFile(t, a, "")
	tl, c := start(t, baseOpts(EngineNative, dir))
	appendFile(t, a, "1\n2\n")
	waitFor(t, 5*time.Second, "lines", func() bool { return c.count() >= 2 })
	if err := os.Rename(a, b); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "renamed", func() bool { return status(tl, b).State == StateFollowing })
	appendFile(t, b, "3\n")
	waitFor(t, 5*time.Second, "3", func() bool { return c.hasText("3") })
	if got := strings.Join(c.texts(), ","); got != "1,2,3" {
		t.Errorf("lines = %q", got)
	}
	if st := status(tl, a); st.Path != "" {
		t.Errorf("old name still listed: %+v", st)
	}
}

// TestMissingLiteral checks that a literal path that does not exist (in a
// directory that does not exist yet) is reported and picked up later.
func TestMissingLiteral(t *testing.T) {
	for _, e := range engines {
		t.Run(string(e), func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "sub", "x.log")
			o := Options{Globs: []string{p}, Engine: e, PollInterval: 50 * time.Millisecond}
			tl, c := start(t, o)
			if st := status(tl, p); st.State != StateMissing {
				t.Errorf("status = %+v", st)
			}
			if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			appendFile(t, p, "hello\n")
			waitFor(t, 5*time.Second, "hello", func() bool { return c.hasText("hello") })
		})
	}
}

// TestNewBadGlob checks that New names a bad pattern.
func TestNewBadGlob(t *testing.T) {
	_, err := New(Options{Globs: []string{"/tmp/[x"}})
	if err == nil || !strings.Contains(err.Error(), "/tmp/[x") {
		t.Fatalf("err = %v", err)
	}
}

// TestWriteToOldFdAfterRotation checks the retired-file grace: a writer that
// keeps writing to its old fd briefly after a rename rotation loses nothing.
func TestWriteToOldFdAfterRotation(t *testing.T) {
	dir, p := emptyLog(t, "a.log")
	tl, c := start(t, baseOpts(EngineNative, dir))
	old, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	io.WriteString(old, "1\n")
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, p, "new\n")
	waitFor(t, 5*time.Second, "new", func() bool { return c.hasText("new") })
	io.WriteString(old, "late\n")
	waitFor(t, 5*time.Second, "late", func() bool { return c.hasText("late") })
	if got := strings.Join(c.texts(), ","); got != "1,new,late" {
		t.Errorf("lines = %q", got)
	}
	if st := tl.Stats(); st.Rotations != 1 || st.FilesFollowed != 1 {
		t.Errorf("stats = %+v", st)
	}
}

// TestUnreadableThenReadable exercises the unreadable state and its retry in
// a way that also works as root (where chmod 000 does not deny): a literal
// path that is a directory is unreadable until a regular file replaces it.
func TestUnreadableThenReadable(t *testing.T) {
	for _, e := range []Engine{EngineNative} {
		t.Run(string(e), func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "x.log")
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
			other := filepath.Join(dir, "y.log")
			appendFile(t, other, "")
			o := Options{Globs: []string{p, other}, Engine: e}
			tl, c := start(t, o)
			if st := status(tl, p); st.State != StateUnreadable || st.Error != "not a regular file" {
				t.Errorf("status = %+v", st)
			}
			appendFile(t, other, "other\n")
			waitFor(t, 5*time.Second, "other file", func() bool { return c.hasText("other") })
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			appendFile(t, p, "now\n")
			waitFor(t, 5*time.Second, "line", func() bool { return c.hasText("now") })
			waitFor(t, 5*time.Second, "following", func() bool { return status(tl, p).State == StateFollowing })
		})
	}
}

// TestAutoEngine checks that EngineAuto reports the engine in use.
func TestAutoEngine(t *testing.T) {
	dir := t.TempDir()
	tl, _ := start(t, Options{Globs: []string{dirGlob(dir)}})
	if tl.Engine() != EngineNative {
		t.Errorf("engine = %q", tl.Engine())
	}
}

// A followed log replaced by a symlink to a file the globs do not name is
// not streamed; a link to a file they do name is.
func TestSymlinkOutOfGlobsRefused(t *testing.T) {
	for _, engine := range []Engine{EngineNative, EnginePoll} {
		t.Run(string(engine), func(t *testing.T) {
			dir := t.TempDir()
			secret := filepath.Join(t.TempDir(), "shadow")
			if err := os.WriteFile(secret, []byte("root:secret\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			log := filepath.Join(dir, "app.log")
			if err := os.WriteFile(log, []byte("first\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			tl, err := New(Options{Globs: []string{filepath.Join(dir, "*.log")}, Engine: engine, PollInterval: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			out := make(chan Batch, 64)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- tl.Run(ctx, chanSink(out)) }()
			defer func() { cancel(); <-done }()
			<-tl.Started()
			if err := os.Remove(log); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(secret, log); err != nil {
				t.Fatal(err)
			}
			// A legitimate link: b.log -> c.log, both named by the glob.
			if err := os.WriteFile(filepath.Join(dir, "c.log"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Join(dir, "c.log"), filepath.Join(dir, "b.log")); err != nil {
				t.Fatal(err)
			}
			f, _ := os.OpenFile(secret, os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString("root:more\n")
			f.Close()
			f, _ = os.OpenFile(filepath.Join(dir, "c.log"), os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString("via link\n")
			f.Close()
			deadline := time.After(3 * time.Second)
			for {
				select {
				case b := <-out:
					for _, l := range b.Lines {
						if strings.Contains(string(l.Text), "root:") {
							t.Fatalf("streamed %q from a link out of the globs", l.Text)
						}
					}
				case <-deadline:
					found := false
					for _, st := range tl.Files() {
						if st.Path == log && st.State == StateUnreadable && strings.Contains(st.Error, "symlink") {
							found = true
						}
					}
					if !found {
						t.Fatalf("the link is not reported unreadable: %+v", tl.Files())
					}
					return
				}
			}
		})
	}
}

// emptyLog makes an empty log file, name, in a new directory.
func emptyLog(t *testing.T, name string) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, name)
	appendFile(t, path, "")
	return dir, path
}
