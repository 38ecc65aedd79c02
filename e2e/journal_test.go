package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"edgetail/journal/journaltest"
)

// startJournalAgent runs edgetail with a journal source j on jd's files,
// after the extra YAML (stream settings, other sources).
func startJournalAgent(t *testing.T, jd *journaltest.Journald, extra string) *agent {
	t.Helper()
	return start(t, extra+"sources:\n  - name: j\n    journal: {directory: "+jd.Dir+"}\n")
}

// restart stops the agent (SIGTERM, or SIGKILL when kill) and runs it again
// with the same config.
func (a *agent) restart(t *testing.T, kill bool, between func()) *agent {
	t.Helper()
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	_ = a.cmd.Process.Signal(sig)
	<-a.done
	if between != nil {
		between()
	}
	return startArgs(t, a.cfg, "-config", a.cfg)
}

// expectLines reads the next events and wants exactly these lines, no gap.
func expectLines(t *testing.T, c *client, want ...string) []string {
	t.Helper()
	var ids []string
	for i, w := range want {
		ev := c.next(t)
		if ev.Type != "" || ev.Data != w {
			t.Fatalf("event %d: %s %q, want the line %q", i, ev.Type, ev.Data, w)
		}
		ids = append(ids, ev.LastEventID)
	}
	return ids
}

func numberedLines(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

func logAll(t *testing.T, jd *journaltest.Journald, lines []string) {
	t.Helper()
	for _, l := range lines {
		jd.Log(t, "t", 6, l)
	}
}

// journalEvent is the JSON form of a journal event.
type journalEvent struct {
	ID, Source, Time, Level, Line, Unit, Identifier, Boot, Cursor string
	PID, Priority                                                 *int
}

func TestJournalLiveFieldsAndFilters(t *testing.T) {
	jd := journaltest.Start(t)
	a := startJournalAgent(t, jd, "")
	c := a.open("/stream/j?tail=0&format=json&identifier=t")
	sent := time.Now()
	jd.Log(t, "t", 3, "live one")
	ev := c.next(t)
	t.Logf("live entry arrived %v after it was sent", time.Since(sent))
	var je journalEvent
	if err := json.Unmarshal([]byte(ev.Data), &je); err != nil {
		t.Fatal(err)
	}
	if je.Line != "live one" || je.Level != "error" || je.Identifier != "t" || je.Priority == nil || *je.Priority != 3 ||
		je.PID == nil || *je.PID <= 0 || je.Boot == "" || je.Cursor == "" || je.ID != "c"+je.Cursor || ev.LastEventID != je.ID || je.Source != "j" {
		t.Fatalf("json event %s (id %q)", ev.Data, ev.LastEventID)
	}

	// level=, identifier= and q= narrow the stream; the last line matches
	// every filter, so once it is in, nothing else is on its way.
	lv := a.open("/stream/j?tail=0&level=warn")
	id := a.open("/stream/j?tail=0&identifier=other,x")
	q := a.open("/stream/j?tail=0&q=NEEDLE&identifier=t")
	jd.Log(t, "t", 6, "info needle")
	jd.Log(t, "t", 4, "warn plain")
	jd.Log(t, "other", 7, "debug other")
	jd.Log(t, "x", 2, "crit x needle")
	jd.Log(t, "t", 0, "emerg end")
	expectLines(t, lv, "warn plain", "crit x needle", "emerg end")
	expectLines(t, id, "debug other", "crit x needle")
	expectLines(t, q, "info needle")

	for _, bad := range []string{"unit=a%20b", "identifier=", "unit=x,,y", "level=loud"} {
		if code, _ := statusFull(t, a, "/stream/j?"+bad); code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", bad, code)
		}
	}
}

func TestJournalUnitOnFileSourceIs400(t *testing.T) {
	dir := t.TempDir()
	a := start(t, "sources:\n  - name: f\n    files: ["+dir+"/a.log]\n")
	if code, body := statusFull(t, a, "/stream/f?unit=nginx"); code != http.StatusBadRequest {
		t.Fatalf("status %d %s", code, body)
	}
}

func TestJournalTailReplaysEntriesFromBeforeStart(t *testing.T) {
	jd := journaltest.Start(t)
	logAll(t, jd, numberedLines("old", 0, 5))
	jd.WaitMessage(t, "old-4")
	a := startJournalAgent(t, jd, "")
	c := a.open("/stream/j?tail=3&identifier=t")
	expectLines(t, c, "old-2", "old-3", "old-4")
	jd.Log(t, "t", 6, "new")
	expectLines(t, c, "new")
}

