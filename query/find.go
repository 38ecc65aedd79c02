package query

import (
	"bytes"
	"sort"
	"sync/atomic"
)

// finder finds a needle in a line, in any ASCII case (fold) or exactly,
// looking first for the needle's byte that lines hold least often, with
// bytes.IndexByte (vectorized): most lines hold no such byte, or few, and
// are rejected at memory speed rather than a byte at a time. A filter's
// needles are searched in every line of every batch a filter group runs
// over, rules included, so this is on the hot path of a source at rest.
type finder struct {
	n    []byte // the needle; lower-case when fold
	fold bool
	// order lists the needle's positions, the byte that lines hold least
	// often (by byteFreq) first: in looks for order[0]; absent for
	// order[cur], moving cur on when the lines hold that byte too often.
	order []int
	cur   atomic.Int32
}

// newFinder makes the finder of needle (lower-case when fold).
func newFinder(needle []byte, fold bool) *finder {
	f := &finder{n: needle, fold: fold, order: make([]int, len(needle))}
	cost := func(i int) int {
		c := needle[i]
		k := int(byteFreq(c))
		if fold && c >= 'a' && c <= 'z' {
			k *= 2 // two searches, one per case
		}
		return k
	}
	for i := range f.order {
		f.order[i] = i
	}
	sort.SliceStable(f.order, func(a, b int) bool { return cost(f.order[a]) < cost(f.order[b]) })
	return f
}

// in reports whether s holds the needle.
func (f *finder) in(s []byte) bool {
	if len(f.n) == 0 {
		return true
	}
	found, _ := f.search(s, f.order[0], -1)
	return found
}

// absent reports whether text (many lines) surely does not hold the
// needle: false when it does, or when the byte looked for is in text too
// often to tell at little cost (absentBudget places without the needle);
// then the next search looks for another byte of the needle, until one is
// found that the lines hold seldom. One search of a batch's text thus
// tells for all its lines, at memory speed, that none can match. (A
// needle all of whose bytes are in most lines gains nothing: after a few
// places looked at, its lines are tested one by one, as without.)
func (f *finder) absent(text []byte) bool {
	if len(f.n) == 0 {
		return false
	}
	cur := int(f.cur.Load()) % len(f.order)
	found, gaveUp := f.search(text, f.order[cur], absentBudget)
	if gaveUp {
		f.cur.Store(int32((cur + 1) % len(f.order)))
		return false
	}
	return !found
}

// absentBudget is how many places holding the byte looked for, but not
// the needle, absent looks at before it gives up.
const absentBudget = 8

// search looks for the needle in s, by its byte at off; with budget >= 0
// it gives up after that many places holding that byte but not the
// needle.
func (f *finder) search(s []byte, off, budget int) (found, gaveUp bool) {
	n := len(f.n)
	if len(s) < n {
		return false, false
	}
	c0, c1 := f.n[off], f.n[off]
	if f.fold && c0 >= 'a' && c0 <= 'z' {
		c1 = c0 - 'a' + 'A'
	}
	// Candidates are where n[off] may sit: s[off : len(s)-n+off+1].
	end := len(s) - n + off + 1
	lo, up := -1, -1 // next candidate of each case at or after i; end: none left
	if c1 == c0 {
		up = end
	}
	for i := off; i < end; i++ {
		if lo < i {
			if lo = bytes.IndexByte(s[i:end], c0); lo < 0 {
				lo = end
			} else {
				lo += i
			}
		}
		if up < i {
			if up = bytes.IndexByte(s[i:end], c1); up < 0 {
				up = end
			} else {
				up += i
			}
		}
		if i = min(lo, up); i >= end {
			return false, false
		}
		if f.match(s[i-off : i-off+n]) {
			return true, false
		}
		if budget--; budget == -1 {
			return false, true
		}
	}
	return false, false
}

// match reports whether w (as long as the needle) is the needle.
func (f *finder) match(w []byte) bool {
	if !f.fold {
		return bytes.Equal(w, f.n)
	}
	for j, c := range w {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != f.n[j] {
			return false
		}
	}
	return true
}

// byteFreq is how often a byte is in log lines, roughly, per thousand:
// the finder looks first for the rarest byte of a needle.
func byteFreq(c byte) uint8 {
	switch {
	case c >= 'A' && c <= 'Z':
		c += 'a' - 'A'
	case c >= '0' && c <= '9':
		return 30
	}
	switch c {
	case ' ':
		return 150
	case 'e':
		return 80
	case 't':
		return 60
	case 'a', 'o', 'i', 'n':
		return 50
	case 's', 'r':
		return 45
	case 'l':
		return 30
	case 'c', 'd':
		return 25
	case 'u', 'h', 'm':
		return 20
	case 'p':
		return 18
	case ':', '.', '-':
		return 15
	case '=', '/', 'g', 'f':
		return 12
	case '"', 'b', 'y', 'w':
		return 10
	case 'v':
		return 8
	case 'k', '_', ',':
		return 6
	case '[', ']':
		return 4
	case '(', ')', 'x':
		return 3
	case 'j':
		return 2
	case 'q', 'z':
		return 1
	}
	return 2
}
