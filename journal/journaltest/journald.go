// Package journaltest starts a private systemd-journald for tests: its own
// namespace, sockets in a temp directory, files under
// /var/log/journal/<machine-id>.<namespace>/. It needs root and Debian's
// systemd package; tests skip without them.
package journaltest

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"edgetail/journal"
)

// Binary is where Debian installs journald.
const Binary = "/lib/systemd/systemd-journald"

// Journald is one running private journald.
type Journald struct {
	Namespace string // its namespace, unique per Start
	Dir       string // the directory of its journal files (journalctl --directory)
	runtime   string // its sockets
	conf      string // its config file, removed at the end
	cmd       *exec.Cmd
	done      chan struct{}
	sock      *net.UnixConn
	keep      net.Conn
}

// Start runs a journald for the test and stops it (by PID) and removes its
// files when the test ends. It skips the test when journald cannot run here.
func Start(t testing.TB) *Journald {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a private journald needs root")
	}
	if _, err := os.Stat(Binary); err != nil {
		t.Skipf("no %s (Debian's systemd package): %v", Binary, err)
	}
	if _, err := exec.LookPath("journalctl"); err != nil {
		t.Skip("no journalctl")
	}
	mid, err := os.ReadFile("/etc/machine-id")
	if err != nil || len(bytes.TrimSpace(mid)) == 0 {
		t.Skip("no /etc/machine-id: journald needs one")
	}
	var rnd [5]byte
	_, _ = rand.Read(rnd[:])
	j := &Journald{Namespace: "edgetail-test-" + hex.EncodeToString(rnd[:]), done: make(chan struct{})}
	// Not t.TempDir: socket paths are limited to 108 bytes, and test names
	// make long directories.
	if j.runtime, err = os.MkdirTemp("", "jd"); err != nil {
		t.Fatal(err)
	}
	j.Dir = filepath.Join("/var/log/journal", strings.TrimSpace(string(mid))+"."+j.Namespace)
	// No rate limit: tests and benchmarks write bursts.
	j.conf = filepath.Join("/etc/systemd", "journald@"+j.Namespace+".conf")
	if err := os.WriteFile(j.conf, []byte("[Journal]\nStorage=persistent\nRateLimitIntervalSec=0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(j.stop)
	j.cmd = exec.Command(Binary, j.Namespace)
	j.cmd.Env = append(os.Environ(), "RUNTIME_DIRECTORY="+j.runtime)
	if err := j.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = j.cmd.Wait(); close(j.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, e1 := os.Stat(filepath.Join(j.runtime, "socket"))
		_, e2 := os.Stat(filepath.Join(j.runtime, "stdout"))
		_, e3 := os.Stat(j.Dir)
		if e1 == nil && e2 == nil && e3 == nil {
			break
		}
		select {
		case <-j.done:
			t.Fatal("journald exited at start")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("journald did not start within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A namespaced journald exits after 30 s without a stream client.
	if j.keep, err = net.Dial("unix", filepath.Join(j.runtime, "stdout")); err != nil {
		t.Fatal(err)
	}
	addr := &net.UnixAddr{Name: filepath.Join(j.runtime, "socket"), Net: "unixgram"}
	if j.sock, err = net.DialUnix("unixgram", nil, addr); err != nil {
		t.Fatal(err)
	}
	// Room for the largest test entry in one datagram (as root, past
	// net.core.wmem_max).
	if raw, err := j.sock.SyscallConn(); err == nil {
		_ = raw.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUFFORCE, 8<<20)
		})
	}
	return j
}

// PID is journald's process id.
func (j *Journald) PID() int { return j.cmd.Process.Pid }

func (j *Journald) stop() {
	if j.sock != nil {
		j.sock.Close()
	}
	if j.keep != nil {
		j.keep.Close()
	}
	if j.cmd != nil && j.cmd.Process != nil {
		_ = j.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-j.done:
		case <-time.After(10 * time.Second):
			_ = j.cmd.Process.Kill()
			<-j.done
		}
	}
	os.RemoveAll(j.runtime)
	if j.Dir != "" && strings.Contains(j.Dir, ".edgetail-test-") {
		os.RemoveAll(j.Dir)
	}
	if j.conf != "" {
		os.Remove(j.conf)
	}
}

