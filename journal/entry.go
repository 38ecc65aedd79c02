package journal

import (
	"bytes"
	"errors"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Entry is what edgetail keeps of one journal entry.
type Entry struct {
	Cursor     string    // __CURSOR exactly
	Time       time.Time // __REALTIME_TIMESTAMP
	Message    []byte    // MESSAGE; binary or invalid UTF-8 as it was, repeated values joined by LF
	Priority   int       // PRIORITY 0-7; -1 when absent or not a number
	Unit       string    // _SYSTEMD_UNIT
	Identifier string    // SYSLOG_IDENTIFIER
	PID        int       // _PID; 0 when absent
	Boot       string    // _BOOT_ID
}

// The fields read; journalctl is asked for these only (--output-fields),
// and prints __CURSOR, __REALTIME_TIMESTAMP and _BOOT_ID on its own.
var outputFields = "MESSAGE,PRIORITY,_SYSTEMD_UNIT,SYSLOG_IDENTIFIER,_PID"

var errSyntax = errors.New("journal entry: bad JSON")

// ParseEntry reads one line of `journalctl -o json`. It is hand-written
// for the journal's shapes: every value is a string, null (a field over
// 4,096 bytes without --all), an array of byte values (binary or non-UTF-8
// data), or an array of those (a repeated field). Fields it does not keep
// are skipped without being decoded. An entry without __CURSOR is an error.
func ParseEntry(b []byte) (Entry, error) {
	e := Entry{Priority: -1}
	p := parser{b: b}
	p.ws()
	if !p.eat('{') {
		return e, errSyntax
	}
	p.ws()
	if !p.eat('}') {
		for {
			p.ws()
			key, ok := p.str(nil)
			if !ok {
				return e, errSyntax
			}
			p.ws()
			if !p.eat(':') {
				return e, errSyntax
			}
			p.ws()
			var vals [][]byte
			switch string(key) {
			case "MESSAGE", "__CURSOR", "__REALTIME_TIMESTAMP", "PRIORITY", "_SYSTEMD_UNIT",
				"SYSLOG_IDENTIFIER", "_PID", "_BOOT_ID":
				if vals, ok = p.value(); !ok {
					return e, errSyntax
				}
			default:
				if !p.skip(0) {
					return e, errSyntax
				}
			}
			e.set(string(key), vals)
			p.ws()
			if p.eat(',') {
				continue
			}
			if p.eat('}') {
				break
			}
			return e, errSyntax
		}
	}
	p.ws()
	if p.i != len(p.b) {
		return e, errSyntax
	}
	if e.Cursor == "" {
		return e, errors.New("journal entry: no __CURSOR")
	}
	return e, nil
}

func (e *Entry) set(key string, vals [][]byte) {
	if len(vals) == 0 {
		return
	}
	first := vals[0]
	switch key {
	case "MESSAGE":
		if len(vals) == 1 {
			e.Message = first
		} else {
			e.Message = bytes.Join(vals, []byte{'\n'})
		}
	case "__CURSOR":
		e.Cursor = string(first)
	case "__REALTIME_TIMESTAMP":
		if us, err := strconv.ParseInt(string(first), 10, 64); err == nil {
			e.Time = time.UnixMicro(us)
		}
	case "PRIORITY":
		if n, err := strconv.Atoi(string(first)); err == nil && n >= 0 && n <= 7 {
			e.Priority = n
		}
	case "_SYSTEMD_UNIT":
		e.Unit = string(first)
	case "SYSLOG_IDENTIFIER":
		e.Identifier = string(first)
	case "_PID":
		if n, err := strconv.Atoi(string(first)); err == nil && n > 0 {
			e.PID = n
		}
	case "_BOOT_ID":
		e.Boot = string(first)
	}
}

type parser struct {
	b []byte
	i int
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *parser) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

// value reads a kept field's value: its values, one per repetition; nil
// for null.
func (p *parser) value() ([][]byte, bool) {
	switch p.peek() {
	case '"':
		s, ok := p.str(nil)
		return [][]byte{s}, ok
	case 'n':
		return nil, p.lit("null")
	case '[':
		p.i++
		p.ws()
		if p.eat(']') {
			return [][]byte{{}}, true
		}
		var vals [][]byte
		var bin []byte
		isBin := false
		for {
			p.ws()
			switch c := p.peek(); {
			case c == '"':
				s, ok := p.str(nil)
				if !ok {
					return nil, false
				}
				vals = append(vals, s)
			case c == '[':
				b, ok := p.bytesArray()
				if !ok {
					return nil, false
				}
				vals = append(vals, b)
			case c >= '0' && c <= '9':
				n, ok := p.byteNum()
				if !ok {
					return nil, false
				}
				bin = append(bin, n)
				isBin = true
			case c == 'n':
				if !p.lit("null") {
					return nil, false
				}
			default:
				return nil, false
			}
			p.ws()
			if p.eat(',') {
				continue
			}
			if !p.eat(']') {
				return nil, false
			}
			break
		}
		if isBin {
			if len(vals) > 0 {
				return nil, false // numbers mixed with strings
			}
			return [][]byte{bin}, true
		}
		return vals, true
	}
	return nil, false
}

// bytesArray reads [n, n, ...] of byte values.
func (p *parser) bytesArray() ([]byte, bool) {
	p.i++ // [
	out := []byte{}
	p.ws()
	if p.eat(']') {
		return out, true
	}
	for {
		p.ws()
		n, ok := p.byteNum()
		if !ok {
			return nil, false
		}
		out = append(out, n)
		p.ws()
		if p.eat(',') {
			continue
		}
		return out, p.eat(']')
	}
}

func (p *parser) byteNum() (byte, bool) {
	n, digits := 0, 0
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' && digits < 4 {
		n = n*10 + int(p.b[p.i]-'0')
		p.i++
		digits++
	}
	return byte(n), digits > 0 && n <= 255
}

