package alerts

import (
	"net/netip"
	"unicode/utf8"
)

// The pattern of a line: its first line with what varies from one
// occurrence of the same message to the next masked, so that one error
// with a thousand request ids is one group and two different errors are
// two. Examples (docs/DESIGN.md, "Alerts", has more):
//
//	timeout after 1500 ms talking to 10.0.0.7:5432
//	    -> timeout after <num> ms talking to <ip>:<num>
//	request 550e8400-e29b-41d4-a716-446655440000 failed: user "bob" not found
//	    -> request <uuid> failed: user "<str>" not found
//	level=error msg="lookup db-3: no such host 0x7f3a" trace=9f86d081884c7d65
//	    -> level=error msg="lookup db-<num>: no such host <hex>" trace=<hex>
//
// Masked, in this order at each word: quoted strings ("..." and '...';
// the value of a message key, msg= message= error= err= exception=
// reason= event= description=, in logfmt or JSON, is masked inside its
// quotes instead, and a JSON object's keys are kept), UUIDs, IP addresses
// (v4 and v6, as net/netip reads them), then each part of a word (between
// underscores): hex ids (hex digits with at least one decimal digit, or 0x
// and hex digits), other ids (10 or more letters and digits, at least two
// of each: <id>), and numbers (every run of decimal digits, also inside a
// word: user42 -> user<num>).

// Placeholders of the masked parts.
const (
	maskNum  = "<num>"
	maskHex  = "<hex>"
	maskUUID = "<uuid>"
	maskIP   = "<ip>"
	maskStr  = "<str>"
	maskID   = "<id>"
)

// Bounds of a pattern: the part of a line it is made from, and its size.
const (
	patternInput = 1024
	patternMax   = 512
)

// messageKeys name the values that say what happened: masked inside,
// not whole.
var messageKeys = map[string]bool{
	"msg": true, "message": true, "error": true, "err": true, "exception": true,
	"reason": true, "event": true, "description": true,
}

// Pattern returns the masked first line of text (see above), appended to
// dst, at most patternMax bytes of it.
func Pattern(dst, text []byte) []byte {
	line := text
	for i, c := range text {
		if c == '\n' {
			line = text[:i]
			break
		}
	}
	if len(line) > patternInput {
		cut := patternInput
		for cut > 0 && !utf8.RuneStart(line[cut]) {
			cut--
		}
		line = line[:cut]
	}
	start := len(dst)
	m := masker{json: len(line) > 0 && line[0] == '{'}
	dst = m.mask(dst, line, true)
	if len(dst)-start > patternMax {
		cut := start + patternMax
		for cut > start && !utf8.RuneStart(dst[cut]) {
			cut--
		}
		dst = dst[:cut]
	}
	return dst
}

// masker holds what the scan of one line knows about the key before a
// value.
type masker struct {
	json bool   // the line is a JSON object: its quoted keys are kept
	key  []byte // the word just before '=' or ':' (a key), nil when none
}

// mask appends s masked; quotes says quoted strings are masked (not
// inside a message value, which is masked word by word).
func (m *masker) mask(dst, s []byte, quotes bool) []byte {
	var word []byte // the last word emitted, for key detection
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case quotes && (c == '"' || c == '\'' && (i == 0 || !isAlnum(s[i-1]))):
			end := closingQuote(s, i)
			if end < 0 {
				dst = append(dst, c)
				i++
				m.key = nil
				continue
			}
			inner := s[i+1 : end]
			switch {
			case m.json && c == '"' && followedByColon(s, end+1):
				// A JSON key: kept, and the key of what follows.
				dst = append(dst, s[i:end+1]...)
				m.key = inner
			case m.key != nil && messageKeys[string(lower(m.key))]:
				dst = append(dst, c)
				sub := masker{}
				dst = sub.mask(dst, inner, false)
				dst = append(dst, c)
				m.key = nil
			default:
				dst = append(dst, c)
				dst = append(dst, maskStr...)
				dst = append(dst, c)
				m.key = nil
			}
			i = end + 1
			word = nil
		case isAlnum(c) && (i == 0 || !isAlnum(s[i-1])):
			m.key = nil
			n, w := maskWord(&dst, s, i)
			word = w
			i += n
		case c == '=' || c == ':':
			dst = append(dst, c)
			if word != nil {
				m.key = word
			}
			word = nil
			i++
		case c == ' ' || c == '\t':
			dst = append(dst, c)
			i++
		default:
			if c != ',' && c != '{' {
				m.key = nil
			}
			dst = append(dst, c)
			word = nil
			i++
		}
	}
	return dst
}

