package stream

import (
	"bytes"
	"fmt"
	"strings"
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
	if lv := levelWord([]byte(s)); lv != LevelUnknown {
		return lv, nil
	}
	return LevelUnknown, fmt.Errorf("unknown level %q (want debug, info, warn or error)", s)
}

// levelWord maps the many spellings found in real logs to a Level.
func levelWord(w []byte) Level {
	if len(w) < 3 || len(w) > 11 {
		return LevelUnknown
	}
	var buf [11]byte
	n := copy(buf[:], w)
	for i := 0; i < n; i++ {
		if c := buf[i]; c >= 'A' && c <= 'Z' {
			buf[i] = c + 'a' - 'A'
		}
	}
	switch string(buf[:n]) {
	case "trace", "debug", "dbg", "verbose":
		return LevelDebug
	case "info", "inf", "notice", "information":
		return LevelInfo
	case "warn", "warning", "wrn":
		return LevelWarn
	case "error", "err", "fatal", "crit", "critical", "alert", "emerg", "emergency", "panic", "severe":
		return LevelError
	}
	return LevelUnknown
}

// levelScanLimit bounds the bytes examined per line: levels sit near the
// start of a line, and detection runs once per line on the hot path.
const levelScanLimit = 512

// DetectLevel reads a line's level from a JSON level/lvl/severity field, a
// logfmt level=/lvl= pair, or a level word: an all-capital word (ERROR), or
// a word in brackets ([warn]) or leading the line with a colon (error:).
func DetectLevel(line []byte) Level {
	if len(line) > levelScanLimit {
		line = line[:levelScanLimit]
	}
	if lv := jsonLevel(line); lv != LevelUnknown {
		return lv
	}
	if lv := logfmtLevel(line); lv != LevelUnknown {
		return lv
	}
	return wordLevel(line)
}

var jsonLevelKeys = [][]byte{[]byte(`"level"`), []byte(`"lvl"`), []byte(`"severity"`)}

func jsonLevel(line []byte) Level {
	t := bytes.TrimLeft(line, " \t")
	if len(t) == 0 || t[0] != '{' {
		return LevelUnknown
	}
	for _, key := range jsonLevelKeys {
		i := bytes.Index(t, key)
		if i < 0 {
			continue
		}
		rest := bytes.TrimLeft(t[i+len(key):], " \t")
		if len(rest) == 0 || rest[0] != ':' {
			continue
		}
		rest = bytes.TrimLeft(rest[1:], " \t")
		if len(rest) == 0 || rest[0] != '"' {
			continue
		}
		rest = rest[1:]
		if end := bytes.IndexByte(rest, '"'); end > 0 {
			if lv := levelWord(rest[:end]); lv != LevelUnknown {
				return lv
			}
		}
	}
	return LevelUnknown
}

func logfmtLevel(line []byte) Level {
	for _, key := range []string{"level=", "lvl="} {
		i := bytes.Index(line, []byte(key))
		// The key must start a field, not end another one (loglevel=).
		if i < 0 || (i > 0 && line[i-1] != ' ' && line[i-1] != '\t') {
			continue
		}
		v := line[i+len(key):]
		if len(v) > 0 && v[0] == '"' {
			v = v[1:]
		}
		end := 0
		for end < len(v) && isLetter(v[end]) {
			end++
		}
		if lv := levelWord(v[:end]); lv != LevelUnknown {
			return lv
		}
	}
	return LevelUnknown
}

func wordLevel(line []byte) Level {
	first := true
	for i := 0; i < len(line); {
		if !isLetter(line[i]) {
			i++
			continue
		}
		j := i
		upper := true
		for j < len(line) && isLetter(line[j]) {
			if line[j] >= 'a' {
				upper = false
			}
			j++
		}
		word := line[i:j]
		bracketed := i > 0 && j < len(line) && strings.IndexByte("[<(", line[i-1]) >= 0 && strings.IndexByte("]>)", line[j]) >= 0
		leading := first && j < len(line) && line[j] == ':'
		if upper || bracketed || leading {
			if lv := levelWord(word); lv != LevelUnknown {
				return lv
			}
		}
		first = false
		i = j
	}
	return LevelUnknown
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
