// Package fleet joins many agents into one view over NATS JetStream: a
// Publisher per published source sends the agent's lines to a stream, and
// a Hub serves filtered, resumable SSE streams read back from it. Agents
// and the hub never talk to each other: JetStream is the only shared part,
// and its sequence is the one id that resumes the whole fleet view.
package fleet

import (
	"path"
	"strings"
)

// Subjects are <stream>.<host>.<source>.<level>, one token each, so that
// the server can narrow a consumer by any of them with wildcards. The last
// token is a level name, "none" for a line with no level, or "gap" for a
// gap marker.
// DefaultStream is the JetStream stream, and the subjects' first token,
// when the config names none.
const DefaultStream = "EDGETAIL"

const (
	levelNone = "none"
	levelGap  = "gap"
)

// Header names of a published message: the real host and source names,
// which the subject holds only in mapped form.
const (
	hdrHost   = "Edgetail-Host"
	hdrSource = "Edgetail-Source"
)

// token maps a name to a subject token. Letters, digits, '_' and '-' stay;
// every other byte (the '.' of a host name, wildcards, spaces) becomes
// %XX. The mapping is injective, so an exact name still narrows on the
// server, and the real name travels in a header.
func token(name string) string {
	const hex = "0123456789ABCDEF"
	clean := true
	for i := 0; i < len(name); i++ {
		if !tokenByte(name[i]) {
			clean = false
			break
		}
	}
	if clean && name != "" {
		return name
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if tokenByte(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xF])
	}
	if b.Len() == 0 {
		return "%00" // an empty name still needs a token
	}
	return b.String()
}

func tokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// subject is the subject of a host's source's lines at a level token.
func subject(prefix, host, source, level string) string {
	return prefix + "." + token(host) + "." + token(source) + "." + level
}

// maxFilterSubjects bounds the subjects of one consumer: many filter
// subjects have made consumers slow (nats-server #4888, #7014), and the
// hub filters every event again anyway, so narrowing on the server is an
// optimisation that can be given up.
const maxFilterSubjects = 16

// filterSubjects returns the consumer filter for hosts and sources (globs,
// nil: all) and levels (level tokens, nil: all). A glob cannot be said in a
// subject, so a dimension with one becomes '*'. nil means the whole stream.
func filterSubjects(prefix string, hosts, sources, levels []string) []string {
	ht, st, lt := tokensOf(hosts), tokensOf(sources), levels
	if lt == nil {
		lt = []string{"*"}
	}
	for _, widen := range []*[]string{&lt, &st, &ht} {
		if len(ht)*len(st)*len(lt) <= maxFilterSubjects {
			break
		}
		*widen = []string{"*"}
	}
	if len(ht) == 1 && ht[0] == "*" && len(st) == 1 && st[0] == "*" && len(lt) == 1 && lt[0] == "*" {
		return nil
	}
	var out []string
	for _, h := range ht {
		for _, s := range st {
			for _, l := range lt {
				out = append(out, prefix+"."+h+"."+s+"."+l)
			}
		}
	}
	return out
}

// tokensOf maps exact names to tokens; any glob (or no list) is '*'.
func tokensOf(names []string) []string {
	if len(names) == 0 {
		return []string{"*"}
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		if isGlob(n) {
			return []string{"*"}
		}
		out = append(out, token(n))
	}
	return out
}

func isGlob(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// matchAny reports whether name matches one of the globs; no globs match
// everything.
func matchAny(globs []string, name string) bool {
	if len(globs) == 0 {
		return true
	}
	for _, g := range globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}
