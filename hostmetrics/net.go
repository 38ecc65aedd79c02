package hostmetrics

import (
	"io"
	"strings"
)

// netDevFields is the number of counters after "iface:" in /proc/net/dev:
// 8 receive columns then 8 transmit columns.
const netDevFields = 16

// Column indexes within the 16 counters of a /proc/net/dev line.
const (
	ndRxBytes   = 0
	ndRxPackets = 1
	ndRxErrs    = 2
	ndRxDrop    = 3
	ndTxBytes   = 8
	ndTxPackets = 9
	ndTxErrs    = 10
	ndTxDrop    = 11
)

// netCounters is one interface line of /proc/net/dev.
type netCounters struct {
	iface string
	v     [netDevFields]uint64
}

// parseNetDev parses /proc/net/dev. The two header lines are recognised by
// their '|' separators. A malformed line is skipped and reported; the other
// interfaces are still returned.
func parseNetDev(r io.Reader) ([]netCounters, error) {
	var out []netCounters
	var bad lineErrors
	sc := newScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if strings.TrimSpace(text) == "" || strings.Contains(text, "|") {
			continue
		}
		// The last colon separates name and counters: old kernels print
		// "eth0:123" with no space once the byte count grows wide.
		i := strings.LastIndexByte(text, ':')
		if i < 0 {
			bad.addf(line, "no colon in %q", truncate(text))
			continue
		}
		name := strings.TrimSpace(text[:i])
		fields := strings.Fields(text[i+1:])
		// Interface names never contain blanks; one that does means the
		// line is not what we think it is.
		if name == "" || strings.ContainsAny(name, " \t") || len(fields) < netDevFields {
			bad.addf(line, "%q: want a name and %d counters", truncate(name), netDevFields)
			continue
		}
		c := netCounters{iface: name}
		ok := true
		for j := 0; j < netDevFields; j++ {
			n, err := parseUint(fields[j])
			if err != nil {
				bad.addf(line, "%s: field %d: %v", truncate(name), j+1, err)
				ok = false
				break
			}
			c.v[j] = n
		}
		if ok {
			out = append(out, c)
		}
	}
	if err := sc.Err(); err != nil {
		return out, err
	}
	return out, bad.err()
}

// buildNet computes per-interface rates against the previous reading. An
// interface seen for the first time reports rate 0, a counter that went
// backwards reports 0 for that sample, and an interface that vanished is
// not carried into the next state.
func buildNet(cur []netCounters, prev *rateState[netCounters], seconds float64) ([]NetStats, map[string]netCounters) {
	out := make([]NetStats, 0, len(cur))
	next := make(map[string]netCounters, len(cur))
	for _, c := range cur {
		next[c.iface] = c
		ns := NetStats{
			Iface:    c.iface,
			RxErrors: c.v[ndRxErrs],
			TxErrors: c.v[ndTxErrs],
			RxDrops:  c.v[ndRxDrop],
			TxDrops:  c.v[ndTxDrop],
		}
		if p, ok := prev.prev[c.iface]; ok {
			ns.RxBytesPerS = rate(p.v[ndRxBytes], c.v[ndRxBytes], seconds)
			ns.TxBytesPerS = rate(p.v[ndTxBytes], c.v[ndTxBytes], seconds)
			ns.RxPacketsPerS = rate(p.v[ndRxPackets], c.v[ndRxPackets], seconds)
			ns.TxPacketsPerS = rate(p.v[ndTxPackets], c.v[ndTxPackets], seconds)
		}
		out = append(out, ns)
	}
	return out, next
}
