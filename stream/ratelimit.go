package stream

import "time"

// rateLimiter is a token bucket per client address for new streams, so a
// client in a reconnect loop (or an attacker) cannot make the agent spend
// its time on handshakes and backlogs. Guarded by the hub lock.
type rateLimiter struct {
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxBuckets bounds the limiter's memory whatever the number of addresses.
const maxBuckets = 1 << 16

// allow takes a token for ip; the bucket holds 2*rate tokens and refills at
// rate per second.
func (r *rateLimiter) allow(ip string, rate float64, now time.Time) bool {
	if r.buckets == nil {
		r.buckets = make(map[string]*bucket)
	}
	burst := 2 * rate
	b := r.buckets[ip]
	if b == nil {
		if len(r.buckets) >= maxBuckets {
			r.prune(now, rate, burst)
		}
		b = &bucket{tokens: burst, last: now}
		r.buckets[ip] = b
	}
	b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// prune drops the buckets that have refilled (they hold no state worth
// keeping); if every one is still draining, it starts afresh.
func (r *rateLimiter) prune(now time.Time, rate, burst float64) {
	for ip, b := range r.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*rate >= burst {
			delete(r.buckets, ip)
		}
	}
	if len(r.buckets) >= maxBuckets {
		r.buckets = make(map[string]*bucket)
	}
}
