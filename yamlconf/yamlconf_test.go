package yamlconf

import (
	"strings"
	"testing"
)

type conf struct {
	Listen  string `yaml:"listen"`
	Sources []struct {
		Name  string   `yaml:"name"`
		Files []string `yaml:"files"`
	} `yaml:"sources"`
	Stream struct {
		Heartbeat int `yaml:"heartbeat"`
	} `yaml:"stream"`
}

// An unknown key and a bad value are both reported with their lines, and
// the rest is still decoded so that validation can report more.
func TestDecodeLocatesEveryProblem(t *testing.T) {
	var c conf
	doc, probs, err := Decode([]byte("listen: a:1\nsources:\n  - name: x\n    colour: blue\n    files: [/a, /b]\nstream:\n  heartbeat: soon\n"), "c.yaml", &c)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range probs {
		got = append(got, p.String())
	}
	if len(got) != 2 || !strings.HasPrefix(got[0], "c.yaml:4: colour: unknown key") || !strings.HasPrefix(got[1], "c.yaml:7: ") {
		t.Fatalf("problems: %q", got)
	}
	if c.Listen != "a:1" || len(c.Sources) != 1 || len(c.Sources[0].Files) != 2 {
		t.Fatalf("the rest was not decoded: %+v", c)
	}
	for key, line := range map[string]int{"listen": 1, "sources[0].files[1]": 5, "sources[0].nothing": 3, "stream.heartbeat": 7, "absent": 1} {
		if got := doc.Line(key); got != line {
			t.Errorf("Line(%s) = %d, want %d", key, got, line)
		}
	}
	if !doc.Has("stream", "heartbeat") || doc.Has("stream", "retry") {
		t.Error("Has")
	}
	if p := doc.Problem("sources[0].name", "bad %q", "x"); p.String() != `c.yaml:3: sources[0].name: bad "x"` {
		t.Errorf("problem: %s", p)
	}
}

// A syntax error leaves nothing to validate; an empty document is fine.
func TestDecodeSyntaxAndEmpty(t *testing.T) {
	var c conf
	if _, _, err := Decode([]byte("listen: [\n"), "c.yaml", &c); err == nil || !strings.Contains(err.Error(), "c.yaml:") {
		t.Fatalf("syntax error: %v", err)
	}
	doc, probs, err := Decode(nil, "c.yaml", &c)
	if err != nil || len(probs) != 0 || doc.Has("listen") || doc.Line("listen") != 0 {
		t.Fatalf("empty: %v %v", probs, err)
	}
	var nilDoc *Doc
	if nilDoc.Name() != "flags" || nilDoc.Line("x") != 0 {
		t.Fatal("a nil Doc")
	}
}

// Merge keeps one problem per line, decode problems first, sorted by line.
func TestMerge(t *testing.T) {
	got := Merge([]Problem{{Line: 5, Msg: "decode"}}, []Problem{{Line: 5, Msg: "validate"}, {Line: 2, Msg: "two"}, {Msg: "nowhere"}})
	var msgs []string
	for _, p := range got {
		msgs = append(msgs, p.Msg)
	}
	if strings.Join(msgs, ",") != "nowhere,two,decode" {
		t.Fatalf("merged: %v", msgs)
	}
}
