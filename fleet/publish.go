package fleet

import (
	"context"
	"sync/atomic"
	"time"

	"edgetail/event"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Source is the agent's source a Publisher reads like a resuming client
// (the stream hub's, in the agent).
type Source interface {
	Name() string
	// LastID is the id of the source's newest event.
	LastID() uint64
	// Tap reads the events after the in-run id after; TapKey those after
	// the durable key, from the source's past on disk when it must.
	Tap(after uint64, buffer int) Tap
	TapKey(key []byte, buffer int) Tap
}

// Tap is a reader of a source's events that never slows the source: what
// it cannot queue it counts as missed.
type Tap interface {
	// Notify is signalled when Take has something.
	Notify() <-chan struct{}
	// Take appends the queued events to dst, with how many were missed
	// before them, and whether the tap has ended.
	Take(dst []*event.Event) (events []*event.Event, missed int64, ended bool)
	Close()
}

// tapper is a source whose taps are of a concrete type T.
type tapper[T Tap] interface {
	Name() string
	LastID() uint64
	Tap(after uint64, buffer int) T
	TapKey(key []byte, buffer int) T
}

// SourceOf makes a Source of a source whose Tap returns a concrete type
// (the stream hub's: SourceOf[*stream.Tap](src)), so that this package need
// not import the hub.
func SourceOf[T Tap](s tapper[T]) Source { return tapSource[T]{s} }

type tapSource[T Tap] struct{ tapper[T] }

func (s tapSource[T]) Tap(after uint64, buffer int) Tap  { return s.tapper.Tap(after, buffer) }
func (s tapSource[T]) TapKey(key []byte, buffer int) Tap { return s.tapper.TapKey(key, buffer) }

// PublisherOptions configure a Publisher. Every zero value means the
// default in brackets.
type PublisherOptions struct {
	Conn   *nats.Conn          // required
	JS     jetstream.JetStream // required
	Prefix string              // the subjects' first token: the stream's name [EDGETAIL]
	Host   string              // required
	Source Source              // required
	// StatePath keeps the durable key (or, for a source without keys,
	// the in-run id) of the last acknowledged line across restarts, and
	// the extent of each message in flight (written to a temporary file,
	// then renamed); "": in memory only.
	StatePath string
	// Window is how many messages may await their acknowledgement [1].
	// One keeps a source's lines in order in the stream whatever fails:
	// with more, a message lost in a leader change while the next one is
	// stored puts the re-sent one after it, and the hub, which drops lines
	// older than what it has shown of a source, skips it. Lines queued
	// while a message is in flight go out together in the next one, so one
	// is enough for thousands of lines per second per source.
	Window   int
	MaxLines int // lines per message [256]
	MaxBytes int // body bytes per message [512 KiB]
	Buffer   int // events the tap queues while the publisher is behind [16384]
	// Linger is how long the publisher waits after a line arrives for more
	// to share its message [50ms]; < 0: not at all. Fewer, fuller messages
	// are most of what keeps publishing cheap for the agent: each message
	// costs a write, an acknowledgement and a few wake-ups, which at 100
	// messages a second cost the agent more than reading the lines did.
	Linger time.Duration
	// AckWait is how long a message may await its acknowledgement before
	// the publisher counts it lost and sends the window again [10s]. The
	// JetStream context's own timeout (NewJetStream's 2s) answers first;
	// this bounds the wait when there is none: a context made without
	// jetstream.WithPublishAsyncTimeout never resolves a publish whose
	// acknowledgement was lost (a stream leader that died after storing,
	// while the server the client uses stayed up), and with one message
	// in flight the source would never be published again.
	AckWait time.Duration
	Logger  *zap.Logger
}

// Publisher sends one source's lines to JetStream. It reads the agent's own
// hub like a resuming client, so the agent's streams never wait for NATS:
// while NATS is away the publisher just stops reading, and when NATS is
// back it reads on from its last acknowledged line, in the replay buffer
// or, for a source with durable keys, from its past on disk (across agent
// restarts too); only lines neither holds become one gap marker with their
// count.
type Publisher struct {
	o   PublisherOptions
	log *zap.Logger

	start     uint64        // where Run starts without a saved state
	acked     atomic.Uint64 // last in-run id JetStream acknowledged
	published atomic.Uint64 // lines acknowledged
	gaps      atomic.Uint64 // lines reported missing in gap markers
	resends   atomic.Uint64 // messages sent again after an error
}

// NewPublisher returns a Publisher; it starts nothing until Run.
func NewPublisher(o PublisherOptions) *Publisher {
	if o.Prefix == "" {
		o.Prefix = DefaultStream
	}
	if o.Window <= 0 {
		o.Window = 1
	}
	if o.MaxLines <= 0 {
		o.MaxLines = 256
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 512 << 10
	}
	if o.Buffer <= 0 {
		o.Buffer = 16384
	}
	if o.Linger == 0 {
		o.Linger = 50 * time.Millisecond
	}
	if o.AckWait <= 0 {
		o.AckWait = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	// Lines committed from here on are published even when Run starts a
	// little later.
	return &Publisher{o: o, log: o.Logger, start: o.Source.LastID()}
}

// PublisherStats are a publisher's counters.
type PublisherStats struct {
	Source    string
	Acked     uint64 // last acknowledged id
	Published uint64 // lines acknowledged
	Missed    uint64 // lines published as missing
	Resends   uint64 // messages re-sent after an error
}

// Stats reads the counters.
func (p *Publisher) Stats() PublisherStats {
	return PublisherStats{Source: p.o.Source.Name(), Acked: p.acked.Load(), Published: p.published.Load(),
		Missed: p.gaps.Load(), Resends: p.resends.Load()}
}

// Run publishes until ctx is done, or until the source is gone and what
// it read is acknowledged. Each round, the loop first does what it can
// without waiting (loop.step), then waits for what its phase says can move
// it on (loop.wait): publish_loop.go has both, and one method per
// transition.
func (p *Publisher) Run(ctx context.Context) error {
	l := p.newLoop(p.loadState())
	defer l.close()
	for {
		if l.step(time.Now()) {
			l.save(false)
			return nil
		}
		if !l.wait(ctx) {
			return nil
		}
	}
}
