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
