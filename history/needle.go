package history

import "bytes"

// Searching a chunk for a filter's literal, ignoring ASCII case, lets a
// read skip the lines that cannot match in bulk (like grep) instead of
// looking at each: a history read of a rare q= runs at memchr speed.

// rank orders bytes by how rare they are in log text, rarer first: the
// search anchors on the needle's rarest byte.
func rank(b byte) int {
	switch {
	case b >= 'A' && b <= 'Z':
		b += 'a' - 'A'
	}
	const rareToCommon = "qjzxkvbwyfgpmhculdrnsiaote"
	switch {
	case b >= 'a' && b <= 'z':
		return 40 + bytes.IndexByte([]byte(rareToCommon), b)
	case b >= '0' && b <= '9':
		return 80 // timestamps are full of digits
	case b == ' ' || b == ':' || b == '-' || b == '.' || b == '=' || b == '/' || b == ',':
		return 90
	}
	return 10 // other punctuation and non-ASCII bytes
}

// finder finds a lower-case needle in any ASCII case.
type finder struct {
	needle  []byte
	k       int  // the anchor's index in needle
	lo, up  byte // the anchor in lower and upper case (equal for non-letters)
	adapted bool // the anchor was chosen on the data
}

func newFinder(needle []byte) *finder {
	if len(needle) == 0 {
		return nil
	}
	f := &finder{needle: needle}
	for i := range needle {
		if rank(needle[i]) < rank(needle[f.k]) {
			f.k = i
		}
	}
	f.anchor(f.k)
	return f
}

func (f *finder) anchor(k int) {
	f.k = k
	f.lo, f.up = f.needle[k], f.needle[k]
	if f.lo >= 'a' && f.lo <= 'z' {
		f.up = f.lo - 'a' + 'A'
	}
}

// adapt picks the anchor that is rarest in a sample of the data (the first
// chunk read): the rank table is only a guess, and a byte rare in logs in
// general may fill these ones.
func (f *finder) adapt(sample []byte) {
	f.adapted = true
	if len(sample) < 4096 {
		return
	}
	best, bestN := f.k, -1
	for i, c := range f.needle {
		n := bytes.Count(sample, []byte{c})
		if c >= 'a' && c <= 'z' {
			n += bytes.Count(sample, []byte{c - 'a' + 'A'})
		}
		if bestN < 0 || n < bestN {
			best, bestN = i, n
		}
	}
	f.anchor(best)
}

// index returns the offset of the first occurrence of the needle in s, or
// -1.
func (f *finder) index(s []byte) int {
	n, k := len(f.needle), f.k
	pos := k
	nextLo, nextUp := -2, -2 // cached next positions of each case, -1: none
	for pos+n-k <= len(s) {
		if nextLo != -1 && nextLo < pos {
			nextLo = indexFrom(s, f.lo, pos)
		}
		if f.up == f.lo {
			nextUp = -1
		} else if nextUp != -1 && nextUp < pos {
			nextUp = indexFrom(s, f.up, pos)
		}
		p := nextLo
		if p < 0 || (nextUp >= 0 && nextUp < p) {
			p = nextUp
		}
		if p < 0 || p-k+n > len(s) {
			return -1
		}
		if start := p - k; start >= 0 && equalFold(s[start:start+n], f.needle) {
			return start
		}
		pos = p + 1
	}
	return -1
}

func indexFrom(s []byte, b byte, from int) int {
	if from >= len(s) {
		return -1
	}
	i := bytes.IndexByte(s[from:], b)
	if i < 0 {
		return -1
	}
	return from + i
}

// equalFold compares s with the lower-case needle ignoring ASCII case.
func equalFold(s, needle []byte) bool {
	for i, c := range s {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != needle[i] {
			return false
		}
	}
	return true
}
