package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"edgetail/event"
	"edgetail/stream"
)

// The message in flight when an agent was killed is sent again, after the
// restart, with the same lines and so the same Nats-Msg-Id: JetStream
// drops it, and the lines after it go out in a message of their own.
func TestInFlightMessageSentAgainIsDropped(t *testing.T) {
	ns := startNATS(t, 0)
	nc, js := connect(t, ns.url())
	ensure(t, js, StreamOptions{})
	h := stream.New(stream.Options{ReplayLines: 100})
	src := h.Source("app", stream.KindFile)
	keyed := func(from, to int) {
		var ls []event.Line
		for i := from; i < to; i++ {
			ls = append(ls, event.Line{Text: fmt.Appendf(nil, "line %d", i), Time: time.Now(), Key: fmt.Appendf(nil, "k%04d", i)})
		}
		if err := src.Publish(context.Background(), ls); err != nil {
			t.Fatal(err)
		}
	}
	statePath := filepath.Join(t.TempDir(), "fleet-app.json")
	run := func(p *Publisher) func() {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { _ = p.Run(ctx) })
		return func() { cancel(); wg.Wait() }
	}
	keyed(0, 1)
	p1 := NewPublisher(PublisherOptions{Conn: nc, JS: js, Host: "web-1", Source: SourceOf[*stream.Tap](src), StatePath: statePath})
	keyed(1, 11) // one message: lines 1..10, all in the replay buffer
	stop := run(p1)
	waitFor(t, "lines 1..10 acknowledged", func() bool { return p1.Stats().Published == 10 })
	stop()

	// What a crash right after the send leaves: the line before as the
	// last acknowledged one, that message in flight.
	b, _ := json.Marshal(state{Host: "web-1", Source: "app", Key: "k0000", Flights: []flight{{Lines: 10, Last: "k0010"}}})
	if err := os.WriteFile(statePath, b, 0o640); err != nil {
		t.Fatal(err)
	}
	keyed(11, 16)
	p2 := NewPublisher(PublisherOptions{Conn: nc, JS: js, Host: "web-1", Source: SourceOf[*stream.Tap](src), StatePath: statePath})
	stop = run(p2)
	defer stop()
	waitFor(t, "lines 1..15 acknowledged", func() bool { return p2.Stats().Published == 15 })
	st, err := js.Stream(context.Background(), "EDGETAIL")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Fatalf("the stream holds %d messages, want 2 (lines 1..10 once, then 11..15)", info.State.Msgs)
	}
	m, err := st.GetMsg(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if recs, _ := decodeLines(m.Data); len(recs) != 5 || recs[0].ID != "k0011" {
		t.Fatalf("the second message holds %d lines from %q, want 11..15", len(recs), recs[0].ID)
	}
	hub := newHub(t, nc, js, HubOptions{}, nil)
	c := hub.open("/stream?tail=100")
	evs, gaps := c.lines(15)
	if len(gaps) > 0 {
		t.Fatalf("gaps %v", gaps)
	}
	for i, ev := range evs {
		if l, id := fieldOf(ev.Data, "line"), fieldOf(ev.Data, "id"); l != fmt.Sprintf("line %d", i+1) || id != fmt.Sprintf("k%04d", i+1) {
			t.Fatalf("event %d: line %q id %q", i, l, id)
		}
	}
	if ev, q := c.quiet(200 * time.Millisecond); !q {
		t.Fatalf("unexpected event %q", ev.Data)
	}
}

// A message sent again after JetStream's duplicate window (an agent killed
// and started again minutes later) is stored twice; the hub shows its
// lines once, as its last line is the last line it showed of the source.
func TestHubDropsAMessageSentAgainAfterTheDuplicateWindow(t *testing.T) {
	ns := startNATS(t, 0)
	nc, js := connect(t, ns.url())
	ensure(t, js, StreamOptions{})
	send := func(from, to int) {
		var body []byte
		for i := from; i < to; i++ {
			if i > from {
				body = append(body, '\n')
			}
			body = fmt.Appendf(body, `{"id":"k%04d","time":"2026-12-01T10:00:00Z","level":"","file":"/x","line":"line %d"}`, i, i)
		}
		m := nats.NewMsg(subject("EDGETAIL", "web-1", "app", levelNone))
		m.Data = body
		m.Header.Set(hdrHost, "web-1")
		m.Header.Set(hdrSource, "app")
		if _, err := js.PublishMsg(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	send(0, 3)
	send(0, 3) // no Nats-Msg-Id: as if the window had passed
	send(3, 5)
	hub := newHub(t, nc, js, HubOptions{}, nil)
	c := hub.open("/stream?tail=100")
	evs, _ := c.lines(5)
	for i, ev := range evs {
		if l := fieldOf(ev.Data, "line"); l != fmt.Sprintf("line %d", i) {
			t.Fatalf("event %d: %q", i, l)
		}
	}
	if ev, q := c.quiet(200 * time.Millisecond); !q {
		t.Fatalf("unexpected event %q", ev.Data)
	}
}
