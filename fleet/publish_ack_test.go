package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"edgetail/event"
	"edgetail/stream"
)

// ackProxy stands between a publisher and the stream the way the server a
// client is connected to stands before the stream's leader: every message
// the publisher sends under HOLD.> it stores in the stream (EDGETAIL.>,
// headers and all, so that Nats-Msg-Id deduplicates), then answers with the
// stream's acknowledgement; except that the acknowledgements of the first
// lose messages are lost (stored, never answered: a leader that died after
// storing), and that while held, answers wait for release.
type ackProxy struct {
	t  *testing.T
	nc *nats.Conn

	mu   sync.Mutex
	lose int
	hold bool
	held []func()
	got  []proxied
}

// proxied is a message the proxy passed on, and the stream's answer.
type proxied struct {
	id  string // its Nats-Msg-Id
	ack jetstream.PubAck
	err error
}

const proxyPrefix = "HOLD"

func newAckProxy(t *testing.T, url string, lose int) *ackProxy {
	t.Helper()
	nc, _ := connect(t, url)
	ap := &ackProxy{t: t, nc: nc, lose: lose}
	if _, err := nc.Subscribe(proxyPrefix+".>", ap.pass); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return ap
}

func (ap *ackProxy) pass(m *nats.Msg) {
	fwd := &nats.Msg{Subject: DefaultStream + strings.TrimPrefix(m.Subject, proxyPrefix), Data: m.Data, Header: m.Header}
	r, err := ap.nc.RequestMsg(fwd, 5*time.Second)
	p := proxied{id: m.Header.Get(jetstream.MsgIDHeader), err: err}
	if err == nil {
		p.err = json.Unmarshal(r.Data, &p.ack)
	}
	ap.mu.Lock()
	defer ap.mu.Unlock()
	ap.got = append(ap.got, p)
	switch {
	case err != nil || len(ap.got) <= ap.lose:
	case ap.hold:
		ap.held = append(ap.held, func() { _ = m.Respond(r.Data) })
	default:
		_ = m.Respond(r.Data)
	}
}

// holdAcks makes answers wait for release.
func (ap *ackProxy) holdAcks() {
	ap.mu.Lock()
	ap.hold = true
	ap.mu.Unlock()
}

// release sends the held answers and stops holding.
func (ap *ackProxy) release() {
	ap.mu.Lock()
	held := ap.held
	ap.hold, ap.held = false, nil
	ap.mu.Unlock()
	for _, f := range held {
		f()
	}
}

// passed returns the messages passed on so far.
func (ap *ackProxy) passed() []proxied {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	return append([]proxied(nil), ap.got...)
}

// storedIDs returns the Nats-Msg-Id of every message in the stream.
func storedIDs(t *testing.T, js jetstream.JetStream) []string {
	t.Helper()
	ctx := context.Background()
	st, err := js.Stream(ctx, DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.Header.Get(jetstream.MsgIDHeader))
	}
	return ids
}

// keyedLines commits lines "line <i>" with durable keys k<i> to src.
func keyedLines(t *testing.T, src *stream.Source, from, to int) {
	t.Helper()
	var ls []event.Line
	for i := from; i < to; i++ {
		ls = append(ls, event.Line{Text: fmt.Appendf(nil, "line %d", i), Time: time.Now(), Key: fmt.Appendf(nil, "k%04d", i)})
	}
	if err := src.Publish(context.Background(), ls); err != nil {
		t.Fatal(err)
	}
}

// runPublisher runs p until the test ends.
func runPublisher(t *testing.T, p *Publisher) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = p.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// A message whose acknowledgement is lost (stored, never answered) is sent
// again with the same Nats-Msg-Id, and JetStream drops the copy: once by
// the JetStream context's own timeout (NewJetStream: 2 s), once, with a
// context that has none, by the publisher's AckWait, without which it
// would wait for ever.
func TestMessageWhoseAcknowledgementIsLostIsSentAgain(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout bool
	}{{"NewJetStream", true}, {"no publish timeout", false}} {
		t.Run(tc.name, func(t *testing.T) {
			ns := startNATS(t, 0)
			nc, js := connect(t, ns.url())
			ensure(t, js, StreamOptions{})
			ap := newAckProxy(t, ns.url(), 1)
			pjs, ackWait := js, time.Duration(0) // the default AckWait, 10 s, is never reached
			if !tc.timeout {
				var err error
				if pjs, err = jetstream.New(nc); err != nil {
					t.Fatal(err)
				}
				ackWait = 500 * time.Millisecond
			}
			src := stream.New(stream.Options{ReplayLines: 100}).Source("app", stream.KindFile)
			p := NewPublisher(PublisherOptions{Conn: nc, JS: pjs, Prefix: proxyPrefix, Host: "web-1",
				Source: SourceOf[*stream.Tap](src), AckWait: ackWait})
			runPublisher(t, p)
			keyedLines(t, src, 0, 3)
			waitFor(t, "lines 0..2 acknowledged", func() bool { return p.Stats().Published == 3 })
			got := ap.passed()
			if len(got) < 2 || got[0].id != got[1].id || !got[1].ack.Duplicate {
				t.Fatalf("passed %+v: want the message twice, the copy a duplicate", got)
			}
			if ids := storedIDs(t, js); len(ids) != 1 || ids[0] != got[0].id {
				t.Fatalf("stored %q, want the message once", ids)
			}
			if p.Stats().Resends == 0 {
				t.Fatal("no resend counted")
			}
		})
	}
}

// A message in flight whose acknowledgement was lost when its server went
// down is sent again once the server is back, with the same Nats-Msg-Id:
// stored once, and the lines written while NATS was away follow it.
func TestMessageInFlightAcrossAServerRestartIsStoredOnce(t *testing.T) {
	ns := startNATS(t, 0)
	nc, js := connect(t, ns.url())
	ensure(t, js, StreamOptions{})
	ap := newAckProxy(t, ns.url(), 1)
	src := stream.New(stream.Options{ReplayLines: 100}).Source("app", stream.KindFile)
	p := NewPublisher(PublisherOptions{Conn: nc, JS: js, Prefix: proxyPrefix, Host: "web-1", Source: SourceOf[*stream.Tap](src)})
	runPublisher(t, p)
	keyedLines(t, src, 0, 3)
	waitFor(t, "the message stored, its acknowledgement lost", func() bool { return len(ap.passed()) == 1 })

	ns.stop()
	waitFor(t, "client disconnected", func() bool { return !nc.IsConnected() })
	keyedLines(t, src, 3, 6)
	ns.start()
	waitFor(t, "lines 0..5 acknowledged", func() bool { return p.Stats().Published == 6 })

	got := ap.passed()
	ids := storedIDs(t, js)
	if len(ids) != 2 || ids[0] != got[0].id || ids[1] == got[0].id {
		t.Fatalf("stored %q, want the message in flight once, then lines 3..5 (passed %+v)", ids, got)
	}
	if !got[1].ack.Duplicate {
		t.Fatalf("the message sent again was not a duplicate: %+v", got)
	}
}
