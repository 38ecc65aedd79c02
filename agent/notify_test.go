package agent

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNotifierOffWithoutNotifySocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	a, err := New(DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	NewNotifier(nil).Attach(a)
	if a.OnReady != nil || a.OnReload != nil || a.OnStop != nil {
		t.Fatal("hooks set without NOTIFY_SOCKET")
	}
}

// A stop that comes before (or races with) READY=1 must not leave a pinger
// behind, and the pinger started by READY=1 must end with OnStop; goleak in
// TestMain checks that no goroutine is left.
func TestNotifierPingerOwnedByStop(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "n")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "100000")
	t.Setenv("WATCHDOG_PID", "")

	a, err := New(DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := NewNotifier(nil)
	n.Attach(a)
	a.OnReady()
	buf := make([]byte, 4096)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got []string
	for len(got) < 3 {
		k, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		got = append(got, string(buf[:k]))
	}
	if !strings.HasPrefix(got[0], "READY=1\nSTATUS=") || got[1] != "WATCHDOG=1" || got[2] != "WATCHDOG=1" {
		t.Fatalf("got %q; want READY=1 with STATUS=, then WATCHDOG=1 pings", got)
	}
	a.OnStop()
	a.OnStop()  // a second stop is a no-op
	a.OnReady() // READY=1 after the stop starts nothing
	if n.cancel == nil {
		t.Fatal("the pinger was not recorded")
	}
	select {
	case <-n.done:
	default:
		t.Fatal("the pinger still runs after OnStop")
	}

	// Stop before ready: no pinger at all.
	a2, _ := New(DefaultConfig(), nil)
	n2 := NewNotifier(nil)
	n2.Attach(a2)
	a2.OnStop()
	a2.OnReady()
	if n2.cancel != nil {
		t.Fatal("READY=1 after OnStop started a pinger")
	}
}
