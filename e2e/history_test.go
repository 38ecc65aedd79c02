package e2e

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fixture writes a rotated log of 300 lines, one a second from base: lines
// 0-99 in NAME.2.gz, 100-199 in NAME.1, 200-299 in NAME, each made by
// format. Every tenth line is an error.
func fixture(t *testing.T, dir, name string, base time.Time, format func(i int, at time.Time, lvl string) string) (string, []string) {
	t.Helper()
	var all []string
	for i := range 300 {
		lvl := "info"
		if i%10 == 0 {
			lvl = "error"
		}
		all = append(all, format(i, base.Add(time.Duration(i)*time.Second), lvl))
	}
	path := filepath.Join(dir, name)
	body := func(ls []string) []byte { return []byte(strings.Join(ls, "\n") + "\n") }
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(body(all[:100]))
	zw.Close()
	for _, f := range []struct {
		path string
		data []byte
	}{{path + ".2.gz", gz.Bytes()}, {path + ".1", body(all[100:200])}, {path, body(all[200:])}} {
		if err := os.WriteFile(f.path, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return path, all
}

var formats = map[string]func(i int, at time.Time, lvl string) string{
	"iso": func(i int, at time.Time, lvl string) string {
		return fmt.Sprintf("%s %s n=%d", at.UTC().Format(time.RFC3339), strings.ToUpper(lvl), i)
	},
	"syslog": func(i int, at time.Time, lvl string) string {
		return fmt.Sprintf("%s host app[1]: %s n=%d", at.Local().Format(time.Stamp), strings.ToUpper(lvl), i)
	},
	"clf": func(i int, at time.Time, lvl string) string {
		st := 200
		if lvl == "error" {
			st = 500
		}
		return fmt.Sprintf(`10.0.0.1 - - [%s] "GET /n=%d HTTP/1.1" %d 12 level=%s`, at.Format("02/Jan/2006:15:04:05 -0700"), i, st, lvl)
	},
	"json": func(i int, at time.Time, lvl string) string {
		return fmt.Sprintf(`{"time":"%s","level":"%s","msg":"n=%d"}`, at.UTC().Format(time.RFC3339Nano), lvl, i)
	},
}

// readToEnd reads a stream's data lines until it ends.
func readToEnd(t *testing.T, c *client) (lines []string, gaps []string) {
	t.Helper()
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				return lines, gaps
			}
			if ev.Type == "gap" {
				gaps = append(gaps, ev.Data)
				continue
			}
			lines = append(lines, ev.Data)
		case <-time.After(20 * time.Second):
			t.Fatalf("the stream did not end; %d lines so far", len(lines))
		}
	}
}

func sameLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d lines, want %d\ngot first %q\nwant first %q", what, len(got), len(want), head(got), head(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: line %d is %q, want %q", what, i, got[i], want[i])
		}
	}
}

