package web

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// TrustedProxies is the parsed trusted_proxies list: the peers whose
// X-Forwarded-For names the client that the per-IP cap and connect rate
// count. Empty (the default) trusts no one, and the header is ignored.
type TrustedProxies []netip.Prefix

// ParseTrustedProxies reads CIDRs; a bare address means that one address.
func ParseTrustedProxies(list []string) (TrustedProxies, error) {
	out := make(TrustedProxies, 0, len(list))
	for _, s := range list {
		p, err := ParseProxy(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// ParseProxy reads one CIDR, or one address.
func ParseProxy(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR (like 10.0.0.0/8 or 127.0.0.1/32)", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR (like 10.0.0.0/8 or 127.0.0.1/32)", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (tp TrustedProxies) contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range tp {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP names the client of r for the per-IP cap, the connect rate and
// the stream logs. From a trusted peer it is the last X-Forwarded-For
// address that is not itself a trusted proxy, read right to left: each
// proxy appends the address it saw, so entries left of the first untrusted
// one were written by the client and prove nothing. If every entry is
// trusted, the leftmost is the client. From any other peer, or when the
// header holds nothing usable, it is the peer.
func (tp TrustedProxies) ClientIP(r *http.Request) string {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	addr := peer.Addr().Unmap()
	if len(tp) == 0 || !tp.contains(addr) {
		return addr.String()
	}
	hops := r.Header.Values("X-Forwarded-For")
	client := addr
	for h := len(hops) - 1; h >= 0; h-- {
		list := hops[h]
		for list != "" {
			var entry string
			if i := strings.LastIndexByte(list, ','); i >= 0 {
				list, entry = list[:i], list[i+1:]
			} else {
				list, entry = "", list
			}
			a, ok := forwardedAddr(entry)
			if !ok {
				// Garbage where a trusted proxy should have written an
				// address: trust nothing further left.
				return client.String()
			}
			client = a
			if !tp.contains(a) {
				return a.String()
			}
		}
	}
	return client.String()
}

// forwardedAddr parses one X-Forwarded-For entry: an address, possibly
// with a port or in brackets, as some proxies write them.
func forwardedAddr(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		return a.Unmap(), true
	}
	return netip.Addr{}, false
}
