package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"

	"edgetail/tailer"
	"edgetail/web"
)

const (
	// statusEvery is how often the STATUS= line is refreshed when it changed.
	statusEvery = 5 * time.Second
	// reloadReadyWait bounds the wait for new sources before READY=1 after
	// a reload.
	reloadReadyWait = 5 * time.Second
)

// notifier tells the service manager about the agent's state through the
// sd_notify protocol (Type=notify): READY=1 once every source has started,
// RELOADING=1 and READY=1 around a reload, STOPPING=1 on shutdown, STATUS=
// lines, and WATCHDOG=1 at half of WATCHDOG_USEC. Without NOTIFY_SOCKET it
// does nothing.
type Notifier struct {
	log      *zap.Logger
	enabled  bool
	watchdog time.Duration // WATCHDOG_USEC; 0 when the watchdog is off
	send     func(state string) error

	mu      sync.Mutex
	stopped bool
	cancel  context.CancelFunc // stops the pinger; nil when it does not run
	done    chan struct{}      // closed when the pinger has returned
}

// NewNotifier returns the agent's link to systemd.
func NewNotifier(log *zap.Logger) *Notifier {
	if log == nil {
		log = zap.NewNop()
	}
	n := &Notifier{log: log.Named("systemd"), enabled: os.Getenv("NOTIFY_SOCKET") != ""}
	n.send = func(state string) error {
		_, err := daemon.SdNotify(false, state)
		return err
	}
	if !n.enabled {
		return n
	}
	wd, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		n.log.Warn("watchdog off: bad WATCHDOG_USEC", zap.Error(err))
	}
	n.watchdog = wd
	return n
}

// Attach sets the agent's hooks. The pinger goroutine starts with READY=1
// and is stopped, and waited for, by OnStop.
func (n *Notifier) Attach(a *Agent) {
	if !n.enabled {
		return
	}
	a.OnReady = func() { n.ready(a) }
	a.OnReload = func(done bool) {
		if !done {
			// MONOTONIC_USEC is what Type=notify-reload (systemd 253+)
			// wants with RELOADING=1; older managers ignore it.
			n.notify(daemon.SdNotifyReloading + "\n" + daemon.SdNotifyMonotonicUsec() + "STATUS=reloading the config")
			return
		}
		// As at startup, READY=1 means every source has started, the new
		// ones included; they start in the background, so wait for them,
		// within a bound (the caller is the signal loop).
		for deadline := time.Now().Add(reloadReadyWait); !a.Ready() && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		n.notify(daemon.SdNotifyReady + "\nSTATUS=" + status(a))
	}
	a.OnStop = n.stop
}

func (n *Notifier) notify(state string) {
	if err := n.send(state); err != nil {
		n.log.Warn("sd_notify failed", zap.Error(err))
	}
}

// ready sends READY=1 and starts the pinger, once.
func (n *Notifier) ready(a *Agent) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped || n.cancel != nil {
		return
	}
	n.notify(daemon.SdNotifyReady + "\nSTATUS=" + status(a))
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.done = cancel, make(chan struct{})
	go n.ping(ctx, a, n.done)
}

// stop sends STOPPING=1 and stops the pinger.
func (n *Notifier) stop() {
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		return
	}
	n.stopped = true
	cancel, done := n.cancel, n.done
	n.mu.Unlock()
	n.notify(daemon.SdNotifyStopping + "\nSTATUS=stopping")
	if cancel != nil {
		cancel()
		<-done
	}
}

// ping sends WATCHDOG=1 at half the watchdog interval and refreshes STATUS=
// when it changed. Each ping first reads the hub's counters, under the
// hub's lock: a hub stuck on its lock stops the pings, and systemd
// restarts the service.
func (n *Notifier) ping(ctx context.Context, a *Agent, done chan struct{}) {
	defer close(done)
	every := statusEvery
	if n.watchdog > 0 {
		every = min(every, n.watchdog/2)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	last := status(a)
	lastStatus := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			st := status(a)
			var msg []string
			if n.watchdog > 0 {
				msg = append(msg, daemon.SdNotifyWatchdog)
			}
			if st != last && now.Sub(lastStatus) >= statusEvery-every/2 {
				msg = append(msg, "STATUS="+st)
				last, lastStatus = st, now
			}
			if len(msg) > 0 {
				n.notify(strings.Join(msg, "\n"))
			}
		}
	}
}

// status is the one-line summary systemctl status shows.
func status(a *Agent) string {
	stats := a.Hub().Stats()
	clients := a.Hub().Counters().Clients
	sources, following, files := 0, 0, 0
	for _, s := range stats {
		sources++
		t := a.tailerOf(s.Name)
		if t == nil {
			continue
		}
		for _, f := range t.Files() {
			files++
			if f.State == tailer.StateFollowing {
				following++
			}
		}
	}
	return fmt.Sprintf("%s, %d of %d %s followed, %s connected",
		plural(sources, "source"), following, files, pluralWord(files, "file"), plural(clients, "client"))
}

func plural(n int, word string) string { return fmt.Sprintf("%d %s", n, pluralWord(n, word)) }

func pluralWord(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// Run serves on the listener systemd passed (socket activation, LISTEN_FDS)
// when there is one, else on the config's listen address.
func (n *Notifier) Run(ctx context.Context, a *Agent) error {
	lns, err := activation.Listeners()
	if err != nil {
		return fmt.Errorf("socket activation: %w", err)
	}
	var ln net.Listener
	for _, l := range lns {
		switch {
		case l == nil: // not a stream socket
		case ln == nil:
			ln = l
		default:
			n.log.Warn("socket activation: more than one listener; serving the first", zap.String("ignored", l.Addr().String()))
			_ = l.Close()
		}
	}
	if ln == nil {
		if len(lns) > 0 {
			return errors.New("socket activation: no stream socket among the passed file descriptors")
		}
		return a.Run(ctx)
	}
	c := a.config()
	addr := ln.Addr().String()
	if !c.Insecure && len(c.Auth.Tokens) == 0 && c.TLS.Cert == "" && !web.IsLoopback(addr) && ln.Addr().Network() != "unix" {
		_ = ln.Close()
		return fmt.Errorf("socket activation: %s is reachable beyond this machine, and there is no auth and no tls "+
			"(set insecure: true to accept the risk)", addr)
	}
	n.log.Info("socket activation: serving the inherited listener; the config's listen is not used", zap.String("addr", addr))
	return a.Serve(ctx, ln)
}
