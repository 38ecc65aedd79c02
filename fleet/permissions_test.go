package fleet

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// The NATS permissions README.md gives an agent and a hub are enough, and
// the hub's do not let it write to the stream.
func TestREADMEPermissionsAreEnough(t *testing.T) {
	allow := func(pub ...string) *server.Permissions {
		return &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: pub},
			Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
		}
	}
	ns := &natsServer{t: t, opts: &server.Options{
		Host: "127.0.0.1", Port: freePort(t), JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
		Users: []*server.User{
			{Username: "agent", Password: "a", Permissions: allow("EDGETAIL.web-1%2Eexample.>",
				"$JS.API.STREAM.INFO.EDGETAIL", "$JS.API.STREAM.CREATE.EDGETAIL")},
			{Username: "hub", Password: "h", Permissions: allow("$JS.API.STREAM.INFO.EDGETAIL",
				"$JS.API.CONSUMER.CREATE.EDGETAIL.>", "$JS.API.CONSUMER.DELETE.EDGETAIL.>",
				"$JS.API.CONSUMER.INFO.EDGETAIL.>", "$JS.API.CONSUMER.MSG.NEXT.EDGETAIL.>")},
		},
	}}
	ns.start()
	t.Cleanup(ns.stop)
	url := func(user, pass string) string {
		return fmt.Sprintf("nats://%s:%s@127.0.0.1:%d", user, pass, ns.opts.Port)
	}

	anc, ajs := connect(t, url("agent", "a"))
	ensure(t, ajs, StreamOptions{})
	a := newAgent(t, anc, ajs, "web-1.example", agentOpts{}, "app")
	hnc, hjs := connect(t, url("hub", "h"))
	hub := newHub(t, hnc, hjs, HubOptions{}, nil)
	c := hub.open("/stream?tail=0&hosts=web-1.example&level=info")
	a.write("app", "INFO allowed")
	evs, _ := c.lines(1)
	if fieldOf(evs[0].Data, "host") != "web-1.example" {
		t.Fatalf("got %q", evs[0].Data)
	}
	// A message under its own subject that claims another host in its
	// header is refused; the next real line still comes.
	forged := nats.NewMsg("EDGETAIL.web-1%2Eexample.app.info")
	forged.Header.Set(hdrHost, "db-1")
	forged.Header.Set(hdrSource, "app")
	forged.Data = []byte(`{"id":"999999999999999","line":"INFO forged"}`)
	if _, err := ajs.PublishMsg(t.Context(), forged); err != nil {
		t.Fatal(err)
	}
	c2 := hub.open("/stream?tail=10")
	a.write("app", "INFO real")
	for _, want := range []string{"INFO allowed", "INFO real"} {
		evs, _ := c2.lines(1)
		if !strings.HasSuffix(fieldOf(evs[0].Data, "line"), want) {
			t.Fatalf("got %q, want %q", evs[0].Data, want)
		}
	}
	waitFor(t, "host table", func() bool { return len(hub.hub.hosts.list(Access{})) == 1 })
	// The hub cannot publish into the stream.
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if _, err := hjs.Publish(ctx, "EDGETAIL.web-1.app.info", []byte("{}")); err == nil {
		t.Error("the hub's user could publish to the stream")
	}
}
