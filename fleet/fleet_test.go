package fleet

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	sse "github.com/tmaxmax/go-sse"
)

// checkOnceInOrder checks that every (host, source) got its lines 0..n-1
// exactly once and in order, and that ids increase.
func checkOnceInOrder(t *testing.T, evs []sse.Event, want map[string]int) {
	t.Helper()
	next := map[string]int{}
	var last pos
	for _, ev := range evs {
		var d struct{ Host, Source, Line, ID string }
		if err := json.Unmarshal([]byte(ev.Data), &d); err != nil {
			t.Fatalf("data %q: %v", ev.Data, err)
		}
		p, ok := parseID(ev.LastEventID)
		if !ok || !p.after(last) {
			t.Fatalf("id %q does not follow %v", ev.LastEventID, last)
		}
		last = p
		f := strings.Fields(d.Line)
		if len(f) < 3 || f[0] != d.Host || f[1] != d.Source {
			t.Fatalf("line %q does not say host %q source %q", d.Line, d.Host, d.Source)
		}
		n, _ := strconv.Atoi(f[2])
		key := d.Host + "/" + d.Source
		if n != next[key] {
			t.Fatalf("%s: got line %d, want %d (duplicate or lost)", key, n, next[key])
		}
		next[key]++
	}
	for k, n := range want {
		if next[k] != n {
			t.Errorf("%s: got %d lines, want %d", k, next[k], n)
		}
	}
}

func TestEveryLineOnceInPerSourceOrder(t *testing.T) {
	ns := startNATS(t, 0)
	nc, js := connect(t, ns.url())
	ensure(t, js, StreamOptions{})
	hub := newHub(t, nc, js, HubOptions{}, nil)
	c := hub.open("/stream?tail=0")
	a := newAgent(t, nc, js, "web-1.example.com", agentOpts{}, "nginx", "app")
	b := newAgent(t, nc, js, "db-1", agentOpts{}, "app")
	for i := 0; i < 20; i++ {
		a.write("nginx", texts(25, "GET /")...)
		a.write("app", texts(10, "info started")...)
		b.write("app", "ERROR lost connection")
	}
	evs, gaps := c.lines(500 + 200 + 20)
	if len(gaps) > 0 {
		t.Fatalf("gaps %v", gaps)
	}
	checkOnceInOrder(t, evs, map[string]int{"web-1.example.com/nginx": 500, "web-1.example.com/app": 200, "db-1/app": 20})
	if ev, q := c.quiet(300 * time.Millisecond); !q {
		t.Fatalf("unexpected event after all lines: %+v", ev)
	}
	// A second viewer with the same filter shares the consumer.
	c2 := hub.open("/stream?tail=0")
	a.write("app", "one more")
	c.lines(1)
	c2.lines(1)
	if v := hub.hub.Stats().Views; v != 1 {
		t.Errorf("views = %d, want 1 shared consumer", v)
	}
}

func TestHubFilters(t *testing.T) {
	ns := startNATS(t, 0)
	nc, js := connect(t, ns.url())
	ensure(t, js, StreamOptions{})
	web1 := newAgent(t, nc, js, "web-1", agentOpts{}, "nginx", "app")
	web2 := newAgent(t, nc, js, "web-2", agentOpts{}, "nginx")
	db := newAgent(t, nc, js, "db-1", agentOpts{}, "app")
	for _, a := range []*testAgent{web1, web2, db} {
		for name := range a.srcs {
			a.write(name, "INFO request ok", "WARN slow request", "ERROR upstream timeout", "debug: cache miss", "no level at all")
		}
	}
	for _, a := range []*testAgent{web1, web2, db} {
		for name := range a.srcs {
			a.waitAcked(name)
		}
	}
	hub := newHub(t, nc, js, HubOptions{}, nil)
	for _, tc := range []struct {
		query string
		want  []string // "host/source text" of each line
	}{
		{"hosts=web-*&sources=nginx&level=warn", []string{"web-1/nginx WARN slow request", "web-1/nginx ERROR upstream timeout",
			"web-2/nginx WARN slow request", "web-2/nginx ERROR upstream timeout"}},
		{"hosts=db-1&q=UPSTREAM", []string{"db-1/app ERROR upstream timeout"}},
		{"hosts=web-2,db-1&re=(debug|no%20level)", []string{"web-2/nginx debug: cache miss", "web-2/nginx no level at all",
			"db-1/app debug: cache miss", "db-1/app no level at all"}},
		{"sources=app&not=TIMEOUT&level=info", []string{"web-1/app INFO request ok", "db-1/app INFO request ok",
			"web-1/app WARN slow request", "db-1/app WARN slow request"}},
		{"hosts=web-1&sources=app&level=error", []string{"web-1/app ERROR upstream timeout"}},
	} {
		c := hub.open("/stream?tail=100&" + tc.query)
		t.Log(tc.query)
		evs, _ := c.lines(len(tc.want))
		var got []string
		for _, ev := range evs {
			var d struct{ Host, Source, Line string }
			_ = json.Unmarshal([]byte(ev.Data), &d)
			f := strings.SplitN(d.Line, " ", 4)
			got = append(got, d.Host+"/"+d.Source+" "+f[3])
		}
		slices.Sort(got)
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.query, got, want)
		}
		if ev, q := c.quiet(200 * time.Millisecond); !q {
			t.Errorf("%s: extra event %q", tc.query, ev.Data)
		}
		c.close()
	}
	// format=text prefixes [host/source].
	c := hub.open("/stream?tail=1&hosts=db-1&format=text")
	if ev := c.next(); ev.Data != "[db-1/app] db-1 app 4 no level at all" {
		t.Errorf("text data %q", ev.Data)
	}
	// The subject filter narrows on the server: exact names and a level.
	subs := filterSubjects("EDGETAIL", []string{"web-1.x"}, []string{"nginx"}, []string{"error", "gap"})
	if !slices.Equal(subs, []string{"EDGETAIL.web-1%2Ex.nginx.error", "EDGETAIL.web-1%2Ex.nginx.gap"}) {
		t.Errorf("subjects %q", subs)
	}
	// A bad parameter is a 400 before any stream.
	for _, q := range []string{"re=(", "level=loud", "tail=-1", "bogus=1"} {
		if c := hub.open("/stream?" + q); c.status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", q, c.status)
		}
	}
}

