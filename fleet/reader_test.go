package fleet

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// consumersOf lists the stream's consumers that read bodies (the hub's
// views; the host table reads headers only).
func consumersOf(t *testing.T, js jetstream.JetStream) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	l := st.ListConsumers(ctx)
	for ci := range l.Info() {
		if !ci.Config.HeadersOnly {
			names = append(names, ci.Name)
		}
	}
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// A view whose consumer disappears (deleted here; on a dead server in a
// cluster) gets a new one under a new name, after the last line it showed:
// the viewer gets every line once, in order, and the host table goes on.
func TestViewReplacesAConsumerThatIsGone(t *testing.T) {
	ns := startNATS(t, 0)
	nc, js := connect(t, ns.url())
	ensure(t, js, StreamOptions{})
	hub := newHub(t, nc, js, HubOptions{}, nil)
	c := hub.open("/stream?tail=0")
	a := newAgent(t, nc, js, "web-1", agentOpts{}, "app")
	for range 10 {
		a.write("app", texts(10, "before")...)
	}
	evs, _ := c.lines(100)
	old := consumersOf(t, js)
	if len(old) != 1 {
		t.Fatalf("consumers %v, want the view's", old)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := js.DeleteConsumer(ctx, DefaultStream, old[0]); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		a.write("app", texts(10, "after")...)
	}
	more, gaps := c.lines(100)
	if len(gaps) > 0 {
		t.Fatalf("gaps %v", gaps)
	}
	checkOnceInOrder(t, append(evs, more...), map[string]int{"web-1/app": 200})
	if ev, q := c.quiet(300 * time.Millisecond); !q {
		t.Fatalf("unexpected event after all lines: %+v", ev)
	}
	if n := hub.hub.Stats().ConsumerReplacements; n < 1 {
		t.Errorf("consumer replacements %d, want at least 1", n)
	}
	if now := consumersOf(t, js); len(now) != 1 || now[0] == old[0] {
		t.Errorf("consumers after the replacement %v (before %v): want one, under a new name", now, old)
	}
	a.write("app", "last")
	c.lines(1)
}

// A view whose NATS server restarts (its consumers, in memory, are gone)
// reads on after the last line it showed, once its connection is back.
func TestViewReadsOnAcrossAServerRestart(t *testing.T) {
	ns := startNATS(t, 0)
	nc, js := connect(t, ns.url())
	ensure(t, js, StreamOptions{})
	hub := newHub(t, nc, js, HubOptions{}, nil)
	c := hub.open("/stream?tail=0")
	a := newAgent(t, nc, js, "web-1", agentOpts{replay: 1000}, "app")
	a.write("app", texts(50, "before")...)
	evs, _ := c.lines(50)
	ns.stop()
	a.write("app", texts(50, "away")...)
	ns.start()
	a.write("app", texts(50, "back")...)
	more, gaps := c.lines(100)
	if len(gaps) > 0 {
		t.Fatalf("gaps %v", gaps)
	}
	checkOnceInOrder(t, append(evs, more...), map[string]int{"web-1/app": 150})
	if ev, q := c.quiet(300 * time.Millisecond); !q {
		t.Fatalf("unexpected event after all lines: %+v", ev)
	}
}

// A reader that cannot create a consumer (the stream is gone) keeps trying,
// and stops at once when told to, whatever it was doing.
func TestReaderStopsWhileItCannotCreateAConsumer(t *testing.T) {
	ns := startNATS(t, 0)
	nc, js := connect(t, ns.url())
	ensure(t, js, StreamOptions{})
	var got, resets atomic.Uint64
	rd := newReader(js, nc, readerConfig{Stream: DefaultStream, Handle: func(jetstream.Msg) { got.Add(1) }, Resets: &resets})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := rd.start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, DefaultStream+".h.s.info", []byte(`{"line":"x"}`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the message read", func() bool { return got.Load() == 1 })
	if err := js.DeleteStream(ctx, DefaultStream); err != nil {
		t.Fatal(err)
	}
	// Its consumer went with the stream: the reader tries to make another.
	time.Sleep(3 * readerHeartbeat)
	began := time.Now()
	rd.stop()
	if d := time.Since(began); d > time.Second {
		t.Errorf("stop took %v", d)
	}
	// A reader whose first consumer cannot be made gives up with its
	// context, and leaves nothing running (goleak).
	rd2 := newReader(js, nc, readerConfig{Stream: DefaultStream, Handle: func(jetstream.Msg) {}})
	sctx, scancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer scancel()
	if _, err := rd2.start(sctx); err == nil {
		t.Fatal("a reader of a missing stream started")
	}
}

// A view whose consumer is alive but delivers nothing (paused here: its
// heartbeats go on, lines do not come) is noticed by the hub's own check
// and replaced after the last line it showed.
func TestViewReplacesAConsumerThatDeliversNothing(t *testing.T) {
	ns := startNATS(t, 0)
	nc, js := connect(t, ns.url())
	ensure(t, js, StreamOptions{})
	hub := newHub(t, nc, js, HubOptions{}, nil)
	c := hub.open("/stream?tail=0")
	a := newAgent(t, nc, js, "web-1", agentOpts{}, "app")
	a.write("app", texts(20, "before")...)
	evs, _ := c.lines(20)
	old := consumersOf(t, js)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.PauseConsumer(ctx, DefaultStream, old[0], time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	a.write("app", texts(20, "paused")...)
	more, gaps := c.lines(20)
	if len(gaps) > 0 {
		t.Fatalf("gaps %v", gaps)
	}
	checkOnceInOrder(t, append(evs, more...), map[string]int{"web-1/app": 40})
	t.Logf("lines came %v after they were written to a paused consumer's stream", time.Since(began).Round(time.Millisecond))
	if n := hub.hub.Stats().ConsumerReplacements; n != 1 {
		t.Errorf("consumer replacements %d, want 1", n)
	}
}
