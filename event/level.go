package event

import (
	"bytes"
	"fmt"
)

// Level is a log line's severity. The zero value means the line carries no
// recognisable level; such lines are dropped by a level= filter, which asks
// for lines "at this level or above".
type Level uint8

// The levels, from least to most severe.
const (
	LevelUnknown Level = iota
	LevelDebug
	LevelInfo
	LevelWarn
	LevelError
)

var levelNames = [...]string{"", "debug", "info", "warn", "error"}

// String returns the level's name as used in the API ("" when unknown).
func (l Level) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return ""
}

// ParseLevel parses a level= query value.
func ParseLevel(s string) (Level, error) {
	if lv, _ := levelWord([]byte(s)); lv != LevelUnknown {
		return lv, nil
	}
	return LevelUnknown, fmt.Errorf("unknown level %q (want debug, info, warn or error)", s)
}

// levelWord maps the many spellings found in real logs to a Level. prose
// reports a word that is also common in plain sentences: it counts as a
// level only in capitals or brackets ("INFORMATION", "[alert]"), never as a
// lower-case word near the start of a line.
func levelWord(w []byte) (lv Level, prose bool) {
	if len(w) < 3 || len(w) > 11 {
		return LevelUnknown, false
	}
	var buf [11]byte
	n := copy(buf[:], w)
	for i := 0; i < n; i++ {
		if c := buf[i]; c >= 'A' && c <= 'Z' {
			buf[i] = c + 'a' - 'A'
		}
	}
	switch string(buf[:n]) {
	case "trace", "debug", "dbg":
		return LevelDebug, false
	case "verbose":
		return LevelDebug, true
	case "info", "inf", "notice":
		return LevelInfo, false
	case "information":
		return LevelInfo, true
	case "warn", "warning", "wrn":
		return LevelWarn, false
	case "error", "err", "fatal", "crit", "critical", "panic", "dpanic":
		return LevelError, false
	case "alert", "emerg", "emergency", "severe":
		return LevelError, true
	}
	return LevelUnknown, false
}

// levelScanLimit bounds the bytes examined per line: levels sit near the
// start of a line, and detection runs once per line on the hot path.
const levelScanLimit = 512

// levelFormat is one way a line states its level. DetectLevel asks each in
// turn and the first that finds a level wins, so the explicit fields (JSON,
// logfmt) beat a word that happens to be in the message.
type levelFormat struct {
	name    string // what it reads, for the docs
	example string // a line it reads; testdata/levels.txt holds more
	detect  func(line []byte) Level
}

// levelFormats is the table DetectLevel walks. Every check is a bounded scan
// with no allocation: it runs on every line read.
var levelFormats = [...]levelFormat{
	{"JSON level, lvl, severity or loglevel field", `{"loglevel":"fatal","msg":"dead"}`, jsonLevel},
	{"logfmt level= or lvl= (slog text, logrus)", `time=... level=INFO msg=started`, logfmtLevel},
	{"klog/glog header (Kubernetes)", `E1201 10:00:00.000000    1234 main.go:10] lost leader`, klogLevel},
	// One pass over the words covers the console formats: zap and logback
	// consoles, Python, Rails, PostgreSQL, MySQL, nginx, syslog programs.
	{"level word: capitals anywhere, bracketed anywhere, any case near the start", "2026-12-01T10:00:00.000Z\tinfo\tmain.go:12\tserver started", wordLevel},
}

// DetectLevel reads a line's level from the formats of levelFormats: a JSON
// field, a logfmt pair, a klog header, or a level word. See SPEC "Levels".
func DetectLevel(line []byte) Level {
	if len(line) > levelScanLimit {
		line = line[:levelScanLimit]
	}
	for i := range levelFormats {
		if lv := levelFormats[i].detect(line); lv != LevelUnknown {
			return lv
		}
	}
	return LevelUnknown
}

// FieldLevel reads a level only from a line's explicit fields, a JSON
// field or a logfmt pair: what a journal entry's own message says beats its
// PRIORITY, which journald gives every line a service writes to stdout,
// while a level word does not (see SPEC "Levels").
func FieldLevel(line []byte) Level {
	if len(line) > levelScanLimit {
		line = line[:levelScanLimit]
	}
	if lv := jsonLevel(line); lv != LevelUnknown {
		return lv
	}
	return logfmtLevel(line)
}

var jsonLevelKeys = [...][]byte{[]byte(`"level"`), []byte(`"lvl"`), []byte(`"severity"`), []byte(`"loglevel"`)}

// jsonLevel reads a JSON object's level field. The key is looked for as
// text: parsing the object would cost more than the rest of the pipeline.
func jsonLevel(line []byte) Level {
	t := bytes.TrimLeft(line, " \t")
	if len(t) == 0 || t[0] != '{' {
		return LevelUnknown
	}
	for _, key := range jsonLevelKeys {
		for rest := t; ; {
			i := bytes.Index(rest, key)
			if i < 0 {
				break
			}
			rest = rest[i+len(key):]
			// A key is followed by a colon; the same text as a value is not.
			v := bytes.TrimLeft(rest, " \t")
			if len(v) == 0 || v[0] != ':' {
				continue
			}
			v = bytes.TrimLeft(v[1:], " \t")
			if len(v) == 0 || v[0] != '"' {
				continue
			}
			v = v[1:]
			if end := bytes.IndexByte(v, '"'); end > 0 {
				if lv, _ := levelWord(v[:end]); lv != LevelUnknown {
					return lv
				}
			}
		}
	}
	return LevelUnknown
}

