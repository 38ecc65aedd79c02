package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"edgetail/event"
	"edgetail/query"
	"edgetail/stream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// hubSource is the agent's adapter, in small: a stream source read
// through filtered taps.
type hubSource struct {
	s       *stream.Source
	started chan struct{}
}

func (h hubSource) Name() string             { return h.s.Name() }
func (h hubSource) Started() <-chan struct{} { return h.started }
func (h hubSource) Tap(key []byte, f *query.Filter, n chan struct{}) Tap {
	return h.s.TapFiltered(key, stream.TapOptions{Filter: f, Notify: n})
}

// receiver is a webhook in the test: it records what it is sent and
// answers as answer says (nil: 200).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []Notification
	hdrs   []http.Header
	times  []time.Time
	calls  int
	answer func(call int, w http.ResponseWriter) bool // true: answered
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.calls++
		call, answer := rc.calls, rc.answer
		rc.mu.Unlock()
		if answer != nil && answer(call, w) {
			return
		}
		var n Notification
		if err := json.Unmarshal(b, &n); err != nil {
			t.Errorf("body %q: %v", b, err)
		}
		rc.mu.Lock()
		rc.got = append(rc.got, n)
		rc.hdrs = append(rc.hdrs, r.Header.Clone())
		rc.times = append(rc.times, time.Now())
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) notifications() []Notification {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Notification(nil), rc.got...)
}

