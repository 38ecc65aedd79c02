package query

import (
	"bytes"
	"net/url"
	"testing"

	"edgetail/event"
)

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
		req.Filter.Match([]byte("some line"), event.LevelInfo, nil)
	})
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
		if got := newFinder([]byte(c.needle), true).in([]byte(c.s)); got != c.want {
			t.Errorf("containsFold(%q, %q) = %v", c.s, c.needle, got)
		}
	}
}
