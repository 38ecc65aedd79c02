package stream

import (
	"strconv"
	"strings"

	"edgetail/event"
	"edgetail/sse"
)

// A merged stream's id says where each of its sources stands:
//
//	m<G>,<source>=<key>,<source>=<key>...
//
// G is the hub's commit order of the last event sent (ids of the merged
// stream of one run); each key is the durable key of the last line of that
// source the client was sent (or, before any, the source's position when
// the client subscribed). A resume continues each source with a key right
// after it, from the replay buffer or from the source's past, so that one
// id resumes every source exactly, across restarts too; sources without
// keys (metrics) resume by G within a run.

// mergedID returns the id: line for e on this merged stream and records
// e as sent. Only the client's writer calls it: its goroutine, or a
// producer's direct write while it holds c.writing.
func (c *client) mergedID(e *event.Event) []byte {
	if e.G != 0 {
		c.lastG = e.G
	}
	if e.Key != nil {
		for i, s := range c.sources {
			if s.name == e.Source {
				c.keys[i] = e.Key
				break
			}
		}
	}
	b := append(c.idBuf[:0], "id: "+mergedPrefix...)
	b = strconv.AppendUint(b, c.lastG, 10)
	for i, k := range c.keys {
		if k != nil {
			b = append(b, ',')
			b = append(b, c.sources[i].name...)
			b = append(b, '=')
			b = append(b, k...)
		}
	}
	c.idBuf = append(b, '\n')
	return c.idBuf
}

// writeEvent writes one event to the client's stream: on the merged
// stream, after the client's own id: line.
func (c *client) writeEvent(sw *streamWriter, e *event.Event) {
	if c.merged {
		sw.write(c.mergedID(e), 0)
	}
	sw.write(frame(e, c.req.Format, c.merged), 1)
}

// appendEvent is writeEvent for a direct write's buffer.
func (c *client) appendEvent(b []byte, e *event.Event) []byte {
	if c.merged {
		b = append(b, c.mergedID(e)...)
	}
	return append(b, frame(e, c.req.Format, c.merged)...)
}

// appendTail appends what ends a turn of writing a client, after its
// events: the gap of the events its queue dropped (counted in the hub's
// drops) and a heartbeat when one is due.
func (c *client) appendTail(b []byte, h *Hub, dropped int64) []byte {
	if dropped > 0 {
		h.dropped.Add(uint64(dropped))
		b = sse.AppendGap(b, dropped, "")
	}
	if c.heartbeat.Swap(false) {
		b = append(b, sse.Heartbeat...)
	}
	return b
}

// parseMergedID reads a merged id: its G (0 when absent or unreadable) and
// the key it names for each source (nil for none).
func parseMergedID(id string, srcs []*Source) (uint64, [][]byte, bool) {
	rest, ok := strings.CutPrefix(id, mergedPrefix)
	if !ok {
		return 0, nil, false
	}
	gs, parts, _ := strings.Cut(rest, ",")
	g, err := strconv.ParseUint(gs, 10, 64)
	if err != nil {
		return 0, nil, false
	}
	keys := make([][]byte, len(srcs))
	for parts != "" {
		var part string
		part, parts, _ = strings.Cut(parts, ",")
		name, key, ok := strings.Cut(part, "=")
		if !ok || !isDurableKey(key) {
			continue
		}
		for i, s := range srcs {
			if s.name == name {
				keys[i] = []byte(key)
			}
		}
	}
	return g, keys, true
}
