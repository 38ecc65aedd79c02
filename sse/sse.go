// Package sse is edgetail's Server-Sent-Events wire format: the frames of
// every stream the agent and the hub serve, and the one rule for what a
// data: line may hold (valid UTF-8, no CR or LF), so that no log line can
// forge a field or an event.
package sse

import (
	"bytes"
	"unsafe"

	"strconv"
	"time"
	"unicode/utf8"
)

// The SSE encoder is hand-written because gin-contrib/sse drops a leading
// space of the data, turns CR into a literal "\r" and cannot write comments
// (see PITFALLS.md). Everything here appends to a caller's buffer so that the
// hot path allocates once per batch, not once per line.

// appendSafeSlow appends line as text that is valid UTF-8 and holds no CR or LF,
// so that it can stand in a single SSE data field. Invalid bytes, CR and LF
// each become U+FFFD, the same rule encoding/json applies to invalid bytes.
func appendSafeSlow(dst, line []byte) []byte {
	start := 0
	for i := 0; i < len(line); {
		b := line[i]
		if b < utf8.RuneSelf {
			if b == '\r' || b == '\n' {
				dst = append(dst, line[start:i]...)
				dst = append(dst, "\uFFFD"...)
				i++
				start = i
				continue
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(line[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, line[start:i]...)
			dst = append(dst, "\uFFFD"...)
			i++
			start = i
			continue
		}
		i += size
	}
	return append(dst, line[start:]...)
}

// NeedsSanitizing reports whether AppendSafe would change line; most log
// lines are clean ASCII, and checking first lets them be copied in one go.
func NeedsSanitizing(line []byte) bool {
	for i := 0; i < len(line); i++ {
		b := line[i]
		if b == '\r' || b == '\n' {
			return true
		}
		if b >= utf8.RuneSelf {
			return !utf8.Valid(line[i:]) || hasCRLF(line[i:])
		}
	}
	return false
}

func hasCRLF(b []byte) bool {
	for _, c := range b {
		if c == '\r' || c == '\n' {
			return true
		}
	}
	return false
}

// AppendJSONString appends s as a JSON string. s must already be valid UTF-8
// (it has been through AppendSafe or comes from json.Marshal).
func AppendJSONString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch b {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			// Control bytes, and <>& so that a line pasted into HTML cannot
			// close a script element.
			dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	// U+2028 and U+2029 are valid JSON but break JavaScript string literals;
	// they are left alone because EventSource consumers parse with JSON.parse.
	return append(dst, '"')
}

// AppendID appends an "id:" field line: prefix, then id in decimal.
func AppendID(dst []byte, prefix string, id uint64) []byte {
	dst = append(dst, "id: "...)
	dst = append(dst, prefix...)
	dst = strconv.AppendUint(dst, id, 10)
	return append(dst, '\n')
}

// AppendRetry appends the "retry:" frame that opens every stream.
func AppendRetry(dst []byte, d time.Duration) []byte {
	dst = append(dst, "retry: "...)
	dst = strconv.AppendInt(dst, d.Milliseconds(), 10)
	return append(dst, '\n', '\n')
}

// AppendGap appends an "event: gap" frame saying missed events were lost
// (-1: an unknown number). source is empty on single-source streams.
func AppendGap(dst []byte, missed int64, source string) []byte {
	dst = append(dst, "event: gap\ndata: {\"missed\":"...)
	dst = strconv.AppendInt(dst, missed, 10)
	if source != "" {
		dst = append(dst, ",\"source\":"...)
		dst = AppendJSONString(dst, []byte(source))
	}
	return append(dst, "}\n\n"...)
}

// Heartbeat is an SSE comment: ignored by parsers, but it keeps proxies
// from closing an idle connection and lets clients detect a dead link.
// Read-only.
var Heartbeat = []byte(": heartbeat\n\n")

// AppendSafe appends line as valid UTF-8 with no CR or LF: invalid bytes,
// CR and LF each become U+FFFD. Clean lines, most of them, are copied in
// one go.
func AppendSafe(dst, line []byte) []byte {
	if !NeedsSanitizing(line) {
		return append(dst, line...)
	}
	return appendSafeSlow(dst, line)
}

// AppendSafeString is AppendSafe for a string, without converting it.
func AppendSafeString(dst []byte, s string) []byte {
	// Only read: the string's bytes are never written.
	return AppendSafe(dst, unsafe.Slice(unsafe.StringData(s), len(s)))
}

// SafeBytes returns s made safe for a data: line, without a copy when it
// already is.
func SafeBytes(s string) []byte {
	if NeedsSanitizing([]byte(s)) {
		return appendSafeSlow(nil, []byte(s))
	}
	return []byte(s)
}

// AppendSafeLines appends text, the lines of a multi-line event joined by
// "\n", with each line made safe as AppendSafe does: the "\n" between
// lines are kept, CRs and invalid bytes become U+FFFD.
func AppendSafeLines(dst, text []byte) []byte {
	for {
		i := bytes.IndexByte(text, '\n')
		if i < 0 {
			return AppendSafe(dst, text)
		}
		dst = AppendSafe(dst, text[:i])
		dst = append(dst, '\n')
		text = text[i+1:]
	}
}

// AppendData appends the data: fields of an event whose text is lines
// joined by "\n" (one line: no "\n"), one field per line, each made safe:
// an EventSource's data is then the lines joined by "\n" again, and no line
// can forge a field or an event. prefix goes before the first line's text
// (a merged stream's "[source] "); suffix after the last (a cut marker).
// The event's closing blank line is the caller's.
func AppendData(dst []byte, prefix string, text []byte, suffix []byte) []byte {
	dst = append(dst, "data: "...)
	dst = append(dst, prefix...)
	dst = AppendDataLines(dst, text)
	dst = append(dst, suffix...)
	return append(dst, '\n')
}

// AppendDataLines appends text's lines made safe, each after the first
// starting a data: field of its own: the caller has written the first
// field's "data: " (and what goes before its line) and ends the last.
func AppendDataLines(dst, text []byte) []byte {
	for {
		i := bytes.IndexByte(text, '\n')
		if i < 0 {
			return AppendSafe(dst, text)
		}
		dst = AppendSafe(dst, text[:i])
		dst = append(dst, "\ndata: "...)
		text = text[i+1:]
	}
}

// The stream timings every server of edgetail uses unless configured (the
// agent's stream.* and the hub's).
const (
	DefaultHeartbeat    = 15 * time.Second // a comment frame this often
	DefaultRetry        = 3 * time.Second  // the retry: hint
	DefaultWriteTimeout = 10 * time.Second // the deadline of each write
)
