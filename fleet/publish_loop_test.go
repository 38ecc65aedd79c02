package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"edgetail/event"
	"edgetail/stream"
)

// One test per transition of the publisher's loop (publish_loop.go), each
// driving a loop step by step against an embedded server, through the
// ackProxy of publish_ack_test.go where acknowledgements must be held or
// lost.

// newTestLoop is a loop the test drives itself, step by step, of a
// publisher of source app of host web-1 sending through ap's prefix.
func newTestLoop(t *testing.T, o PublisherOptions) (*Publisher, *loop) {
	t.Helper()
	o.Prefix, o.Host = proxyPrefix, "web-1"
	p := NewPublisher(o)
	l := p.newLoop(p.loadState())
	t.Cleanup(l.close)
	return p, l
}

// until steps and waits l until cond holds.
func until(t *testing.T, l *loop, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for !cond() {
		l.step(time.Now())
		if cond() {
			return
		}
		if !l.wait(ctx) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// settled waits, without stepping, until the first n messages of the
// window are acknowledged: through wait's select, and nothing else moves.
func settled(t *testing.T, l *loop, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for want := len(l.pend) - n; len(l.pend) > want; {
		if !l.wait(ctx) {
			t.Fatalf("timed out waiting for %d acknowledgements", n)
		}
	}
}

// writeState writes a state file as a stopped publisher of web-1/app left it.
func writeState(t *testing.T, path, key string, flights ...flight) {
	t.Helper()
	b, _ := json.Marshal(state{Host: "web-1", Source: "app", Key: key, Flights: flights})
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

func readState(t *testing.T, path string) (state, bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return state{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st, true
}

func keys(evs []*event.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, string(e.Key))
	}
	return out
}

// Start: the tap opens right after the saved key, and the messages then in
// flight are to be built again; a state file of another host starts from
// now, with nothing to build again.
func TestLoopStartsAfterTheSavedKey(t *testing.T) {
	src := stream.New(stream.Options{ReplayLines: 100}).Source("app", stream.KindFile)
	keyedLines(t, src, 0, 8)
	path := filepath.Join(t.TempDir(), "fleet-app.json")
	writeState(t, path, "k0003", flight{Lines: 2, Last: "k0005"})
	_, l := newTestLoop(t, PublisherOptions{Source: SourceOf[*stream.Tap](src), StatePath: path})
	l.take()
	if got := keys(l.carry); !slices.Equal(got, []string{"k0004", "k0005", "k0006", "k0007"}) {
		t.Fatalf("took %q, want k0004..k0007", got)
	}
	if string(l.ackedKey) != "k0003" || !slices.Equal(l.replay, []flight{{Lines: 2, Last: "k0005"}}) {
		t.Fatalf("acked key %q, replay %+v", l.ackedKey, l.replay)
	}

	b, _ := json.Marshal(state{Host: "web-2", Source: "app", Key: "k0003", Flights: []flight{{Lines: 2, Last: "k0005"}}})
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
	_, l = newTestLoop(t, PublisherOptions{Source: SourceOf[*stream.Tap](src), StatePath: path})
	keyedLines(t, src, 8, 9)
	l.take()
	if got := keys(l.carry); !slices.Equal(got, []string{"k0008"}) || l.replay != nil || l.ackedKey != nil {
		t.Fatalf("with another host's state: took %q, replay %+v, acked key %q; want k0008 only", got, l.replay, l.ackedKey)
	}
}

// Take: while the window is full the loop takes nothing; the lines wait
// in the tap and go out together once the acknowledgement comes.
func TestLoopTakesNothingWhileTheWindowIsFull(t *testing.T) {
	ns := startNATS(t, 0)
	nc, js := connect(t, ns.url())
	ensure(t, js, StreamOptions{})
	ap := newAckProxy(t, ns.url(), 0)
	ap.holdAcks()
	src := stream.New(stream.Options{ReplayLines: 100}).Source("app", stream.KindFile)
	_, l := newTestLoop(t, PublisherOptions{Conn: nc, JS: js, Source: SourceOf[*stream.Tap](src)})
	keyedLines(t, src, 0, 3)
	l.step(time.Now())
	if len(l.pend) != 1 || l.pend[0].lines != 3 || l.phase() != full {
		t.Fatalf("after the first step: %d in flight, phase %v; want one message of 3 lines, full", len(l.pend), l.phase())
	}
	keyedLines(t, src, 3, 7)
	l.step(time.Now())
	if len(l.carry) != 0 || len(l.pend) != 1 || l.phase() != full {
		t.Fatalf("with the window full: took %d lines, %d in flight, phase %v", len(l.carry), len(l.pend), l.phase())
	}
	waitFor(t, "the message stored", func() bool { return len(ap.passed()) == 1 })
	ap.release()
	settled(t, l, 1)
	l.step(time.Now())
	if len(l.pend) != 1 || l.pend[0].lines != 4 || string(l.pend[0].lastKey) != "k0006" {
		t.Fatalf("after the acknowledgement: want one message of lines 3..6, got %d in flight", len(l.pend))
	}
}

// publishNext: a message of keyed lines is in the state file before it is
// sent, and leaves it once acknowledged.
func TestLoopSavesAMessageBeforeSendingIt(t *testing.T) {
	ns := startNATS(t, 0)
	nc, js := connect(t, ns.url())
	ensure(t, js, StreamOptions{})
	ap := newAckProxy(t, ns.url(), 0)
	ap.holdAcks()
	src := stream.New(stream.Options{ReplayLines: 100}).Source("app", stream.KindFile)
	keyedLines(t, src, 0, 1)
	path := filepath.Join(t.TempDir(), "fleet-app.json")
	writeState(t, path, "k0000")
	p, l := newTestLoop(t, PublisherOptions{Conn: nc, JS: js, Source: SourceOf[*stream.Tap](src), StatePath: path})
	keyedLines(t, src, 1, 6)
	l.step(time.Now())
	if st, _ := readState(t, path); st.Key != "k0000" || !slices.Equal(st.Flights, []flight{{Lines: 5, Last: "k0005"}}) {
		t.Fatalf("state while in flight: %+v", st)
	}
	waitFor(t, "the message stored", func() bool { return len(ap.passed()) == 1 })
	if id := ap.passed()[0].id; id != "web-1/app/k"+keyHash([]byte("k0001"))+"-"+keyHash([]byte("k0005"))+"-5" {
		t.Fatalf("Nats-Msg-Id %q", id)
	}
	ap.release()
	until(t, l, "lines 1..5 acknowledged", func() bool { return p.Stats().Published == 5 })
	l.save(false)
	if st, _ := readState(t, path); st.Key != "k0005" || len(st.Flights) != 0 {
		t.Fatalf("state once acknowledged: %+v", st)
	}
}

// settle: an acknowledgement, received while the loop waits, moves the
// acknowledged position and the counters, and ends the backoff of earlier
// failures.
func TestLoopSettlesAnAcknowledgement(t *testing.T) {
	ns := startNATS(t, 0)
	nc, js := connect(t, ns.url())
	ensure(t, js, StreamOptions{})
	newAckProxy(t, ns.url(), 0)
	src := stream.New(stream.Options{ReplayLines: 100}).Source("app", stream.KindFile)
	p, l := newTestLoop(t, PublisherOptions{Conn: nc, JS: js, Source: SourceOf[*stream.Tap](src)})
	keyedLines(t, src, 0, 3)
	l.step(time.Now())
	last := l.pend[0].last
	l.backoff = maxBackoff // as after several failures
	settled(t, l, 1)
	if st := p.Stats(); st.Published != 3 || st.Acked != last || string(l.ackedKey) != "k0002" {
		t.Fatalf("stats %+v, acked key %q; want 3 lines, the last one's id and key", st, l.ackedKey)
	}
	if l.backoff != 250*time.Millisecond {
		t.Fatalf("backoff %v after an acknowledgement, want 250ms", l.backoff)
	}
}

// fail: the first failure sets when to send again; the backoff doubles per
// failed attempt up to 1 s; a failure is logged at most once per 10 s.
func TestLoopFailBacksOff(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	src := stream.New(stream.Options{}).Source("app", stream.KindFile)
	_, l := newTestLoop(t, PublisherOptions{Source: SourceOf[*stream.Tap](src), Logger: zap.New(core)})
	before := time.Now()
	l.fail(errors.New("lost"))
	next := l.nextTry
	if !l.broken || next.Sub(before) < 250*time.Millisecond || next.Sub(before) > time.Second || l.phase() != broken {
		t.Fatalf("after a failure: broken %v, next try in %v, phase %v", l.broken, next.Sub(before), l.phase())
	}
	l.fail(errors.New("lost again"))
	if l.nextTry != next || l.backoff != 500*time.Millisecond {
		t.Fatalf("a second failure while broken moved the next try or the backoff (%v)", l.backoff)
	}
	var got []time.Duration
	for range 6 {
		l.broken = false // a send again that failed
		l.fail(errors.New("lost"))
		got = append(got, l.backoff)
	}
	want := []time.Duration{time.Second, time.Second, time.Second, time.Second, time.Second, time.Second}
	if !slices.Equal(got, want) {
		t.Fatalf("backoffs %v, want %v", got, want)
	}
	if n := logs.Len(); n != 1 {
		t.Fatalf("%d warnings logged, want 1", n)
	}
}

// resend: the whole window is sent again, in order, with the same
// Nats-Msg-Ids; JetStream stores each message once.
func TestLoopResendsTheWindowInOrder(t *testing.T) {
	ns := startNATS(t, 0)
	nc, js := connect(t, ns.url())
	ensure(t, js, StreamOptions{})
	ap := newAckProxy(t, ns.url(), 0)
	ap.holdAcks()
	src := stream.New(stream.Options{ReplayLines: 100}).Source("app", stream.KindFile)
	p, l := newTestLoop(t, PublisherOptions{Conn: nc, JS: js, Source: SourceOf[*stream.Tap](src), Window: 3})
	// Three levels: three messages.
	if err := src.Publish(context.Background(), []event.Line{{Text: []byte("INFO a"), Time: time.Now()},
		{Text: []byte("ERROR b"), Time: time.Now()}, {Text: []byte("WARN c"), Time: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	l.step(time.Now())
	if len(l.pend) != 3 {
		t.Fatalf("%d messages in flight, want 3", len(l.pend))
	}
	waitFor(t, "3 messages stored", func() bool { return len(ap.passed()) == 3 })
	l.fail(errors.New("lost"))
	l.nextTry = time.Time{}
	l.step(time.Now())
	if l.broken || p.Stats().Resends != 3 {
		t.Fatalf("after the send again: broken %v, resends %d", l.broken, p.Stats().Resends)
	}
	waitFor(t, "3 messages sent again", func() bool { return len(ap.passed()) == 6 })
	ap.release()
	until(t, l, "the window acknowledged", func() bool { return p.Stats().Published == 3 })
	got := ap.passed()
	for i := range 3 {
		if got[i+3].id != got[i].id || !got[i+3].ack.Duplicate {
			t.Fatalf("message %d sent again as %+v, first %+v", i, got[i+3], got[i])
		}
	}
	if ids := storedIDs(t, js); !slices.Equal(ids, []string{got[0].id, got[1].id, got[2].id}) {
		t.Fatalf("stored %q", ids)
	}
}

// gap: lines the tap lost become one gap marker, named by the line before
// them and counting them, ahead of the lines after them.
func TestLoopPublishesAGapMarker(t *testing.T) {
	ns := startNATS(t, 0)
	nc, js := connect(t, ns.url())
	ensure(t, js, StreamOptions{})
	ap := newAckProxy(t, ns.url(), 0)
	src := stream.New(stream.Options{ReplayLines: 5}).Source("app", stream.KindFile)
	if err := src.Publish(context.Background(), []event.Line{{Text: []byte("before"), Time: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	p, l := newTestLoop(t, PublisherOptions{Conn: nc, JS: js, Source: SourceOf[*stream.Tap](src), Buffer: 4})
	var ls []event.Line
	for i := range 20 {
		ls = append(ls, event.Line{Text: fmt.Appendf(nil, "line %d", i), Time: time.Now()})
	}
	if err := src.Publish(context.Background(), ls); err != nil {
		t.Fatal(err)
	}
	// The tap hands out what its queue of 4 held, then reads on from the
	// replay buffer of 5: the lines between are lost.
	l.step(time.Now())
	if len(l.pend) != 1 || l.pend[0].lines != 4 {
		t.Fatalf("want the 4 queued lines in flight, got %d messages", len(l.pend))
	}
	before := l.pend[0].last
	settled(t, l, 1)
	ap.holdAcks()
	l.step(time.Now())
	if len(l.pend) != 1 || l.pend[0].lines != 0 || len(l.carry) != 5 {
		t.Fatalf("want the gap marker alone in the window and 5 lines after it, got %d messages, %d lines", len(l.pend), len(l.carry))
	}
	m := l.pend[0].msg
	var g gapBody
	_ = json.Unmarshal(m.Data, &g)
	if m.Subject != proxyPrefix+".web-1.app.gap" || m.Header.Get(jetstream.MsgIDHeader) != fmt.Sprintf("web-1/app/gap-%d", before) ||
		4+g.Missed+5 != 20 || p.Stats().Missed != uint64(g.Missed) {
		t.Fatalf("gap marker %s %q %s; missed counted %d", m.Subject, m.Header.Get(jetstream.MsgIDHeader), m.Data, p.Stats().Missed)
	}
	ap.release()
	until(t, l, "every line acknowledged", func() bool { return p.Stats().Published == 9 })
	if got := len(ap.passed()); got != 3 {
		t.Fatalf("%d messages, want lines 0..3, the gap marker and the lines after it", got)
	}
}

// save: the state file is written when the acknowledged position changed,
// or when forced (the messages in flight changed), not otherwise.
func TestLoopSavesOnlyWhatChanged(t *testing.T) {
	ns := startNATS(t, 0)
	nc, js := connect(t, ns.url())
	ensure(t, js, StreamOptions{})
	newAckProxy(t, ns.url(), 0)
	src := stream.New(stream.Options{ReplayLines: 100}).Source("app", stream.KindFile)
	if err := src.Publish(context.Background(), []event.Line{{Text: []byte("before"), Time: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "fleet-app.json")
	p, l := newTestLoop(t, PublisherOptions{Conn: nc, JS: js, Source: SourceOf[*stream.Tap](src), StatePath: path})
	l.save(false)
	if _, ok := readState(t, path); ok {
		t.Fatal("saved with nothing changed")
	}
	l.save(true)
	if st, ok := readState(t, path); !ok || st.Acked != strconv.FormatUint(p.start, 10) {
		t.Fatalf("forced save: %+v, %v", st, ok)
	}
	if err := src.Publish(context.Background(), []event.Line{{Text: []byte("after"), Time: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	until(t, l, "the line acknowledged", func() bool { return p.Stats().Published == 1 })
	l.save(false)
	st, _ := readState(t, path)
	if st.Acked != strconv.FormatUint(src.LastID(), 10) {
		t.Fatalf("saved acked %s, want %d", st.Acked, src.LastID())
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	l.save(false)
	if _, ok := readState(t, path); ok {
		t.Fatal("saved again with nothing changed")
	}
}

// shutdown: an acknowledgement coming within a second of the stop still
// moves the saved state; a message unacknowledged by then stays in the
// state file as in flight, to be sent again by the next run.
func TestLoopShutdownSavesWhatWasAcknowledged(t *testing.T) {
	ns := startNATS(t, 0)
	nc, js := connect(t, ns.url())
	ensure(t, js, StreamOptions{})
	ap := newAckProxy(t, ns.url(), 0)
	ap.holdAcks()
	src := stream.New(stream.Options{ReplayLines: 100}).Source("app", stream.KindFile)
	keyedLines(t, src, 0, 1)
	path := filepath.Join(t.TempDir(), "fleet-app.json")
	writeState(t, path, "k0000")
	p, l := newTestLoop(t, PublisherOptions{Conn: nc, JS: js, Source: SourceOf[*stream.Tap](src), StatePath: path})
	keyedLines(t, src, 1, 4)
	l.step(time.Now())
	waitFor(t, "the message stored", func() bool { return len(ap.passed()) == 1 })
	time.AfterFunc(100*time.Millisecond, ap.release)
	l.shutdown()
	if st, _ := readState(t, path); st.Key != "k0003" || len(st.Flights) != 0 || p.Stats().Published != 3 {
		t.Fatalf("state after the stop: %+v, %d lines acknowledged", st, p.Stats().Published)
	}

	ap.holdAcks()
	p, l = newTestLoop(t, PublisherOptions{Conn: nc, JS: js, Source: SourceOf[*stream.Tap](src), StatePath: path})
	keyedLines(t, src, 4, 6)
	l.step(time.Now())
	start := time.Now()
	l.shutdown()
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("the stop took %v", d)
	}
	if st, _ := readState(t, path); st.Key != "k0003" || !slices.Equal(st.Flights, []flight{{Lines: 2, Last: "k0005"}}) || p.Stats().Published != 0 {
		t.Fatalf("state after a stop without the acknowledgement: %+v", st)
	}
}

// The message to send again is awaited while its lines are being read,
// but not past replayBy (the file was cut short): then the lines there
// are published as usual.
func TestLoopStopsRereadingAfterReplayBy(t *testing.T) {
	ns := startNATS(t, 0)
	nc, js := connect(t, ns.url())
	ensure(t, js, StreamOptions{})
	ap := newAckProxy(t, ns.url(), 0)
	src := stream.New(stream.Options{ReplayLines: 100}).Source("app", stream.KindFile)
	keyedLines(t, src, 0, 6)
	path := filepath.Join(t.TempDir(), "fleet-app.json")
	writeState(t, path, "k0000", flight{Lines: 10, Last: "k0010"})
	_, l := newTestLoop(t, PublisherOptions{Conn: nc, JS: js, Source: SourceOf[*stream.Tap](src), StatePath: path})
	l.step(time.Now())
	if len(l.pend) != 0 || len(l.carry) != 5 || l.phase() != rereading {
		t.Fatalf("before replayBy: %d in flight, %d lines held, phase %v", len(l.pend), len(l.carry), l.phase())
	}
	l.replayBy = time.Now().Add(-time.Millisecond)
	l.step(time.Now())
	if len(l.pend) != 1 || l.pend[0].lines != 5 || l.replay != nil {
		t.Fatalf("after replayBy: %d in flight, replay %+v", len(l.pend), l.replay)
	}
	waitFor(t, "the message stored", func() bool { return len(ap.passed()) == 1 })
}

// resend: a send again refused at once (here: a message over the server's
// max_payload) is a failed attempt like any other: the loop waits the
// doubled backoff before the next one, and says why.
func TestLoopBacksOffWhenASendAgainIsRefused(t *testing.T) {
	ns := &natsServer{t: t, opts: &server.Options{Host: "127.0.0.1", Port: freePort(t), JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true, MaxPayload: 4096}}
	ns.start()
	t.Cleanup(ns.stop)
	nc, js := connect(t, ns.url())
	ensure(t, js, StreamOptions{})
	core, logs := observer.New(zap.WarnLevel)
	src := stream.New(stream.Options{ReplayLines: 100}).Source("app", stream.KindFile)
	_, l := newTestLoop(t, PublisherOptions{Conn: nc, JS: js, Source: SourceOf[*stream.Tap](src), Logger: zap.New(core)})
	if err := src.Publish(context.Background(), []event.Line{{Text: make([]byte, 8192), Time: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	l.step(time.Now())
	if !l.broken || l.backoff != 500*time.Millisecond {
		t.Fatalf("the refused send: broken %v, backoff %v", l.broken, l.backoff)
	}
	l.nextTry = time.Time{} // due
	now := time.Now()
	l.step(now)
	if !l.broken || l.nextTry.Sub(now) < 500*time.Millisecond || l.backoff != time.Second {
		t.Fatalf("the refused send again: broken %v, next try in %v, backoff %v", l.broken, l.nextTry.Sub(now), l.backoff)
	}
	if n := logs.FilterMessage("fleet publish failed; will send again").Len(); n != 1 {
		t.Fatalf("%d warnings, want 1", n)
	}
}
