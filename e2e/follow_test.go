package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// followProc is one running `edgetail follow`.
type followProc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    []string
	errBuf bytes.Buffer
	done   chan error
}

func startFollow(t *testing.T, args ...string) *followProc {
	t.Helper()
	f := &followProc{cmd: exec.Command(binary, append([]string{"follow"}, args...)...), done: make(chan error, 1)}
	stdout, err := f.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	f.cmd.Stderr = &lockedWriter{mu: &f.mu, w: &f.errBuf}
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f.mu.Lock()
			f.out = append(f.out, sc.Text())
			f.mu.Unlock()
		}
	}()
	go func() { <-read; f.done <- f.cmd.Wait() }()
	t.Cleanup(func() {
		if f.cmd.ProcessState == nil {
			_ = f.cmd.Process.Kill()
			<-f.done
		}
	})
	return f
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (f *followProc) lines() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.out...)
}

func (f *followProc) stderr() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.errBuf.String()
}

func (f *followProc) has(line string) bool {
	for _, l := range f.lines() {
		if l == line {
			return true
		}
	}
	return false
}

// exit waits for the process and returns its exit code.
func (f *followProc) exit(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case err := <-f.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(within):
		t.Fatalf("follow did not exit within %s; stderr:\n%s", within, f.stderr())
	}
	return -1
}

func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i+1)
	}
	return out
}

// TestFollowResumesAcrossRestart: the agent is killed (SIGKILL) mid-stream
// and restarted on the same port; follow reconnects, says on stderr that it
// missed an unknown number of lines (the old id is from an earlier run), and
// its output has every line exactly once, in order.
func TestFollowResumesAcrossRestart(t *testing.T) {
	logf := filepath.Join(t.TempDir(), "app.log")
	appendLines(t, logf, numbered("old", 5)...)
	cfg := fmt.Sprintf("listen: 127.0.0.1:%d\nsources:\n  - name: app\n    files: [%s]\n", freePort(t), logf)
	a := start(t, cfg)
	f := startFollow(t, a.url+"/stream/app")
	waitFor(t, "history", func() bool { return f.has("old-5") })

	// Mid-stream: lines are still being written when the agent dies.
	stop := make(chan struct{})
	wrote := make(chan int)
	go func() {
		n := 0
		defer func() { wrote <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			n++
			appendLines(t, logf, fmt.Sprintf("a-%d", n))
			time.Sleep(5 * time.Millisecond)
		}
	}()
	waitFor(t, "live lines", func() bool { return f.has("a-20") })
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.done
	close(stop)
	na := <-wrote
	appendLines(t, logf, numbered("down", 10)...)

	a2 := startArgs(t, a.cfg, "-config", a.cfg)
	waitFor(t, "lines written while down", func() bool { return f.has("down-10") })
	appendLines(t, logf, numbered("after", 5)...)
	waitFor(t, "lines after the restart", func() bool { return f.has("after-5") })
	_ = a2

	want := append(append(append(numbered("old", 5), numbered("a", na)...), numbered("down", 10)...), numbered("after", 5)...)
	got := f.lines()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		seen := map[string]int{}
		for _, l := range got {
			seen[l]++
		}
		var dups []string
		for l, n := range seen {
			if n > 1 {
				dups = append(dups, l)
			}
		}
		t.Errorf("output is not every line once in order: %d lines, want %d; duplicates %v\ngot: %q", len(got), len(want), dups, got)
	}
	// The ids are durable: the agent resumes exactly after the restart,
	// with no gap to report (and no repeats for follow to hide).
	if strings.Contains(f.stderr(), "missed") {
		t.Errorf("a gap reported on stderr:\n%s", f.stderr())
	}
	t.Logf("follow stderr:\n%s", f.stderr())
}

// TestFollowRefused: a 4xx (a bad regex) exits non-zero with the reason.
func TestFollowRefused(t *testing.T) {
	logf := filepath.Join(t.TempDir(), "app.log")
	appendLines(t, logf, "x")
	a := start(t, "sources:\n  - name: app\n    files: ["+logf+"]\n")
	f := startFollow(t, "-re", "(", a.url+"/stream/app")
	if code := f.exit(t, 10*time.Second); code == 0 {
		t.Errorf("exit code 0 on a 400")
	}
	if !strings.Contains(f.stderr(), "400") {
		t.Errorf("stderr does not give the 400: %q", f.stderr())
	}
	f2 := startFollow(t, a.url+"/stream/nosuch")
	if code := f2.exit(t, 10*time.Second); code == 0 {
		t.Errorf("exit code 0 on a 404")
	}
}

// TestFollowInterrupt: Ctrl-C (SIGINT) exits 0.
func TestFollowInterrupt(t *testing.T) {
	logf := filepath.Join(t.TempDir(), "app.log")
	appendLines(t, logf, "first")
	a := start(t, "sources:\n  - name: app\n    files: ["+logf+"]\n")
	f := startFollow(t, a.url+"/stream/app")
	waitFor(t, "a line", func() bool { return f.has("first") })
	if err := f.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := f.exit(t, 5*time.Second); code != 0 {
		t.Errorf("exit code %d on SIGINT, want 0; stderr:\n%s", code, f.stderr())
	}
}
