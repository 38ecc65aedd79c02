package fleet

import (
	"encoding/json"
	"hash/fnv"
	"strconv"
	"time"

	"edgetail/event"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The messages a Publisher sends: runs of lines of one level, and gap
// markers. What they hold and how they are named is the wire format
// (docs/DESIGN.md, "Path of a line"); a message sent again must be built
// the same, byte for byte in its Nats-Msg-Id, for JetStream to drop it.

// pending is one message of the window: built, sent (or to send again),
// not yet acknowledged.
type pending struct {
	msg     *nats.Msg
	f       jetstream.PubAckFuture // of its last send; nil: not sent yet, or its first send was refused
	sent    time.Time              // of its last send
	last    uint64                 // the in-run id acknowledged once this message is; 0: lines read from the past
	lastKey []byte                 // the durable key acknowledged once this message is; nil: none
	lines   int                    // 0: a gap marker
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

// gapMessage builds a gap marker for missed lines after the line with id
// prev (key prevKey when it has one). Its Nats-Msg-Id names that line, so
// a marker sent again is dropped like any message sent again.
func (p *Publisher) gapMessage(missed int64, prev uint64, prevKey []byte) *pending {
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
	return &pending{msg: m, last: prev, lastKey: prevKey}
}
