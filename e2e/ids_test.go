package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// siblingsFixture writes app.log.3.gz, app.log.2.gz, app.log.1 and app.log,
// 100 lines each, one a minute, starting three days ago: 400 lines oldest
// first.
func siblingsFixture(t *testing.T) (path string, all []string) {
	t.Helper()
	dir := t.TempDir()
	path = filepath.Join(dir, "app.log")
	base := time.Now().Add(-72 * time.Hour).UTC().Truncate(time.Minute)
	for i := range 400 {
		all = append(all, fmt.Sprintf("%s INFO line=%d", base.Add(time.Duration(i)*time.Minute).Format(time.RFC3339), i))
	}
	body := func(ls []string) []byte { return []byte(strings.Join(ls, "\n") + "\n") }
	gz := func(ls []string) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(body(ls))
		zw.Close()
		return b.Bytes()
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{".3.gz", gz(all[:100])}, {".2.gz", gz(all[100:200])}, {".1", body(all[200:300])}, {"", body(all[300:])}} {
		if err := os.WriteFile(path+f.name, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return path, all
}

// readN reads n line events, failing on a gap.
func readN(t *testing.T, c *client, n int) (lines, ids []string) {
	t.Helper()
	for range n {
		ev := c.next(t)
		if ev.Type != "" {
			t.Fatalf("after %d lines: event %s %q", len(lines), ev.Type, ev.Data)
		}
		lines, ids = append(lines, ev.Data), append(ids, ev.LastEventID)
	}
	return lines, ids
}

// Every event of a since=/until= read has an id of its own, short, also the
// lines of siblings the agent never followed (gzipped ones included). A
// client cut off in the middle of the read, in any of the files, resumes
// with the last id it got: exactly the rest, no gap, no duplicate; also
// after the agent was killed (kill -9) in between.
func TestIdsSinceReadResumes(t *testing.T) {
	for _, kill := range []bool{false, true} {
		t.Run(fmt.Sprintf("kill=%v", kill), func(t *testing.T) {
			path, all := siblingsFixture(t)
			a := start(t, fmt.Sprintf("sources:\n  - name: app\n    files: [%s]\n", path))
			const window = "/stream/app?since=4d&until=now"
			c := a.open(window)
			lines, ids := readN(t, c, 400)
			if !c.ended(10 * time.Second) {
				t.Fatal("the read did not end")
			}
			sameLines(t, "the whole read", lines, all)
			seen := map[string]int{}
			for i, id := range ids {
				if id == "" || id == "0" || len(id) > 64 {
					t.Fatalf("line %d has id %q", i, id)
				}
				if j, dup := seen[id]; dup {
					t.Fatalf("lines %d and %d share id %q", j, i, id)
				}
				seen[id] = i
			}
			for _, cut := range []int{150, 250, 300, 350} {
				c := a.open(window)
				_, ids := readN(t, c, cut)
				c.close()
				if kill {
					if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
						t.Fatal(err)
					}
					<-a.done
					a = startArgs(t, a.cfg, "-config", a.cfg)
				}
				r := a.open(window, "Last-Event-ID", ids[cut-1])
				rest, gaps := readToEnd(t, r)
				if len(gaps) > 0 {
					t.Fatalf("cut at %d: gaps %v", cut, gaps)
				}
				sameLines(t, fmt.Sprintf("cut at %d, the rest", cut), rest, all[cut:])
			}
		})
	}
}

// A source over 64 files: every id is at most 64 bytes. After kill -9, two
// more lines in every file and a restart, a resume from the id of a line in
// the middle sends every file's rest: no gap, no duplicate.
func TestIdsShortAcrossManyFiles(t *testing.T) {
	dir := t.TempDir()
	const files = 64
	paths := make([]string, files)
	for i := range paths {
		paths[i] = filepath.Join(dir, fmt.Sprintf("f%02d.log", i))
		os.WriteFile(paths[i], nil, 0o644)
	}
	a := start(t, fmt.Sprintf("stream: {replay_lines: 100}\nsources:\n  - name: app\n    files: [%s]\n", filepath.Join(dir, "*.log")))
	waitFor(t, "every file followed", func() bool { return strings.Count(sourcesJSON(t, a), `"state":"following"`) == files })
	c := a.open("/stream/app?tail=0")
	var written []string
	for round := range 10 {
		for i, p := range paths {
			l := fmt.Sprintf("file %02d round %d", i, round)
			appendLines(t, p, l)
			written = append(written, l)
		}
	}
	got := map[string]string{} // line -> id
	var order []string
	for range written {
		ev := c.next(t)
		if len(ev.LastEventID) > 64 {
			t.Fatalf("id of %d bytes: %q", len(ev.LastEventID), ev.LastEventID)
		}
		got[ev.Data], order = ev.LastEventID, append(order, ev.Data)
	}
	c.close()
	if len(got) != len(written) {
		t.Fatalf("%d distinct lines of %d", len(got), len(written))
	}
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.done
	var more []string
	for i, p := range paths {
		for r := range 2 {
			l := fmt.Sprintf("file %02d after %d", i, r)
			appendLines(t, p, l)
			more = append(more, l)
		}
	}
	a2 := startArgs(t, a.cfg, "-config", a.cfg)
	mid := len(order) / 2
	r := a2.open("/stream/app", "Last-Event-ID", got[order[mid]])
	want := map[string]bool{}
	for _, l := range append(append([]string(nil), order[mid+1:]...), more...) {
		want[l] = true
	}
	perFile := map[string][]string{}
	for range len(want) {
		ev := r.next(t)
		if ev.Type != "" {
			t.Fatalf("event %s %q", ev.Type, ev.Data)
		}
		if !want[ev.Data] {
			t.Fatalf("%q: a duplicate, or a line from before the resume point", ev.Data)
		}
		delete(want, ev.Data)
		f := ev.Data[:len("file 00")]
		perFile[f] = append(perFile[f], ev.Data)
	}
	// Each file's lines in its own order.
	for f, ls := range perFile {
		for i := 1; i < len(ls); i++ {
			if lineOrder(ls[i]) < lineOrder(ls[i-1]) {
				t.Fatalf("%s out of order: %q", f, ls)
			}
		}
	}
	if r.ended(300*time.Millisecond) || len(want) != 0 {
		t.Fatalf("missing %v", want)
	}
}

