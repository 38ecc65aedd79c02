package main

import (
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
)

// clientStats is what one client saw. Only its own goroutine writes it;
// maxSeq is atomic so that the scenario can watch the drain.
type clientStats struct {
	seen      []uint64 // bitset of the sequence numbers received
	distinct  int64
	events    int64
	repeats   int64
	reorders  int64
	bad       int64 // lines that did not parse
	gapEvents int64
	gapMissed int64
	latency   bool
	lat       []uint32 // microseconds from write() to arrival
	lastID    []byte
	maxSeq    atomic.Int64
}

// line records one received line "SEQ WRITE_UNIX_NANO padding".
func (s *clientStats) line(data []byte, now int64) {
	seq, ts, ok := parseLine(data)
	if !ok {
		s.bad++
		return
	}
	s.events++
	w, bit := int(seq>>6), uint64(1)<<(seq&63)
	if w >= len(s.seen) {
		s.seen = append(s.seen, make([]uint64, w+1-len(s.seen)+len(s.seen)/2)...)
	}
	if s.seen[w]&bit != 0 {
		s.repeats++
		return
	}
	s.seen[w] |= bit
	s.distinct++
	if seq < s.maxSeq.Load() {
		s.reorders++
	} else {
		s.maxSeq.Store(seq)
	}
	if s.latency {
		d := (now - ts) / 1000
		if d < 0 {
			d = 0
		}
		s.lat = append(s.lat, uint32(min(d, 1<<32-1)))
	}
}

// gap records an "event: gap" with data {"missed":N}.
func (s *clientStats) gap(data []byte) {
	s.gapEvents++
	const key = `"missed":`
	for i := 0; i+len(key) <= len(data); i++ {
		if string(data[i:i+len(key)]) == key {
			rest := data[i+len(key):]
			j := 0
			for j < len(rest) && (rest[j] == '-' || rest[j] >= '0' && rest[j] <= '9') {
				j++
			}
			if n, err := strconv.ParseInt(string(rest[:j]), 10, 64); err == nil {
				s.gapMissed += n
			}
			return
		}
	}
}

// lost counts the sequence numbers in [1, total] never received.
func (s *clientStats) lost(total int64) int64 {
	var got int64
	for seq := int64(1); seq <= total; seq++ {
		if w := int(seq >> 6); w < len(s.seen) && s.seen[w]&(1<<(seq&63)) != 0 {
			got++
		}
	}
	return total - got
}

func parseLine(b []byte) (seq, ts int64, ok bool) {
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		seq = seq*10 + int64(b[i]-'0')
		i++
	}
	if i == 0 || i >= len(b) || b[i] != ' ' {
		return 0, 0, false
	}
	i++
	j := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		ts = ts*10 + int64(b[i]-'0')
		i++
	}
	return seq, ts, i > j
}

// appendLine appends one line of about size bytes, newline included.
func appendLine(b []byte, seq, ts int64, size int) []byte {
	start := len(b)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, " level=info msg=\"bench line\" pad="...)
	for len(b)-start < size-1 {
		b = append(b, 'x')
	}
	return append(b, '\n')
}

// statusCounts tallies the HTTP status of each connect (0: no answer).
type statusCounts struct {
	mu sync.Mutex
	m  map[int]int
}

func (c *statusCounts) add(code int) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[int]int{}
	}
	c.m[code]++
	c.mu.Unlock()
}

func (c *statusCounts) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]int, 0, len(c.m))
	for k := range c.m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	s := ""
	for i, k := range keys {
		if i > 0 {
			s += " "
		}
		name := strconv.Itoa(k)
		if k == 0 {
			name = "failed"
		}
		s += name + "×" + strconv.Itoa(c.m[k])
	}
	if s == "" {
		return "-"
	}
	return s
}

// summary merges the clients of one run.
type summary struct {
	clients, withLoss                int
	events, lost, repeats, reorders  int64
	bad, gapEvents, gapMissed        int64
	maxLost, maxRepeats, maxReorders int64
	p50, p99, max                    float64 // ms
	samples                          int
}

func summarize(cs []*clientStats, total int64) summary {
	var s summary
	var all []uint32
	for _, c := range cs {
		s.clients++
		l := c.lost(total)
		if l > 0 {
			s.withLoss++
		}
		s.events += c.events
		s.lost += l
		s.repeats += c.repeats
		s.reorders += c.reorders
		s.bad += c.bad
		s.gapEvents += c.gapEvents
		s.gapMissed += c.gapMissed
		s.maxLost = max(s.maxLost, l)
		s.maxRepeats = max(s.maxRepeats, c.repeats)
		s.maxReorders = max(s.maxReorders, c.reorders)
		all = append(all, c.lat...)
	}
	s.samples = len(all)
	if len(all) > 0 {
		slices.Sort(all)
		pct := func(p float64) float64 {
			i := int(p * float64(len(all)-1))
			return float64(all[i]) / 1000
		}
		s.p50, s.p99, s.max = pct(0.50), pct(0.99), float64(all[len(all)-1])/1000
	}
	return s
}
