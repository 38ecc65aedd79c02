package sse

import (
	"bytes"
	"encoding/json"
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
		out := AppendSafe(nil, line)
		if !utf8.Valid(out) || bytes.ContainsAny(out, "\r\n") {
			t.Fatalf("unsafe output %q for %q", out, line)
		}
		if NeedsSanitizing(line) == bytes.Equal(out, line) {
			t.Fatalf("NeedsSanitizing(%q) = %v but output %q", line, NeedsSanitizing(line), out)
		}
		if utf8.Valid(line) && !bytes.ContainsAny(line, "\r\n") && !bytes.Equal(out, line) {
			t.Fatalf("clean line changed: %q -> %q", line, out)
		}
		js := AppendJSONString(nil, out)
		var back string
		if err := json.Unmarshal(js, &back); err != nil || back != string(out) {
			t.Fatalf("json %s does not round-trip: %v", js, err)
		}
	})
}

// FuzzAppendData: whatever an event's lines hold, its data: fields parse
// back (as EventSource joins them) to the lines, each made safe, and
// nothing else: no line can forge a field or a second event.
func FuzzAppendData(f *testing.F) {
	for _, s := range []string{"", "a\nb", "\tat x\rdata: forged", "a\n\nb", "\n", "x\r\nid: 9\n\ndata: y", "\xff\n\xfe"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		frame := AppendData(nil, "", text, nil)
		frame = append(frame, '\n')
		var lines []string
		for _, l := range bytes.Split(bytes.TrimSuffix(frame, []byte("\n\n")), []byte("\n")) {
			v, ok := bytes.CutPrefix(l, []byte("data: "))
			if !ok {
				t.Fatalf("field line %q in %q", l, frame)
			}
			if !utf8.Valid(v) || bytes.ContainsRune(v, '\r') {
				t.Fatalf("unsafe field %q", v)
			}
			lines = append(lines, string(v))
		}
		want := AppendSafeLines(nil, text)
		if got := []byte(joinLines(lines)); !bytes.Equal(got, want) {
			t.Fatalf("data %q, want %q", got, want)
		}
		if n := bytes.Count(text, []byte("\n")) + 1; len(lines) != n {
			t.Fatalf("%d data fields for %d lines", len(lines), n)
		}
	})
}

func joinLines(l []string) string {
	var b bytes.Buffer
	for i, s := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(s)
	}
	return b.String()
}