func head(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// A since=/until= window returns exactly its lines, oldest first, from the
// gzipped and plain siblings and the file, for each timestamp format, and
// ends; q= and level= apply to it.
func TestHistoryWindow(t *testing.T) {
	dir := t.TempDir()
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	var cfg strings.Builder
	cfg.WriteString("sources:\n")
	all := map[string][]string{}
	for name, f := range formats {
		p, lines := fixture(t, dir, name+".log", base, f)
		all[name] = lines
		fmt.Fprintf(&cfg, "  - name: %s\n    files: [%s]\n", name, p)
	}
	a := start(t, cfg.String())
	since, until := base.Add(50*time.Second), base.Add(250*time.Second)
	for name := range formats {
		w := url.Values{"since": {since.Format(time.RFC3339)}, "until": {until.Format(time.RFC3339)}}
		got, gaps := readToEnd(t, a.open("/stream/"+name+"?"+w.Encode()))
		if len(gaps) > 0 {
			t.Fatalf("%s: gaps %v", name, gaps)
		}
		sameLines(t, name+" window", got, all[name][50:251])

		w.Set("level", "error")
		got, _ = readToEnd(t, a.open("/stream/"+name+"?"+w.Encode()))
		var want []string
		for i := 50; i <= 250; i += 10 {
			want = append(want, all[name][i-(i%10)])
		}
		sameLines(t, name+" level=error", got, want[:len(want)])

		w.Del("level")
		w.Set("q", "N=17")
		got, _ = readToEnd(t, a.open("/stream/"+name+"?"+w.Encode()))
		var wantQ []string
		for _, l := range all[name][50:251] {
			if strings.Contains(strings.ToLower(l), "n=17") {
				wantQ = append(wantQ, l)
			}
		}
		sameLines(t, name+" q=", got, wantQ)
	}
}

// since= as a duration, then live: the lines written while the history was
// being read are neither lost nor repeated at the seam.
func TestHistorySinceThenLive(t *testing.T) {
	path, cfg := fileSource(t, "stream:\n  replay_lines: 100\n")
	var old []string
	for i := range 2000 {
		old = append(old, fmt.Sprintf("seq=%d old", i))
	}
	appendLines(t, path, old...)
	a := start(t, cfg)
	const total = 3000
	done := make(chan struct{})
	go func() {
		defer close(done)
		f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		defer f.Close()
		for i := 2000; i < total; i++ {
			fmt.Fprintf(f, "seq=%d live\n", i)
			if i%50 == 0 {
				time.Sleep(2 * time.Millisecond)
			}
		}
	}()
	time.Sleep(20 * time.Millisecond) // open while lines are being written
	c := a.open("/stream/app?since=1h")
	var seqs []int
	for len(seqs) < total {
		ev := c.next(t)
		if ev.Type != "" {
			t.Fatalf("unexpected %s %s after %d lines", ev.Type, ev.Data, len(seqs))
		}
		n, _ := strconv.Atoi(strings.Fields(strings.TrimPrefix(ev.Data, "seq="))[0])
		seqs = append(seqs, n)
	}
	<-done
	lost, repeated, reordered := check(seqs, total)
	if lost+repeated+reordered > 0 {
		t.Fatalf("%d lost, %d repeated, %d out of order", lost, repeated, reordered)
	}
}

// tail= beyond replay_lines reads the rest from disk, siblings included.
func TestHistoryTailBeyondRing(t *testing.T) {
	dir := t.TempDir()
	path, all := fixture(t, dir, "app.log", time.Now().Add(-time.Hour), formats["iso"])
	more := make([]string, 0, 400)
	for i := range 400 {
		more = append(more, fmt.Sprintf("%s INFO extra=%d", time.Now().UTC().Format(time.RFC3339), i))
	}
	appendLines(t, path, more...)
	all = append(all, more...)
	a := start(t, fmt.Sprintf("stream:\n  replay_lines: 50\nsources:\n  - name: app\n    files: [%s]\n", path))
	c := a.open("/stream/app?tail=500")
	var got []string
	for range 500 {
		got = append(got, c.next(t).Data)
	}
	sameLines(t, "tail=500", got, all[len(all)-500:])
	appendLines(t, path, "after the tail")
	if ev := c.next(t); ev.Data != "after the tail" {
		t.Fatalf("then live: %q", ev.Data)
	}
}

// Last-Event-ID older than the ring resumes exactly, from disk.
func TestHistoryResumeOlderThanRing(t *testing.T) {
	path, cfg := fileSource(t, "stream:\n  replay_lines: 100\n")
	a := start(t, cfg)
	c := a.open("/stream/app?tail=0")
	appendLines(t, path, "first")
	id := c.next(t).LastEventID
	c.close()
	var lines []string
	for i := range 250 {
		lines = append(lines, fmt.Sprint("later ", i))
	}
	appendLines(t, path, lines...)
	waitFor(t, "lines read", func() bool { return strings.Contains(sourcesJSON(t, a), `"lines":251`) })
	r := a.open("/stream/app", "Last-Event-ID", id)
	for i := range 250 {
		if ev := r.next(t); ev.Type != "" || ev.Data != fmt.Sprint("later ", i) {
			t.Fatalf("line %d: got %s %q", i, ev.Type, ev.Data)
		}
	}
	appendLines(t, path, "live again")
	if ev := r.next(t); ev.Data != "live again" {
		t.Fatalf("then live: %q", ev.Data)
	}
}

// A resume point in a rotated sibling that was deleted: event: gap, then
// the lines still on disk.
func TestHistoryDeletedSiblingIsAGap(t *testing.T) {
	path, cfg := fileSource(t, "stream:\n  replay_lines: 10\n")
	a := start(t, cfg)
	c := a.open("/stream/app?tail=0")
	appendLines(t, path, "old 0", "old 1", "old 2")
	c.next(t)
	id := c.next(t).LastEventID
	c.next(t)
	c.close()
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for i := range 30 {
		lines = append(lines, fmt.Sprint("new ", i))
	}
	appendLines(t, path, lines...)
	waitFor(t, "lines read", func() bool { return strings.Contains(sourcesJSON(t, a), `"lines":33`) })
	// Still on disk: exact.
	r := a.open("/stream/app", "Last-Event-ID", id)
	if ev := r.next(t); ev.Data != "old 2" {
		t.Fatalf("resume into the sibling: %s %q", ev.Type, ev.Data)
	}
	for i := range 30 {
		if ev := r.next(t); ev.Data != fmt.Sprint("new ", i) {
			t.Fatalf("line %d: %s %q", i, ev.Type, ev.Data)
		}
	}
	r.close()
	os.Remove(path + ".1")
	g := a.open("/stream/app", "Last-Event-ID", id)
	if ev := g.next(t); ev.Type != "gap" {
		t.Fatalf("deleted sibling: got %s %q, want a gap", ev.Type, ev.Data)
	}
	if ev := g.next(t); ev.Data != "new 0" {
		t.Fatalf("after the gap: %s %q", ev.Type, ev.Data)
	}
}

// GET /download returns exactly the matching lines of the window as an
// attachment; bad windows are 400 with a reason.
func TestHistoryDownloadAndBadWindows(t *testing.T) {
	dir := t.TempDir()
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	path, all := fixture(t, dir, "app.log", base, formats["iso"])
	a := start(t, fmt.Sprintf("sources:\n  - name: app\n    files: [%s]\n", path))
	w := url.Values{"since": {base.Add(10 * time.Second).Format(time.RFC3339)}, "until": {base.Add(280 * time.Second).Format(time.RFC3339)}, "level": {"error"}}
	resp := a.get("/download/app?" + w.Encode())
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("download: %s %v", resp.Status, resp.Header)
	}
	var want strings.Builder
	for i := 10; i <= 280; i += 10 {
		want.WriteString(all[i] + "\n")
	}
	if string(body) != want.String() {
		t.Fatalf("download body:\n%s\nwant:\n%s", body, want.String())
	}
	resp = a.get("/download/app")
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != strings.Join(all, "\n")+"\n" {
		t.Fatalf("whole download: %d bytes", len(body))
	}
	for _, q := range []string{"since=" + url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339)), "since=1h&until=2h", "since=yesterday", "until=x"} {
		for _, p := range []string{"/stream/app?", "/download/app?"} {
			resp := a.get(p + q)
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || bytes.Count(msg, []byte("\n")) != 1 {
				t.Errorf("%s%s: %s %q, want 400 with one line", p, q, resp.Status, msg)
			}
		}
	}
}

