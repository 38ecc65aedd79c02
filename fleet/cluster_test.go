package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// startCluster runs three JetStream servers routed to each other on
// 127.0.0.1, in this process.
func startCluster(t *testing.T) []*natsServer {
	t.Helper()
	cports := []int{freePort(t), freePort(t), freePort(t)}
	var routes []string
	for _, p := range cports {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	var out []*natsServer
	for i := range 3 {
		ns := &natsServer{t: t, opts: &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: freePort(t),
			JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "edgetail", Host: "127.0.0.1", Port: cports[i]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		}}
		s, err := server.NewServer(ns.opts)
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		ns.srv = s
		t.Cleanup(ns.stop)
		out = append(out, ns)
	}
	for _, ns := range out {
		if !ns.srv.ReadyForConnections(20 * time.Second) {
			t.Fatal("cluster server not ready")
		}
	}
	return out
}

// One server of three is shut down, the stream's leader, while an agent
// writes 3,000 lines at 300/s: a viewer gets every line once, in order.
func TestClusterLosesNothingWhenAServerDies(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3-server cluster takes about 15 s")
	}
	cl := startCluster(t)
	urls := []string{cl[0].url(), cl[1].url(), cl[2].url()}
	nc, js := connect(t, urls...)
	ensure(t, js, StreamOptions{Replicas: 3})
	hnc, hjs := connect(t, urls...)
	hub := newHub(t, hnc, hjs, HubOptions{}, nil)
	c := hub.open("/stream?tail=0")
	a := newAgent(t, nc, js, "web-1", agentOpts{}, "app")

	const total, rate = 3000, 300
	type arrival struct {
		n   int
		at  time.Time
		gap string
	}
	got := make(chan arrival, total)
	go func() {
		for {
			select {
			case ev := <-c.events:
				if ev.Type == "gap" {
					got <- arrival{-1, time.Now(), ev.Data}
					continue
				}
				var d struct{ Line string }
				_ = json.Unmarshal([]byte(ev.Data), &d)
				n, _ := strconv.Atoi(strings.Fields(d.Line)[2])
				got <- arrival{n, time.Now(), ""}
			case <-c.done:
				return
			}
		}
	}()

	ctx := context.Background()
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	var killed string
	for i := 0; i < total; i++ {
		<-tick.C
		a.write("app", "steady")
		if i == total/3 {
			st, err := js.Stream(ctx, "EDGETAIL")
			if err != nil {
				t.Fatal(err)
			}
			leader := st.CachedInfo().Cluster.Leader
			for _, ns := range cl {
				if ns.opts.ServerName == leader {
					killed = leader
					s := ns.srv
					ns.srv = nil
					down := make(chan struct{})
					go func() { s.Shutdown(); s.WaitForShutdown(); close(down) }()
					t.Cleanup(func() { <-down })
				}
			}
		}
	}
	var stall time.Duration
	last := time.Now()
	for want := 0; want < total; want++ {
		select {
		case ar := <-got:
			if ar.n != want {
				t.Fatalf("got line %d %s, want %d (lost, repeated or gap)", ar.n, ar.gap, want)
			}
			if want > 0 {
				stall = max(stall, ar.at.Sub(last))
			}
			last = ar.at
		case <-time.After(60 * time.Second):
			t.Fatalf("only %d of %d lines within 60s of the end", want, total)
		}
	}
	st := a.pubs["app"].Stats()
	t.Logf("server %s (stream leader) shut down at line %d; viewer got %d/%d lines once, in order; longest stall %v; publisher re-sent %d messages",
		killed, total/3, total, total, stall.Round(time.Millisecond), st.Resends)
	if killed == "" {
		t.Fatal("no leader found to shut down")
	}
}
