package fleet

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"edgetail/stream"
)

// The body of a line message is one JSON object per line, each on its own
// line (the encoding escapes any newline inside):
//
//	{"id":"<agent id>","time":"<RFC 3339>","level":"warn","file":"/var/log/x","line":"..."}
//
// The body of a gap marker is {"missed":N}. Host and source are in the
// headers and the subject, not repeated per line.

// record is one line as published.
type record struct {
	ID    string `json:"id"`
	Time  string `json:"time"`
	Level string `json:"level"`
	File  string `json:"file"`
	Line  string `json:"line"`
}

// appendRecord appends the JSON of one event.
func appendRecord(b []byte, e *stream.Event) []byte {
	b = append(b, `{"id":"`...)
	b = strconv.AppendUint(b, e.ID, 10)
	b = append(b, `","time":"`...)
	b = e.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"`...)
	b = append(b, e.Level.String()...)
	b = append(b, `","file":`...)
	b = stream.AppendJSONString(b, []byte(e.File))
	b = append(b, `,"line":`...)
	b = stream.AppendJSONString(b, e.Line)
	return append(b, '}')
}

// levelToken is the subject token of a line's level.
func levelToken(l stream.Level) string {
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