// restartResume reads n lines, stops the agent with sig, writes lines while
// it is down (after rotate, if set, has rotated the file), restarts it and
// resumes with the last id: every line once, in order, no gap.
func restartResume(t *testing.T, sig syscall.Signal, rotate bool, ringLines int) {
	path, cfg := fileSource(t, fmt.Sprintf("stream:\n  replay_lines: %d\n", ringLines))
	appendLines(t, path, numbered("before", 20)...)
	a := start(t, cfg)
	c := a.open("/stream/app?tail=5")
	var got []string
	var id string
	for range 5 {
		ev := c.next(t)
		got, id = append(got, ev.Data), ev.LastEventID
	}
	appendLines(t, path, numbered("live", 30)...)
	for range 30 {
		ev := c.next(t)
		got, id = append(got, ev.Data), ev.LastEventID
	}
	c.close()
	if err := a.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	<-a.done
	appendLines(t, path, numbered("down", 10)...)
	if rotate {
		if err := os.Rename(path, path+".1"); err != nil {
			t.Fatal(err)
		}
		appendLines(t, path, numbered("rotated", 10)...)
	}
	more := make([]string, 0, 3*ringLines)
	for i := range 3 * ringLines {
		more = append(more, fmt.Sprint("fresh-", i))
	}
	appendLines(t, path, more...)
	a2 := startArgs(t, a.cfg, "-config", a.cfg)
	r := a2.open("/stream/app", "Last-Event-ID", id)
	want := numbered("down", 10)
	if rotate {
		want = append(want, numbered("rotated", 10)...)
	}
	want = append(want, more...)
	for i, w := range want {
		ev := r.next(t)
		if ev.Type != "" || ev.Data != w {
			t.Fatalf("after the restart, line %d: got %s %q, want %q", i, ev.Type, ev.Data, w)
		}
	}
	appendLines(t, path, "live after restart")
	if ev := r.next(t); ev.Data != "live after restart" {
		t.Fatalf("then live: %s %q", ev.Type, ev.Data)
	}
}

