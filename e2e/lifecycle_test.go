package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestSIGHUPKeepsUnchangedSources(t *testing.T) {
	dir := t.TempDir()
	pa, pb, pc := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log"), filepath.Join(dir, "c.log")
	for _, p := range []string{pa, pb, pc} {
		appendLines(t, p, "start")
	}
	a := start(t, fmt.Sprintf("sources:\n  - name: a\n    files: [%s]\n  - name: b\n    files: [%s]\n", pa, pb))
	ca := a.open("/stream/a?tail=0")
	cb := a.open("/stream/b?tail=0")
	if err := os.WriteFile(a.cfg, []byte(fmt.Sprintf("listen: 127.0.0.1:0\nsources:\n  - name: a\n    files: [%s]\n  - name: c\n    files: [%s]\n", pa, pc)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reload", func() bool { return strings.Contains(a.logs.String(), `"reloaded"`) })
	if !cb.ended(5 * time.Second) {
		t.Fatal("the stream of removed source b is still open")
	}
	appendLines(t, pa, "after reload")
	if got := ca.next(t).Data; got != "after reload" {
		t.Fatalf("client of unchanged source a: %q", got)
	}
	js := sourcesJSON(t, a)
	if !strings.Contains(js, `"name":"c"`) || strings.Contains(js, `"name":"b"`) {
		t.Fatalf("sources after reload: %s", js)
	}
	// A broken config on SIGHUP keeps the running one.
	if err := os.WriteFile(a.cfg, []byte("sources: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = a.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "refused reload", func() bool { return strings.Contains(a.logs.String(), "reload refused") })
	appendLines(t, pa, "still serving")
	if got := ca.next(t).Data; got != "still serving" {
		t.Fatalf("after a bad reload: %q", got)
	}
}

func TestSIGTERMEndsStreamsAndExitsZero(t *testing.T) {
	_, cfg := fileSource(t, "")
	a := start(t, cfg)
	clients := []*client{a.open("/stream/app"), a.open("/stream/app?q=x"), a.open("/stream?sources=app")}
	began := time.Now()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-a.done:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("still running 5s after SIGTERM")
	}
	t.Logf("exited %v after SIGTERM", time.Since(began).Round(time.Millisecond))
	for i, c := range clients {
		if !c.ended(time.Second) {
			t.Errorf("stream %d still open", i)
		}
	}
}

func TestCheckAndVersion(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("listen: 127.0.0.1:7070\nsources:\n  - name: Bad Name\n    files: [relative.log]\n  - name: x\n    colour: blue\n"), 0o644)
	out, err := exec.Command(binary, "check", "-config", bad).CombinedOutput()
	if code := exitCode(err); code != 1 {
		t.Fatalf("check of a bad config: exit %d, want 1\n%s", code, out)
	}
	for _, want := range []string{"bad.yaml:6: colour: unknown key"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	os.WriteFile(bad, []byte("listen: 127.0.0.1:7070\nsources:\n  - name: Bad Name\n    files: [relative.log]\n"), 0o644)
	out, _ = exec.Command(binary, "check", "-config", bad).CombinedOutput()
	for _, want := range []string{"bad.yaml:3: sources[0].name", "bad.yaml:4: sources[0].files[0]"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	// Every problem in one run: a bad name, an unknown key and a bad value.
	os.WriteFile(bad, []byte("listen: 127.0.0.1:7070\nsources:\n  - name: Bad Name\n    files: [/var/log/app.log]\n    colour: blue\nstream:\n  heartbeat: banana\n"), 0o644)
	out, err = exec.Command(binary, "check", "-config", bad).CombinedOutput()
	if code := exitCode(err); code != 1 || strings.Count(string(out), "\n") != 3 {
		t.Errorf("check of a config with three problems: exit %d, want 1 and three lines:\n%s", code, out)
	}
	for _, want := range []string{"bad.yaml:3: sources[0].name", "bad.yaml:5: colour: unknown key", "bad.yaml:7: cannot unmarshal"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("sources:\n  - name: app\n    files: [/var/log/*.log]\n"), 0o644)
	if out, err := exec.Command(binary, "check", "-config", good).CombinedOutput(); err != nil {
		t.Fatalf("check of a good config: %v\n%s", err, out)
	}
	out, err = exec.Command(binary, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "go1.") {
		t.Fatalf("version: %v %s", err, out)
	}
	out, err = exec.Command(binary, "-listen", "0.0.0.0:0", "/var/log/x.log").CombinedOutput()
	if exitCode(err) != 1 || !strings.Contains(string(out), "insecure: true") {
		t.Fatalf("listening beyond loopback without auth or tls must be refused: %v\n%s", err, out)
	}
}

func TestQuickMode(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "syslog")
	appendLines(t, p, "hello")
	a := startArgs(t, "", "-listen", "127.0.0.1:0", p, "apps="+filepath.Join(dir, "*.log"))
	js := sourcesJSON(t, a)
	if !strings.Contains(js, `"name":"syslog"`) || !strings.Contains(js, `"name":"apps"`) {
		t.Fatalf("quick mode sources: %s", js)
	}
	c := a.open("/stream/syslog")
	if got := c.next(t).Data; got != "hello" {
		t.Fatalf("quick mode: %q", got)
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}
