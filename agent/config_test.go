package agent

import (
	"errors"
	"strings"
	"testing"
)

func TestConfigErrorsNameKeyAndLine(t *testing.T) {
	for _, c := range []struct {
		yaml string
		want []string
	}{
		{"listen: 127.0.0.1:7070\nsources:\n  - name: a\n    files: [/x.log]\n    colour: blue\n", []string{"t.yaml:5: colour: unknown key"}},
		{"sources:\n  - name: Bad\n    files: [x.log]\n", []string{"t.yaml:2: sources[0].name", "t.yaml:3: sources[0].files[0]: \"x.log\" is not an absolute path"}},
		{"sources:\n  - name: a\n    files: [/a]\n  - name: a\n    metrics: {interval: 1s}\n", []string{"t.yaml:4: sources[1].name: \"a\" is used twice"}},
		{"sources:\n  - name: a\n    files: [/a]\n    metrics: {}\n", []string{"a source has files or metrics, not both"}},
		{"sources:\n  - name: a\n", []string{"t.yaml:2: sources[0]: a source needs files or metrics"}},
		{"sources:\n  - name: j\n    journal:\n      units: [\"-x\"]\n      matches: [\"lower=1\", \"OK=1\"]\n      priority: loud\n      directory: rel\n",
			[]string{"t.yaml:4: sources[0].journal.units[0]:", "t.yaml:5: sources[0].journal.matches[0]:", "t.yaml:6: sources[0].journal.priority:", "t.yaml:7: sources[0].journal.directory:"}},
		{"sources:\n  - name: j\n    journal: {}\n    files: [/a]\n", []string{"one of files, metrics and journal"}},
		{"stream:\n  heartbeat: soon\nsources:\n  - name: a\n    files: [/a]\n", []string{"t.yaml:2:", "duration"}},
		{"sources:\n  - name: a\n    files: [/a]\nstream:\n  replay_lines: -1\n", []string{"t.yaml:5: stream.replay_lines: must be >= 0"}},
		{"log_level: loud\nsources:\n  - name: a\n    files: [/a]\n", []string{"t.yaml:1: log_level"}},
		{"listen: 0.0.0.0:7070\nsources:\n  - name: a\n    files: [/a]\n", []string{"t.yaml:1: listen", "insecure: true"}},
		{"sources:\n  - name: a\n    files: [/a]\nauth:\n  tokens:\n    - name: t\n      token_sha256: abc\n      sources: [nope]\n", []string{"t.yaml:7: auth.tokens[0].token_sha256", "t.yaml:8: auth.tokens[0].sources[0]: no source is named \"nope\""}},
		{"sources: [\n", []string{"t.yaml"}},
		{"", []string{"sources: at least one source is needed"}},
	} {
		_, err := ParseConfig([]byte(c.yaml), "t.yaml")
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%q: got %v, want a ConfigError", c.yaml, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q lacks %q", c.yaml, err, w)
			}
		}
	}
}

// TestCheckListsEveryProblem: `edgetail check` on a config with a bad
// source name (line 3), an unknown key (line 5) and a bad duration (line 7)
// prints the three, each with file and line, and exits 1: the decode errors
// no longer stop validation.
func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if c.Listen != "127.0.0.1:7070" || len(c.Sources) < 2 || c.Sources[0].Metrics == nil || c.Sources[1].Name != "varlog" {
		t.Fatalf("default config: %+v", c)
	}
	if c.Stream.ReplayLines != 10000 || c.Stream.MaxLineBytes != 65536 || c.Stream.ClientBuffer != 1024 {
		t.Fatalf("stream defaults: %+v", c.Stream)
	}
}

func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		string(defaultYAML),
		"sources:\n  - name: a\n    files: [/a]\n",
		"listen: [\n",
		"sources: {}\n",
		"sources:\n  - {name: a, metrics: {interval: -1s}}\n",
		"auth: {tokens: [{name: x, token_file: /nonexistent, sources: ['*']}]}\nsources: [{name: a, files: [/a]}]\n",
		"stream: {max_line_bytes: 1}\nsources: [{name: a, files: ['/[']}]\n",
		"&a [*a]",
		"sources: !!binary aGVsbG8=\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data, "f.yaml")
		if err == nil {
			if len(c.Sources) == 0 {
				t.Fatal("a valid config without sources")
			}
			return
		}
		var ce *ConfigError
		if !errors.As(err, &ce) || len(ce.Problems) == 0 {
			t.Fatalf("error %v is not a ConfigError with problems", err)
		}
		for _, p := range ce.Problems {
			if !strings.HasPrefix(p.String(), "f.yaml") {
				t.Fatalf("problem %q does not say where", p)
			}
		}
	})
}

func TestTrustedProxiesConfig(t *testing.T) {
	c, err := ParseConfig([]byte("trusted_proxies: [127.0.0.1/32, \"::1\", 10.0.0.0/8]\nsources: [{name: a, files: [/a]}]\n"), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.TrustedProxies) != 3 {
		t.Fatalf("trusted_proxies: %v", c.TrustedProxies)
	}
	_, err = ParseConfig([]byte("sources: [{name: a, files: [/a]}]\ntrusted_proxies:\n  - 10.0.0.0/8\n  - nginx\n"), "t.yaml")
	if err == nil || !strings.Contains(err.Error(), `t.yaml:4: trusted_proxies[1]: "nginx" is not a CIDR`) {
		t.Fatalf("bad CIDR: %v", err)
	}
}