func TestHistoryResumeAfterSIGTERM(t *testing.T) { restartResume(t, syscall.SIGTERM, false, 50) }
func TestHistoryResumeAfterSIGKILL(t *testing.T) { restartResume(t, syscall.SIGKILL, false, 50) }
func TestHistoryResumeAfterRotationAndRestart(t *testing.T) {
	restartResume(t, syscall.SIGKILL, true, 50)
}

// A resume point in app.log.1 still resumes exactly after logrotate has
// compressed it into app.log.2.gz (a new inode) while the agent was down:
// the file is recognised by the fingerprint of its first bytes.
func TestHistoryResumeIntoCompressedSibling(t *testing.T) {
	path, cfg := fileSource(t, "stream:\n  replay_lines: 5\n")
	a := start(t, cfg)
	c := a.open("/stream/app?tail=0")
	pad := strings.Repeat("x", 40)
	appendLines(t, path, numbered("a-"+pad, 10)...)
	var id string
	for range 10 {
		id = c.next(t).LastEventID
	}
	c.close()
	rest := numbered("b-"+pad, 10)
	appendLines(t, path, rest...)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendLines(t, path, numbered("c", 10)...)
	waitFor(t, "lines read", func() bool { return strings.Contains(sourcesJSON(t, a), `"lines":30`) })
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.done
	old, _ := os.ReadFile(path + ".1")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(old)
	zw.Close()
	os.WriteFile(path+".2.gz", gz.Bytes(), 0o644)
	os.Remove(path + ".1")
	a2 := startArgs(t, a.cfg, "-config", a.cfg)
	r := a2.open("/stream/app", "Last-Event-ID", id)
	for i, w := range append(rest, numbered("c", 10)...) {
		if ev := r.next(t); ev.Type != "" || ev.Data != w {
			t.Fatalf("line %d: got %s %q, want %q", i, ev.Type, ev.Data, w)
		}
	}
}

// edgetail follow -since prints the lines from disk, oldest first; with
// -until it exits 0 once the window is printed.
func TestHistoryFollowSince(t *testing.T) {
	dir := t.TempDir()
	base := time.Now().Add(-30 * time.Minute).Truncate(time.Second)
	path, all := fixture(t, dir, "app.log", base, formats["iso"])
	a := start(t, fmt.Sprintf("sources:\n  - name: app\n    files: [%s]\n", path))
	out, err := exec.Command(binary, "follow", "-since", "1h", "-until", base.Add(99*time.Second).Format(time.RFC3339), "-q", "error", a.url+"/stream/app").Output()
	if err != nil {
		t.Fatalf("follow: %v", err)
	}
	var want []string
	for i := 0; i < 100; i += 10 {
		want = append(want, all[i])
	}
	sameLines(t, "follow -since -until", strings.Split(strings.TrimSpace(string(out)), "\n"), want)
	f := startFollow(t, "-since", "1h", a.url+"/stream/app")
	waitFor(t, "history", func() bool { return f.has(all[299]) })
	appendLines(t, path, "live line")
	waitFor(t, "live", func() bool { return f.has("live line") })
	if got := f.lines(); len(got) != 301 || got[0] != all[0] {
		t.Fatalf("follow -since 1h: %d lines, first %q", len(got), head(got))
	}
}

