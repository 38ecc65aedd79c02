package stream

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"edgetail/event"
)

// slicePast is a producer's store of keyed lines, read the way a journal
// is: from after a key, through a key.
type slicePast struct {
	mu      sync.Mutex
	lines   []event.Line
	dropped int // lines at the start that are gone (vacuumed)
}

func (p *slicePast) add(l event.Line) {
	p.mu.Lock()
	p.lines = append(p.lines, l)
	p.mu.Unlock()
}

func (p *slicePast) ReadPast(ctx context.Context, q PastQuery, emit func(PastItem) error) error {
	p.mu.Lock()
	lines := p.lines[p.dropped:]
	all := p.lines
	p.mu.Unlock()
	from := -1
	for i := range lines {
		if bytes.Equal(lines[i].Key, q.After) {
			from = i + 1
		}
	}
	var it PastItem
	if from < 0 {
		from, it.Missed = 0, -1
		if bytes.Compare(q.After, all[0].Key) < 0 { // not one of ours at all
			return emit(it)
		}
	}
	for _, l := range lines[from:] {
		if q.Match == nil || q.Match(&l) {
			it.Lines = append(it.Lines, l)
		}
		if bytes.Equal(l.Key, q.Through) {
			break
		}
	}
	return emit(it)
}

func keyed(i int) event.Line {
	return event.Line{Text: []byte(fmt.Sprintf("line %d", i)), Key: []byte(fmt.Sprintf("k%04d", i)), Time: time.Now(), Level: event.LevelWarn,
		Journal: &event.JournalFields{Unit: "u.service", Identifier: "id", PID: 1, Priority: 4, Boot: "b", Cursor: fmt.Sprintf("%04d", i)}}
}

func TestPastResumeMeetsLive(t *testing.T) {
	e := newEnv(t, Options{ReplayLines: 3})
	s := e.hub.Source("j", KindJournal)
	p := &slicePast{}
	s.SetPast(p)
	publish := func(from, to int) {
		var ls []event.Line
		for i := from; i < to; i++ {
			p.add(keyed(i))
			ls = append(ls, keyed(i))
		}
		if err := s.Publish(context.Background(), ls); err != nil {
			t.Fatal(err)
		}
	}
	publish(0, 10)

	// In the ring: served from it.
	c := e.open("/stream/j", "Last-Event-ID", "k0007")
	for i := 8; i < 10; i++ {
		if ev := c.next(t); ev.Data != fmt.Sprintf("line %d", i) || ev.LastEventID != fmt.Sprintf("k%04d", i) {
			t.Fatalf("ring resume: %q %q", ev.Data, ev.LastEventID)
		}
	}
	// Older than the ring: read from the past through the last committed
	// line, then live, with no duplicate at the seam.
	r := e.open("/stream/j?format=json&level=warn&unit=u", "Last-Event-ID", "k0002")
	publish(10, 12)
	for i := 3; i < 12; i++ {
		ev := r.next(t)
		want := fmt.Sprintf(`{"id":"k%04d","source":"j","file":"","time":`, i)
		if ev.Type != "" || ev.LastEventID != fmt.Sprintf("k%04d", i) || !bytes.HasPrefix([]byte(ev.Data), []byte(want)) ||
			!bytes.Contains([]byte(ev.Data), []byte(`"level":"warn","line":"line `+fmt.Sprint(i)+`","lines":1,"unit":"u.service","identifier":"id","pid":1,"priority":4,"boot":"b","cursor":"`)) {
			t.Fatalf("event %d: %s %q", i, ev.Type, ev.Data)
		}
	}
	r.expectNone(t, 50*time.Millisecond)

	// Gone from the origin: a gap, then the oldest left.
	p.mu.Lock()
	p.dropped = 5
	p.mu.Unlock()
	g := e.open("/stream/j", "Last-Event-ID", "k0001")
	if ev := g.next(t); ev.Type != "gap" || ev.Data != `{"missed":-1}` {
		t.Fatalf("want a gap, got %s %q", ev.Type, ev.Data)
	}
	if ev := g.next(t); ev.Data != "line 5" {
		t.Fatalf("after the gap %q", ev.Data)
	}
	// A filter on journal fields is refused on other kinds of source.
	e.hub.Source("f", KindFile)
	resp := e.get("/stream/f?identifier=x")
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("identifier= on a file source: %d", resp.StatusCode)
	}
}

// matchPast is a past that applies the query's Match, as the agent's file
// and journal pasts do.
type matchPast struct{ lines []event.Line }

func (p *matchPast) ReadPast(ctx context.Context, q PastQuery, emit func(PastItem) error) error {
	var it PastItem
	for _, l := range p.lines {
		if q.Match == nil || q.Match(&l) {
			it.Lines = append(it.Lines, l)
		}
	}
	return emit(it)
}

// A download is filtered like a stream: by unit (the journal's fields) and
// by the level its producer gave the line, not one detected from its text.
func TestDownloadFiltersJournalFieldsAndProducerLevel(t *testing.T) {
	e := newEnv(t, Options{})
	s := e.hub.Source("j", KindJournal)
	line := func(text, unit string, lv event.Level) event.Line {
		return event.Line{Text: []byte(text), Time: time.Now(), Level: lv, Journal: &event.JournalFields{Unit: unit, Priority: -1}}
	}
	s.SetPast(&matchPast{lines: []event.Line{
		line("disk gone", "a.service", event.LevelError),
		line("other unit", "b.service", event.LevelError),
		line("just chatter", "a.service", event.LevelInfo),
	}})
	srv := httptest.NewServer(e.hub.Download())
	defer srv.Close()
	for _, tc := range []struct{ query, want string }{
		{"unit=a.service", "disk gone\njust chatter\n"},
		{"unit=a.service&level=error", "disk gone\n"},
	} {
		resp, err := http.Get(srv.URL + "/download/j?since=1h&" + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(b) != tc.want {
			t.Errorf("%s: %s %q, want %q", tc.query, resp.Status, b, tc.want)
		}
	}
}
