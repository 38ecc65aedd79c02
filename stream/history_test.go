package stream

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"edgetail/event"
	"edgetail/query"
)

// heldPast is a source's past that sends one line, then holds the read
// until its client goes: a history read that takes long.
type heldPast struct {
	started chan struct{}
	ended   chan struct{}
}

func (p *heldPast) ReadPast(ctx context.Context, q PastQuery, emit func(PastItem) error) error {
	if err := emit(PastItem{Lines: []event.Line{{Text: []byte("from the past"), Key: []byte("fx~0.1"), Time: time.Now()}}}); err != nil {
		return err
	}
	p.started <- struct{}{}
	<-ctx.Done()
	p.ended <- struct{}{}
	return ctx.Err()
}

// History reads are bounded apart from streams (503 naming the key beyond
// stream.max_history_reads), stop as soon as their client leaves, and never
// hold up another client's live stream.
func TestHistoryReadsAreBounded(t *testing.T) {
	e := newEnv(t, Options{MaxHistoryReads: 1}, "app")
	p := &heldPast{started: make(chan struct{}, 4), ended: make(chan struct{}, 4)}
	e.hub.Source("app", KindFile).SetPast(p)

	live := e.open("/stream/app?tail=0")
	reader := e.open("/stream/app?since=1h")
	if ev := reader.next(t); ev.Data != "from the past" || ev.LastEventID != "fx~0.1" {
		t.Fatalf("past event %+v", ev)
	}
	<-p.started

	resp := e.get("/stream/app?since=2h")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(string(body), "stream.max_history_reads") {
		t.Fatalf("second read: %s %q, want 503 naming the key", resp.Status, body)
	}

	e.publish("app", "live while the past is read")
	if ev := live.next(t); ev.Data != "live while the past is read" {
		t.Fatalf("live client got %+v", ev)
	}

	reader.close()
	select {
	case <-p.ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the read went on after its client left")
	}
	again := e.open("/stream/app?since=1h")
	if ev := again.next(t); ev.Data != "from the past" {
		t.Fatalf("after the slot was given back: %+v", ev)
	}
	<-p.started
	again.close()
	<-p.ended
}

func TestParseWindow(t *testing.T) {
	for _, tc := range []struct {
		q     string
		ok    bool
		since time.Duration // back from now, 0: none
	}{
		{"since=90s", true, 90 * time.Second},
		{"since=15m", true, 15 * time.Minute},
		{"since=7d", true, 7 * 24 * time.Hour},
		{"since=1h30m&until=1h", true, 90 * time.Minute},
		{"since=2026-01-01T00:00:00Z", true, 0},
		{"since=1h&until=2h", false, 0},
		{"since=tomorrow", false, 0},
		{"since=-5m", false, 0},
		{"until=x", false, 0},
	} {
		v, _ := url.ParseQuery(tc.q)
		r, err := query.ParseRequest(v, 100)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v", tc.q, err)
			continue
		}
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("%s: a reason of more than one line", tc.q)
			}
			continue
		}
		if r.Tail != 0 || !r.Window() {
			t.Errorf("%s: tail %d window %v, want only the window", tc.q, r.Tail, r.Window())
		}
		if tc.since > 0 {
			if d := time.Since(r.Since) - tc.since; d < 0 || d > time.Minute {
				t.Errorf("%s: since %v", tc.q, r.Since)
			}
		}
	}
	v, _ := url.ParseQuery("since=" + time.Now().Add(time.Hour).Format(time.RFC3339))
	if _, err := query.ParseRequest(v, 100); err == nil || !strings.Contains(err.Error(), "future") {
		t.Errorf("since in the future: %v", err)
	}
}
