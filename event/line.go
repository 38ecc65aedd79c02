// Package event is the leaf every part of edgetail shares: a line as a
// producer hands it over (Line), an event as the stream hub commits and
// encodes it once (Event), and levels with their detection from a line's
// text. It imports nothing of edgetail, so that producers (the tailer, the
// journal reader, follow) need not import the hub.
package event

import (
	"bytes"
	"time"
)

// Line is one line (or, for a journal entry, one message) handed by a
// producer to whatever commits it: the stream hub, a reader of the past,
// the fleet publisher. It is a plain value, so that producers need not
// import the hub.
type Line struct {
	File string
	// Text is the line without its newline, read-only once handed over;
	// for an event of several lines (Lines > 1), the lines joined by "\n".
	Text []byte
	Time time.Time // an event's time is its first line's
	Cut  int       // when > 0, the (last) line's full length: Text holds only its start
	// Lines is how many lines Text holds, joined by "\n": a stack trace
	// grouped by a source's multiline rule, a journal message of several
	// lines. 0 and 1 mean one: Text then holds no line break, and a "\n"
	// in it is sanitized like a CR.
	Lines int
	// Partial says the event was cut at its source's max_lines or
	// max_bytes: its next lines follow as the next event.
	Partial bool
	// Key is the line's durable id as sent in `id:`; nil: the source
	// numbers it (in-run ids). Printable ASCII, no spaces; never starts
	// with a digit (in-run ids) or with the prefix of merged ids. Each
	// source adapter owns its prefix (filesource, journalsource).
	Key []byte
	// Level, when set, is the line's level as its producer knows it (a
	// journal entry's PRIORITY); LevelUnknown: detected from Text.
	Level Level
	// Journal holds a journal entry's own fields; nil for other sources.
	Journal *JournalFields
}

// JournalFields are the fields a journal entry adds to the JSON form of its
// event.
type JournalFields struct {
	Unit       string // _SYSTEMD_UNIT; "" when the entry has none
	Identifier string // SYSLOG_IDENTIFIER
	PID        int    // _PID; 0 when absent
	Priority   int    // PRIORITY 0-7; -1 when absent
	Boot       string // _BOOT_ID
	Cursor     string // __CURSOR exactly
}

// FirstLine returns the first line of an event's text: the part before its
// first "\n" (all of it for a single line). An event's level is its first
// line's.
func FirstLine(text []byte) []byte {
	if i := bytes.IndexByte(text, '\n'); i >= 0 {
		return text[:i]
	}
	return text
}