func lineOrder(l string) int {
	f := strings.Fields(l)
	n, _ := strconv.Atoi(f[3])
	if f[2] == "after" {
		n += 1000
	}
	return n
}

// An id of the earlier format (the offset of every known file spelled out)
// sent to an upgraded agent still resumes exactly.
func TestIdsOfTheEarlierFormatResume(t *testing.T) {
	path, cfg := fileSource(t, "stream:\n  replay_lines: 5\n")
	a := start(t, cfg)
	c := a.open("/stream/app?tail=0")
	appendLines(t, path, numbered("a", 3)...)
	readN(t, c, 3)
	c.close()
	appendLines(t, path, numbered("b", 20)...)
	waitFor(t, "lines read", func() bool { return strings.Contains(sourcesJSON(t, a), `"lines":23`) })
	// The table's name, and the old form of the position after "a-3".
	var st struct {
		Gen string `json:"gen"`
	}
	b, err := os.ReadFile(filepath.Join(stateDirOf(t, a), "positions-app.json"))
	if err != nil || json.Unmarshal(b, &st) != nil || st.Gen == "" {
		t.Fatalf("position table: %v %s", err, b)
	}
	old := "f" + st.Gen + "~0." + strconv.FormatInt(int64(len("a-1\na-2\na-3\n")), 36)
	r := a.open("/stream/app", "Last-Event-ID", old)
	rest, _ := readN(t, r, 20)
	sameLines(t, "resume from an old id", rest, numbered("b", 20))
	// Garbage in the same shape is unknown: a gap, never a 400.
	g := a.open("/stream/app?tail=1", "Last-Event-ID", "f"+st.Gen+"~zz.1")
	if ev := g.next(t); ev.Type != "gap" {
		t.Fatalf("unknown old id: %s %q", ev.Type, ev.Data)
	}
}

// stateDirOf reads the state_dir of an agent's config.
func stateDirOf(t *testing.T, a *agent) string {
	t.Helper()
	b, err := os.ReadFile(a.cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "state_dir: "); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatal("no state_dir")
	return ""
}

// A file read to its end, then deleted while the agent was down (a
// finished job's log, logrotate's maxage), is no gap for a client resuming
// from before it went: every line after the id is still in the other file
// (issue: deleted file after a restart). A file deleted with lines the
// client had not been sent still is one.
func TestIdsDeletedFileAfterRestart(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			x, y := filepath.Join(dir, "x.log"), filepath.Join(dir, "y.log")
			os.WriteFile(x, nil, 0o644)
			os.WriteFile(y, nil, 0o644)
			a := start(t, fmt.Sprintf("stream: {replay_lines: 5}\nsources:\n  - name: app\n    files: [%s]\n", filepath.Join(dir, "*.log")))
			waitFor(t, "both followed", func() bool { return strings.Count(sourcesJSON(t, a), `"state":"following"`) == 2 })
			c := a.open("/stream/app?tail=0")
			appendLines(t, y, numbered("y", 5)...)
			readN(t, c, 5)
			appendLines(t, x, numbered("x", 5)...)
			_, ids := readN(t, c, 5)
			id := ids[1] // after x-2: y is read to its end by then
			c.close()
			time.Sleep(1100 * time.Millisecond) // the progress note of a kill -9
			if err := a.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			<-a.done
			os.Remove(y)
			appendLines(t, x, numbered("later", 20)...)
			a = startArgs(t, a.cfg, "-config", a.cfg)
			r := a.open("/stream/app", "Last-Event-ID", id)
			rest, _ := readN(t, r, 23)
			sameLines(t, "resume with y deleted", rest, append(numbered("x", 5)[2:], numbered("later", 20)...))

			// Unread lines in a deleted file: y2 gets lines the client is
			// never sent, then goes while the agent is down.
			y2 := filepath.Join(dir, "y2.log")
			os.WriteFile(y2, nil, 0o644)
			waitFor(t, "y2 followed", func() bool { return strings.Count(sourcesJSON(t, a), `"state":"following"`) == 2 })
			c2 := a.open("/stream/app?tail=0")
			appendLines(t, y2, "y2-1")
			_, ids2 := readN(t, c2, 1)
			appendLines(t, y2, "y2-2", "y2-3")
			readN(t, c2, 2)
			c2.close()
			time.Sleep(1100 * time.Millisecond)
			if err := a.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			<-a.done
			os.Remove(y2)
			a = startArgs(t, a.cfg, "-config", a.cfg)
			g := a.open("/stream/app?tail=0", "Last-Event-ID", ids2[0])
			if ev := g.next(t); ev.Type != "gap" {
				t.Fatalf("y2-2 and y2-3 are gone: got %s %q, want a gap", ev.Type, ev.Data)
			}
		})
	}
}