// waitN waits until the receiver holds n notifications, and then a while
// for any more.
func (rc *receiver) waitN(t *testing.T, n int, settle time.Duration) []Notification {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(rc.notifications()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %d notifications, want %d: %+v", len(rc.notifications()), n, rc.notifications())
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(settle)
	return rc.notifications()
}

// fixture is a hub with one keyed source "app", and an engine over it.
type fixture struct {
	t      *testing.T
	hub    *stream.Hub
	src    *stream.Source
	srcs   []Source
	eng    *Engine
	stop   func()
	n      int
	logs   *observer.ObservedLogs
	dir    string
	opts   Options
	cancel context.CancelFunc
}

func newFixture(t *testing.T, o Options) *fixture {
	h := stream.New(stream.Options{ReplayLines: 10000})
	s := h.Source("app", stream.KindJournal)
	started := make(chan struct{})
	close(started)
	f := &fixture{t: t, hub: h, src: s, srcs: []Source{hubSource{s, started}}, opts: o}
	if f.opts.StateDir == "" {
		f.opts.StateDir = t.TempDir()
	}
	f.dir = f.opts.StateDir
	f.startEngine()
	t.Cleanup(func() { f.stop(); h.Close() })
	return f
}

func (f *fixture) startEngine() {
	core, logs := observer.New(zap.DebugLevel)
	f.logs = logs
	o := f.opts
	o.Logger = zap.New(core)
	if o.Host == "" {
		o.Host = "web-1"
	}
	if o.BackoffMin == 0 {
		o.BackoffMin = 20 * time.Millisecond
	}
	if o.SaveEvery == 0 {
		o.SaveEvery = 50 * time.Millisecond
	}
	f.eng = New(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = f.eng.Run(ctx); close(done) }()
	f.stop = func() { cancel(); <-done }
}

// publish commits lines to "app", each with a key of its own.
func (f *fixture) publish(lines ...string) {
	ls := make([]event.Line, len(lines))
	for i, l := range lines {
		f.n++
		ls[i] = event.Line{Text: []byte(l), Time: time.Now(), Key: []byte(fmt.Sprintf("k%06d", f.n))}
	}
	if err := f.src.Publish(context.Background(), ls); err != nil {
		f.t.Fatal(err)
	}
}

func newRule(t *testing.T, name, url string, mod func(*Rule)) Rule {
	r := Rule{Name: name, Filter: query.Filter{Level: event.LevelError}, Webhook: Webhook{URL: url}}
	if mod != nil {
		mod(&r)
	}
	if err := r.Filter.Compile(); err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *fixture) status(name string) Status {
	for _, s := range f.eng.Status() {
		if s.Name == name {
			return s
		}
	}
	f.t.Fatalf("no rule %s", name)
	return Status{}
}

func TestFirstMatchIsNotifiedWithEveryField(t *testing.T) {
	rc := newReceiver(t)
	f := newFixture(t, Options{BaseURL: "https://edge.example/"})
	f.eng.Apply([]Rule{newRule(t, "errs", rc.URL+"/hook", nil)}, f.srcs)
	waitTapped(t, f)
	f.publish("INFO all fine", "ERROR disk 3 full")
	n := rc.waitN(t, 1, 100*time.Millisecond)
	if len(n) != 1 {
		t.Fatalf("%+v", n)
	}
	got := n[0]
	if got.Rule != "errs" || got.Host != "web-1" || got.Source != "app" || got.Group != "ERROR disk <num> full" ||
		got.Level != "error" || got.Count != 1 || got.Suppressed != 0 || got.Line != "ERROR disk 3 full" ||
		got.ID != "k000002" || got.Kind != "alert" || got.First.IsZero() || !got.First.Equal(got.Last) ||
		!strings.HasPrefix(got.URL, "https://edge.example/?") || !strings.Contains(got.URL, "sources=app") {
		t.Fatalf("notification %+v", got)
	}
	if h := rc.hdrs[0]; h.Get("Content-Type") != "application/json" || h.Get("Edgetail-Notification") == "" {
		t.Fatalf("headers %v", h)
	}
}

// waitTapped waits until the rules have tapped the source: a tap joins
// once the source has started, a moment after Apply.
func waitTapped(t *testing.T, f *fixture) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		tapped := true
		for _, s := range f.eng.Status() {
			if s.Name == "" {
				tapped = false
			}
		}
		f.eng.mu.Lock()
		for _, r := range f.eng.rules {
			r.mu.Lock()
			if _, ok := r.st.pos["app"]; !ok && f.n > 0 {
				tapped = false
			}
			r.mu.Unlock()
		}
		f.eng.mu.Unlock()
		if tapped {
			time.Sleep(20 * time.Millisecond)
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("not tapped")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// 1,000 lines of one error with varying numbers and UUIDs are one
// notification and one roll-up; a second error is a second group.
func TestFloodOfOneErrorRollsUp(t *testing.T) {
	rc := newReceiver(t)
	f := newFixture(t, Options{})
	f.eng.Apply([]Rule{newRule(t, "errs", rc.URL, func(r *Rule) { r.Cooldown = 400 * time.Millisecond })}, f.srcs)
	waitTapped(t, f)
	var lines []string
	for i := range 1000 {
		lines = append(lines, fmt.Sprintf("ERROR request %08x-1234-4abc-8def-%012d from 10.0.%d.%d failed after %dms", i*7919, i, i%256, i%100, i))
	}
	f.publish(lines...)
	f.publish("ERROR socket closed by peer")
	n := rc.waitN(t, 3, 600*time.Millisecond)
	if len(n) != 3 {
		t.Fatalf("%d notifications: %+v", len(n), n)
	}
	var alerts, rollups int
	for _, x := range n {
		switch {
		case x.Kind == "alert":
			alerts++
		case x.Kind == "rollup" && x.Suppressed == 999 && x.Count == 999 && strings.Contains(x.Line, "failed after 999ms"):
			rollups++
		default:
			t.Errorf("unexpected %+v", x)
		}
	}
	if alerts != 2 || rollups != 1 {
		t.Fatalf("alerts %d rollups %d: %+v", alerts, rollups, n)
	}
	if s := f.status("errs"); s.Sent != 3 || s.Matches != 1001 {
		t.Fatalf("status %+v", s)
	}
}

// threshold in window: fewer matches than the threshold within the
// window notify nothing.
func TestThresholdInWindow(t *testing.T) {
	rc := newReceiver(t)
	f := newFixture(t, Options{})
	f.eng.Apply([]Rule{newRule(t, "errs", rc.URL, func(r *Rule) { r.Threshold, r.Window, r.GroupBy = 3, time.Second, GroupByRule })}, f.srcs)
	waitTapped(t, f)
	f.publish("ERROR a", "ERROR b")
	time.Sleep(1200 * time.Millisecond)
	f.publish("ERROR c")
	time.Sleep(200 * time.Millisecond)
	if n := rc.notifications(); len(n) != 0 {
		t.Fatalf("notified below the threshold: %+v", n)
	}
	f.publish("ERROR d", "ERROR e")
	n := rc.waitN(t, 1, 100*time.Millisecond)
	if len(n) != 1 || n[0].Count != 3 || n[0].Group != "errs" || n[0].Line != "ERROR e" {
		t.Fatalf("%+v", n)
	}
}

// A receiver answering 500 gets the notification once it recovers, once;
// a 429's Retry-After is waited for.
func TestDeliveryRetriesUntilTheReceiverRecovers(t *testing.T) {
	rc := newReceiver(t)
	var mu sync.Mutex
	var tries []time.Time
	rc.answer = func(call int, w http.ResponseWriter) bool {
		mu.Lock()
		tries = append(tries, time.Now())
		mu.Unlock()
		switch call {
		case 1, 2:
			w.WriteHeader(http.StatusInternalServerError)
			return true
		case 3:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		}
		return false
	}
	f := newFixture(t, Options{})
	f.eng.Apply([]Rule{newRule(t, "errs", rc.URL, nil)}, f.srcs)
	waitTapped(t, f)
	f.publish("ERROR boom")
	n := rc.waitN(t, 1, 300*time.Millisecond)
	if len(n) != 1 {
		t.Fatalf("%+v", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(tries) != 4 || tries[3].Sub(tries[2]) < time.Second {
		t.Fatalf("tries %v", tries)
	}
	s := f.status("errs")
	if s.Sent != 1 || s.DeliveriesFailed != 3 || s.LastError != "HTTP 429" || s.Queued != 0 {
		t.Fatalf("status %+v", s)
	}
}

// A notification not delivered within MaxRetry is given up and counted;
// the next delivered one says how many were lost.
func TestDeliveryGivesUpAndReportsDropped(t *testing.T) {
	rc := newReceiver(t)
	var down atomic.Bool
	down.Store(true)
	rc.answer = func(call int, w http.ResponseWriter) bool {
		if down.Load() {
			w.WriteHeader(http.StatusBadGateway)
			return true
		}
		return false
	}
	f := newFixture(t, Options{MaxRetry: 150 * time.Millisecond})
	f.eng.Apply([]Rule{newRule(t, "errs", rc.URL, nil)}, f.srcs)
	waitTapped(t, f)
	f.publish("ERROR one")
	deadline := time.Now().Add(5 * time.Second)
	for f.status("errs").Failed != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("status %+v", f.status("errs"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	down.Store(false)
	f.publish("ERROR two")
	n := rc.waitN(t, 1, 100*time.Millisecond)
	if len(n) != 1 || n[0].Line != "ERROR two" || n[0].Dropped != 1 {
		t.Fatalf("%+v", n)
	}
}

// The queue is bounded: while a receiver hangs, the oldest waiting
// notifications are dropped and counted, and the next delivered says so.
func TestQueueDropsTheOldest(t *testing.T) {
	rc := newReceiver(t)
	release := make(chan struct{})
	rc.answer = func(call int, w http.ResponseWriter) bool {
		if call == 1 {
			<-release
		}
		return false
	}
	f := newFixture(t, Options{QueueSize: 2})
	f.eng.Apply([]Rule{newRule(t, "errs", rc.URL, nil)}, f.srcs)
	waitTapped(t, f)
	f.publish("ERROR a")
	for f.status("errs").Queued != 1 || rcCalls(rc) != 1 {
		time.Sleep(5 * time.Millisecond)
	}
	f.publish("ERROR b", "ERROR c", "ERROR d", "ERROR e")
	deadline := time.Now().Add(5 * time.Second)
	for f.status("errs").Dropped != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("status %+v", f.status("errs"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	n := rc.waitN(t, 2, 200*time.Millisecond)
	if len(n) != 2 || n[0].Line != "ERROR a" || n[0].Dropped != 0 || n[1].Line != "ERROR e" || n[1].Dropped != 3 {
		t.Fatalf("%+v", n)
	}
}

func rcCalls(rc *receiver) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.calls
}

// A webhook that hangs holds up neither other rules nor the source.
func TestHangingWebhookDelaysNoOtherRule(t *testing.T) {
	hang := newReceiver(t)
	stuck := make(chan struct{})
	defer close(stuck)
	hang.answer = func(int, http.ResponseWriter) bool { <-stuck; return true }
	rc := newReceiver(t)
	f := newFixture(t, Options{})
	f.eng.Apply([]Rule{
		newRule(t, "hangs", hang.URL, func(r *Rule) { r.Webhook.Timeout = time.Minute }),
		newRule(t, "works", rc.URL, nil),
	}, f.srcs)
	waitTapped(t, f)
	f.publish("ERROR first")
	rc.waitN(t, 1, 0)
	for i := range 20 {
		f.publish(fmt.Sprintf("ERROR distinct %c", 'a'+i))
	}
	n := rc.waitN(t, 21, 0)
	if len(n) != 21 {
		t.Fatalf("%d", len(n))
	}
}

// ${VAR} in a header is the environment's; the header and the URL never
// reach the log, even in an error.
func TestHeadersFromTheEnvironmentNeverLogged(t *testing.T) {
	rc := newReceiver(t)
	rc.answer = func(call int, w http.ResponseWriter) bool {
		if call == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	}
	env := map[string]string{"HOOK_TOKEN": "s3cr3t-t0ken"}
	f := newFixture(t, Options{Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	f.eng.Apply([]Rule{newRule(t, "errs", rc.URL+"/T000/B000/XSECRETX", func(r *Rule) {
		r.Webhook.Headers = map[string]string{"Authorization": "Bearer ${HOOK_TOKEN}", "X-Missing": "a${NOPE}b"}
	})}, f.srcs)
	waitTapped(t, f)
	f.publish("ERROR boom")
	rc.waitN(t, 1, 50*time.Millisecond)
	if h := rc.hdrs[0]; h.Get("Authorization") != "Bearer s3cr3t-t0ken" || h.Get("X-Missing") != "ab" {
		t.Fatalf("headers %v", h)
	}
	if err := f.eng.Test(context.Background(), "errs"); err != nil {
		t.Fatal(err)
	}
	f.stop()
	f.stop = func() {}
	for _, e := range f.logs.All() {
		s := fmt.Sprint(e.Message, e.ContextMap())
		if strings.Contains(s, "XSECRETX") || strings.Contains(s, "s3cr3t") || strings.Contains(s, rc.URL) {
			t.Fatalf("a secret in the log: %s", s)
		}
	}
	if !strings.Contains(fmt.Sprint(f.logs.FilterMessageSnippet("unset").All()), "NOPE") {
		t.Fatal("the unset variable was not named")
	}
	b, _ := json.Marshal(f.eng.Status())
	if strings.Contains(string(b), "XSECRETX") || strings.Contains(string(b), "s3cr3t") {
		t.Fatalf("a secret in the status: %s", b)
	}
}

// A restart resumes after the last event evaluated: an error committed
// while the engine was down is notified once after it starts, and nothing
// before it again; the cooldown survives too.
func TestRestartResumesWithoutRepeating(t *testing.T) {
	rc := newReceiver(t)
	f := newFixture(t, Options{})
	rules := []Rule{newRule(t, "errs", rc.URL, nil)}
	f.eng.Apply(rules, f.srcs)
	waitTapped(t, f)
	f.publish("ERROR before the stop", "INFO fine")
	rc.waitN(t, 1, 100*time.Millisecond)
	f.stop()
	f.publish("ERROR while down", "ERROR before the stop", "INFO fine")
	f.startEngine()
	f.eng.Apply(rules, f.srcs)
	n := rc.waitN(t, 2, 300*time.Millisecond)
	if len(n) != 2 || n[1].Line != "ERROR while down" {
		t.Fatalf("%+v", n)
	}
	// The repeat of "before the stop" was in its group's cooldown:
	// counted, to be rolled up.
	f.eng.mu.Lock()
	g := f.eng.rules["errs"].st.gs.m["ERROR before the stop"]
	f.eng.mu.Unlock()
	if g == nil || g.suppressed != 1 {
		t.Fatalf("group %+v", g)
	}
}

// A reload leaves an unchanged rule running with its groups; a changed
// one carries its groups and positions over when it groups the same way.
func TestApplyKeepsUnchangedRules(t *testing.T) {
	rc := newReceiver(t)
	f := newFixture(t, Options{})
	a := newRule(t, "a", rc.URL, nil)
	b := newRule(t, "b", rc.URL, nil)
	f.eng.Apply([]Rule{a, b}, f.srcs)
	waitTapped(t, f)
	f.publish("ERROR boom")
	rc.waitN(t, 2, 50*time.Millisecond)
	f.eng.mu.Lock()
	ra := f.eng.rules["a"]
	f.eng.mu.Unlock()
	b2 := newRule(t, "b", rc.URL+"/other", nil)
	f.eng.Apply([]Rule{newRule(t, "a", rc.URL, nil), b2}, f.srcs)
	f.eng.mu.Lock()
	same := f.eng.rules["a"] == ra
	rb := f.eng.rules["b"]
	f.eng.mu.Unlock()
	if !same {
		t.Fatal("an unchanged rule was restarted")
	}
	rb.mu.Lock()
	kept := rb.st.gs.m["ERROR boom"] != nil
	rb.mu.Unlock()
	if !kept {
		t.Fatal("a changed rule lost its groups")
	}
	f.publish("ERROR boom")
	time.Sleep(200 * time.Millisecond)
	if n := rc.notifications(); len(n) != 2 {
		t.Fatalf("cooldowns lost across the reload: %+v", n)
	}
	f.eng.Apply([]Rule{newRule(t, "a", rc.URL, nil)}, f.srcs)
	if _, ok := f.eng.RuleSources("b"); ok {
		t.Fatal("a removed rule runs")
	}
}

// A state directory that cannot be written is said once, not on every
// save, and counted; the rule goes on notifying.
func TestStateWriteFailureSaidOnce(t *testing.T) {
	rc := newReceiver(t)
	blocker := t.TempDir() + "/file"
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, Options{StateDir: blocker})
	f.eng.Apply([]Rule{newRule(t, "errs", rc.URL, nil)}, f.srcs)
	waitTapped(t, f)
	for i := range 5 {
		f.publish(fmt.Sprintf("ERROR distinct %c", 'a'+i))
		time.Sleep(60 * time.Millisecond)
	}
	rc.waitN(t, 5, 100*time.Millisecond)
	if n := f.logs.FilterMessageSnippet("cannot save").Len(); n != 1 {
		t.Fatalf("said %d times", n)
	}
	if f.eng.ctrs["errs"].saveErrors.Load() < 5 {
		t.Fatalf("%d errors counted", f.eng.ctrs["errs"].saveErrors.Load())
	}
}
