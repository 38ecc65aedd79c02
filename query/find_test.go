package query

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// A finder agrees with lower-casing the text and searching it (fold), or
// with bytes.Contains, for ASCII text, whichever byte it looks for first.
func TestFinderAgreesWithContains(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alpha := []byte("aAbB:pPq ")
	for range 20000 {
		s := make([]byte, r.IntN(40))
		for i := range s {
			s[i] = alpha[r.IntN(len(alpha))]
		}
		n := make([]byte, 1+r.IntN(4))
		for i := range n {
			n[i] = alpha[r.IntN(len(alpha))]
		}
		n = bytes.ToLower(n)
		if got, want := newFinder(n, true).in(s), bytes.Contains(bytes.ToLower(s), n); got != want {
			t.Fatalf("fold: find %q in %q = %v, want %v", n, s, got, want)
		}
		if got, want := newFinder(n, false).in(s), bytes.Contains(s, n); got != want {
			t.Fatalf("exact: find %q in %q = %v, want %v", n, s, got, want)
		}
	}
}

func BenchmarkFinder(b *testing.B) {
	line := []byte(`123456 1765170000000000000 level=info msg="bench line" pad=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx`)
	fs := []*finder{newFinder([]byte("panic:"), true), newFinder([]byte("refused"), true), newFinder([]byte("timeout"), true), newFinder([]byte("segfault at "), false)}
	for b.Loop() {
		for _, f := range fs {
			f.in(line)
		}
	}
}