var logfmtKeys = [...][]byte{[]byte("level="), []byte("lvl=")}

// logfmtLevel reads a level= or lvl= pair that starts a field (loglevel=
// is another key).
func logfmtLevel(line []byte) Level {
	for _, key := range logfmtKeys {
		for off := 0; ; {
			i := bytes.Index(line[off:], key)
			if i < 0 {
				break
			}
			i += off
			off = i + len(key)
			if i > 0 && line[i-1] != ' ' && line[i-1] != '\t' {
				continue
			}
			v := line[off:]
			if len(v) > 0 && v[0] == '"' {
				v = v[1:]
			}
			end := 0
			for end < len(v) && isLetter(v[end]) {
				end++
			}
			if lv, _ := levelWord(v[:end]); lv != LevelUnknown {
				return lv
			}
		}
	}
	return LevelUnknown
}

// klogLevel reads klog's and glog's header, Lmmdd hh:mm:ss.uuuuuu, whose
// first letter is the level: I, W, E or F.
func klogLevel(line []byte) Level {
	if len(line) < 9 || line[5] != ' ' || line[8] != ':' || !isDigit(line[6]) || !isDigit(line[7]) {
		return LevelUnknown
	}
	for _, c := range line[1:5] {
		if !isDigit(c) {
			return LevelUnknown
		}
	}
	switch line[0] {
	case 'I':
		return LevelInfo
	case 'W':
		return LevelWarn
	case 'E', 'F':
		return LevelError
	}
	return LevelUnknown
}

// nearFields is how many whitespace-separated fields count as the start of
// a line: enough for a syslog header (month, day, time, host, program:)
// before the program's own "error:".
const nearFields = 6

// wordLevel finds a level word, whole (not part of errorless, INFO2 or
// my_error), that is in capitals anywhere (logback WARN, Python INFO:root:,
// Rails ERROR --, PostgreSQL LOG:), in brackets anywhere (nginx [error],
// MySQL [Warning], <notice>), or in any case as a field of its own among
// the first nearFields (zap console info, "api info started", sshd's
// "error:").
func wordLevel(line []byte) Level {
	field, fieldStart := 0, 0
	for i := 0; i < len(line); {
		c := line[i]
		if c == ' ' || c == '\t' {
			for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
				i++
			}
			field++
			fieldStart = i
			continue
		}
		if !isLetter(c) || (i > 0 && isWordByte(line[i-1])) {
			i++
			continue
		}
		j := i + 1
		upper := c <= 'Z'
		for j < len(line) && isLetter(line[j]) {
			if line[j] >= 'a' {
				upper = false
			}
			j++
		}
		if j-i >= 3 && (j == len(line) || !isWordByte(line[j])) {
			// Most words are lower-case prose past the start: skip them
			// before judging.
			near := field < nearFields && startsField(line, i, fieldStart)
			if upper || near || (i > 0 && isOpen(line[i-1])) {
				if lv := levelAt(line, i, j, upper, near); lv != LevelUnknown {
					return lv
				}
			}
		}
		i = j
	}
	return LevelUnknown
}

// startsField reports whether the word at i opens its field, bare or after
// one opening bracket.
func startsField(line []byte, i, fieldStart int) bool {
	return i == fieldStart || (i == fieldStart+1 && isOpen(line[i-1]))
}

// levelAt judges the whole word line[i:j].
func levelAt(line []byte, i, j int, upper, nearStart bool) Level {
	prev, next := byte(' '), byte(' ') // the line's ends count as spaces
	if i > 0 {
		prev = line[i-1]
	}
	if j < len(line) {
		next = line[j]
	}
	bracketed := isOpen(prev) && isClose(next)
	// Near the start, the word must end its field too: "info" and
	// "error:" are levels, "info/x" or "error=5" are not.
	near := nearStart && (next == ' ' || next == '\t' || next == ':' || next == ',' || isClose(next))
	if !upper && !bracketed && !near {
		return LevelUnknown
	}
	w := line[i:j]
	if upper && next == ':' && string(w) == "LOG" {
		return LevelInfo // PostgreSQL; "log" elsewhere is too common a word
	}
	lv, prose := levelWord(w)
	if prose && !upper && !bracketed {
		return LevelUnknown
	}
	return lv
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isWordByte: letters, digits and '_' continue a word.
func isWordByte(c byte) bool { return isLetter(c) || isDigit(c) || c == '_' }

func isOpen(c byte) bool { return c == '[' || c == '<' || c == '(' }

func isClose(c byte) bool { return c == ']' || c == '>' || c == ')' }
