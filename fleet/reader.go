package fleet

import (
	"context"
	"crypto/rand"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// A reader reads the stream in order, as an ordered consumer does, and
// survives the death of any NATS server: it reads through one ephemeral
// pull consumer at a time (one replica, in memory, no acks) and, whenever
// that consumer stops delivering, replaces it by a new one, under a new
// name, from the sequence after the last message it handed on.
//
// nats.go's ordered consumer was not enough (DESIGN.md, "Failover"): it
// recreates its consumer under one name and retries that name for ever,
// 10 s a try and backing off to 10 s between tries, holding its lock
// throughout. When a server has just been killed (SIGKILL: no goodbye to
// the cluster), the meta leader may place that consumer on the dead server,
// which it still counts as online; the name is then bound to a server that
// will never answer, and the view is silent for good.
//
// A consumer is replaced when:
//   - its idle heartbeats stop (readerHeartbeat, missed twice), or the
//     library reports any other error of it (deleted, no responders, ...);
//   - a message's consumer sequence is not the one after the last (a
//     message lost on the way, as when the connection moved);
//   - the connection came back after a disconnect and the consumer no
//     longer answers, or has delivered past what arrived (lost in flight);
//   - it has delivered nothing for readerIdleCheck while the stream has
//     messages after the last one, and its info says some of them are
//     pending, or does not come.
//
// A try to create a consumer waits readerCreateTimeout for the answer (the
// first two; the next ones twice that); a try that fails is followed by
// another under a new name, so that a placement on a dead server costs one
// short try, not the view. (Not longer: a request made while the meta
// group has no leader is never answered, and the first one after its
// election should follow it closely.)
type reader struct {
	js     jetstream.JetStream
	nc     *nats.Conn
	stream string
	cfg    jetstream.ConsumerConfig // the template: its name is set per consumer
	handle func(jetstream.Msg)
	log    *zap.Logger
	resets *atomic.Uint64 // replacements, for the hub's metrics; may be nil
	// streamLast is the stream's last sequence as last seen; nil: unknown.
	streamLast func() uint64

	// mu orders deliveries against replacements: a message is checked and
	// handed on under it, so that once a consumer is replaced nothing of
	// the old one is handed on, and the new one starts after the last
	// message handed on.
	mu     sync.Mutex
	serial uint64 // of the current consumer; messages of others are dropped
	dseq   uint64 // consumer sequence of the last message of the current consumer
	last   uint64 // stream sequence of the last message handed on (0: none)
	caught bool   // a message handed on had nothing pending after it
	cons   jetstream.Consumer
	cc     jetstream.ConsumeContext
	active time.Time // last message handed on, or the consumer's creation
	asked  time.Time // when the idle check last asked the server

	// want is the newest serial asked to be replaced, reset signals it:
	// an old consumer's late error never hides the current one's.
	want    atomic.Uint64
	reset   chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	deletes sync.WaitGroup // of replaced consumers, in the background
}

const (
	readerHeartbeat = time.Second
	// An answer within a second is the norm even on a loaded cluster; a
	// slower one costs a try, not the consumer (later tries wait longer).
	readerCreateTimeout = time.Second
	readerInfoTimeout   = time.Second
	readerIdleCheck     = 3 * time.Second
	// readerInactive is when the server deletes a consumer that nobody
	// pulls from: replaced consumers on dead servers, or the last one of a
	// view after a crash.
	readerInactive = 30 * time.Second
)

// readerConfig says what a reader reads. Every zero value means the
// default in brackets.
type readerConfig struct {
	Stream  string
	Filter  []string // subjects [the whole stream]
	StartAt uint64   // the first sequence [1]
	// LastPerSubject starts with the last message of each subject (the
	// host table); a replacement before it has caught up starts so again.
	LastPerSubject bool
	HeadersOnly    bool
	Handle         func(jetstream.Msg) // called in stream order, one at a time
	Logger         *zap.Logger         // [none]
	Resets         *atomic.Uint64      // counts replacements [not counted]
	// StreamLast is the stream's last sequence as last seen, so that an
	// idle consumer is not asked about when nothing came after it [always asked].
	StreamLast func() uint64
}

func newReader(js jetstream.JetStream, nc *nats.Conn, c readerConfig) *reader {
	cfg := jetstream.ConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       max(c.StartAt, 1),
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: readerInactive,
		Replicas:          1,
		MemoryStorage:     true,
		HeadersOnly:       c.HeadersOnly,
	}
	if c.LastPerSubject {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverLastPerSubjectPolicy, 0
		if len(c.Filter) == 0 {
			c.Filter = []string{c.Stream + ".>"}
		}
	}
	if len(c.Filter) == 1 {
		cfg.FilterSubject = c.Filter[0]
	} else {
		cfg.FilterSubjects = c.Filter
	}
	log := c.Logger
	if log == nil {
		log = zap.NewNop()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &reader{js: js, nc: nc, stream: c.Stream, cfg: cfg, handle: c.Handle, log: log, resets: c.Resets, streamLast: c.StreamLast,
		reset: make(chan struct{}, 1), ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// start creates the first consumer, trying until ctx is done, and then
// keeps one delivering until stop. It returns the first consumer's info
// (NumPending: how far behind it starts).
func (r *reader) start(ctx context.Context) (*jetstream.ConsumerInfo, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(r.ctx, cancel)
	defer stop()
	info, err := r.replace(ctx)
	if err != nil {
		r.cancel()
		close(r.done)
		r.deletes.Wait()
		return nil, err
	}
	go r.run()
	return info, nil
}

// stop ends the reader and its consumer, and returns once its goroutines
// have. The consumer itself is left to the server's inactivity limit.
func (r *reader) stop() {
	r.cancel()
	<-r.done
	r.deletes.Wait()
}

// run is the reader's own goroutine: it replaces the consumer when told
// to, or when a check says it no longer delivers.
func (r *reader) run() {
	defer close(r.done)
	status := r.nc.StatusChanged(nats.CONNECTED, nats.RECONNECTING)
	defer r.nc.RemoveStatusListener(status)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	defer func() {
		r.mu.Lock()
		if r.cc != nil {
			r.cc.Stop()
		}
		r.mu.Unlock()
	}()
	away := false
	for {
		var why string
		select {
		case <-r.ctx.Done():
			return
		case <-r.reset:
			r.mu.Lock()
			current := r.want.Load() == r.serial
			r.mu.Unlock()
			if !current {
				continue
			}
			why = "stopped delivering"
		case st := <-status:
			if st == nats.RECONNECTING {
				away = true
				continue
			}
			if !away {
				continue
			}
			away = false
			if why = r.check(false); why == "" {
				continue
			}
		case <-tick.C:
			if why = r.check(true); why == "" {
				continue
			}
		}
		began := time.Now()
		if _, err := r.replace(r.ctx); err != nil {
			return // stopped
		}
		r.log.Info("fleet: consumer replaced", zap.String("why", why), zap.Duration("took", time.Since(began)),
			zap.Uint64("after", r.position()))
	}
}

func (r *reader) position() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// check asks the server about the current consumer: the reason to replace
// it, or "". idle: only when it has handed nothing on for readerIdleCheck,
// and then also when it holds pending messages it did not deliver.
func (r *reader) check(idle bool) string {
	r.mu.Lock()
	cons, last, active, asked := r.cons, r.last, r.active, r.asked
	r.mu.Unlock()
	if cons == nil {
		return ""
	}
	if idle {
		if time.Since(active) < readerIdleCheck || time.Since(asked) < readerIdleCheck ||
			r.streamLast != nil && r.streamLast() <= last {
			return "" // busy, asked lately, or nothing in the stream after what it delivered
		}
		r.mu.Lock()
		r.asked = time.Now()
		r.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(r.ctx, readerInfoTimeout)
	defer cancel()
	info, err := cons.Info(ctx)
	switch {
	case r.ctx.Err() != nil:
		return ""
	case err != nil:
		return "no answer: " + err.Error()
	case info.Delivered.Stream > last:
		return "messages lost in flight"
	case idle && info.NumPending > 0:
		return "messages pending, none delivered"
	}
	return ""
}

// replace stops the current consumer, if any, and creates the next one
// after the last message handed on, under a new name, trying until ctx is
// done. The replaced one is deleted once the new one delivers, if its
// server still answers.
func (r *reader) replace(ctx context.Context) (*jetstream.ConsumerInfo, error) {
	r.mu.Lock()
	old := r.cons
	if r.cc != nil {
		r.cc.Stop()
		r.cc = nil
	}
	r.cons = nil
	r.serial++ // the old consumer's messages and errors are ignored from here
	cfg := r.cfg
	if r.last > 0 && (r.caught || cfg.DeliverPolicy != jetstream.DeliverLastPerSubjectPolicy) {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, r.last+1
	}
	r.mu.Unlock()

	wait, timeout := 250*time.Millisecond, readerCreateTimeout
	var lastLog time.Time
	for try := 1; ; try++ {
		cfg.Name = consumerName()
		cctx, cancel := context.WithTimeout(ctx, timeout)
		began := time.Now()
		cons, err := r.js.CreateConsumer(cctx, r.stream, cfg)
		cancel()
		if err == nil {
			var info *jetstream.ConsumerInfo
			if info, err = r.consume(cons); err == nil {
				if old != nil {
					if r.resets != nil {
						r.resets.Add(1)
					}
					name := old.CachedInfo().Name
					r.deletes.Go(func() { r.delete(name) })
				}
				return info, nil
			}
		}
		// Whatever became of it (a try may be answered too late), this
		// name is not used again.
		name := cfg.Name
		r.deletes.Go(func() { r.delete(name) })
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if time.Since(lastLog) > 10*time.Second {
			r.log.Warn("fleet: cannot create a consumer; trying again under a new name", zap.Int("try", try), zap.Error(err))
			lastLog = time.Now()
		}
		// A try that waited out its timeout (no answer: a dead server, an
		// election) is followed by another at once; one refused at once
		// waits a little, up to a second.
		if d := time.Since(began); d < timeout/2 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(wait):
			}
			wait = min(2*wait, time.Second)
		} else if try >= 2 {
			timeout = 2 * readerCreateTimeout
		}
	}
}

// consume makes cons the current consumer and starts delivering from it.
func (r *reader) consume(cons jetstream.Consumer) (*jetstream.ConsumerInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	serial := r.serial
	// Any error the library reports of a consumer (missed heartbeats,
	// deleted, no responders, a leadership change...) replaces it: a new
	// consumer costs one request, a silent one costs the view.
	onErr := func(_ jetstream.ConsumeContext, _ error) { r.replaceLater(serial) }
	cc, err := cons.Consume(func(m jetstream.Msg) { r.deliver(serial, m) },
		jetstream.PullMaxMessages(512), jetstream.PullExpiry(10*time.Second),
		jetstream.PullHeartbeat(readerHeartbeat), jetstream.ConsumeErrHandler(onErr))
	if err != nil {
		return nil, err
	}
	r.cons, r.cc, r.dseq, r.active = cons, cc, 0, time.Now()
	return cons.CachedInfo(), nil
}

// deliver hands on a message of the consumer serial, in order.
func (r *reader) deliver(serial uint64, m jetstream.Msg) {
	meta, err := m.Metadata()
	r.mu.Lock()
	defer r.mu.Unlock()
	if serial != r.serial {
		return
	}
	if err != nil || meta.Sequence.Consumer != r.dseq+1 {
		r.replaceLater(serial)
		return
	}
	r.dseq = meta.Sequence.Consumer
	r.last = meta.Sequence.Stream
	r.active = time.Now()
	if meta.NumPending == 0 {
		r.caught = true
	}
	r.handle(m)
}

// replaceLater asks run to replace the consumer serial.
func (r *reader) replaceLater(serial uint64) {
	for {
		w := r.want.Load()
		if w >= serial || r.want.CompareAndSwap(w, serial) {
			break
		}
	}
	select {
	case r.reset <- struct{}{}:
	default: // run has a request pending, and reads want when it takes it
	}
}

// delete removes a consumer the reader no longer uses when the cluster
// answers within a second; otherwise the server's inactivity limit does.
func (r *reader) delete(name string) {
	ctx, cancel := context.WithTimeout(r.ctx, time.Second)
	defer cancel()
	_ = r.js.DeleteConsumer(ctx, r.stream, name)
}

// consumerName is a new consumer name: a new name is placed anew by the
// cluster, where a name once placed on a dead server stays there.
func consumerName() string {
	return "edgetail_hub_" + rand.Text()[:16]
}
