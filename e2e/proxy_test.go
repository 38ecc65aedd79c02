package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestTrustedProxies: behind a trusted proxy (127.0.0.1 here) the per-IP cap
// counts the client that X-Forwarded-For names, its last untrusted address;
// from a peer that is not trusted (127.0.0.2) the header is ignored.
func TestTrustedProxies(t *testing.T) {
	_, cfg := fileSource(t, "trusted_proxies: [127.0.0.1/32]\nstream:\n  max_clients_per_ip: 1\n")
	a := start(t, cfg)

	// Two viewers through the proxy: both served.
	proxied := localClient(t, "127.0.0.1")
	streamFrom(t, a, proxied, "203.0.113.1", http.StatusOK)
	streamFrom(t, a, proxied, "203.0.113.2", http.StatusOK)
	// The first viewer again: over its cap of one.
	body := streamFrom(t, a, proxied, "203.0.113.1", http.StatusTooManyRequests)
	if !strings.Contains(body, "stream.max_clients_per_ip") || !strings.Contains(body, "203.0.113.1") {
		t.Errorf("429 reason %q does not name the key and the client", body)
	}
	// The entries left of the last untrusted one are the client's own
	// claim: these two are the same client, 198.51.100.7.
	streamFrom(t, a, proxied, "203.0.113.1, 198.51.100.7", http.StatusOK)
	streamFrom(t, a, proxied, "203.0.113.2, 198.51.100.7", http.StatusTooManyRequests)

	// An untrusted peer cannot pick its address with the header.
	direct := localClient(t, "127.0.0.2")
	streamFrom(t, a, direct, "192.0.2.1", http.StatusOK)
	body = streamFrom(t, a, direct, "192.0.2.2", http.StatusTooManyRequests)
	if !strings.Contains(body, "client 127.0.0.2 ") {
		t.Errorf("429 reason %q does not name the untrusted peer", body)
	}

	// The stream log names the client, and the proxy it came through.
	waitFor(t, "stream log names the client", func() bool {
		logs := a.logs.String()
		return strings.Contains(logs, `"client":"198.51.100.7","proxy":"127.0.0.1"`) &&
			strings.Contains(logs, `"client":"127.0.0.2"`)
	})
}

// localClient is an HTTP client whose connections leave from the loopback
// address local, so that the agent sees that peer.
func localClient(t *testing.T, local string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	tr := &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// streamFrom requests /stream/app with X-Forwarded-For xff and wants status;
// a stream that is served stays open until the test ends. It returns the
// body of a refusal.
func streamFrom(t *testing.T, a *agent, c *http.Client, xff string, status int) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.url+"/stream/app?tail=0", nil)
	req.Header.Set("X-Forwarded-For", xff)
	resp, err := c.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != status {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		t.Fatalf("X-Forwarded-For %q: %s %s, want %d", xff, resp.Status, b, status)
	}
	if status == http.StatusOK {
		t.Cleanup(func() { cancel(); resp.Body.Close() })
		return ""
	}
	defer cancel()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
