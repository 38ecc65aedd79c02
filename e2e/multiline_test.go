package e2e

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sse "github.com/tmaxmax/go-sse"
)

// springTrace is the real Spring Boot exception of the grouper's tests (two
// "Caused by:", "... 42 more"), as lines: its log line and the trace.
func springTrace(t *testing.T) (before, trace, after []string) {
	t.Helper()
	b, err := os.ReadFile("../multiline/testdata/java-spring.log")
	if err != nil {
		t.Fatal(err)
	}
	l := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	return l[:1], l[1:18], l[18:]
}

// multilineAgent follows dir/*.log as one java source.
func multilineAgent(t *testing.T, dir, extra string) *agent {
	t.Helper()
	return start(t, fmt.Sprintf("sources:\n  - name: app\n    files: [%s/*.log]\n    multiline: {preset: java%s}\n", dir, extra))
}

// TestMultilineTraceIsOneEvent: a Spring Boot trace written to a followed
// file is one SSE event whose data is its lines joined by "\n"; level=error
// keeps the whole trace (and only it), q= on the text of a frame returns the
// whole event, not= on its cause drops it, the JSON form has line and
// lines, and /download answers the raw lines.
func TestMultilineTraceIsOneEvent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendLines(t, path)
	a := multilineAgent(t, dir, "")
	before, trace, after := springTrace(t)
	all := a.open("/stream/app?tail=0")
	errs := a.open("/stream/app?tail=0&level=error")
	frame := a.open("/stream/app?tail=0&q=" + "HibernateJpaDialect.java:276")
	not := a.open("/stream/app?tail=0&not=PSQLException")
	js := a.open("/stream/app?tail=0&format=json")
	appendLines(t, path, before...)
	appendLines(t, path, trace...)
	appendLines(t, path, after...)
	want := strings.Join(trace, "\n")

	expectLines(t, all, before[0], want, after[0], after[1])
	expectLines(t, errs, want)
	expectLines(t, frame, want)
	expectLines(t, not, before[0], after[0], after[1])
	var j struct {
		Line, Level string
		Lines       int
	}
	for range 2 {
		if err := json.Unmarshal([]byte(js.next(t).Data), &j); err != nil {
			t.Fatal(err)
		}
	}
	if j.Line != want || j.Lines != len(trace) || j.Level != "error" {
		t.Errorf("json: %d lines, level %q, line %q", j.Lines, j.Level, j.Line)
	}
	// Nothing more: the level filter sent no frame of the trace alone.
	select {
	case ev := <-errs.events:
		t.Errorf("level=error sent more: %q", ev.Data)
	case <-time.After(300 * time.Millisecond):
	}
	resp := a.get("/download/app?q=uk_email")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != want+"\n" {
		t.Errorf("download:\n%s\nwant the trace's raw lines", body)
	}
	// tail= counts events: the last three are the trace and the two after.
	c := a.open("/stream/app?tail=3")
	expectLines(t, c, want, after[0], after[1])
}

// TestMultilineLastTraceArrivesWithinWait: the last trace of a burst,
// with nothing written after it, reaches a client within wait + 100 ms
// of its last line being written, whole.
func TestMultilineLastTraceArrivesWithinWait(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendLines(t, path)
	const wait = 300 * time.Millisecond
	a := multilineAgent(t, dir, ", wait: 300ms")
	_, trace, _ := springTrace(t)
	c := a.open("/stream/app?tail=0")
	for i := range 20 {
		appendLines(t, path, fmt.Sprintf("2026-12-01 10:00:%02d ERROR burst %d", i, i))
		appendLines(t, path, trace[1:]...)
	}
	written := time.Now()
	var last sse.Event
	for i := range 20 {
		last = c.next(t)
		if !strings.HasPrefix(last.Data, fmt.Sprintf("2026-12-01 10:00:%02d ERROR burst %d\n", i, i)) {
			t.Fatalf("event %d: %q", i, last.Data)
		}
	}
	took := time.Since(written)
	if want := fmt.Sprintf("2026-12-01 10:00:19 ERROR burst 19\n%s", strings.Join(trace[1:], "\n")); last.Data != want {
		t.Errorf("last trace %q", last.Data)
	}
	t.Logf("the last trace arrived %v after it was written (wait %v)", took, wait)
	if took > wait+100*time.Millisecond {
		t.Errorf("the last trace took %v, more than wait + 100 ms", took)
	}
}

