// Package query is the language of a stream request: its filters (q, re,
// not, level, unit, identifier), its window (since, until, tail) and its
// format, parsed from URL parameters once, before a stream starts.
package query

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"edgetail/event"
)

// Filter is the matching part of a stream request. Clients whose filters are
// equal share one group per source, so a filter runs once per line however
// many clients asked for it.
type Filter struct {
	Q     string      // keep lines containing this, case-insensitive
	Re    string      // keep lines matching this RE2 expression
	Not   string      // drop lines containing this, case-insensitive
	Level event.Level // keep lines at this level or above (LevelUnknown: all)
	// Units and Identifiers narrow a journal stream to entries of any of
	// these units (_SYSTEMD_UNIT) or identifiers (SYSLOG_IDENTIFIER).
	Units       []string
	Identifiers []string

	q, not       []byte  // lower-cased needles
	qFind, notIn *finder // and their finders
	re           *regexp.Regexp
	// rePrefix finds what every match of re starts with (its literal
	// prefix, case-sensitive): a line without it is skipped without
	// running re.
	rePrefix *finder
}

// Key identifies the filter: requests with equal keys share a group.
func (f *Filter) Key() string {
	if f.Q == "" && f.Re == "" && f.Not == "" && f.Level == event.LevelUnknown && !f.JournalOnly() {
		return ""
	}
	k := strconv.Quote(f.Q) + "\x00" + strconv.Quote(f.Re) + "\x00" + strconv.Quote(f.Not) + "\x00" + f.Level.String()
	if f.JournalOnly() {
		k += "\x00" + strconv.Quote(strings.Join(f.Units, ",")) + "\x00" + strconv.Quote(strings.Join(f.Identifiers, ","))
	}
	return k
}

// JournalOnly reports whether the filter uses journal fields.
func (f *Filter) JournalOnly() bool { return len(f.Units) > 0 || len(f.Identifiers) > 0 }

// String describes the filter for logs: readable, unlike Key.
func (f *Filter) String() string {
	var parts []string
	for _, kv := range [][2]string{{"q", f.Q}, {"re", f.Re}, {"not", f.Not}, {"level", f.Level.String()},
		{"unit", strings.Join(f.Units, ",")}, {"identifier", strings.Join(f.Identifiers, ",")}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+strconv.Quote(kv[1]))
		}
	}
	return strings.Join(parts, " ")
}

// Match reports whether an encoded event's text passes the filter; lv is
// the level it was given when it was encoded.
func (f *Filter) Match(text []byte, lv event.Level, j *event.JournalFields) bool {
	return f.match(text, lv, false, j)
}

// MatchLine is Match for a line not yet encoded (a line read from the
// past): its level is its producer's when it has one (a journal entry's
// PRIORITY), else detected from its text, only when the filter asks for one.
func (f *Filter) MatchLine(l *event.Line) bool {
	if l.Lines > 1 && l.Level == event.LevelUnknown && f.Level != event.LevelUnknown {
		// An event's level is its first line's.
		return f.match(l.Text, event.DetectLevel(event.FirstLine(l.Text)), false, l.Journal)
	}
	return f.match(l.Text, l.Level, true, l.Journal)
}

// Needle returns the lower-cased text of q= (nil when none): every line the
// filter keeps contains it, so a reader may skip in bulk the lines without.
func (f *Filter) Needle() []byte { return f.q }

// match is the filter itself; detect says an unknown level is still to be
// detected from the text. The cheap substring tests go first.
func (f *Filter) match(text []byte, lv event.Level, detect bool, j *event.JournalFields) bool {
	// A level already known is the cheapest test of all; one still to be
	// detected costs more than the substring tests.
	known := f.Level != event.LevelUnknown && (!detect || lv != event.LevelUnknown)
	if known && lv < f.Level {
		return false
	}
	if f.qFind != nil && !f.qFind.in(text) {
		return false
	}
	if f.notIn != nil && f.notIn.in(text) {
		return false
	}
	if f.Level != event.LevelUnknown && !known {
		if event.DetectLevel(text) < f.Level {
			return false
		}
	}
	if f.JournalOnly() && (j == nil || (len(f.Units) > 0 && !slices.Contains(f.Units, j.Unit)) ||
		(len(f.Identifiers) > 0 && !slices.Contains(f.Identifiers, j.Identifier))) {
		return false
	}
	if f.re != nil && (f.rePrefix != nil && !f.rePrefix.in(text) || !f.re.Match(text)) {
		return false
	}
	return true
}