// maskWord masks the word (or UUID, or IP address) at s[i:] and returns how
// many bytes it took and the word as written when it is a plain word (a
// possible key), else nil. A word's parts between underscores are masked
// one by one: req_8f3a2b1c -> req_<hex>.
func maskWord(dst *[]byte, s []byte, i int) (int, []byte) {
	if n := uuidAt(s, i); n > 0 {
		*dst = append(*dst, maskUUID...)
		return n, nil
	}
	if n := ipAt(s, i); n > 0 {
		*dst = append(*dst, maskIP...)
		return n, nil
	}
	j := i
	for j < len(s) && isAlnum(s[j]) {
		j++
	}
	w := s[i:j]
	start := len(*dst)
	for k := 0; k < len(w); {
		if w[k] == '_' {
			*dst = append(*dst, '_')
			k++
			continue
		}
		e := k
		for e < len(w) && w[e] != '_' {
			e++
		}
		*dst = maskPart(*dst, w[k:e])
		k = e
	}
	if string((*dst)[start:]) == string(w) {
		return len(w), w
	}
	return len(w), nil
}

// maskPart masks one part of a word: a number, a hex id, an id of letters
// and digits, or the runs of digits in a word.
func maskPart(dst, w []byte) []byte {
	digits, letters, hex := 0, 0, true
	for _, c := range w {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F':
			letters++
		default:
			letters++
			hex = false
		}
	}
	switch {
	case digits == 0:
		return append(dst, w...)
	case digits == len(w):
		return append(dst, maskNum...)
	case hex:
		return append(dst, maskHex...)
	case len(w) > 2 && w[0] == '0' && (w[1] == 'x' || w[1] == 'X') && isHex(w[2:]):
		return append(dst, maskHex...)
	case len(w) >= 10 && digits >= 2 && letters >= 2:
		return append(dst, maskID...)
	}
	// A word with digits in it: each run of them is a number.
	for k := 0; k < len(w); {
		if w[k] >= '0' && w[k] <= '9' {
			for k < len(w) && w[k] >= '0' && w[k] <= '9' {
				k++
			}
			dst = append(dst, maskNum...)
			continue
		}
		dst = append(dst, w[k])
		k++
	}
	return dst
}

// uuidAt returns 36 when s[i:] starts with a UUID (8-4-4-4-12 hex digits)
// that no letter or digit follows, else 0.
func uuidAt(s []byte, i int) int {
	const n = 36
	if len(s)-i < n || len(s)-i > n && isAlnum(s[i+n]) {
		return 0
	}
	for k := 0; k < n; k++ {
		c := s[i+k]
		if k == 8 || k == 13 || k == 18 || k == 23 {
			if c != '-' {
				return 0
			}
			continue
		}
		if !isHexDigit(c) {
			return 0
		}
	}
	return n
}

// ipAt returns the length of the IP address that starts at s[i:], or 0: the
// longest run of hex digits, dots and colons (without a dot or colon at
// its end) that net/netip reads as an address.
func ipAt(s []byte, i int) int {
	j, seps := i, 0
	for j < len(s) && (isHexDigit(s[j]) || s[j] == '.' || s[j] == ':') {
		if s[j] == '.' || s[j] == ':' {
			seps++
		}
		j++
	}
	if seps < 2 || j < len(s) && isAlnum(s[j]) {
		return 0
	}
	// Shorten from the end: "10.0.0.1:" and "10.0.0.1:8080" are the
	// address then its separator or port.
	for end := j; end > i; end-- {
		if c := s[end-1]; c == '.' || c == ':' {
			continue
		}
		if end < len(s) && isHexDigit(s[end]) {
			continue // inside a group
		}
		if _, err := netip.ParseAddr(string(s[i:end])); err == nil {
			return end - i
		}
	}
	return 0
}

// closingQuote returns the index of the quote that closes the string
// opened at s[i], or -1: a double quote skips backslash escapes; a single
// quote closes only where no letter or digit follows (so "can't" is not a
// string).
func closingQuote(s []byte, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && q == '"':
			j++
		case s[j] == q && (q == '"' || j+1 == len(s) || !isAlnum(s[j+1])):
			return j
		}
	}
	return -1
}

func followedByColon(s []byte, i int) bool {
	for ; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t':
			continue
		case ':':
			return true
		}
		return false
	}
	return false
}

func lower(b []byte) []byte {
	for _, c := range b {
		if c >= 'A' && c <= 'Z' {
			out := make([]byte, len(b))
			for i, c := range b {
				if c >= 'A' && c <= 'Z' {
					c += 'a' - 'A'
				}
				out[i] = c
			}
			return out
		}
	}
	return b
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isHex(b []byte) bool {
	for _, c := range b {
		if !isHexDigit(c) {
			return false
		}
	}
	return len(b) > 0
}
