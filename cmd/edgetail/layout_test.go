package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The layering docs/DESIGN.md promises: producers, the fleet publisher and
// the alert engine never import the fan-out hub, the leaves import nothing
// of edgetail but leaves, only this command imports agent, and nothing
// imports it.
func TestLayering(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}:{{join .Deps \" \"}}", "edgetail/...").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	deps := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, d, _ := strings.Cut(l, ":")
		for _, x := range strings.Fields(d) {
			if strings.HasPrefix(x, "edgetail/") || x == "edgetail" {
				deps[pkg] = append(deps[pkg], x)
			}
		}
	}
	has := func(pkg, dep string) bool {
		for _, d := range deps[pkg] {
			if d == dep {
				return true
			}
		}
		return false
	}
	for _, p := range []string{"edgetail/tailer", "edgetail/journal", "edgetail/follow", "edgetail/fleet", "edgetail/history", "edgetail/alerts"} {
		if has(p, "edgetail/stream") {
			t.Errorf("%s imports the fan-out hub", p)
		}
	}
	leaves := map[string]bool{"edgetail/event": true, "edgetail/sse": true, "edgetail/queue": true, "edgetail/query": true, "edgetail/timeline": true}
	for l := range leaves {
		for _, d := range deps[l] {
			if !leaves[d] {
				t.Errorf("leaf %s imports %s", l, d)
			}
		}
	}
	for pkg := range deps {
		if pkg != "edgetail/cmd/edgetail" && has(pkg, "edgetail/agent") {
			t.Errorf("%s imports agent", pkg)
		}
		if has(pkg, "edgetail/cmd/edgetail") {
			t.Errorf("%s imports the command", pkg)
		}
	}
}
