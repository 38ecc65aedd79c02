package alerts

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// deliver is the rule's deliverer: it sends the outbox's oldest
// notification until it is delivered or its retries run out, then the
// next. One goroutine per rule: a webhook that hangs holds up only its
// own rule's notifications (each attempt ends at the webhook's timeout),
// never the sources, the streams or other rules. It returns when ctx is
// done; what it had not delivered stays in the outbox, saved, for the
// next run.
func (r *rule) deliver(ctx context.Context) {
	for {
		r.mu.Lock()
		var p *pending
		if len(r.st.out) > 0 {
			p = r.st.out[0]
			p.inflight = true
		}
		r.mu.Unlock()
		if p == nil {
			select {
			case <-ctx.Done():
				return
			case <-r.wakeOut:
				continue
			}
		}
		if !r.send(ctx, p) {
			return
		}
	}
}

// send delivers p, retrying with jittered exponential backoff (or the
// answer's Retry-After) until MaxRetry has passed since this run's first
// attempt; it takes p out of the outbox when it is delivered or given up.
// It returns false when ctx is done first.
func (r *rule) send(ctx context.Context, p *pending) bool {
	o := &r.e.o
	if p.firstTry.IsZero() {
		p.firstTry = time.Now()
	}
	for attempt := 0; ; attempt++ {
		r.mu.Lock()
		p.N.Dropped = r.st.dropped
		n := p.N
		r.mu.Unlock()
		retryAfter, err := r.post(ctx, &n, p.Key)
		if err == nil {
			r.done(p, resultSent, n.Dropped)
			return true
		}
		if ctx.Err() != nil {
			r.mu.Lock()
			p.inflight = false
			r.mu.Unlock()
			return false
		}
		r.ctr.attemptsFailed.Add(1)
		r.mu.Lock()
		r.st.failures++
		r.st.lastErr, r.st.lastErrT = err.Error(), time.Now()
		r.mu.Unlock()
		wait := backoff(attempt, o.BackoffMin, o.BackoffMax)
		if retryAfter > 0 {
			wait = retryAfter
		}
		if time.Since(p.firstTry)+wait > o.MaxRetry {
			r.log.Warn("notification not delivered: given up", zap.String("kind", p.N.Kind),
				zap.Int("attempts", attempt+1), zap.String("error", err.Error()))
			r.done(p, resultFailed, 0)
			return true
		}
		if attempt == 0 {
			// Once per notification: the error never holds the URL.
			r.log.Warn("notification not delivered: retrying", zap.String("error", err.Error()), zap.Duration("in", wait))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			r.mu.Lock()
			p.inflight = false
			r.mu.Unlock()
			return false
		case <-t.C:
		}
	}
}

// done takes a delivered (or given up) notification out of the outbox and
// saves. A delivered one told the receiver of dropped notifications lost
// before it: those are reported.
//
// The counters and the status say so only once the state file no longer
// holds it: whoever sees it sent (a test that then kills the agent) would
// otherwise see it sent again by the next run.
func (r *rule) done(p *pending, result string, reported int64) {
	r.mu.Lock()
	for i, q := range r.st.out {
		if q == p {
			r.st.out = append(r.st.out[:i], r.st.out[i+1:]...)
			break
		}
	}
	p.inflight = false
	switch result {
	case resultSent:
		r.st.dropped = max(r.st.dropped-reported, 0)
	case resultFailed:
		r.st.dropped++
	}
	r.st.dirty = true
	r.mu.Unlock()
	r.save(nil)
	r.mu.Lock()
	switch result {
	case resultSent:
		r.st.lastSent = time.Now()
		r.ctr.sent.Add(1)
	case resultFailed:
		r.ctr.failed.Add(1)
	}
	r.recordLocked(p, result)
	r.mu.Unlock()
}

// backoff is the wait after the attempt-th failure: min doubled per
// failure up to max, times a random factor in [0.5, 1.5).
func backoff(attempt int, lo, hi time.Duration) time.Duration {
	d := lo
	for range attempt {
		d *= 2
		if d >= hi {
			d = hi
			break
		}
	}
	return time.Duration(float64(d) * (0.5 + rand.Float64()))
}

// errStatus is an answer other than 2xx.
type errStatus struct{ code int }

func (e errStatus) Error() string {
	if e.code >= 300 && e.code < 400 {
		return fmt.Sprintf("HTTP %d (redirects are not followed)", e.code)
	}
	return fmt.Sprintf("HTTP %d", e.code)
}

// post makes one attempt: a POST of the notification's body, success on
// 2xx. It returns the answer's Retry-After when it has one. Its error
// names what failed but never the URL or a header, which may hold secrets.
func (r *rule) post(ctx context.Context, n *Notification, key string) (time.Duration, error) {
	b, ct, err := body(n, r.cfg.Webhook.Format, r.tmpl)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Webhook.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.cfg.Webhook.URL, bytes.NewReader(b))
	if err != nil {
		return 0, errors.New("bad webhook URL")
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("User-Agent", "edgetail-alerts")
	req.Header.Set("Edgetail-Notification", key)
	for k, v := range r.hdr {
		req.Header.Set(k, v)
	}
	resp, err := r.e.client.Do(req)
	if err != nil {
		return 0, describe(err, r.cfg.Webhook.Timeout)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return 0, nil
	}
	return retryAfter(resp.Header.Get("Retry-After"), time.Now()), errStatus{resp.StatusCode}
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date; 0 when
// absent or unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return max(time.Duration(s)*time.Second, time.Millisecond)
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// describe says what went wrong with a request without the URL, which
// net/http's errors quote whole.
func describe(err error, timeout time.Duration) error {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var authErr x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Errorf("no answer within %v", timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return errors.New("connection refused")
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("connection closed before an answer")
	case errors.As(err, &dnsErr):
		return errors.New("host name not found")
	case errors.As(err, &certErr) || errors.As(err, &authErr) || errors.As(err, &hostErr):
		return errors.New("TLS certificate not accepted")
	case errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH):
		return errors.New("network unreachable")
	}
	return errors.New("request failed")
}