func (p *parser) lit(s string) bool {
	if bytes.HasPrefix(p.b[p.i:], []byte(s)) {
		p.i += len(s)
		return true
	}
	return false
}

// str reads a JSON string, unescaped, appended to dst. The result never
// aliases the input, which the caller's reader reuses.
func (p *parser) str(dst []byte) ([]byte, bool) {
	if !p.eat('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			dst = append(dst, p.b[start:p.i]...)
			p.i++
			if dst == nil {
				dst = []byte{}
			}
			return dst, true
		case c == '\\':
			dst = append(dst, p.b[start:p.i]...)
			var ok bool
			if dst, ok = p.escape(dst); !ok {
				return nil, false
			}
			start = p.i
		case c < 0x20:
			return nil, false
		default:
			p.i++
		}
	}
	return nil, false
}

func (p *parser) escape(dst []byte) ([]byte, bool) {
	p.i++ // backslash
	if p.i >= len(p.b) {
		return nil, false
	}
	c := p.b[p.i]
	p.i++
	switch c {
	case '"', '\\', '/':
		return append(dst, c), true
	case 'b':
		return append(dst, '\b'), true
	case 'f':
		return append(dst, '\f'), true
	case 'n':
		return append(dst, '\n'), true
	case 'r':
		return append(dst, '\r'), true
	case 't':
		return append(dst, '\t'), true
	case 'u':
		r, ok := p.hex4()
		if !ok {
			return nil, false
		}
		if utf16.IsSurrogate(r) {
			if p.lit(`\u`) {
				r2, ok := p.hex4()
				if !ok {
					return nil, false
				}
				r = utf16.DecodeRune(r, r2)
			} else {
				r = utf8.RuneError
			}
		}
		return utf8.AppendRune(dst, r), true
	}
	return nil, false
}

func (p *parser) hex4() (rune, bool) {
	if p.i+4 > len(p.b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(p.b[p.i:p.i+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	p.i += 4
	return rune(n), true
}

// skip passes over any JSON value without decoding it.
func (p *parser) skip(depth int) bool {
	if depth > 32 {
		return false
	}
	switch c := p.peek(); {
	case c == '"':
		p.i++
		for p.i < len(p.b) {
			switch p.b[p.i] {
			case '"':
				p.i++
				return true
			case '\\':
				p.i += 2
			default:
				p.i++
			}
		}
		return false
	case c == '[' || c == '{':
		closer := byte(']')
		if c == '{' {
			closer = '}'
		}
		p.i++
		p.ws()
		if p.eat(closer) {
			return true
		}
		for {
			p.ws()
			if c == '{' {
				if p.peek() != '"' || !p.skip(depth+1) {
					return false
				}
				p.ws()
				if !p.eat(':') {
					return false
				}
				p.ws()
			}
			if !p.skip(depth + 1) {
				return false
			}
			p.ws()
			if p.eat(',') {
				continue
			}
			return p.eat(closer)
		}
	case c == 'n':
		return p.lit("null")
	case c == 't':
		return p.lit("true")
	case c == 'f':
		return p.lit("false")
	case c == '-' || (c >= '0' && c <= '9'):
		start := p.i
		for p.i < len(p.b) && bytes.IndexByte([]byte("+-.eE0123456789"), p.b[p.i]) >= 0 {
			p.i++
		}
		return p.i > start
	}
	return false
}
