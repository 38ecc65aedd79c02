package web

import (
	"net/http"
	"testing"
)

func TestClientIPBehindProxies(t *testing.T) {
	tp, err := ParseTrustedProxies([]string{"127.0.0.1/32", "10.0.0.0/8", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		peer string
		xff  []string
		want string
	}{
		{"127.0.0.1:5000", nil, "127.0.0.1"},
		{"127.0.0.1:5000", []string{"203.0.113.1"}, "203.0.113.1"},
		// The last untrusted entry: the first is the client's to forge.
		{"127.0.0.1:5000", []string{"203.0.113.1, 198.51.100.7"}, "198.51.100.7"},
		{"127.0.0.1:5000", []string{"203.0.113.2, 198.51.100.7"}, "198.51.100.7"},
		// Proxies in a chain are skipped, across repeated headers too.
		{"127.0.0.1:5000", []string{"198.51.100.7, 10.1.2.3", "10.0.0.9"}, "198.51.100.7"},
		{"127.0.0.1:5000", []string{"10.1.2.3"}, "10.1.2.3"}, // every hop trusted: the leftmost
		{"127.0.0.1:5000", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"127.0.0.1:5000", []string{"198.51.100.7:1234"}, "198.51.100.7"},
		{"127.0.0.1:5000", []string{"garbage"}, "127.0.0.1"},
		{"127.0.0.1:5000", []string{"garbage, 10.0.0.2"}, "10.0.0.2"},
		{"127.0.0.1:5000", []string{""}, "127.0.0.1"},
		{"[::1]:5000", []string{"::ffff:198.51.100.7"}, "198.51.100.7"},
		// An untrusted peer: the header is ignored.
		{"127.0.0.2:5000", []string{"203.0.113.1"}, "127.0.0.2"},
		{"192.0.2.9:5000", []string{"10.0.0.1"}, "192.0.2.9"},
	} {
		r, _ := http.NewRequest(http.MethodGet, "/stream/app", nil)
		r.RemoteAddr = c.peer
		for _, h := range c.xff {
			r.Header.Add("X-Forwarded-For", h)
		}
		if got := tp.ClientIP(r); got != c.want {
			t.Errorf("peer %s, X-Forwarded-For %q: client %s, want %s", c.peer, c.xff, got, c.want)
		}
	}
	// No trusted proxies (the default): the peer, whatever the header says.
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr, r.Header["X-Forwarded-For"] = "127.0.0.1:1", []string{"203.0.113.1"}
	if got := (TrustedProxies{}).ClientIP(r); got != "127.0.0.1" {
		t.Errorf("no trusted proxies: client %s", got)
	}
}
