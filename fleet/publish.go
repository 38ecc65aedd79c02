package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"
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
	Logger *zap.Logger
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

// pending is one message published and not yet acknowledged.
type pending struct {
	msg     *nats.Msg
	f       jetstream.PubAckFuture
	last    uint64 // the in-run id acknowledged once this message is; 0: lines read from the past
	lastKey []byte // the durable key acknowledged once this message is; nil: none
	lines   int
}

// Run publishes until ctx is done.
func (p *Publisher) Run(ctx context.Context) error {
	st := p.loadState()
	after := st.id
	if after == 0 {
		after = p.start
	}
	p.acked.Store(after)
	var tap Tap
	if st.key != nil {
		// A durable key, of this run or an earlier one: resume right
		// after it, from the replay buffer or from disk.
		tap = p.o.Source.TapKey(st.key, p.o.Buffer)
	} else {
		tap = p.o.Source.Tap(after, p.o.Buffer)
	}
	defer tap.Close()
	// The messages in flight when the agent stopped are sent first with
	// the same lines, so that their Nats-Msg-Id lets JetStream drop those
	// it stored already.
	replay := st.flights
	// Lines of such a message missing for this long (the file was cut
	// short, no gap said so) are not awaited longer.
	replayBy := time.Now().Add(10 * time.Second)
	ackedKey := st.key

	var (
		pend     []*pending
		carry    []*event.Event // taken from the tap, not yet published
		broken   bool           // a publish failed: send pend again once connected
		prev     = after        // id of the last line put in a message
		prevKey  = ackedKey     // key of the last line put in a message
		saved    = string(ackedKey) + "/" + strconv.FormatUint(after, 10)
		lastErr  time.Time
		nextTry  time.Time // when broken: not before
		backoff  = 250 * time.Millisecond
		retry    = time.NewTicker(250 * time.Millisecond)
		saveTick = time.NewTicker(time.Second)
		linger   *time.Timer
	)
	defer retry.Stop()
	defer saveTick.Stop()
	fail := func(err error) {
		if !broken {
			nextTry = time.Now().Add(backoff)
			backoff = min(2*backoff, 5*time.Second)
		}
		broken = true
		if err != nil && time.Since(lastErr) > 10*time.Second {
			p.log.Warn("fleet publish failed; will send again", zap.Error(err))
			lastErr = time.Now()
		}
	}
	settle := func() {
		head := pend[0]
		if head.last != 0 {
			p.acked.Store(head.last)
		}
		if head.lastKey != nil || head.last != 0 {
			ackedKey = head.lastKey
		}
		p.published.Add(uint64(head.lines))
		pend[0] = nil
		pend = pend[1:]
	}
	// save writes the state file when it changed; force: the messages in
	// flight changed.
	save := func(force bool) {
		a := p.acked.Load()
		if s := string(ackedKey) + "/" + strconv.FormatUint(a, 10); s != saved || force {
			p.saveState(a, ackedKey, pend)
			saved = s
		}
	}
	for {
		// Settle what has been acknowledged, oldest first.
		for len(pend) > 0 && !broken {
			head := pend[0]
			select {
			case <-head.f.Ok():
				backoff = 250 * time.Millisecond
				settle()
				continue
			case err := <-head.f.Err():
				fail(err)
			default:
			}
			break
		}
		connected := p.o.Conn.IsConnected()
		if broken && connected && !time.Now().Before(nextTry) {
			// Send everything unacknowledged again, in order, with the same
			// Nats-Msg-Id: what the stream already stored is dropped there.
			broken = !p.resend(pend)
		}
		var ended bool
		if len(replay) > 0 && time.Now().After(replayBy) {
			replay = nil
		}
		if !broken && connected {
			var missed int64
			if len(pend) < p.o.Window && (len(carry) == 0 || short(replay, carry)) {
				carry, missed, ended = tap.Take(carry)
			}
			if missed != 0 {
				replay = nil // the lines after the saved key are not those sent
				m, err := p.publishGap(missed, prev, prevKey)
				if m != nil {
					pend = append(pend, m)
				}
				if err != nil {
					fail(err)
				}
			}
			for len(carry) > 0 && len(pend) < p.o.Window && !broken {
				if short(replay, carry) && !ended {
					break // the rest of a message to send again is still being read
				}
				var m *pending
				var n int
				m, n, replay = p.next(carry, replay)
				pend = append(pend, m)
				if m.lastKey != nil {
					// Saved before it is sent: after a crash, this
					// message is sent again with the same lines.
					save(true)
				}
				var err error
				m.f, err = p.o.JS.PublishMsgAsync(m.msg)
				prev, prevKey = m.last, m.lastKey
				clear(carry[:n])
				carry = carry[n:]
				if err != nil {
					fail(err) // sent again with the rest once NATS answers
				}
			}
			if ended && len(carry) == 0 && len(pend) == 0 {
				save(false)
				return nil
			}
		}

		// Wait for something to do.
		var okc <-chan *jetstream.PubAck
		var errc <-chan error
		if len(pend) > 0 && !broken {
			okc, errc = pend[0].f.Ok(), pend[0].f.Err()
		}
		var notify <-chan struct{}
		waiting := short(replay, carry) && !ended
		if !broken && connected && len(pend) < p.o.Window && (len(carry) == 0 || waiting) {
			notify = tap.Notify()
		}
		var tick <-chan time.Time
		if broken || !connected || len(carry) > 0 {
			tick = retry.C
		}
		select {
		case <-ctx.Done():
			n := p.drain(pend)
			for range n {
				settle()
			}
			save(false)
			return nil
		case <-notify:
			if p.o.Linger > 0 {
				if linger == nil {
					linger = time.NewTimer(p.o.Linger)
					defer linger.Stop()
				} else {
					linger.Reset(p.o.Linger)
				}
				select {
				case <-ctx.Done():
				case <-linger.C:
				}
			}
		case <-okc:
			// Settled here: the receive consumed the acknowledgement.
			settle()
		case err := <-errc:
			fail(err)
		case <-tick:
		case <-saveTick.C:
			save(false)
		}
	}
}