// One merged-stream id resumes every source exactly after a kill -9, with
// the lines written while the agent was down, and from older than the ring.
func TestHistoryMergedResumeAfterRestart(t *testing.T) {
	dir := t.TempDir()
	pa, pb := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	appendLines(t, pa, "a-old")
	appendLines(t, pb, "b-old")
	a := start(t, fmt.Sprintf("stream:\n  replay_lines: 20\nsources:\n  - name: a\n    files: [%s]\n  - name: b\n    files: [%s]\n", pa, pb))
	c := a.open("/stream?sources=a,b&tail=0&format=text")
	appendLines(t, pa, numbered("a", 5)...)
	var id string
	for range 5 {
		id = c.next(t).LastEventID
	}
	appendLines(t, pb, numbered("b", 5)...)
	for range 5 {
		id = c.next(t).LastEventID
	}
	c.close()
	// More than the ring holds, then a kill -9, then more while down.
	appendLines(t, pa, numbered("a-more", 30)...)
	appendLines(t, pb, numbered("b-more", 30)...)
	waitFor(t, "lines read", func() bool { return strings.Contains(sourcesJSON(t, a), `"lines":36`) })
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.done
	appendLines(t, pa, numbered("a-down", 3)...)
	appendLines(t, pb, numbered("b-down", 3)...)
	a2 := startArgs(t, a.cfg, "-config", a.cfg)
	r := a2.open("/stream?sources=a,b&format=text", "Last-Event-ID", id)
	got := map[string][]string{}
	for range 66 {
		ev := r.next(t)
		if ev.Type != "" {
			t.Fatalf("got %s %q", ev.Type, ev.Data)
		}
		src, line, _ := strings.Cut(strings.TrimPrefix(ev.Data, "["), "] ")
		got[src] = append(got[src], line)
	}
	for _, s := range []string{"a", "b"} {
		want := append(numbered(s+"-more", 30), numbered(s+"-down", 3)...)
		sameLines(t, "source "+s, got[s], want)
	}
	appendLines(t, pa, "a-live")
	if ev := r.next(t); ev.Data != "[a] a-live" {
		t.Fatalf("then live: %s %q", ev.Type, ev.Data)
	}
}

// since= on the merged stream: the sources' pasts merged by time, oldest
// first, then live.
func TestHistoryMergedWindowByTime(t *testing.T) {
	dir := t.TempDir()
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	var a, b, want []string
	for i := range 200 {
		l := fmt.Sprintf("%s INFO n=%d", base.Add(time.Duration(i)*time.Second).UTC().Format(time.RFC3339), i)
		if i%3 == 0 {
			a = append(a, l)
			want = append(want, "[a] "+l)
		} else {
			b = append(b, l)
			want = append(want, "[b] "+l)
		}
	}
	pa, pb := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	appendLines(t, pa, a...)
	appendLines(t, pb, b...)
	ag := start(t, fmt.Sprintf("sources:\n  - name: a\n    files: [%s]\n  - name: b\n    files: [%s]\n", pa, pb))
	w := url.Values{"sources": {"a,b"}, "format": {"text"}, "since": {"2h"}, "until": {base.Add(150 * time.Second).Format(time.RFC3339)}}
	got, gaps := readToEnd(t, ag.open("/stream?"+w.Encode()))
	if len(gaps) > 0 {
		t.Fatalf("gaps %v", gaps)
	}
	sameLines(t, "merged window", got, want[:151])
}
