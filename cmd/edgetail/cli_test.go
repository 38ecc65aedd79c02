package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckListsEveryProblem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "three.yaml")
	yaml := "listen: 127.0.0.1:7070\n" + // 1
		"sources:\n" + // 2
		"  - name: Bad Name\n" + // 3
		"    files: [/var/log/app.log]\n" + // 4
		"    colour: blue\n" + // 5
		"stream:\n" + // 6
		"  heartbeat: banana\n" // 7
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"check", "-config", path}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, &stdout, &stderr)
	}
	got := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	want := []string{
		path + `:3: sources[0].name: "Bad Name" is not a valid name`,
		path + ":5: colour: unknown key",
		path + ":7: cannot unmarshal !!str `banana` into duration",
	}
	if len(got) != len(want) {
		t.Fatalf("%d problems, want %d:\n%s", len(got), len(want), &stderr)
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("problem %d = %q, want it to start with %q", i+1, got[i], w)
		}
	}
}

func TestQuickMode(t *testing.T) {
	c, err := quickConfig([]string{"/var/log/syslog", "/var/log/App.log", "web=/srv/*/access.log"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range c.Sources {
		names = append(names, s.Name+"="+s.Files[0])
	}
	want := "syslog=/var/log/syslog app.log=/var/log/App.log web=/srv/*/access.log"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("quick mode: %s, want %s", got, want)
	}
}

// FuzzParseConfig: any input yields a config or a ConfigError whose problems
// each say where; never a panic.