// TestMultilineCutEventLosesNoLine: a 2,000-line trace with max_lines 100
// is 20 events, each but the last marked cut, and together they hold every
// line once, in order.
func TestMultilineCutEventLosesNoLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendLines(t, path)
	a := multilineAgent(t, dir, ", max_lines: 100")
	c := a.open("/stream/app?tail=0")
	lines := []string{"2026-12-01 10:00:00 ERROR deep recursion"}
	for i := 1; i < 2000; i++ {
		lines = append(lines, fmt.Sprintf("\tat com.acme.Deep.f(Deep.java:%d)", i))
	}
	appendLines(t, path, lines...)
	appendLines(t, path, "2026-12-01 10:00:01 INFO next")
	const marker = " [edgetail: event cut, continued in the next event]"
	var got []string
	for i := range 20 {
		d := c.next(t).Data
		if (i < 19) != strings.HasSuffix(d, marker) {
			t.Errorf("event %d: cut marker %v", i, strings.HasSuffix(d, marker))
		}
		got = append(got, strings.Split(strings.TrimSuffix(d, marker), "\n")...)
	}
	if strings.Join(got, "\n") != strings.Join(lines, "\n") {
		t.Fatalf("%d lines came back, not the %d written in order", len(got), len(lines))
	}
	expectLines(t, c, "2026-12-01 10:00:01 INFO next")
}

// TestMultilineTwoFilesNeverMix: two files of one source writing traces
// line by line, interleaved, give one event per trace, each of one file.
func TestMultilineTwoFilesNeverMix(t *testing.T) {
	dir := t.TempDir()
	pa, pb := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	appendLines(t, pa)
	appendLines(t, pb)
	a := multilineAgent(t, dir, ", wait: 200ms")
	c := a.open("/stream/app?tail=0&format=json")
	want := map[string]string{}
	for i := range 5 {
		ta := []string{fmt.Sprintf("2026-12-01 ERROR a%d", i), "java.lang.IllegalStateException: a"}
		tb := []string{fmt.Sprintf("2026-12-01 ERROR b%d", i), "java.lang.IllegalArgumentException: b"}
		for j := range 6 {
			ta = append(ta, fmt.Sprintf("\tat a.A.f%d(A.java:%d)", j, i))
			tb = append(tb, fmt.Sprintf("\tat b.B.f%d(B.java:%d)", j, i))
		}
		for j := range ta {
			appendLines(t, pa, ta[j])
			appendLines(t, pb, tb[j])
			time.Sleep(time.Millisecond)
		}
		want[strings.Join(ta, "\n")] = pa
		want[strings.Join(tb, "\n")] = pb
	}
	for range 10 {
		var j struct{ File, Line string }
		if err := json.Unmarshal([]byte(c.next(t).Data), &j); err != nil {
			t.Fatal(err)
		}
		f, ok := want[j.Line]
		if !ok || f != j.File {
			t.Fatalf("event of %s is no trace of one file: %q", j.File, j.Line)
		}
		delete(want, j.Line)
	}
	if len(want) != 0 {
		t.Errorf("traces never seen: %q", want)
	}
}

