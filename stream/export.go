package stream

import (
	"strconv"
	"unsafe"
)

// Encoders shared with other packages that write the same SSE frames (the
// fleet hub), so that every stream edgetail serves follows one set of rules
// for what a data: line may hold.

// AppendSafe appends line as valid UTF-8 with no CR or LF: invalid bytes,
// CR and LF each become U+FFFD.
func AppendSafe(dst, line []byte) []byte {
	if !needsSanitizing(line) {
		return append(dst, line...)
	}
	return appendSafe(dst, line)
}

// AppendSafeString is AppendSafe for a string, without converting it.
func AppendSafeString(dst []byte, s string) []byte {
	// Only read: the string's bytes are never written.
	return AppendSafe(dst, unsafe.Slice(unsafe.StringData(s), len(s)))
}

// AppendJSONString appends s, which must be valid UTF-8, as a JSON string.
func AppendJSONString(dst, s []byte) []byte { return appendJSONString(dst, s) }

// AppendRetry appends the retry: frame that opens a stream.
func AppendRetry(dst []byte, retryMillis int64) []byte {
	dst = append(dst, "retry: "...)
	dst = strconv.AppendInt(dst, retryMillis, 10)
	return append(dst, '\n', '\n')
}

// AppendGap appends an `event: gap` frame saying missed events were lost
// (-1: an unknown number).
func AppendGap(dst []byte, missed int64) []byte { return appendGap(dst, missed, "") }

// HeartbeatFrame is the comment frame sent every heartbeat interval.
func HeartbeatFrame() []byte { return heartbeatFrame }

// LastID returns the id of the source's newest event, or, before its first
// one, the id just below it: a Tap from there misses nothing.
func (s *Source) LastID() uint64 { return s.lastID.Load() }

// Lookup returns the source of that name, or nil; unlike Source it never
// creates or replaces one.
func (h *Hub) Lookup(name string) *Source {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sources[name]
}
