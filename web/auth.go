// Package web is the HTTP policy the agent and the hub share: tokens and
// the UI's session cookie, CORS, trusted proxies, the headers every answer
// carries, and serving with TLS. gin stays at this edge; the streams
// themselves are plain net/http handlers.
package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// Authenticator checks bearer tokens. Only SHA-256 digests are held, and
// every configured digest is compared in constant time on every request, so
// the time taken says nothing about which token, if any, came close.
type Authenticator struct {
	tokens []Grant
}

// Grant is what one token may read.
type Grant struct {
	name    string
	digest  [sha256.Size]byte
	all     bool
	sources map[string]bool
	// Sources and Hosts are the token's lists as configured (globs on a
	// hub; Hosts is the hub's only).
	Sources, Hosts []string
}

// cookieName is the HttpOnly cookie the UI's token prompt sets.
const cookieName = "edgetail_token"

// NewAuthenticator reads the tokens of c (token files included).
func NewAuthenticator(c AuthConfig) (*Authenticator, error) {
	a := &Authenticator{}
	for _, t := range c.Tokens {
		g := Grant{name: t.Name, sources: map[string]bool{}, Sources: t.Sources, Hosts: t.Hosts}
		switch {
		case t.TokenFile != "":
			b, err := os.ReadFile(t.TokenFile)
			if err != nil {
				return nil, fmt.Errorf("auth token %s: read token_file: %w", t.Name, err)
			}
			g.digest = sha256.Sum256([]byte(strings.TrimSpace(string(b))))
		default:
			d, err := hex.DecodeString(t.TokenSHA256)
			if err != nil || len(d) != sha256.Size {
				return nil, fmt.Errorf("auth token %s: token_sha256 is not 64 hex digits", t.Name)
			}
			copy(g.digest[:], d)
		}
		for _, s := range t.Sources {
			if s == "*" {
				g.all = true
			}
			g.sources[s] = true
		}
		a.tokens = append(a.tokens, g)
	}
	return a, nil
}

// Enabled reports whether tokens are needed at all.
func (a *Authenticator) Enabled() bool { return a != nil && len(a.tokens) > 0 }

// TokenOf finds the request's token: the Authorization header, then the
// token= parameter (EventSource cannot set headers), then the UI's cookie.
func TokenOf(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
	}
	if t := r.URL.Query().Get("token"); t != "" {
		return t
	}
	if c, err := r.Cookie(cookieName); err == nil {
		return c.Value
	}
	return ""
}

// check returns the Grant of the request's token, or nil.
func (a *Authenticator) Check(r *http.Request) *Grant {
	tok := TokenOf(r)
	if tok == "" {
		return nil
	}
	d := sha256.Sum256([]byte(tok))
	var found *Grant
	for i := range a.tokens {
		if subtle.ConstantTimeCompare(d[:], a.tokens[i].digest[:]) == 1 && found == nil {
			found = &a.tokens[i]
		}
	}
	return found
}

// Allows reports whether the grant covers a source; a nil grant (no auth)
// covers all.
func (g *Grant) Allows(source string) bool {
	return g == nil || g.all || g.sources[source]
}
