package fleet

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"edgetail/event"
)

// TestFleetCarriesEventsWhole: an event of several lines published by an
// agent reaches a hub viewer as one event: JSON line is the lines joined
// by "\n" with lines their number, text has one data: field per line (a
// CR still U+FFFD), and q= on a later line finds the whole event.
func TestFleetCarriesEventsWhole(t *testing.T) {
	ns := startNATS(t, 0)
	nc, js := connect(t, ns.url())
	ensure(t, js, StreamOptions{})
	a := newAgent(t, nc, js, "web-1", agentOpts{}, "app")
	lines := []string{"2026-12-01 ERROR failed", "java.lang.IllegalStateException: x", "\tat a.B.c(B.java:1)\rdata: forged"}
	ev := event.Line{File: "/var/log/app.log", Time: time.Now(), Text: []byte(strings.Join(lines, "\n")), Lines: 3}
	if err := a.srcs["app"].Publish(context.Background(), []event.Line{ev}); err != nil {
		t.Fatal(err)
	}
	a.write("app", "INFO after")
	a.waitAcked("app")
	hub := newHub(t, nc, js, HubOptions{}, nil)
	want := strings.Replace(strings.Join(lines, "\n"), "\r", "\uFFFD", 1)

	c := hub.open("/stream?tail=100&q=B.java")
	var d struct {
		Line  string `json:"line"`
		Lines int    `json:"lines"`
		Level string `json:"level"`
	}
	if err := json.Unmarshal([]byte(c.next().Data), &d); err != nil || d.Line != want || d.Lines != 3 || d.Level != "error" {
		t.Errorf("json %+v, %v", d, err)
	}
	c.close()
	c = hub.open("/stream?tail=100&format=text")
	if got := c.next().Data; got != "[web-1/app] "+want {
		t.Errorf("text %q", got)
	}
	if got := c.next().Data; got != "[web-1/app] web-1 app 0 INFO after" {
		t.Errorf("after the event %q", got)
	}
	c.close()
}
