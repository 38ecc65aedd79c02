package agent

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// authenticator checks bearer tokens. Only SHA-256 digests are held, and
// every configured digest is compared in constant time on every request, so
// the time taken says nothing about which token, if any, came close.
type authenticator struct {
	tokens []grant
}

type grant struct {
	name    string
	digest  [sha256.Size]byte
	all     bool
	sources map[string]bool
}

// cookieName is the HttpOnly cookie the UI's token prompt sets.
const cookieName = "edgetail_token"

func newAuthenticator(c AuthConfig) (*authenticator, error) {
	a := &authenticator{}
	for _, t := range c.Tokens {
		g := grant{name: t.Name, sources: map[string]bool{}}
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

func (a *authenticator) enabled() bool { return a != nil && len(a.tokens) > 0 }

// tokenOf finds the request's token: the Authorization header, then the
// token= parameter (EventSource cannot set headers), then the UI's cookie.
func tokenOf(r *http.Request) string {
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

// check returns the grant of the request's token, or nil.
func (a *authenticator) check(r *http.Request) *grant {
	tok := tokenOf(r)
	if tok == "" {
		return nil
	}
	d := sha256.Sum256([]byte(tok))
	var found *grant
	for i := range a.tokens {
		if subtle.ConstantTimeCompare(d[:], a.tokens[i].digest[:]) == 1 && found == nil {
			found = &a.tokens[i]
		}
	}
	return found
}

func (g *grant) allows(source string) bool {
	return g == nil || g.all || g.sources[source]
}

// validateAuth checks the auth section; known names are the sources.
func (c *Config) validateAuth(name string, known map[string]bool) []Problem {
	var probs []Problem
	add := func(key, format string, args ...any) {
		probs = append(probs, Problem{File: name, Line: c.lineOf(key), Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	for i, t := range c.Auth.Tokens {
		k := fmt.Sprintf("auth.tokens[%d]", i)
		if t.Name == "" {
			add(k+".name", "a token needs a name")
		}
		switch {
		case t.TokenSHA256 != "" && t.TokenFile != "":
			add(k, "token_sha256 or token_file, not both")
		case t.TokenFile != "":
		case t.TokenSHA256 == "":
			add(k, "token_sha256 or token_file is needed")
		default:
			if d, err := hex.DecodeString(t.TokenSHA256); err != nil || len(d) != sha256.Size {
				add(k+".token_sha256", "want 64 hex digits (the SHA-256 of the token)")
			}
		}
		if len(t.Sources) == 0 {
			add(k+".sources", "list the sources the token may read, or \"*\"")
		}
		for j, s := range t.Sources {
			if s != "*" && !known[s] {
				add(fmt.Sprintf("%s.sources[%d]", k, j), "no source is named %q", s)
			}
		}
	}
	return probs
}
