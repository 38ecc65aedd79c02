package history

import (
	"bytes"
	"strings"
	"testing"
)

func TestFinder(t *testing.T) {
	for _, tc := range []struct {
		s, needle string
		want      int
	}{
		{"hello world", "world", 6},
		{"hello WoRlD", "world", 6},
		{"xx needle-7F3A yy", "needle-7f3a", 3},
		{"needle-7f3", "needle-7f3a", -1},
		{"aaaaab", "ab", 4},
		{"", "a", -1},
		{"ffff-F-f", "-f", 4},
	} {
		if got := newFinder([]byte(tc.needle)).index([]byte(tc.s)); got != tc.want {
			t.Errorf("%q in %q: %d, want %d", tc.needle, tc.s, got, tc.want)
		}
	}
}

// FuzzFinder checks the finder against a plain case-folded search.
func FuzzFinder(f *testing.F) {
	f.Add([]byte("some Text with NEEDLE inside"), []byte("needle"))
	f.Add([]byte("--a-A--"), []byte("a-"))
	f.Fuzz(func(t *testing.T, s, needle []byte) {
		needle = bytes.ToLower(needle)
		if len(needle) == 0 || !isASCII(needle) {
			return
		}
		want := strings.Index(asciiLower(s), string(needle))
		if got := newFinder(needle).index(s); got != want {
			t.Fatalf("%q in %q: %d, want %d", needle, s, got, want)
		}
	})
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func asciiLower(b []byte) string {
	out := []byte(string(b))
	for i, c := range out {
		if c >= 'A' && c <= 'Z' {
			out[i] = c + 'a' - 'A'
		}
	}
	return string(out)
}