// Send writes one entry with the native protocol: fields as FIELD=value
// lines, values holding a newline in the length-prefixed binary form.
// Fields are pairs: "MESSAGE", "hello", "PRIORITY", "3", ...
func (j *Journald) Send(fields ...string) error {
	if len(fields)%2 != 0 {
		return errors.New("fields come in pairs")
	}
	var b []byte
	for i := 0; i < len(fields); i += 2 {
		k, v := fields[i], fields[i+1]
		if strings.ContainsRune(v, '\n') {
			b = append(b, k...)
			b = append(b, '\n')
			b = binary.LittleEndian.AppendUint64(b, uint64(len(v)))
			b = append(b, v...)
			b = append(b, '\n')
		} else {
			b = append(b, k+"="+v+"\n"...)
		}
	}
	_, err := j.sock.Write(b)
	return err
}

// Log sends MESSAGE=msg with SYSLOG_IDENTIFIER=id and PRIORITY=prio.
func (j *Journald) Log(t testing.TB, id string, prio int, msg string) {
	t.Helper()
	if err := j.Send("MESSAGE", msg, "SYSLOG_IDENTIFIER", id, "PRIORITY", fmt.Sprint(prio)); err != nil {
		t.Fatal(err)
	}
}

// Entries reads every entry of the journal with journalctl.
func (j *Journald) Entries(t testing.TB) []journal.Entry {
	t.Helper()
	out, err := exec.Command("journalctl", "--directory="+j.Dir, "--output=json", "--all", "--no-pager").Output()
	if err != nil {
		t.Fatalf("journalctl: %v", err)
	}
	var es []journal.Entry
	for _, line := range bytes.Split(out, []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		e, err := journal.ParseEntry(line)
		if err != nil {
			t.Fatalf("parse %q: %v", line, err)
		}
		es = append(es, e)
	}
	return es
}

// WaitMessage waits until an entry with this message is in the journal
// files, and returns it.
func (j *Journald) WaitMessage(t testing.TB, msg string) journal.Entry {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		es := j.Entries(t)
		for i := len(es) - 1; i >= 0; i-- {
			if string(es[i].Message) == msg {
				return es[i]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no entry %q in the journal within 30s", msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Rotate makes journald archive its files (SIGUSR2) and waits until an
// archived file exists.
func (j *Journald) Rotate(t testing.TB) {
	t.Helper()
	before := j.archived()
	if err := j.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for j.archived() <= before {
		if time.Now().After(deadline) {
			t.Fatal("journald did not rotate within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (j *Journald) archived() int {
	names, _ := filepath.Glob(filepath.Join(j.Dir, "*@*.journal"))
	return len(names)
}

// Vacuum removes every archived file (journalctl --vacuum-files=1 keeps
// the active one only).
func (j *Journald) Vacuum(t testing.TB) {
	t.Helper()
	if out, err := exec.Command("journalctl", "--directory="+j.Dir, "--vacuum-files=1").CombinedOutput(); err != nil {
		t.Fatalf("vacuum: %v: %s", err, out)
	}
}

// Children lists the child processes of pid whose command name is comm
// (all children when comm is ""), from /proc.
func Children(pid int, comm string) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			var c int
			if _, err := fmt.Sscan(s, &c); err != nil {
				continue
			}
			name, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", c))
			if comm == "" || strings.TrimSpace(string(name)) == comm {
				out = append(out, c)
			}
		}
	}
	return out
}

// WaitLast waits until the newest entry of the journal has this message.
func (j *Journald) WaitLast(t testing.TB, msg string) {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for {
		out, _ := exec.Command("journalctl", "--directory="+j.Dir, "--output=json", "--lines=1", "--no-pager").Output()
		if e, err := journal.ParseEntry(bytes.TrimSpace(out)); err == nil && string(e.Message) == msg {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("newest entry is not %q within 120s", msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
