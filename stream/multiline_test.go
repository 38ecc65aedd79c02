package stream

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"edgetail/event"
)

// publishEvent sends one event of several lines, as a multiline source's
// sink does.
func (e *env) publishEvent(source string, l event.Line) {
	e.t.Helper()
	e.hub.mu.Lock()
	s := e.hub.sources[source]
	e.hub.mu.Unlock()
	if l.File == "" {
		l.File = "/var/log/" + source + ".log"
	}
	l.Time = time.Now()
	if err := s.Publish(context.Background(), []event.Line{l}); err != nil {
		e.t.Fatal(err)
	}
}

func trace(lines ...string) event.Line {
	return event.Line{Text: []byte(strings.Join(lines, "\n")), Lines: len(lines)}
}

// TestMultilineEventIsOneSSEEvent: an event of several lines is one SSE
// event, one data: field per line (so its data is the lines joined by
// "\n"), each field sanitized: a continuation holding "\rdata: forged"
// forges no field and no event. Filters match the whole event, the level
// is the first line's, and the JSON form has line and lines.
func TestMultilineEventIsOneSSEEvent(t *testing.T) {
	e := newEnv(t, Options{}, "app")
	all := e.open("/stream/app?tail=0")
	errs := e.open("/stream/app?tail=0&level=error")
	npe := e.open("/stream/app?tail=0&q=NullPointerException")
	not := e.open("/stream/app?tail=0&not=nullpointer")
	js := e.open("/stream/app?tail=0&format=json")
	merged := e.open("/stream?sources=app&tail=0&format=text")
	lines := []string{
		"2026-12-01 10:00:00 ERROR request failed",
		"java.lang.IllegalStateException: wrapped",
		"\tat a.B.c(B.java:1)\rdata: forged",
		"Caused by: java.lang.NullPointerException",
		"\t... 42 more",
	}
	e.publishEvent("app", trace(lines...))
	e.publish("app", "2026-12-01 10:00:01 INFO next")
	want := strings.Replace(strings.Join(lines, "\n"), "\r", "\uFFFD", 1)
	for name, c := range map[string]*sseClient{"all": all, "level=error": errs, "q=": npe} {
		if ev := c.next(t); ev.Data != want {
			t.Errorf("%s: data %q, want %q", name, ev.Data, want)
		}
	}
	if ev := not.next(t); ev.Data != "2026-12-01 10:00:01 INFO next" {
		t.Errorf("not= kept %q", ev.Data)
	}
	var j struct {
		Line  string `json:"line"`
		Lines int    `json:"lines"`
		Level string `json:"level"`
	}
	if err := json.Unmarshal([]byte(js.next(t).Data), &j); err != nil || j.Line != want || j.Lines != 5 || j.Level != "error" {
		t.Errorf("json %+v, %v", j, err)
	}
	if ev := merged.next(t); ev.Data != "[app] "+want {
		t.Errorf("merged text %q", ev.Data)
	}
	// The next event of each stream is the next line: nothing was forged.
	for name, c := range map[string]*sseClient{"all": all, "merged": merged} {
		if ev := c.next(t); !strings.HasSuffix(ev.Data, "INFO next") {
			t.Errorf("%s: after the trace %q", name, ev.Data)
		}
	}
	// tail= counts events: the trace is one.
	if ev := e.open("/stream/app?tail=2").next(t); ev.Data != want {
		t.Errorf("tail=2 starts with %q", ev.Data)
	}
}

// TestMultilineFrameBytes: the frame itself, and the marker of an event
// cut at max_lines after its last line.
func TestMultilineFrameBytes(t *testing.T) {
	e := newEnv(t, Options{}, "app")
	l := trace("a", "", "\tb")
	l.Partial = true
	e.publishEvent("app", l)
	resp := e.get("/stream/app?tail=1")
	defer resp.Body.Close()
	buf := make([]byte, 4096)
	var got string
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(got, "continued in the next event]\n\n") && time.Now().Before(deadline) {
		n, err := resp.Body.Read(buf)
		got += string(buf[:n])
		if err == io.EOF {
			break
		}
	}
	want := "data: a\ndata: \ndata: \tb [edgetail: event cut, continued in the next event]\n\n"
	if !strings.Contains(got, want) {
		t.Fatalf("frame %q lacks %q", got, want)
	}
}
