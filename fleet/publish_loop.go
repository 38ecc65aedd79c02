package fleet

import (
	"context"
	"errors"
	"strconv"
	"time"

	"edgetail/event"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// errAckWait is the failure of a message that awaited its acknowledgement
// for longer than AckWait.
var errAckWait = errors.New("no acknowledgement within the publisher's ack wait")

// loop is one Run of a Publisher: what its transitions share. It is a state
// machine driven from Run, in one goroutine: step does what can be done
// without waiting, wait blocks on what the phase says can move it on, and
// every change of state is one of the methods below (a test each in
// publish_loop_test.go; expire and resend after a lost acknowledgement in
// publish_ack_test.go). Nothing here is safe for concurrent use; the
// Publisher's counters are atomics only for Stats.
type loop struct {
	p   *Publisher
	tap Tap

	// carry is what was taken from the tap and not yet put in a message.
	carry []*event.Event
	// ended: the tap said at this step's Take that it has ended; a step
	// that did not Take does not know, and takes again to find out.
	ended bool
	// pend is the window: messages sent and not yet acknowledged, oldest
	// first. At most Window, so that a message re-sent after a failure
	// cannot land after one sent after it.
	pend []*pending
	// replay are the messages in flight when the publisher last stopped:
	// the first of them is built again from the same lines, so that its
	// Nats-Msg-Id lets JetStream drop it if it stored it already. Dropped
	// once the lines are not those sent then, or after replayBy (the file
	// was cut short and no gap said so).
	replay   []flight
	replayBy time.Time

	prev     uint64 // in-run id of the last line put in a message
	prevKey  []byte // its durable key; a gap marker after it is named by it
	ackedKey []byte // durable key of the last acknowledged line
	saved    string // ackedKey/acked as the state file holds them

	// connected: the NATS connection was up at this step. Nothing is taken
	// or sent while it is down: the tap is the buffer.
	connected bool
	// broken: a publish failed, or was refused. The whole window is sent
	// again, in order and with the same Nats-Msg-Id, once connected and
	// not before nextTry; meanwhile no acknowledgement is awaited.
	broken  bool
	nextTry time.Time
	backoff time.Duration
	lastErr time.Time // when a failure was last logged

	retry    *time.Ticker // while broken, away, or holding lines: look again
	saveTick *time.Ticker // saves the acknowledged position at most once a second
	linger   *time.Timer  // nil until the first linger
}

// phase names the state a loop waits in between steps, from which follows
// what it waits for (loop.wait).
type phase uint8

const (
	// away: the connection is down. The retry tick looks again; a message
	// in flight may still fail (the client fails all of them when it
	// starts reconnecting).
	away phase = iota
	// broken: a publish failed; the retry tick sends the window again once
	// the backoff has passed.
	broken
	// rereading: the first message to send again is not yet all read from
	// the tap; lines are awaited.
	rereading
	// full: Window messages await their acknowledgement.
	full
	// open: there is room in the window and every line taken is sent;
	// lines and acknowledgements are awaited.
	open
)

var phaseNames = [...]string{away: "away", broken: "broken", rereading: "rereading", full: "full", open: "open"}

func (ph phase) String() string { return phaseNames[ph] }

// phase reports the loop's state after a step.
func (l *loop) phase() phase {
	switch {
	case l.broken:
		return broken
	case !l.connected:
		return away
	case len(l.pend) >= l.p.o.Window:
		return full
	case short(l.replay, l.carry) && !l.ended:
		return rereading
	default:
		// step sends until the window is full or the carry empty, so
		// here the carry is empty.
		return open
	}
}

// newLoop is the start: it opens the tap right after the last acknowledged
// line of the state file (by its durable key: from the replay buffer or the
// source's past, across agent restarts too; else by in-run id, or from now),
// and takes the messages in flight then as the ones to build again first.
func (p *Publisher) newLoop(st loaded) *loop {
	after := st.id
	if after == 0 {
		after = p.start
	}
	p.acked.Store(after)
	l := &loop{
		p: p, replay: st.flights, replayBy: time.Now().Add(10 * time.Second),
		prev: after, prevKey: st.key, ackedKey: st.key,
		saved:    string(st.key) + "/" + strconv.FormatUint(after, 10),
		backoff:  250 * time.Millisecond,
		retry:    time.NewTicker(250 * time.Millisecond),
		saveTick: time.NewTicker(time.Second),
	}
	if st.key != nil {
		l.tap = p.o.Source.TapKey(st.key, p.o.Buffer)
	} else {
		l.tap = p.o.Source.Tap(after, p.o.Buffer)
	}
	return l
}

// close releases the tap and the timers.
func (l *loop) close() {
	l.tap.Close()
	l.retry.Stop()
	l.saveTick.Stop()
	if l.linger != nil {
		l.linger.Stop()
	}
}

// step does everything that needs no waiting, in order: settle what is
// acknowledged, send the window again when due, take from the tap and send
// what it gave while the window has room. It returns true when the tap has
// ended and all it gave is acknowledged: Run is over.
func (l *loop) step(now time.Time) bool {
	l.settleAcked()
	l.expire(now)
	l.connected = l.p.o.Conn.IsConnected()
	if l.broken && l.connected && !now.Before(l.nextTry) {
		l.resend()
	}
	l.ended = false
	if len(l.replay) > 0 && now.After(l.replayBy) {
		l.replay = nil
	}
	if l.broken || !l.connected {
		return false
	}
	if len(l.pend) < l.p.o.Window && (len(l.carry) == 0 || short(l.replay, l.carry)) {
		if missed := l.take(); missed != 0 {
			l.gap(missed)
		}
	}
	for len(l.carry) > 0 && len(l.pend) < l.p.o.Window && !l.broken {
		if short(l.replay, l.carry) && !l.ended {
			break // the rest of a message to send again is still being read
		}
		l.publishNext()
	}
	return l.ended && len(l.carry) == 0 && len(l.pend) == 0
}

// wait blocks until something can move the loop on, and applies it. It
// returns false when ctx is done, after the shutdown transition.
func (l *loop) wait(ctx context.Context) bool {
	ph := l.phase()
	var okc <-chan *jetstream.PubAck
	var errc <-chan error
	if len(l.pend) > 0 && ph != broken {
		okc, errc = l.pend[0].f.Ok(), l.pend[0].f.Err()
	}
	var notify <-chan struct{}
	if ph == rereading || ph == open {
		notify = l.tap.Notify()
	}
	var tick <-chan time.Time
	if ph == away || ph == broken || len(l.carry) > 0 {
		tick = l.retry.C
	}
	select {
	case <-ctx.Done():
		l.shutdown()
		return false
	case <-notify:
		l.lingerFor(ctx)
	case <-okc:
		// Settled here: the receive consumed the acknowledgement.
		l.settle()
	case err := <-errc:
		l.fail(err)
	case <-tick:
	case <-l.saveTick.C:
		l.save(false)
	}
	return true
}

// lingerFor waits a little after the tap has lines, for more to share
// their message: fewer, fuller messages are what keeps publishing cheap.
func (l *loop) lingerFor(ctx context.Context) {
	d := l.p.o.Linger
	if d <= 0 {
		return
	}
	if l.linger == nil {
		l.linger = time.NewTimer(d)
	} else {
		l.linger.Reset(d)
	}
	select {
	case <-ctx.Done():
	case <-l.linger.C:
	}
}

// take moves what the tap queued to the carry. It returns how many lines
// the tap missed before them (-1: an unknown number).
func (l *loop) take() (missed int64) {
	l.carry, missed, l.ended = l.tap.Take(l.carry)
	return missed
}

// gap sends a gap marker for missed lines right after the last line put
// in a message. The lines after the saved key are then not those sent
// before the stop, so nothing is built again.
func (l *loop) gap(missed int64) {
	l.replay = nil
	if missed > 0 {
		l.p.gaps.Add(uint64(missed))
	}
	l.p.log.Warn("fleet: lines lost before they could be published", zap.Int64("missed", missed))
	m := l.p.gapMessage(missed, l.prev, l.prevKey)
	l.pend = append(l.pend, m)
	if err := l.send(m); err != nil {
		l.fail(err)
	}
}

// publishNext builds the next message from the front of the carry and
// sends it. A message of keyed lines is in the state file before it is
// sent: after a crash, it is built again with the same lines.
func (l *loop) publishNext() {
	m, n, replay := l.p.next(l.carry, l.replay)
	l.replay = replay
	l.pend = append(l.pend, m)
	if m.lastKey != nil {
		l.save(true)
	}
	err := l.send(m)
	l.prev, l.prevKey = m.last, m.lastKey
	clear(l.carry[:n])
	l.carry = l.carry[n:]
	if err != nil {
		l.fail(err) // sent again with the rest once NATS answers
	}
}

// send publishes m without waiting for its acknowledgement. A send
// refused at once leaves m's earlier future, if any, in place.
func (l *loop) send(m *pending) error {
	f, err := l.p.o.JS.PublishMsgAsync(m.msg)
	if err != nil {
		return err
	}
	m.f, m.sent = f, time.Now()
	return nil
}

// settleAcked settles the acknowledged messages at the head of the window,
// oldest first, and fails on the head's error, without waiting.
func (l *loop) settleAcked() {
	for len(l.pend) > 0 && !l.broken {
		head := l.pend[0]
		select {
		case <-head.f.Ok():
			l.settle()
			continue
		case err := <-head.f.Err():
			l.fail(err)
		default:
		}
		return
	}
}

// expire fails the head of the window when it has awaited its
// acknowledgement for longer than AckWait, as the JetStream context's own
// timeout would have: it bounds the wait whatever context the publisher
// was given. The loop steps at least once a second (saveTick), so this is
// looked at without a timer of its own.
func (l *loop) expire(now time.Time) {
	if l.broken || len(l.pend) == 0 || now.Sub(l.pend[0].sent) < l.p.o.AckWait {
		return
	}
	l.fail(errAckWait)
}

// settle takes the acknowledged head off the window: its last line is
// where a restart resumes. NATS answers again, so the next failure backs
// off from the start.
func (l *loop) settle() {
	l.backoff = 250 * time.Millisecond
	head := l.pend[0]
	if head.last != 0 {
		l.p.acked.Store(head.last)
	}
	if head.lastKey != nil || head.last != 0 {
		l.ackedKey = head.lastKey
	}
	l.p.published.Add(uint64(head.lines))
	l.pend[0] = nil
	l.pend = l.pend[1:]
}

// maxBackoff bounds the wait between two attempts. While a stream elects a
// new leader (4 to 9 s when the old one was killed), every publish is
// refused at once (no server listens on the stream's subjects), so
// attempts are cheap, and the first after the election is what the fleet
// view waits for: within a second of it, not up to 5 s later.
const maxBackoff = time.Second

// fail enters broken: the window is sent again after the backoff, which
// doubles with each failed attempt up to maxBackoff (more errors of the
// same attempt, such as the acknowledgements of the rest of the window,
// change nothing). Failures are logged at most once every 10 s.
func (l *loop) fail(err error) {
	if !l.broken {
		l.nextTry = time.Now().Add(l.backoff)
		l.backoff = min(2*l.backoff, maxBackoff)
	}
	l.broken = true
	if err != nil && time.Since(l.lastErr) > 10*time.Second {
		l.p.log.Warn("fleet publish failed; will send again", zap.Error(err))
		l.lastErr = time.Now()
	}
}

// resend leaves broken by sending everything unacknowledged again, in
// order, with the same Nats-Msg-Id: what the stream stored already it
// drops. A send refused at once is a failed attempt: the loop stays
// broken and backs off again.
func (l *loop) resend() {
	for _, m := range l.pend {
		if err := l.send(m); err != nil {
			l.broken = false // this attempt failed as a whole
			l.fail(err)
			return
		}
		l.p.resends.Add(1)
	}
	l.broken = false
}

// save writes the state file when the acknowledged position changed since
// it was last written; force: the messages in flight changed.
func (l *loop) save(force bool) {
	a := l.p.acked.Load()
	if s := string(l.ackedKey) + "/" + strconv.FormatUint(a, 10); s != l.saved || force {
		l.p.saveState(a, l.ackedKey, l.pend)
		l.saved = s
	}
}

// shutdown settles the acknowledgements that come within a second of the
// stop, oldest first, so that the saved state is as fresh as it can be,
// and saves.
func (l *loop) shutdown() {
	deadline := time.NewTimer(time.Second)
	defer deadline.Stop()
drain:
	for len(l.pend) > 0 && l.pend[0].f != nil {
		select {
		case <-l.pend[0].f.Ok():
			l.settle()
		case <-l.pend[0].f.Err():
			break drain
		case <-deadline.C:
			break drain
		}
	}
	l.save(false)
}
