package stream

import (
	"net"
	"testing"
	"time"
)

// stuckConn is a real connection whose SetReadDeadline waits until
// released: the worst a runtime call on a connection can do.
type stuckConn struct {
	net.Conn
	entered chan struct{}
	release chan struct{}
}

func (c *stuckConn) SetReadDeadline(t time.Time) error {
	select {
	case c.entered <- struct{}{}:
	default:
	}
	<-c.release
	return c.Conn.SetReadDeadline(t)
}

// The heartbeat wakes every client, and waking a taken-over stream moves
// its read deadline. It must do so outside the hub's lock, which every
// commit takes: here one client's deadline call hangs, and a source's
// lines must still be committed and reach another client.
func TestHeartbeatWakesOutsideHubLock(t *testing.T) {
	e := newEnv(t, Options{Heartbeat: 20 * time.Millisecond}, "app")
	other := e.open("/stream/app?tail=0")
	defer other.close()

	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	stuck := &stuckConn{Conn: a, entered: make(chan struct{}, 1), release: make(chan struct{})}
	c := newClient(16)
	c.reader.Store(&readConn{stuck})
	e.hub.mu.Lock()
	e.hub.clients[c] = struct{}{}
	e.hub.mu.Unlock()
	defer func() {
		e.hub.mu.Lock()
		delete(e.hub.clients, c)
		e.hub.mu.Unlock()
	}()

	select {
	case <-stuck.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the heartbeat never woke the client")
	}
	// The heartbeat is now stuck in that client's deadline call.
	done := make(chan struct{})
	go func() {
		e.publish("app", "committed while a wake-up hangs")
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		close(stuck.release)
		t.Fatal("a commit waited for the heartbeat's wake-up of one client")
	}
	if ev := other.next(t); ev.Data != "committed while a wake-up hangs" {
		t.Fatalf("other client got %q", ev.Data)
	}
	close(stuck.release)
}
