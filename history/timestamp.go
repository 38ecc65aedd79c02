package history

import (
	"bytes"
	"time"
)

// Clock says how times without a zone or a year are read: zone-less
// timestamps are in Loc, and a syslog time (no year) takes Now's year, or
// the year before when that would put it more than a day after Now.
type Clock struct {
	Now time.Time
	Loc *time.Location // nil: time.Local
}

func (c Clock) loc() *time.Location {
	if c.Loc == nil {
		return time.Local
	}
	return c.Loc
}

// minYear is the earliest year a log timestamp is taken to have: a date
// before it is some other number (and the zero time means "none" here).
const minYear = 1970

// scanLimit bounds how far into a line a timestamp is looked for, so that a
// long line without one costs little.
const scanLimit = 128

// ParseTime reads the time a log line carries: an RFC 3339 / ISO 8601 time
// at the start of the line or inside its first bytes, a syslog time
// (`Dec  1 10:00:00`) at the start, a common log time
// (`[01/Dec/2026:10:00:00 +0000]`), or a JSON `time`, `ts`, `timestamp` or
// `@timestamp` field. It is hand-written rather than built on time.Parse
// because it runs on every line of a history read.
func ParseTime(line []byte, c Clock) (time.Time, bool) {
	if len(line) == 0 {
		return time.Time{}, false
	}
	if line[0] == '{' {
		if t, ok := jsonTime(line, c); ok {
			return t, true
		}
	}
	if len(line) >= 15 && isUpper(line[0]) {
		if t, ok := syslogTime(line, c); ok {
			return t, true
		}
	}
	head := line
	if len(head) > scanLimit {
		head = head[:scanLimit]
	}
	for i := 0; i+10 <= len(head); i++ {
		b := head[i]
		switch {
		case b == '[' && i+27 <= len(line):
			if t, ok := commonLogTime(line[i+1:]); ok {
				return t, true
			}
		case isDigit(b) && (i == 0 || !isDigit(head[i-1])) && head[i+4] == '-':
			if t, _, ok := isoTime(line[i:], c.loc()); ok {
				return t, true
			}
		}
	}
	return time.Time{}, false
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }
func isUpper(b byte) bool { return b >= 'A' && b <= 'Z' }

// digits reads n decimal digits at b[0:n].
func digits(b []byte, n int) (int, bool) {
	if len(b) < n {
		return 0, false
	}
	v := 0
	for i := 0; i < n; i++ {
		if !isDigit(b[i]) {
			return 0, false
		}
		v = v*10 + int(b[i]-'0')
	}
	return v, true
}

// isoTime reads YYYY-MM-DD[T ]HH:MM:SS[.frac][Z|±HH:MM|±HHMM] and returns
// the time and the bytes used. A time without a zone is in loc.
func isoTime(b []byte, loc *time.Location) (time.Time, int, bool) {
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != ' ' && b[10] != 't') || b[13] != ':' || b[16] != ':' {
		return time.Time{}, 0, false
	}
	y, ok1 := digits(b, 4)
	mo, ok2 := digits(b[5:], 2)
	d, ok3 := digits(b[8:], 2)
	h, ok4 := digits(b[11:], 2)
	mi, ok5 := digits(b[14:], 2)
	s, ok6 := digits(b[17:], 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || y < minYear || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 {
		return time.Time{}, 0, false
	}
	i := 19
	ns := 0
	if i < len(b) && (b[i] == '.' || b[i] == ',') {
		i++
		scale := 100000000
		for i < len(b) && isDigit(b[i]) {
			ns += int(b[i]-'0') * scale
			scale /= 10
			i++
		}
	}
	if i < len(b) {
		switch b[i] {
		case 'Z', 'z':
			return time.Date(y, time.Month(mo), d, h, mi, s, ns, time.UTC), i + 1, true
		case '+', '-':
			if off, n, ok := zoneOffset(b[i:]); ok {
				return time.Date(y, time.Month(mo), d, h, mi, s, ns, time.FixedZone("", off)), i + n, true
			}
		}
	}
	return time.Date(y, time.Month(mo), d, h, mi, s, ns, loc), i, true
}

// zoneOffset reads ±HH:MM, ±HHMM or ±HH in seconds east of UTC.
func zoneOffset(b []byte) (int, int, bool) {
	sign := 1
	if b[0] == '-' {
		sign = -1
	}
	hh, ok := digits(b[1:], 2)
	if !ok || hh > 14 {
		return 0, 0, false
	}
	n, mm := 3, 0
	if len(b) >= 6 && b[3] == ':' {
		if mm, ok = digits(b[4:], 2); ok {
			n = 6
		}
	} else if m, ok := digits(b[3:], 2); ok {
		mm, n = m, 5
	}
	if mm > 59 {
		return 0, 0, false
	}
	return sign * (hh*3600 + mm*60), n, true
}