// Compile checks a filter built from its exported fields (a rule of the
// agent's config, rather than a request's parameters) and prepares its
// matchers: q, re and not as ParseRequest reads them, and units without a
// dot get ".service" as unit= does. The error is one line.
func (f *Filter) Compile() error {
	if err := f.compileText(); err != nil {
		return err
	}
	for _, p := range []struct {
		name string
		vals []string
	}{{"unit", f.Units}, {"identifier", f.Identifiers}} {
		for i, val := range p.vals {
			if err := checkJournalValue(p.name, val); err != nil {
				return err
			}
			if p.name == "unit" && !strings.Contains(val, ".") {
				p.vals[i] = val + ".service"
			}
		}
	}
	return nil
}

// compileText checks q, re and not and prepares their matchers.
func (f *Filter) compileText() error {
	for _, p := range [...][2]string{{"q", f.Q}, {"re", f.Re}, {"not", f.Not}} {
		if len(p[1]) > maxPatternLen {
			return fmt.Errorf("%s is longer than %d bytes", p[0], maxPatternLen)
		}
		if !utf8.ValidString(p[1]) {
			return fmt.Errorf("%s is not valid UTF-8", p[0])
		}
	}
	f.q, f.not, f.qFind, f.notIn, f.re, f.rePrefix = nil, nil, nil, nil, nil, nil
	if f.Q != "" {
		f.q = []byte(strings.ToLower(f.Q))
		f.qFind = newFinder(f.q, true)
	}
	if f.Not != "" {
		f.not = []byte(strings.ToLower(f.Not))
		f.notIn = newFinder(f.not, true)
	}
	if f.Re != "" {
		re, err := regexp.Compile(f.Re)
		if err != nil {
			return fmt.Errorf("bad re: %s", OneLine(err.Error()))
		}
		f.re = re
		if p, _ := re.LiteralPrefix(); p != "" {
			f.rePrefix = newFinder([]byte(p), false)
		}
	}
	return nil
}

// Absent reports whether none of the lines in text (a batch's lines, one
// after the other) can pass the filter because a literal it requires (the
// text of q=, the literal prefix of re=) is nowhere in text; false when
// unsure. One search of a batch thus spares a
// filter that holds for none of its lines a test per line, which is what
// a rule that matches nothing costs.
func (f *Filter) Absent(text []byte) bool {
	return f.qFind != nil && f.qFind.absent(text) || f.rePrefix != nil && f.rePrefix.absent(text)
}

// HasLiteral reports whether Absent can ever tell: the filter requires a
// literal (q=, or re= with a literal prefix).
func (f *Filter) HasLiteral() bool { return f.qFind != nil || f.rePrefix != nil }

// Format selects how events are written.
type Format uint8

// The formats of the format= parameter.
const (
	FormatText Format = iota // data: is the raw line
	FormatJSON               // data: is {"id","source","file","time","level","line"}
)

// Request is a parsed, validated stream request.
type Request struct {
	Filter  Filter
	Format  Format
	Tail    int      // lines of history to send first
	Fields  []string // metrics sources: top-level fields to keep (nil: all)
	LastID  string   // from Last-Event-ID or lastEventId; "" when absent
	Sources []string // for the merged stream
	// TailSet is true when tail= was given: with a window, only an explicit
	// tail= applies.
	TailSet bool
	// Since and Until bound a read of the past (zero: unbounded); with
	// either, the lines of the window are read from disk first.
	Since, Until time.Time

	Download bool // GET /download: the past only, as plain text
}

// Window reports whether the request asks for a time window of the past.
func (r *Request) Window() bool { return !r.Since.IsZero() || !r.Until.IsZero() }

// Limits on request parameters, so that no request makes the agent do
// unbounded work.
const (
	maxPatternLen = 1024
	maxSources    = 64
)