// next builds the next message from the front of evs; while replay names
// messages sent before a restart, the first is built again with the same
// lines, when evs starts with them. It returns the message, how many
// events it took, and what is left to replay.
func (p *Publisher) next(evs []*event.Event, replay []flight) (*pending, int, []flight) {
	if len(replay) > 0 {
		r := replay[0]
		if r.Lines <= len(evs) && string(evs[r.Lines-1].Key) == r.Last && sameLevel(evs[:r.Lines]) {
			m, n := p.message(evs, r.Lines)
			return m, n, replay[1:]
		}
		replay = nil // not the lines sent then: publish on as usual
	}
	m, n := p.message(evs, p.o.MaxLines)
	return m, n, replay
}

// short reports whether evs does not yet hold all the lines of the first
// message to send again.
func short(replay []flight, evs []*event.Event) bool {
	return len(replay) > 0 && len(evs) < replay[0].Lines
}

func sameLevel(evs []*event.Event) bool {
	for _, e := range evs {
		if e.Level != evs[0].Level {
			return false
		}
	}
	return true
}

// message builds a message from the front of evs: a run of at most max
// lines of one level, within the size limits. It returns how many events
// it took.
func (p *Publisher) message(evs []*event.Event, max int) (*pending, int) {
	lv := evs[0].Level
	body := make([]byte, 0, 512)
	n := 0
	for n < len(evs) && n < max && evs[n].Level == lv {
		if n > 0 && len(body)+len(evs[n].Line)+len(evs[n].Key)+200 > p.o.MaxBytes {
			break
		}
		if n > 0 {
			body = append(body, '\n')
		}
		body = appendRecord(body, evs[n])
		n++
	}
	first, last := evs[0], evs[n-1]
	m := nats.NewMsg(subject(p.o.Prefix, p.o.Host, p.o.Source.Name(), levelToken(lv)))
	m.Data = body
	m.Header.Set(hdrHost, p.o.Host)
	m.Header.Set(hdrSource, p.o.Source.Name())
	m.Header.Set(jetstream.MsgIDHeader, p.msgID(span(first, last, n)))
	return &pending{msg: m, last: last.ID, lastKey: last.Key, lines: n}, n
}

// span names a message's lines for its Nats-Msg-Id: by their durable keys
// when they have them, which name the same lines in every run, else by
// their in-run ids.
func span(first, last *event.Event, n int) string {
	if first.Key != nil && last.Key != nil {
		return "k" + keyHash(first.Key) + "-" + keyHash(last.Key) + "-" + strconv.Itoa(n)
	}
	return strconv.FormatUint(first.ID, 10) + "-" + strconv.FormatUint(last.ID, 10)
}

// keyHash is a short stand-in for a durable key, which may be long (a file
// source's key names every file it follows).
func keyHash(k []byte) string {
	h := fnv.New64a()
	h.Write(k)
	return strconv.FormatUint(h.Sum64(), 36)
}

// msgID names a message for JetStream's deduplication: the same lines of
// the same source of the same host always get the same id.
func (p *Publisher) msgID(span string) string {
	return p.o.Host + "/" + p.o.Source.Name() + "/" + span
}

