package follow

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"
)

// Event is one parsed SSE event.
type Event struct {
	ID   string // the last id seen on the stream, as EventSource keeps it
	Type string // "" for the default (message)
	Data string
	// HasData tells an event with an empty data line (an empty log line)
	// from one with no data field at all (a retry: frame).
	HasData bool
	Retry   int // milliseconds, when the event set retry:
}

// Reader parses an SSE stream as the HTML standard says: fields split at
// the first colon, one optional space removed, data lines joined with "\n",
// comments ignored, an event dispatched at a blank line.
type Reader struct {
	br     *bufio.Reader
	lastID string
	max    int
}

// NewReader reads events from r; lines longer than maxLine bytes are an
// error rather than a way to exhaust memory.
func NewReader(r io.Reader, maxLine int) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 64<<10), max: maxLine}
}

// ErrLineTooLong reports a field line longer than the reader allows.
var ErrLineTooLong = io.ErrShortBuffer

// Next returns the next event. Heartbeat comments are reported as events of
// Type ":" so callers can track liveness.
func (r *Reader) Next() (Event, error) {
	var ev Event
	var data strings.Builder
	hasData := false
	for {
		line, err := r.readLine()
		if err != nil {
			return Event{}, err
		}
		if len(line) == 0 {
			if !hasData && ev.Type == "" && ev.Retry == 0 {
				continue
			}
			ev.ID = r.lastID
			ev.Data = data.String()
			ev.HasData = hasData
			return ev, nil
		}
		if line[0] == ':' {
			return Event{Type: ":", ID: r.lastID}, nil
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.Write(value)
			hasData = true
		case "event":
			ev.Type = string(value)
		case "id":
			if !bytes.Contains(value, []byte{0}) {
				r.lastID = string(value)
			}
		case "retry":
			if n, err := strconv.Atoi(string(value)); err == nil {
				ev.Retry = n
			}
		}
	}
}

// readLine returns one line without its CR, LF or CRLF ending.
func (r *Reader) readLine() ([]byte, error) {
	var buf []byte
	for {
		chunk, err := r.br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > r.max {
			return nil, ErrLineTooLong
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return nil, err
		}
		break
	}
	buf = bytes.TrimSuffix(buf, []byte("\n"))
	buf = bytes.TrimSuffix(buf, []byte("\r"))
	return buf, nil
}