// ParseRequest validates the query parameters of a stream request. maxTail
// bounds tail= (the replay buffer size). The error is one line, fit for a 400.
func ParseRequest(v url.Values, maxTail int) (*Request, error) {
	for key := range v {
		switch key {
		case "q", "re", "not", "level", "tail", "format", "fields", "lastEventId", "token", "sources", "since", "until", "unit", "identifier":
		default:
			return nil, fmt.Errorf("unknown parameter %q", key)
		}
	}
	r := &Request{Tail: 10, Format: FormatText}
	f := &r.Filter
	f.Q, f.Re, f.Not = v.Get("q"), v.Get("re"), v.Get("not")
	if err := f.compileText(); err != nil {
		return nil, err
	}
	if s := v.Get("level"); s != "" {
		lv, err := event.ParseLevel(s)
		if err != nil {
			return nil, err
		}
		f.Level = lv
	}
	if s := v.Get("tail"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("tail must be a whole number >= 0, not %q", s)
		}
		r.Tail = min(n, maxTail)
		r.TailSet = true
	}
	if err := r.parseWindow(v.Get("since"), v.Get("until"), time.Now()); err != nil {
		return nil, err
	}
	if r.Window() && !r.TailSet {
		r.Tail = 0 // only the window
	}
	switch s := v.Get("format"); s {
	case "", "text":
	case "json":
		r.Format = FormatJSON
	default:
		return nil, fmt.Errorf("unknown format %q (want text or json)", s)
	}
	if s := v.Get("fields"); s != "" {
		fields, err := splitNames(s, "fields")
		if err != nil {
			return nil, err
		}
		r.Fields = fields
	}
	if s := v.Get("sources"); s != "" {
		srcs, err := splitNames(s, "sources")
		if err != nil {
			return nil, err
		}
		r.Sources = srcs
	}
	for _, p := range []struct {
		name string
		dst  *[]string
	}{{"unit", &f.Units}, {"identifier", &f.Identifiers}} {
		if !v.Has(p.name) {
			continue
		}
		s := v.Get(p.name)
		vals, err := splitNames(s, p.name)
		if err != nil {
			return nil, err
		}
		for i, val := range vals {
			if err := checkJournalValue(p.name, val); err != nil {
				return nil, err
			}
			if p.name == "unit" && !strings.Contains(val, ".") {
				vals[i] = val + ".service"
			}
		}
		*p.dst = vals
	}
	r.LastID = v.Get("lastEventId")
	return r, nil
}

// checkJournalValue refuses unit and identifier values that no journal
// entry could carry: too long, control characters, invalid UTF-8.
func checkJournalValue(param, s string) error {
	if len(s) > 256 {
		return fmt.Errorf("%s: %q is longer than 256 bytes", param, s[:32]+"...")
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", param)
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f || c == ' ' {
			return fmt.Errorf("%s: %q holds a space or control character", param, s)
		}
	}
	return nil
}

var errEmptyName = errors.New("empty name")

// splitNames splits a comma-separated list, refusing empty and duplicate
// entries.
func splitNames(s, param string) ([]string, error) {
	parts := strings.Split(s, ",")
	if len(parts) > maxSources {
		return nil, fmt.Errorf("%s names more than %d entries", param, maxSources)
	}
	seen := make(map[string]bool, len(parts))
	out := parts[:0]
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, fmt.Errorf("%s: %w", param, errEmptyName)
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// OneLine makes a message safe to answer in one line: a request's own text
// (a regular expression with a CR in it, say) is echoed in errors, so every
// control character becomes a space.
func OneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// parseWindow reads since= and until=: an RFC 3339 time, or a duration
// back from now (90s, 15m, 2h, 7d, or Go's 1h30m).
func (r *Request) parseWindow(since, until string, now time.Time) error {
	var err error
	if since != "" {
		if r.Since, err = parseWhen(since, now); err != nil {
			return fmt.Errorf("since: %w", err)
		}
		if r.Since.After(now) {
			return fmt.Errorf("since %q is in the future", since)
		}
	}
	if until != "" {
		if r.Until, err = parseWhen(until, now); err != nil {
			return fmt.Errorf("until: %w", err)
		}
		if !r.Since.IsZero() && r.Until.Before(r.Since) {
			return fmt.Errorf("until %q is before since %q", until, since)
		}
	}
	return nil
}

func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "now" { // the request's arrival, like 0s
		return now, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if days, err := strconv.ParseFloat(n, 64); err == nil && days >= 0 && days < 36500 {
			return now.Add(-time.Duration(days * 24 * float64(time.Hour))), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time, now, nor a duration back from now (90s, 15m, 2h, 7d)", OneLine(s))
}