func TestResumeIsExactAlsoOnAnotherHub(t *testing.T) {
	ns := startNATS(t, 0)
	nc, js := connect(t, ns.url())
	ensure(t, js, StreamOptions{})
	a := newAgent(t, nc, js, "web-1", agentOpts{}, "app")
	hub := newHub(t, nc, js, HubOptions{}, nil)
	c := hub.open("/stream?tail=0")
	// Several lines per message: ids are j<seq>.<index>.
	a.write("app", texts(50, "burst")...)
	a.waitAcked("app")
	first, _ := c.lines(50)
	if !strings.Contains(first[10].LastEventID, ".") {
		t.Logf("ids of a burst: %s .. %s (one line per message)", first[0].LastEventID, first[49].LastEventID)
	}
	c.close()
	// Resume in the middle of a message, on the same hub.
	c = hub.open("/stream", "Last-Event-ID", first[10].LastEventID)
	got, gaps := c.lines(39)
	if len(gaps) > 0 || got[0].Data != first[11].Data || got[38].Data != first[49].Data {
		t.Fatalf("resume after %s: first %q, gaps %v", first[10].LastEventID, got[0].Data, gaps)
	}
	c.close()
	// The hub restarts: a new one resumes the same id the same way, and
	// then carries on live.
	hub.close()
	hub2 := newHub(t, nc, js, HubOptions{}, nil)
	c = hub2.open("/stream?lastEventId=" + first[20].LastEventID)
	got, gaps = c.lines(29)
	if len(gaps) > 0 || got[0].Data != first[21].Data || got[28].Data != first[49].Data {
		t.Fatalf("resume on a new hub: first %q, gaps %v", got[0].Data, gaps)
	}
	a.write("app", "after the restart")
	live, _ := c.lines(1)
	checkOnceInOrder(t, append(append(first[:21:21], got...), live...), map[string]int{"web-1/app": 51})
	// Last-Event-ID wins over tail=.
	c2 := hub2.open("/stream?tail=5", "Last-Event-ID", first[48].LastEventID)
	if ev := c2.next(); ev.Data != first[49].Data {
		t.Fatalf("with tail=5 and Last-Event-ID: got %q, want %q", ev.Data, first[49].Data)
	}
	// An id the hub cannot read is an unknown gap, never a 400.
	c3 := hub2.open("/stream?tail=0", "Last-Event-ID", "m123")
	if ev := c3.next(); ev.Type != "gap" || ev.Data != `{"missed":-1}` {
		t.Fatalf("bad id: got %+v", ev)
	}
}

func TestRetentionEvictionGivesGap(t *testing.T) {
	ns := startNATS(t, 0)
	nc, js := connect(t, ns.url())
	// The operator's stream keeps only 20 messages; agents leave it so.
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "EDGETAIL", Subjects: []string{"EDGETAIL.>"}, MaxMsgs: 20}); err != nil {
		t.Fatal(err)
	}
	a := newAgent(t, nc, js, "web-1", agentOpts{}, "app")
	hub := newHub(t, nc, js, HubOptions{}, nil)
	c := hub.open("/stream?tail=0")
	a.write("app", "first")
	first, _ := c.lines(1)
	c.close()
	for i := 0; i < 40; i++ {
		a.write("app", "later")
		a.waitAcked("app") // one message each
	}
	st, _ := js.Stream(ctx, "EDGETAIL")
	if info := st.CachedInfo(); info.Config.MaxMsgs != 20 {
		t.Fatalf("the agent changed the stream: max_msgs %d", info.Config.MaxMsgs)
	}
	c = hub.open("/stream", "Last-Event-ID", first[0].LastEventID)
	ev := c.next()
	if ev.Type != "gap" {
		t.Fatalf("first event %+v, want event: gap", ev)
	}
	evs, _ := c.lines(20)
	if !strings.Contains(evs[0].Data, "web-1 app 21 ") || !strings.Contains(evs[19].Data, "web-1 app 40 ") {
		t.Fatalf("after the gap: %q .. %q", evs[0].Data, evs[19].Data)
	}
}