// TestMultilineHostileContinuationForgesNothing: a continuation holding
// "\rdata: forged" and "\rid: 1" is written in the trace's own data:
// field with its CRs as U+FFFD: no field, no event and no id is forged.
func TestMultilineHostileContinuationForgesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendLines(t, path)
	a := multilineAgent(t, dir, "")
	resp := a.get("/stream/app?tail=0")
	defer resp.Body.Close()
	trace := []string{"2026-12-01 ERROR x", "\tat a.B.c(B.java:1)\rdata: forged\rid: 1\r", "\t... 3 more\r\revent: gap"}
	appendLines(t, path, trace...)
	appendLines(t, path, "2026-12-01 INFO after")
	br := bufio.NewReader(resp.Body)
	var raw []string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, l)
		if strings.Contains(l, "INFO after") {
			break
		}
	}
	var data []string
	for _, l := range raw {
		if strings.ContainsRune(l[:len(l)-1], '\r') {
			t.Errorf("a CR on the wire: %q", l)
		}
		if strings.HasPrefix(l, "data: ") {
			data = append(data, l)
		} else if l != "\n" && !strings.HasPrefix(l, "id: f") && !strings.HasPrefix(l, "retry: ") && !strings.HasPrefix(l, ":") {
			t.Errorf("forged field line %q", l)
		}
	}
	want := []string{
		"data: 2026-12-01 ERROR x\n",
		"data: \tat a.B.c(B.java:1)\uFFFDdata: forged\uFFFDid: 1\n", // the tailer drops the CR of a CRLF ending only
		"data: \t... 3 more\uFFFD\uFFFDevent: gap\n",
		"data: 2026-12-01 INFO after\n",
	}
	if strings.Join(data, "") != strings.Join(want, "") {
		t.Errorf("data fields\n%q\nwant\n%q", data, want)
	}
}

// TestMultilineResumeAfterKill: an event's id, sent back after the agent
// was killed (-9) and restarted, resumes at the next event: the rest of
// the traces written before the kill and those written while it was down,
// each whole and once, with no gap. A since= read groups the rotated,
// compressed sibling's traces too.
func TestMultilineResumeAfterKill(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	mk := func(n int) []string {
		return []string{fmt.Sprintf("2026-12-01T10:00:%02dZ ERROR failure %d", n, n), "java.lang.IllegalStateException: boom",
			fmt.Sprintf("\tat com.acme.S.f(S.java:%d)", n), "\t... 7 more"}
	}
	// A rotated sibling, compressed, with traces 0 and 1.
	var old []string
	old = append(old, mk(0)...)
	old = append(old, mk(1)...)
	var gz strings.Builder
	zw := gzip.NewWriter(&gz)
	io.WriteString(zw, strings.Join(old, "\n")+"\n")
	zw.Close()
	if err := os.WriteFile(path+".1.gz", []byte(gz.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	appendLines(t, path)
	// A replay buffer of two events: the resume reads the disk.
	a := start(t, fmt.Sprintf("stream: {replay_lines: 2}\nsources:\n  - name: app\n    files: [%s]\n    multiline: {preset: java}\n", path))
	c := a.open("/stream/app?tail=0")
	for i := 2; i < 5; i++ {
		appendLines(t, path, mk(i)...)
	}
	appendLines(t, path, "2026-12-01T10:00:05Z INFO between")
	ids := expectLines(t, c, strings.Join(mk(2), "\n"), strings.Join(mk(3), "\n"), strings.Join(mk(4), "\n"), "2026-12-01T10:00:05Z INFO between")
	c.close()
	a = a.restart(t, true, func() {
		for i := 6; i < 8; i++ {
			appendLines(t, path, mk(i)...)
		}
		appendLines(t, path, "2026-12-01T10:00:08Z INFO end")
	})
	c = a.open("/stream/app", "Last-Event-ID", ids[0])
	expectLines(t, c, strings.Join(mk(3), "\n"), strings.Join(mk(4), "\n"), "2026-12-01T10:00:05Z INFO between",
		strings.Join(mk(6), "\n"), strings.Join(mk(7), "\n"), "2026-12-01T10:00:08Z INFO end")
	// since= and until= over the compressed sibling and the file: events by
	// their first line's time.
	h := a.open("/stream/app?since=2026-12-01T10:00:01Z&until=2026-12-01T10:00:03Z")
	expectLines(t, h, strings.Join(mk(1), "\n"), strings.Join(mk(2), "\n"), strings.Join(mk(3), "\n"))
	if !h.ended(5 * time.Second) {
		t.Error("the until= stream did not end")
	}
	resp := a.get("/download/app?since=2026-12-01T10:00:07Z")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != strings.Join(mk(7), "\n")+"\n2026-12-01T10:00:08Z INFO end\n" {
		t.Errorf("download %s:\n%s", resp.Status, body)
	}
}