func TestJournalResume(t *testing.T) {
	jd := journaltest.Start(t)
	// A small buffer, so that some resumes must read the journal back.
	a := startJournalAgent(t, jd, "stream: {replay_lines: 5}\n")
	c := a.open("/stream/j?tail=0&identifier=t")
	logAll(t, jd, numberedLines("r", 0, 20))
	ids := expectLines(t, c, numberedLines("r", 0, 20)...)

	t.Run("within the buffer", func(t *testing.T) {
		r := a.open("/stream/j?identifier=t", "Last-Event-ID", ids[17])
		expectLines(t, r, "r-18", "r-19")
	})
	t.Run("older than the buffer", func(t *testing.T) {
		r := a.open("/stream/j?identifier=t", "Last-Event-ID", ids[2])
		expectLines(t, r, numberedLines("r", 3, 20)...)
		jd.Log(t, "t", 6, "r-20")
		expectLines(t, r, "r-20")
		expectLines(t, c, "r-20")
	})
	t.Run("after SIGTERM and SIGKILL", func(t *testing.T) {
		last := ids[19] // r-20 came after it
		for round, kill := range []bool{false, true} {
			c.close()
			down := numberedLines(fmt.Sprintf("down%d", round), 0, 10)
			// Entries written while the agent is down, more than its
			// buffer holds: the resume reads them back from the journal.
			a = a.restart(t, kill, func() { logAll(t, jd, down) })
			r := a.open("/stream/j?identifier=t", "Last-Event-ID", last)
			if round == 0 {
				expectLines(t, r, "r-20")
			}
			expectLines(t, r, down...)
			live := fmt.Sprintf("live%d", round)
			jd.Log(t, "t", 6, live)
			last = expectLines(t, r, live)[0]
			c = r
		}
	})
}

// lastID finds the id of the event with this line through tail=.
func lastID(t *testing.T, a *agent, line string) string {
	t.Helper()
	c := a.open("/stream/j?tail=1&identifier=t")
	defer c.close()
	ev := c.next(t)
	if ev.Data != line {
		t.Fatalf("newest line %q, want %q", ev.Data, line)
	}
	return ev.LastEventID
}

func TestJournalVacuumedCursorGetsGap(t *testing.T) {
	jd := journaltest.Start(t)
	jd.Log(t, "t", 6, "gone")
	gone := jd.WaitMessage(t, "gone")
	jd.Rotate(t)
	jd.Log(t, "t", 6, "kept")
	jd.WaitMessage(t, "kept")
	jd.Vacuum(t)
	es := jd.Entries(t)
	if len(es) == 0 || es[0].Cursor == gone.Cursor {
		t.Fatalf("vacuum left %d entries", len(es))
	}
	a := startJournalAgent(t, jd, "stream: {replay_lines: 1}\n")
	r := a.open("/stream/j", "Last-Event-ID", "c"+gone.Cursor)
	if ev := r.next(t); ev.Type != "gap" || ev.Data != `{"missed":-1}` {
		t.Fatalf("first event %s %q, want a gap", ev.Type, ev.Data)
	}
	if ev := r.next(t); ev.Data != string(es[0].Message) || ev.LastEventID != "c"+es[0].Cursor {
		t.Fatalf("after the gap %q (%s), want the oldest left %q", ev.Data, ev.LastEventID, es[0].Message)
	}
}

func TestJournalChildKilledLosesAndRepeatsNothing(t *testing.T) {
	jd := journaltest.Start(t)
	a := startJournalAgent(t, jd, "")
	c := a.open("/stream/j?tail=0&identifier=t")
	for round := range 3 {
		lines := numberedLines(fmt.Sprintf("k%d", round), 0, 50)
		logAll(t, jd, lines[:25])
		var kids []int
		waitFor(t, "journalctl child", func() bool {
			kids = journaltest.Children(a.cmd.Process.Pid, "journalctl")
			return len(kids) > 0
		})
		for _, k := range kids {
			_ = syscall.Kill(k, syscall.SIGKILL)
		}
		logAll(t, jd, lines[25:])
		expectLines(t, c, lines...)
	}
	jd.Log(t, "t", 6, "end")
	expectLines(t, c, "end")
}