var months = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

func month(b []byte) (time.Month, bool) {
	if len(b) < 3 {
		return 0, false
	}
	for i, m := range months {
		if b[0] == m[0] && b[1] == m[1] && b[2] == m[2] {
			return time.Month(i + 1), true
		}
	}
	return 0, false
}

// syslogTime reads `Mmm dd HH:MM:SS` (day space-padded) at the start.
func syslogTime(b []byte, c Clock) (time.Time, bool) {
	mo, ok := month(b)
	if !ok || b[3] != ' ' {
		return time.Time{}, false
	}
	var d int
	switch {
	case b[4] == ' ' && isDigit(b[5]):
		d = int(b[5] - '0')
	default:
		if d, ok = digits(b[4:], 2); !ok {
			return time.Time{}, false
		}
	}
	if b[6] != ' ' || b[9] != ':' || b[12] != ':' {
		return time.Time{}, false
	}
	h, ok1 := digits(b[7:], 2)
	mi, ok2 := digits(b[10:], 2)
	s, ok3 := digits(b[13:], 2)
	if !(ok1 && ok2 && ok3) || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 {
		return time.Time{}, false
	}
	ns := 0
	if len(b) > 15 && b[15] == '.' {
		scale := 100000000
		for i := 16; i < len(b) && isDigit(b[i]); i++ {
			ns += int(b[i]-'0') * scale
			scale /= 10
		}
	}
	now := c.Now
	if now.IsZero() {
		now = time.Now()
	}
	loc := c.loc()
	y := now.In(loc).Year()
	t := time.Date(y, mo, d, h, mi, s, ns, loc)
	if t.After(now.Add(24 * time.Hour)) {
		t = time.Date(y-1, mo, d, h, mi, s, ns, loc)
	}
	return t, true
}

// commonLogTime reads `dd/Mon/yyyy:HH:MM:SS ±zzzz]` (after the '[').
func commonLogTime(b []byte) (time.Time, bool) {
	if len(b) < 26 || b[2] != '/' || b[6] != '/' || b[11] != ':' || b[14] != ':' || b[17] != ':' || b[20] != ' ' {
		return time.Time{}, false
	}
	d, ok1 := digits(b, 2)
	mo, ok2 := month(b[3:])
	y, ok3 := digits(b[7:], 4)
	h, ok4 := digits(b[12:], 2)
	mi, ok5 := digits(b[15:], 2)
	s, ok6 := digits(b[18:], 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || y < minYear || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 {
		return time.Time{}, false
	}
	if b[21] != '+' && b[21] != '-' {
		return time.Time{}, false
	}
	off, _, ok := zoneOffset(b[21:])
	if !ok {
		return time.Time{}, false
	}
	return time.Date(y, mo, d, h, mi, s, 0, time.FixedZone("", off)), true
}

var jsonKeys = [][]byte{[]byte(`"@timestamp"`), []byte(`"timestamp"`), []byte(`"time"`), []byte(`"ts"`)}

// jsonTime finds a time field of a JSON object line: a string in RFC 3339
// form, or a number of seconds (or milliseconds, when too large to be
// seconds) since the epoch. The line is not parsed as JSON: this runs on
// every line, and a field name in quotes followed by a colon is specific
// enough.
func jsonTime(line []byte, c Clock) (time.Time, bool) {
	for _, k := range jsonKeys {
		i := bytes.Index(line, k)
		if i < 0 {
			continue
		}
		v := line[i+len(k):]
		v = bytes.TrimLeft(v, " \t")
		if len(v) == 0 || v[0] != ':' {
			continue
		}
		v = bytes.TrimLeft(v[1:], " \t")
		if len(v) == 0 {
			continue
		}
		if v[0] == '"' {
			if t, _, ok := isoTime(v[1:], c.loc()); ok {
				return t, true
			}
			continue
		}
		if t, ok := epochTime(v); ok {
			return t, true
		}
	}
	return time.Time{}, false
}

// epochTime reads a JSON number of seconds (with a fraction) or, above
// 1e11, milliseconds since the epoch.
func epochTime(v []byte) (time.Time, bool) {
	var whole int64
	i := 0
	for ; i < len(v) && isDigit(v[i]) && i < 16; i++ {
		whole = whole*10 + int64(v[i]-'0')
	}
	if i == 0 {
		return time.Time{}, false
	}
	var frac int64
	if i < len(v) && v[i] == '.' {
		scale := int64(100000000)
		for i++; i < len(v) && isDigit(v[i]); i++ {
			frac += int64(v[i]-'0') * scale
			scale /= 10
		}
	}
	if whole > 1e11 {
		return time.UnixMilli(whole), true
	}
	return time.Unix(whole, frac), true
}
