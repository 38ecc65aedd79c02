package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"edgetail/stream"
)

// PublisherOptions configure a Publisher. Every zero value means the
// default in brackets.
type PublisherOptions struct {
	Conn   *nats.Conn          // required
	JS     jetstream.JetStream // required
	Prefix string              // the subjects' first token: the stream's name [EDGETAIL]
	Host   string              // required
	Source *stream.Source      // required
	// StatePath keeps the last acknowledged id across restarts (written to a
	// temporary file, then renamed); "": in memory only.
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
// back it reads on from its last acknowledged line, in the replay buffer;
// lines the buffer no longer holds become one gap marker with their count.
type Publisher struct {
	o   PublisherOptions
	log *zap.Logger

	start     uint64        // where Run starts without a saved state
	acked     atomic.Uint64 // last id JetStream acknowledged
	published atomic.Uint64 // lines acknowledged
	gaps      atomic.Uint64 // lines reported missing in gap markers
	resends   atomic.Uint64 // messages sent again after an error
}

// NewPublisher returns a Publisher; it starts nothing until Run.
func NewPublisher(o PublisherOptions) *Publisher {
	if o.Prefix == "" {
		o.Prefix = "EDGETAIL"
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
	msg   *nats.Msg
	f     jetstream.PubAckFuture
	last  uint64 // the id acknowledged once this message is
	lines int
	gap   int64
}

// Run publishes until ctx is done.
func (p *Publisher) Run(ctx context.Context) error {
	after := p.loadState()
	if after == 0 {
		after = p.start
	}
	p.acked.Store(after)
	tap := p.o.Source.Tap(after, p.o.Buffer)
	defer tap.Close()

	var (
		pend    []*pending
		carry   []*stream.Event // taken from the tap, not yet published
		broken  bool            // a publish failed: send pend again once connected
		prev    = after         // id of the last line put in a message
		saved   = after
		lastErr time.Time
		nextTry time.Time // when broken: not before
		backoff = 250 * time.Millisecond
		retry   = time.NewTicker(250 * time.Millisecond)
		save    = time.NewTicker(time.Second)
		linger  *time.Timer
	)
	defer retry.Stop()
	defer save.Stop()
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
	for {
		// Settle what has been acknowledged, oldest first.
		for len(pend) > 0 && !broken {
			head := pend[0]
			select {
			case <-head.f.Ok():
				backoff = 250 * time.Millisecond
				p.acked.Store(head.last)
				p.published.Add(uint64(head.lines))
				pend[0] = nil
				pend = pend[1:]
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
		if !broken && connected {
			var missed int64
			var ended bool
			if len(pend) < p.o.Window && len(carry) == 0 {
				carry, missed, ended = tap.Take(carry[:0])
			}
			if missed != 0 {
				m, err := p.publishGap(missed, prev)
				if m != nil {
					pend = append(pend, m)
				}
				if err != nil {
					fail(err)
				}
			}
			for len(carry) > 0 && len(pend) < p.o.Window && !broken {
				m, n := p.message(carry)
				var err error
				m.f, err = p.o.JS.PublishMsgAsync(m.msg)
				pend = append(pend, m)
				prev = m.last
				clear(carry[:n])
				carry = carry[n:]
				if err != nil {
					fail(err) // sent again with the rest once NATS answers
				}
			}
			if ended && len(carry) == 0 && len(pend) == 0 {
				p.saveState(p.acked.Load())
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
		if !broken && connected && len(pend) < p.o.Window && len(carry) == 0 {
			notify = tap.Notify()
		}
		var tick <-chan time.Time
		if broken || !connected || len(carry) > 0 {
			tick = retry.C
		}
		select {
		case <-ctx.Done():
			p.drain(pend)
			p.saveState(p.acked.Load())
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
			// Put back for the settle loop: a receive consumed it.
			p.acked.Store(pend[0].last)
			p.published.Add(uint64(pend[0].lines))
			pend[0] = nil
			pend = pend[1:]
		case err := <-errc:
			fail(err)
		case <-tick:
		case <-save.C:
			if a := p.acked.Load(); a != saved {
				p.saveState(a)
				saved = a
			}
		}
	}
}

// message builds the next message from the front of evs: a run of lines of
// one level, within the size limits. It returns how many events it took.
func (p *Publisher) message(evs []*stream.Event) (*pending, int) {
	lv := evs[0].Level
	body := make([]byte, 0, 512)
	n := 0
	for n < len(evs) && n < p.o.MaxLines && evs[n].Level == lv {
		if n > 0 && len(body)+len(evs[n].Line)+200 > p.o.MaxBytes {
			break
		}
		if n > 0 {
			body = append(body, '\n')
		}
		body = appendRecord(body, evs[n])
		n++
	}
	first, last := evs[0].ID, evs[n-1].ID
	m := nats.NewMsg(subject(p.o.Prefix, p.o.Host, p.o.Source.Name(), levelToken(lv)))
	m.Data = body
	m.Header.Set(hdrHost, p.o.Host)
	m.Header.Set(hdrSource, p.o.Source.Name())
	m.Header.Set(jetstream.MsgIDHeader, p.msgID(strconv.FormatUint(first, 10)+"-"+strconv.FormatUint(last, 10)))
	return &pending{msg: m, last: last, lines: n}, n
}

// msgID names a message for JetStream's deduplication: the same lines of
// the same source of the same host always get the same id.
func (p *Publisher) msgID(span string) string {
	return p.o.Host + "/" + p.o.Source.Name() + "/" + span
}

// publishGap publishes a gap marker for missed lines after id prev.
func (p *Publisher) publishGap(missed int64, prev uint64) (*pending, error) {
	body, _ := json.Marshal(gapBody{Missed: missed})
	m := nats.NewMsg(subject(p.o.Prefix, p.o.Host, p.o.Source.Name(), levelGap))
	m.Data = body
	m.Header.Set(hdrHost, p.o.Host)
	m.Header.Set(hdrSource, p.o.Source.Name())
	m.Header.Set(jetstream.MsgIDHeader, p.msgID("gap-"+strconv.FormatUint(prev, 10)))
	if missed > 0 {
		p.gaps.Add(uint64(missed))
	}
	p.log.Warn("fleet: lines lost before they could be published", zap.Int64("missed", missed))
	f, err := p.o.JS.PublishMsgAsync(m)
	return &pending{msg: m, f: f, last: prev, gap: missed}, err
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
// that the saved state is as fresh as it can be.
func (p *Publisher) drain(pend []*pending) {
	deadline := time.NewTimer(time.Second)
	defer deadline.Stop()
	for _, m := range pend {
		if m.f == nil {
			return
		}
		select {
		case <-m.f.Ok():
			p.acked.Store(m.last)
			p.published.Add(uint64(m.lines))
		case <-m.f.Err():
			return
		case <-deadline.C:
			return
		}
	}
}

// state is what the state file holds.
type state struct {
	Host   string `json:"host"`
	Source string `json:"source"`
	Acked  string `json:"acked"`
}

func (p *Publisher) loadState() uint64 {
	if p.o.StatePath == "" {
		return 0
	}
	b, err := os.ReadFile(p.o.StatePath)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			p.log.Warn("fleet: cannot read state; publishing from now", zap.Error(err))
		}
		return 0
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil || st.Host != p.o.Host || st.Source != p.o.Source.Name() {
		p.log.Warn("fleet: state file does not fit; publishing from now", zap.String("path", p.o.StatePath))
		return 0
	}
	id, _ := strconv.ParseUint(st.Acked, 10, 64)
	return id
}

// saveState writes the state file: a temporary file, then a rename, so a
// crash leaves the old state or the new, never half of one.
func (p *Publisher) saveState(acked uint64) {
	if p.o.StatePath == "" || acked == 0 {
		return
	}
	b, _ := json.Marshal(state{Host: p.o.Host, Source: p.o.Source.Name(), Acked: strconv.FormatUint(acked, 10)})
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
