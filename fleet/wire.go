package fleet

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"edgetail/event"
	"edgetail/sse"
)

// The body of a line message is one JSON object per line, each on its own
// line (the encoding escapes any newline inside):
//
//	{"id":"<agent id>","n":<in-run id>,"time":"<RFC 3339>","level":"warn","file":"/var/log/x","line":"...","lines":3}
//
// An event of several lines (a stack trace, a journal message) travels
// whole: line holds its lines joined by "\n", and lines their number
// (absent for one line).
//
// The agent id is the line's durable key when it has one (what its own
// stream sends in id:, valid across its restarts), else its in-run id. n,
// the in-run id, is there for the hub to drop lines a re-send repeated: in-
// run ids grow across restarts too (they start at the source's creation
// time in microseconds). It is absent from lines read back from disk after
// a restart, which were never numbered in this run.
//
// The body of a gap marker is {"missed":N}. Host and source are in the
// headers and the subject, not repeated per line.

// record is one line as published.
type record struct {
	ID    string `json:"id"`
	N     uint64 `json:"n"`
	Time  string `json:"time"`
	Level string `json:"level"`
	File  string `json:"file"`
	Line  string `json:"line"`
	// Lines is how many lines Line holds, joined by "\n" (an event of a
	// multiline source, a journal message of several lines); absent: one.
	Lines int `json:"lines,omitempty"`
}

// appendRecord appends the JSON of one event.
func appendRecord(b []byte, e *event.Event) []byte {
	b = append(b, `{"id":`...)
	if e.Key != nil {
		b = sse.AppendJSONString(b, e.Key)
	} else {
		b = append(b, '"')
		b = strconv.AppendUint(b, e.ID, 10)
		b = append(b, '"')
	}
	if e.ID != 0 {
		b = append(b, `,"n":`...)
		b = strconv.AppendUint(b, e.ID, 10)
	}
	b = append(b, `,"time":"`...)
	b = e.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"`...)
	b = append(b, e.Level.String()...)
	b = append(b, `","file":`...)
	b = sse.AppendJSONString(b, []byte(e.File))
	b = append(b, `,"line":`...)
	b = sse.AppendJSONString(b, e.Line)
	if e.Lines > 1 {
		b = append(b, `,"lines":`...)
		b = strconv.AppendInt(b, int64(e.Lines), 10)
	}
	return append(b, '}')
}

// levelToken is the subject token of a line's level.
func levelToken(l event.Level) string {
	if s := l.String(); s != "" {
		return s
	}
	return levelNone
}

var errBadBody = errors.New("bad message body")

// decodeLines splits a line message's body into records.
func decodeLines(body []byte) ([]record, error) {
	var out []record
	for len(body) > 0 {
		var rec []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			rec, body = body[:i], body[i+1:]
		} else {
			rec, body = body, nil
		}
		if len(rec) == 0 {
			continue
		}
		var r record
		if err := json.Unmarshal(rec, &r); err != nil {
			return out, errBadBody
		}
		out = append(out, r)
	}
	return out, nil
}

// gapBody is a gap marker's body.
type gapBody struct {
	Missed int64 `json:"missed"`
}
