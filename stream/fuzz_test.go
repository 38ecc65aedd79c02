package stream

import (
	"bytes"
	"encoding/json"
	"net/url"
	"testing"
	"unicode/utf8"
)

// FuzzAppendSafe: whatever a log line holds, the data field is valid UTF-8
// with no CR or LF, and clean lines pass unchanged.
func FuzzAppendSafe(f *testing.F) {
	for _, s := range []string{"", "plain", "a\rb", "a\nb", "\r\n", "\xff\xfe", "\xc3\x28", "é€𝄞", "\x00", "data: x\n\nid: 1", "\xe2\x82"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		out := appendSafe(nil, line)
		if !utf8.Valid(out) || bytes.ContainsAny(out, "\r\n") {
			t.Fatalf("unsafe output %q for %q", out, line)
		}
		if needsSanitizing(line) == bytes.Equal(out, line) {
			t.Fatalf("needsSanitizing(%q) = %v but output %q", line, needsSanitizing(line), out)
		}
		if utf8.Valid(line) && !bytes.ContainsAny(line, "\r\n") && !bytes.Equal(out, line) {
			t.Fatalf("clean line changed: %q -> %q", line, out)
		}
		js := appendJSONString(nil, out)
		var back string
		if err := json.Unmarshal(js, &back); err != nil || back != string(out) {
			t.Fatalf("json %s does not round-trip: %v", js, err)
		}
	})
}

// FuzzDetectLevel: any line yields a valid level and never panics, and
// only the first levelScanLimit bytes decide it. Seeded with the corpus of
// real formats (testdata/levels.txt) and a few truncated forms.
func FuzzDetectLevel(f *testing.F) {
	for _, c := range levelCorpus(f) {
		f.Add([]byte(c.line))
	}
	for _, s := range []string{`{"level":`, "lvl=\"", "", "E1201 1", "[", "LOG:", "\terror"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		lv := DetectLevel(line)
		if lv > LevelError {
			t.Fatalf("level %d out of range", lv)
		}
		if len(line) > levelScanLimit && DetectLevel(line[:levelScanLimit]) != lv {
			t.Fatalf("bytes past the scan limit changed the level of %q", line)
		}
	})
}

// FuzzParseRequest: any query either parses or fails with a one-line error.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{"q=x", "re=(", "re=a+b", "level=warn", "tail=-1", "tail=99999999999999999999", "format=json",
		"fields=cpu,mem", "sources=a,,b", "not=%ff", "bogus=1", "q=a&q=b", "lastEventId=m12"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		req, err := ParseRequest(v, 10000)
		if err != nil {
			if bytes.ContainsAny([]byte(err.Error()), "\r\n") {
				t.Fatalf("error is not one line: %q", err)
			}
			return
		}
		if req.Tail < 0 || req.Tail > 10000 {
			t.Fatalf("tail %d out of range", req.Tail)
		}
		e := &Event{Kind: KindLine, Line: []byte("some line"), Level: LevelInfo}
		req.Filter.Match(e)
	})
}

func TestLevelDetection(t *testing.T) {
	for line, want := range map[string]Level{
		`{"level":"error","msg":"x"}`:      LevelError,
		`{"ts":1, "lvl": "WARN"}`:          LevelWarn,
		`{"severity":"Info"}`:              LevelInfo,
		`ts=1 level=debug msg="x"`:         LevelDebug,
		`ts=1 lvl=warning`:                 LevelWarn,
		`2024-05-01 12:00:00 ERROR failed`: LevelError,
		`[Thu] [error] [client 1.2.3.4]`:   LevelError,
		`warning: disk almost full`:        LevelWarn,
		`E: FATAL boom`:                    LevelError,
		`no errors found today`:            LevelUnknown,
		`loglevel=error`:                   LevelUnknown,
		`INFO starting`:                    LevelInfo,
		`<notice> hello`:                   LevelInfo,
	} {
		if got := DetectLevel([]byte(line)); got != want {
			t.Errorf("DetectLevel(%q) = %v, want %v", line, got, want)
		}
	}
}

func TestContainsFold(t *testing.T) {
	for _, c := range []struct {
		s, needle string
		want      bool
	}{
		{"Hello World", "world", true},
		{"HELLO", "hello", true},
		{"hel", "hello", false},
		{"abc", "", true},
		{"xAbCx", "abc", true},
		{"Ünïcode", "ünï", false}, // non-ASCII is matched exactly
		{"ünïcode", "ünï", true},
	} {
		if got := containsFold([]byte(c.s), []byte(c.needle)); got != c.want {
			t.Errorf("containsFold(%q, %q) = %v", c.s, c.needle, got)
		}
	}
}
