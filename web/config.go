package web

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"

	"edgetail/yamlconf"
)

// AuthConfig lists the bearer tokens; empty means no authentication.
type AuthConfig struct {
	Tokens []TokenConfig `yaml:"tokens"`
	// PublicMetrics opens /metrics without a token, for scrapers that
	// cannot send one; it holds counters and source names, no log content.
	PublicMetrics bool `yaml:"public_metrics"`
}

// TokenConfig is one token: its SHA-256 or a file holding the token.
type TokenConfig struct {
	Name        string   `yaml:"name"`
	TokenSHA256 string   `yaml:"token_sha256"`
	TokenFile   string   `yaml:"token_file"`
	Sources     []string `yaml:"sources"`
	Hosts       []string `yaml:"hosts"` // the fleet hub only: host globs the token may read
}

// TLSConfig names the certificate and key; both empty means plain HTTP.
type TLSConfig struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// CORSConfig lists the origins allowed to read from a browser elsewhere.
type CORSConfig struct {
	AllowedOrigins []string `yaml:"allowed_origins"`
}

// ValidateAuth checks the auth section of doc; known says whether a name
// in a token's sources: names a source.
func ValidateAuth(doc *yamlconf.Doc, c AuthConfig, known func(string) bool) []yamlconf.Problem {
	var probs []yamlconf.Problem
	add := func(key, format string, args ...any) { probs = append(probs, doc.Problem(key, format, args...)) }
	for i, t := range c.Tokens {
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
			if s != "*" && !known(s) {
				add(fmt.Sprintf("%s.sources[%d]", k, j), "no source is named %q", s)
			}
		}
	}
	return probs
}

// ValidateExposure refuses a listener reachable beyond this machine with
// neither auth nor TLS, unless insecure is set.
func ValidateExposure(doc *yamlconf.Doc, listen string, auth AuthConfig, tls TLSConfig, insecure bool) []yamlconf.Problem {
	var probs []yamlconf.Problem
	if (tls.Cert == "") != (tls.Key == "") {
		probs = append(probs, doc.Problem("tls", "cert and key go together"))
	}
	if !insecure && len(auth.Tokens) == 0 && tls.Cert == "" && !IsLoopback(listen) {
		probs = append(probs, doc.Problem("listen", "%s is reachable beyond this machine, and there is no auth and no tls: "+
			"add auth.tokens or tls, listen on 127.0.0.1, or set insecure: true to accept the risk", listen))
	}
	return probs
}

// IsLoopback reports whether addr (host:port) listens on loopback only.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