// publishGap publishes a gap marker for missed lines after the line with
// id prev (key prevKey when it has one).
func (p *Publisher) publishGap(missed int64, prev uint64, prevKey []byte) (*pending, error) {
	body, _ := json.Marshal(gapBody{Missed: missed})
	m := nats.NewMsg(subject(p.o.Prefix, p.o.Host, p.o.Source.Name(), levelGap))
	m.Data = body
	m.Header.Set(hdrHost, p.o.Host)
	m.Header.Set(hdrSource, p.o.Source.Name())
	after := strconv.FormatUint(prev, 10)
	if prevKey != nil {
		after = "k" + keyHash(prevKey)
	}
	m.Header.Set(jetstream.MsgIDHeader, p.msgID("gap-"+after))
	if missed > 0 {
		p.gaps.Add(uint64(missed))
	}
	p.log.Warn("fleet: lines lost before they could be published", zap.Int64("missed", missed))
	f, err := p.o.JS.PublishMsgAsync(m)
	return &pending{msg: m, f: f, last: prev, lastKey: prevKey}, err
}

// resend publishes every pending message again; false if one failed at once.
func (p *Publisher) resend(pend []*pending) bool {
	for _, m := range pend {
		f, err := p.o.JS.PublishMsgAsync(m.msg)
		if err != nil {
			return false
		}
		m.f = f
		p.resends.Add(1)
	}
	return true
}

// drain waits a little for outstanding acknowledgements at shutdown, so
// that the saved state is as fresh as it can be. It returns how many of
// pend, from the first, were acknowledged.
func (p *Publisher) drain(pend []*pending) int {
	deadline := time.NewTimer(time.Second)
	defer deadline.Stop()
	for i, m := range pend {
		if m.f == nil {
			return i
		}
		select {
		case <-m.f.Ok():
		case <-m.f.Err():
			return i
		case <-deadline.C:
			return i
		}
	}
	return len(pend)
}

// state is what the state file holds. Its size is bounded: a key names at
// most the 64 files of its source's table, and at most Window messages are
// in flight.
type state struct {
	Host   string `json:"host"`
	Source string `json:"source"`
	Acked  string `json:"acked"`         // in-run id of the last acknowledged line
	Key    string `json:"key,omitempty"` // its durable key: what a restart resumes after
	// Flights are the messages sent and not yet acknowledged, oldest
	// first, which a restart sends again with the same lines.
	Flights []flight `json:"in_flight,omitempty"`
}

// flight is a message in flight: its lines are the Lines after the
// previous one's (the first: after Key), the last with the key Last.
type flight struct {
	Lines int    `json:"lines"`
	Last  string `json:"last"`
}

// loaded is the state a Run starts from.
type loaded struct {
	id      uint64
	key     []byte
	flights []flight
}

func (p *Publisher) loadState() loaded {
	if p.o.StatePath == "" {
		return loaded{}
	}
	b, err := os.ReadFile(p.o.StatePath)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			p.log.Warn("fleet: cannot read state; publishing from now", zap.Error(err))
		}
		return loaded{}
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil || st.Host != p.o.Host || st.Source != p.o.Source.Name() {
		p.log.Warn("fleet: state file does not fit; publishing from now", zap.String("path", p.o.StatePath))
		return loaded{}
	}
	var l loaded
	l.id, _ = strconv.ParseUint(st.Acked, 10, 64)
	if st.Key != "" {
		l.key = []byte(st.Key)
		for _, f := range st.Flights {
			if f.Lines <= 0 || f.Lines > p.o.MaxLines || f.Last == "" {
				break
			}
			l.flights = append(l.flights, f)
		}
	}
	return l
}

// saveState writes the state file: a temporary file, then a rename, so a
// crash leaves the old state or the new, never half of one. No fsync: the
// file is to outlive the process (kill -9), not the machine.
func (p *Publisher) saveState(acked uint64, key []byte, pend []*pending) {
	if p.o.StatePath == "" || (acked == 0 && key == nil) {
		return
	}
	st := state{Host: p.o.Host, Source: p.o.Source.Name(), Acked: strconv.FormatUint(acked, 10), Key: string(key)}
	if key != nil {
		for _, m := range pend {
			if m.lines == 0 || m.lastKey == nil {
				break // a gap marker: what follows is not the lines after Key
			}
			st.Flights = append(st.Flights, flight{Lines: m.lines, Last: string(m.lastKey)})
		}
	}
	b, _ := json.Marshal(st)
	tmp := p.o.StatePath + ".tmp"
	if err := os.MkdirAll(filepath.Dir(p.o.StatePath), 0o750); err != nil {
		p.log.Warn("fleet: cannot save state", zap.Error(err))
		return
	}
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		p.log.Warn("fleet: cannot save state", zap.Error(err))
		return
	}
	if err := os.Rename(tmp, p.o.StatePath); err != nil {
		p.log.Warn("fleet: cannot save state", zap.Error(err))
	}
}
