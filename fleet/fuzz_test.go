package fleet

import (
	"strings"
	"testing"
	"unicode/utf8"

	"edgetail/query"
)

// FuzzParseID: any Last-Event-ID either parses to a position that prints
// back to the same id, or is refused; never a panic.
func FuzzParseID(f *testing.F) {
	for _, s := range []string{"j1", "j12.3", "j0", "j", "j1.", "j1.-1", "m5", "j18446744073709551615.2147483647", "j1.2.3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, ok := parseID(s)
		if !ok {
			return
		}
		got := strings.TrimSuffix(strings.TrimPrefix(string(appendPosID(nil, p)), "id: "), "\n")
		if p.seq == 0 {
			t.Fatalf("%q parsed to sequence 0", s)
		}
		if q, ok := parseID(got); !ok || q != p {
			t.Fatalf("%q -> %v -> %q -> %v", s, p, got, q)
		}
	})
}

// want is how many fields a frame has: an id, and one data: field in JSON
// or one per line of the event in text.
func want(fm query.Format, line string) int {
	if fm == query.FormatJSON {
		return 2
	}
	return 2 + strings.Count(line, "\n")
}

// FuzzDecodeLines: whatever a message body holds, the hub's frames stay one
// SSE event each: valid UTF-8, no CR or LF inside a field, an id field and
// one data: field per line of the event.
func FuzzDecodeLines(f *testing.F) {
	f.Add([]byte(`{"id":"1","time":"2026-12-01T10:00:00Z","level":"info","file":"/x","line":"hello"}`))
	f.Add([]byte("{\"id\":\"2\",\"line\":\"a\\nb\\r\\u2028\"}\n{\"id\":\"3\",\"line\":\"\\u0000\"}"))
	f.Add([]byte("not json\n{}"))
	f.Fuzz(func(t *testing.T, body []byte) {
		recs, _ := decodeLines(body)
		for i := range recs {
			for _, fm := range []query.Format{query.FormatJSON, query.FormatText} {
				var scratch []byte
				e := lineEvent(pos{1, i}, "h\nx", "s", &recs[i], fm, &scratch)
				fr := string(e.frame)
				if !utf8.ValidString(fr) {
					t.Fatalf("invalid UTF-8 in %q", fr)
				}
				fields := strings.Split(strings.TrimSuffix(fr, "\n\n"), "\n")
				if !strings.HasSuffix(fr, "\n\n") || strings.Contains(fr, "\r") || len(fields) != want(fm, recs[i].Line) {
					t.Fatalf("frame is not one event of an id and a field per line: %q", fr)
				}
				for j, fl := range fields {
					if (j == 0) != strings.HasPrefix(fl, "id: ") || (j > 0 && !strings.HasPrefix(fl, "data: ")) {
						t.Fatalf("field %q in %q", fl, fr)
					}
				}
			}
		}
	})
}