func TestOutageLongerThanTheBufferGivesExactGap(t *testing.T) {
	ns := startNATS(t, 0)
	nc, js := connect(t, ns.url())
	ensure(t, js, StreamOptions{})
	// The agent keeps 100 lines; its publisher queues 10.
	a := newAgent(t, nc, js, "web-1", agentOpts{replay: 100, buffer: 10}, "app")
	a.write("app", texts(5, "before")...)
	a.waitAcked("app")

	ns.stop()
	waitFor(t, "client disconnected", func() bool { return !nc.IsConnected() })
	// The agent's own stream goes on: 300 lines while NATS is away.
	for i := 0; i < 30; i++ {
		a.write("app", texts(10, "during")...)
	}
	ns.start()
	waitFor(t, "client reconnected", nc.IsConnected)
	a.write("app", "after")
	a.waitAcked("app")

	hub := newHub(t, nc, js, HubOptions{}, nil)
	c := hub.open("/stream?tail=10000")
	var got []int
	var missed int64
	for len(got)+int(missed) < 306 {
		ev := c.next()
		if ev.Type == "gap" {
			var g struct {
				Missed       int64
				Host, Source string
			}
			_ = json.Unmarshal([]byte(ev.Data), &g)
			if g.Host != "web-1" || g.Source != "app" || g.Missed <= 0 {
				t.Fatalf("gap %q", ev.Data)
			}
			missed += g.Missed
			continue
		}
		var d struct{ Line string }
		_ = json.Unmarshal([]byte(ev.Data), &d)
		n, _ := strconv.Atoi(strings.Fields(d.Line)[2])
		got = append(got, n)
	}
	// Every line is there once, in order, except a run the gap counts
	// exactly.
	holes := 0
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("line %d after %d", got[i], got[i-1])
		}
		holes += got[i] - got[i-1] - 1
	}
	if int64(holes) != missed || missed == 0 || got[len(got)-1] != 305 {
		t.Fatalf("%d lines, holes %d, gap said %d, last %d", len(got), holes, missed, got[len(got)-1])
	}
	t.Logf("outage: %d lines published, %d reported missed", len(got), missed)
}

func TestTokenHostsAreEnforced(t *testing.T) {
	ns := startNATS(t, 0)
	nc, js := connect(t, ns.url())
	ensure(t, js, StreamOptions{})
	web := newAgent(t, nc, js, "web-1", agentOpts{}, "app")
	db := newAgent(t, nc, js, "db-1", agentOpts{}, "app")
	web.write("app", "from web")
	db.write("app", "from db")
	web.waitAcked("app")
	db.waitAcked("app")
	hub := newHub(t, nc, js, HubOptions{}, &Access{Hosts: []string{"web-*"}})
	for _, q := range []string{"hosts=db-1", "hosts=web-1,db-1", "hosts=*"} {
		if c := hub.open("/stream?" + q); c.status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", q, c.status)
		}
	}
	// Without hosts= the view is narrowed to the granted hosts.
	c := hub.open("/stream?tail=10")
	evs, _ := c.lines(1)
	if fieldOf(evs[0].Data, "host") != "web-1" {
		t.Fatalf("got %q", evs[0].Data)
	}
	if ev, q := c.quiet(300 * time.Millisecond); !q {
		t.Fatalf("an ungranted host reached the viewer: %q", ev.Data)
	}
	waitFor(t, "host table", func() bool { return len(hub.hub.hosts.list(Access{})) == 2 })
	resp, err := http.Get(hub.srv.URL + "/api/hosts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var hosts []HostInfo
	_ = json.NewDecoder(resp.Body).Decode(&hosts)
	if len(hosts) != 1 || hosts[0].Host != "web-1" || !slices.Equal(hosts[0].Sources, []string{"app"}) || hosts[0].LastSeen.IsZero() {
		t.Fatalf("/api/hosts = %+v", hosts)
	}
}

func TestTokenMapping(t *testing.T) {
	for in, want := range map[string]string{"web-1": "web-1", "web.example.com": "web%2Eexample%2Ecom", "a*b": "a%2Ab", "": "%00", "x y>": "x%20y%3E"} {
		if got := token(in); got != want {
			t.Errorf("token(%q) = %q, want %q", in, got, want)
		}
	}
	if _, ok := parseID("j0"); ok {
		t.Error("j0 parsed")
	}
	if p, ok := parseID("j12.3"); !ok || p != (pos{12, 3}) {
		t.Errorf("j12.3 = %v", p)
	}
}