func TestJournalUnsafeAndLongMessages(t *testing.T) {
	jd := journaltest.Start(t)
	a := startJournalAgent(t, jd, "stream: {max_line_bytes: 300000}\n")
	c := a.open("/stream/j?tail=0&identifier=t")
	long := strings.Repeat("0123456789", 20_000)
	for _, m := range []string{"bin\x00\xff\xfe end", "cr\rlf\nboth\r\nend\n", long, "after"} {
		if err := jd.Send("MESSAGE", m, "SYSLOG_IDENTIFIER", "t"); err != nil {
			t.Fatalf("send %d bytes: %v", len(m), err)
		}
	}
	// A message of several lines is one event, one data: field per line
	// (a CR still becomes U+FFFD, and a final newline ends the last line).
	want := []string{"bin\x00\uFFFD\uFFFD end", "cr\uFFFDlf\nboth\uFFFD\nend", long, "after"}
	for i, w := range want {
		ev := c.next(t)
		if ev.Type != "" || !utf8.ValidString(ev.Data) || strings.ContainsAny(ev.Data, "\r") || ev.Data != w {
			t.Fatalf("message %d: %s %q (%d bytes), want %d bytes", i, ev.Type, trunc(ev.Data), len(ev.Data), len(w))
		}
	}
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

func TestJournalBurstArrivesInOrder(t *testing.T) {
	jd := journaltest.Start(t)
	a := startJournalAgent(t, jd, "")
	c := a.open("/stream/j?tail=0&identifier=t")
	const n = 5000
	lines := numberedLines("b", 0, n)
	logAll(t, jd, lines)
	expectLines(t, c, lines...)
}

func TestJournalUnreadableDoesNotHoldReady(t *testing.T) {
	dir := t.TempDir()
	a := start(t, "sources:\n  - name: j\n    journal: {directory: "+dir+"/missing}\n  - name: f\n    files: ["+dir+"/a.log]\n")
	// start waited for /readyz.
	var src []struct{ Name, Kind, State, Error string }
	waitFor(t, "journal error in /api/sources", func() bool {
		resp := a.get("/api/sources")
		defer resp.Body.Close()
		src = nil
		_ = json.NewDecoder(resp.Body).Decode(&src)
		return len(src) == 2 && src[1].Error != ""
	})
	if src[1].Name != "j" || src[1].Kind != "journal" || src[1].State != "error" {
		t.Fatalf("sources %+v", src)
	}
	t.Logf("journal source: state %q, error %q", src[1].State, src[1].Error)
	c := a.open("/stream/f?tail=0")
	appendLines(t, dir+"/a.log", "file still works")
	expectLines(t, c, "file still works")
}

// A reload that changes a journal source restarts its journalctl and goes
// on after the last entry it held; SIGTERM stops journalctl with the agent.
func TestJournalReloadAndShutdownStopTheChild(t *testing.T) {
	jd := journaltest.Start(t)
	a := startJournalAgent(t, jd, "")
	c := a.open("/stream/j?tail=0&identifier=t")
	logAll(t, jd, numberedLines("a", 0, 5))
	expectLines(t, c, numberedLines("a", 0, 5)...)
	var before []int
	waitFor(t, "journalctl child", func() bool {
		before = journaltest.Children(a.cmd.Process.Pid, "journalctl")
		return len(before) == 1
	})
	cfg := "listen: 127.0.0.1:0\nsources:\n  - name: j\n    journal: {directory: " + jd.Dir + ", priority: debug}\n"
	if err := os.WriteFile(a.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reload", func() bool { return strings.Contains(a.logs.String(), `"reloaded"`) })
	logAll(t, jd, numberedLines("b", 0, 5))
	// The client stayed, and sees each entry once.
	expectLines(t, c, numberedLines("b", 0, 5)...)
	waitFor(t, "a new journalctl", func() bool {
		kids := journaltest.Children(a.cmd.Process.Pid, "journalctl")
		return len(kids) == 1 && kids[0] != before[0]
	})
	kids := journaltest.Children(a.cmd.Process.Pid, "journalctl")
	if err := syscall.Kill(before[0], 0); err == nil {
		t.Errorf("the journalctl of the old config (pid %d) still runs", before[0])
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-a.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no exit within 5s of SIGTERM")
	}
	if err := syscall.Kill(kids[0], 0); err == nil {
		t.Errorf("journalctl (pid %d) outlived the agent", kids[0])
	}
}

// TestJournalHistoryWindows reads the journal's past through the stream's
// history parameters: a since=/until= window is exactly its entries and
// ends, and tail= beyond the replay buffer reads the rest from the journal.
func TestJournalHistoryWindows(t *testing.T) {
	jd := journaltest.Start(t)
	logAll(t, jd, numberedLines("early", 0, 5))
	jd.WaitMessage(t, "early-4")
	time.Sleep(1100 * time.Millisecond) // journal times are in µs; keep the windows apart
	mid := time.Now()
	logAll(t, jd, numberedLines("late", 0, 5))
	jd.WaitMessage(t, "late-4")
	time.Sleep(1100 * time.Millisecond)
	end := time.Now()
	a := startJournalAgent(t, jd, "stream: {replay_lines: 2}\n")

	q := "since=" + mid.UTC().Format(time.RFC3339Nano) + "&until=" + end.UTC().Format(time.RFC3339Nano)
	c := a.open("/stream/j?identifier=t&" + strings.ReplaceAll(q, "+", "%2B"))
	expectLines(t, c, numberedLines("late", 0, 5)...)
	if !c.ended(5 * time.Second) {
		t.Fatal("the window's response did not end")
	}

	c = a.open("/stream/j?identifier=t&tail=8")
	expectLines(t, c, append(numberedLines("early", 2, 5), numberedLines("late", 0, 5)...)...)
	jd.Log(t, "t", 6, "live")
	expectLines(t, c, "live")
}
