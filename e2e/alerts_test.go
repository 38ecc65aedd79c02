package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"edgetail/alerts"
	"edgetail/journal/journaltest"
)

// hook is a webhook receiver in the test process: it records what it is
// sent and answers as answer says (nil: 200).
type hook struct {
	*httptest.Server
	mu     sync.Mutex
	got    []map[string]any
	hdrs   []http.Header
	at     []time.Time
	calls  int
	answer func(call int, w http.ResponseWriter) bool // true: it answered
}

func newHook(t *testing.T) *hook {
	h := &hook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.calls++
		call, answer := h.calls, h.answer
		h.mu.Unlock()
		if answer != nil && answer(call, w) {
			return
		}
		var n map[string]any
		if err := json.Unmarshal(b, &n); err != nil {
			t.Errorf("webhook body %q: %v", b, err)
		}
		h.mu.Lock()
		h.got = append(h.got, n)
		h.hdrs = append(h.hdrs, r.Header.Clone())
		h.at = append(h.at, time.Now())
		h.mu.Unlock()
	}))
	t.Cleanup(h.Close)
	return h
}

// setAnswer says how the receiver answers from now on.
func (h *hook) setAnswer(f func(call int, w http.ResponseWriter) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.answer = f
}

// callCount is how many requests the receiver has had.
func (h *hook) callCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls
}

func (h *hook) received() []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any(nil), h.got...)
}

// wait waits until n notifications have come (within d), then settle for
// any more.
func (h *hook) wait(t *testing.T, n int, d, settle time.Duration) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(d)
	for len(h.received()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d notifications within %v: %v", len(h.received()), n, d, h.received())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(settle)
	return h.received()
}

// alertRule is a rule of level error: extra adds to the rule, hookExtra
// to its webhook.
func alertRule(name, url, extra string, hookExtra ...string) string {
	return fmt.Sprintf("  - name: %s\n    level: error\n%s    webhook:\n      url: %s\n%s", name, extra, url, strings.Join(hookExtra, ""))
}

func alertsJSON(t *testing.T, a *agent) []map[string]any {
	t.Helper()
	resp := a.get("/api/alerts")
	defer resp.Body.Close()
	var out []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func ruleStatus(t *testing.T, a *agent, name string) map[string]any {
	t.Helper()
	for _, r := range alertsJSON(t, a) {
		if r["name"] == name {
			return r
		}
	}
	t.Fatalf("no rule %s in /api/alerts", name)
	return nil
}

// The first matching line is notified within 2 s, with every field of the
// json body; the status, the metrics and the test button say so too.
func TestAlertFirstMatchWithEveryField(t *testing.T) {
	h := newHook(t)
	path, cfg := fileSource(t, "alerts_url: https://edge.example:7070\nalerts:\n"+alertRule("errs", h.URL+"/hook", ""))
	a := start(t, cfg)
	line := "ERROR payment 4217 failed for 550e8400-e29b-41d4-a716-446655440000"
	began := time.Now()
	appendLines(t, path, "INFO all fine", line)
	n := h.wait(t, 1, 2*time.Second, 200*time.Millisecond)
	t.Logf("notified %v after the write", h.at[0].Sub(began).Round(time.Millisecond))
	if len(n) != 1 {
		t.Fatalf("%v", n)
	}
	got := n[0]
	for k, want := range map[string]any{"rule": "errs", "source": "app", "group": "ERROR payment <num> failed for <uuid>",
		"level": "error", "count": 1.0, "suppressed": 0.0, "line": line, "dropped": 0.0, "kind": "alert"} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	for _, k := range []string{"host", "first", "last", "id", "url"} {
		if s, _ := got[k].(string); s == "" {
			t.Errorf("%s is empty: %v", k, got)
		}
	}
	first, err1 := time.Parse(time.RFC3339, got["first"].(string))
	last, err2 := time.Parse(time.RFC3339, got["last"].(string))
	if err1 != nil || err2 != nil || last.Before(first) || time.Since(last) > time.Minute {
		t.Errorf("first %v last %v", got["first"], got["last"])
	}
	if u := got["url"].(string); !strings.HasPrefix(u, "https://edge.example:7070/?") || !strings.Contains(u, "sources=app") {
		t.Errorf("url %q", u)
	}
	// The id is the line's durable id: a stream resumed after it starts
	// with the next line.
	c := a.open("/stream/app?tail=0&lastEventId=" + got["id"].(string))
	appendLines(t, path, "INFO next")
	if ev := c.next(t); ev.Data != "INFO next" {
		t.Fatalf("resumed after the notification's id: %q", ev.Data)
	}

	st := ruleStatus(t, a, "errs")
	if st["state"] != "firing" || st["sent"] != 1.0 || st["matches"] != 1.0 {
		t.Fatalf("status %v", st)
	}
	if rec := st["recent"].([]any); len(rec) != 1 || rec[0].(map[string]any)["result"] != "sent" {
		t.Fatalf("recent %v", st["recent"])
	}
	resp := a.get("/metrics")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `edgetail_alert_notifications_total{rule="errs",result="sent"} 1`) {
		t.Fatalf("metrics lack the notification:\n%s", body)
	}
	resp, err := http.Post(a.url+"/api/alerts/errs/test", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("test: %s", resp.Status)
	}
	if n := h.wait(t, 2, 2*time.Second, 0); n[1]["kind"] != "test" {
		t.Fatalf("test notification %v", n[1])
	}
	if resp, _ := http.Post(a.url+"/api/alerts/nope/test", "", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown rule: %s", resp.Status)
	}
}

// threshold: 3 in window: 2s: two errors, then one after the window, are
// nothing; two more within the window of the third are one notification.
func TestAlertThresholdInWindow(t *testing.T) {
	h := newHook(t)
	path, cfg := fileSource(t, "alerts:\n"+alertRule("errs", h.URL, "    threshold: 3\n    window: 2s\n    group_by: rule\n"))
	start(t, cfg)
	appendLines(t, path, "ERROR a", "ERROR b")
	time.Sleep(2500 * time.Millisecond)
	appendLines(t, path, "ERROR c")
	time.Sleep(500 * time.Millisecond)
	if n := h.received(); len(n) != 0 {
		t.Fatalf("notified below the threshold: %v", n)
	}
	appendLines(t, path, "ERROR d", "ERROR e")
	n := h.wait(t, 1, 2*time.Second, 500*time.Millisecond)
	if len(n) != 1 || n[0]["count"] != 3.0 || n[0]["line"] != "ERROR e" || n[0]["group"] != "errs" {
		t.Fatalf("%v", n)
	}
}

// 1,000 lines of one error with varying numbers and UUIDs are one
// notification and one roll-up; a different error is a second.
func TestAlertFloodOfOneErrorIsOneAndARollup(t *testing.T) {
	h := newHook(t)
	path, cfg := fileSource(t, "alerts:\n"+alertRule("errs", h.URL, "    cooldown: 3s\n"))
	start(t, cfg)
	var lines []string
	for i := range 1000 {
		lines = append(lines, fmt.Sprintf("ERROR request %08x-%04x-4abc-8def-%012x from 10.0.%d.%d failed after %dms (attempt %d)",
			i*7919, i%65536, i*104729, i%256, i%100, i*3, i%7))
	}
	lines = append(lines, "ERROR disk /dev/sda1 is full")
	appendLines(t, path, lines...)
	n := h.wait(t, 3, 10*time.Second, 4*time.Second)
	if len(n) != 3 {
		t.Fatalf("%d notifications: %v", len(n), n)
	}
	kinds := map[string]int{}
	for _, x := range n {
		kinds[x["kind"].(string)]++
		if x["kind"] == "rollup" && (x["suppressed"] != 999.0 || !strings.Contains(x["line"].(string), "after 2997ms")) {
			t.Errorf("roll-up %v", x)
		}
	}
	if kinds["alert"] != 2 || kinds["rollup"] != 1 {
		t.Fatalf("kinds %v: %v", kinds, n)
	}
}

// 100,000 matching lines in a few seconds give at most 10 notifications,
// while a live client of the same source gets every line, in order.
func TestAlertFloodWhileAClientGetsEveryLine(t *testing.T) {
	h := newHook(t)
	path, cfg := fileSource(t, "stream:\n  client_buffer: 50000\nalerts:\n"+alertRule("errs", h.URL, "    cooldown: 2s\n"))
	a := start(t, cfg)
	c := a.open("/stream/app?tail=0")
	const total = 100_000
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	var buf []byte
	for i := range total {
		buf = fmt.Appendf(buf, "ERROR upstream 10.1.%d.%d timed out after %dms seq=%d\n", i%256, i%200, i%5000, i)
		if (i+1)%500 == 0 {
			if _, err := f.Write(buf); err != nil {
				t.Fatal(err)
			}
			buf = buf[:0]
			time.Sleep(15 * time.Millisecond) // about 30,000 lines/s
		}
	}
	f.Close()
	t.Logf("wrote %d lines in %v", total, time.Since(began).Round(time.Millisecond))
	for i := range total {
		ev := c.next(t)
		if ev.Type != "" || !strings.HasSuffix(ev.Data, " seq="+strconv.Itoa(i)) {
			t.Fatalf("event %d: %q %q", i, ev.Type, ev.Data)
		}
	}
	t.Logf("the client had every line %v after the first was written", time.Since(began).Round(time.Millisecond))
	time.Sleep(3 * time.Second) // the last roll-up
	n := h.received()
	t.Logf("%d notifications", len(n))
	if len(n) == 0 || len(n) > 10 {
		t.Fatalf("%d notifications: %v", len(n), n)
	}
	var counted float64
	for _, x := range n {
		counted += x["count"].(float64)
	}
	if counted != total {
		t.Fatalf("the notifications count %v lines, want %d", counted, total)
	}
}

// A receiver that answers 500 for 3 s gets the notification once, after
// it recovers.
func TestAlertReceiverDownFor3s(t *testing.T) {
	h := newHook(t)
	var mu sync.Mutex
	var firstCall time.Time
	h.setAnswer(func(call int, w http.ResponseWriter) bool {
		mu.Lock()
		defer mu.Unlock()
		if firstCall.IsZero() {
			firstCall = time.Now()
		}
		if time.Since(firstCall) < 3*time.Second {
			w.WriteHeader(http.StatusInternalServerError)
			return true
		}
		return false
	})
	path, cfg := fileSource(t, "alerts:\n"+alertRule("errs", h.URL, ""))
	a := start(t, cfg)
	appendLines(t, path, "ERROR boom")
	n := h.wait(t, 1, 20*time.Second, 3*time.Second)
	mu.Lock()
	after := h.at[0].Sub(firstCall)
	mu.Unlock()
	t.Logf("delivered %v after the first attempt, in %d attempts", after.Round(time.Millisecond), h.callCount())
	if len(n) != 1 || after < 3*time.Second {
		t.Fatalf("%d notifications, the first %v after the first attempt", len(n), after)
	}
	st := ruleStatus(t, a, "errs")
	if st["sent"] != 1.0 || st["deliveries_failed"].(float64) < 1 || st["last_error"] != "HTTP 500" || st["queued"] != 0.0 {
		t.Fatalf("status %v", st)
	}
}

// A webhook that never answers delays neither the streams nor another
// rule.
func TestAlertHangingReceiverDelaysNothingElse(t *testing.T) {
	hang := newHook(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // before hang.Close, which waits for its handlers
	hang.setAnswer(func(int, http.ResponseWriter) bool { <-release; return true })
	h := newHook(t)
	path, cfg := fileSource(t, "alerts:\n"+alertRule("hangs", hang.URL, "", "      timeout: 60s\n")+alertRule("works", h.URL, ""))
	a := start(t, cfg)
	c := a.open("/stream/app?tail=0")
	for i := range 5 {
		began := time.Now()
		line := fmt.Sprintf("ERROR distinct failure %c", 'a'+i)
		appendLines(t, path, line)
		if ev := c.next(t); ev.Data != line || time.Since(began) > time.Second {
			t.Fatalf("stream: %q after %v", ev.Data, time.Since(began))
		}
		h.wait(t, i+1, 2*time.Second, 0)
	}
	if hang.callCount() == 0 {
		t.Fatal("the hanging webhook was never called")
	}
}

// An error written while the agent was stopped (SIGTERM, and kill -9) is
// notified once after it starts, and nothing before it again: read from
// the replay buffer's prefill, or, when more was written while it was down
// than the buffer holds, from the file on disk.
func TestAlertResumesAcrossRestart(t *testing.T) {
	for _, c := range []struct {
		name  string
		sig   syscall.Signal
		extra int // lines written after the error while down
	}{{"sigterm", syscall.SIGTERM, 0}, {"sigkill", syscall.SIGKILL, 0}, {"sigkill-from-disk", syscall.SIGKILL, 500}} {
		t.Run(c.name, func(t *testing.T) {
			sig := c.sig
			h := newHook(t)
			path, cfg := fileSource(t, "stream:\n  replay_lines: 100\nalerts:\n"+alertRule("errs", h.URL, ""))
			a := start(t, cfg)
			appendLines(t, path, "ERROR before the stop", "INFO fine")
			h.wait(t, 1, 5*time.Second, 0)
			waitFor(t, "sent", func() bool { return ruleStatus(t, a, "errs")["sent"] == 1.0 })
			time.Sleep(2500 * time.Millisecond) // a save of the positions
			stopAgent(t, a, sig)
			appendLines(t, path, "INFO while down", "ERROR written while down", "INFO still down")
			appendLines(t, path, numbered("INFO filler", c.extra)...)
			a2 := startArgs(t, a.cfg, "-config", a.cfg)
			n := h.wait(t, 2, 10*time.Second, 3*time.Second)
			if len(n) != 2 || n[1]["line"] != "ERROR written while down" {
				t.Fatalf("after the restart: %v", n)
			}
			appendLines(t, path, "ERROR after the restart")
			n = h.wait(t, 3, 5*time.Second, time.Second)
			if len(n) != 3 || n[2]["line"] != "ERROR after the restart" {
				t.Fatalf("live after the restart: %v", n)
			}
			_ = a2
		})
	}
}

// ${VAR} in a header comes from the agent's environment and reaches the
// receiver; neither it nor the URL reaches the log or /api/alerts.
func TestAlertHeaderFromEnvironmentNeverLogged(t *testing.T) {
	h := newHook(t)
	h.setAnswer(func(call int, w http.ResponseWriter) bool {
		if call == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	const secret = "tok-e2e-S3CR3T"
	url := h.URL + "/T000/B000/PATHSECRET"
	path, cfg := fileSource(t, "alerts:\n"+alertRule("errs", url, "", "      headers: {Authorization: \"Bearer ${EDGETAIL_HOOK_TOKEN}\"}\n"))
	cfg = "listen: 127.0.0.1:0\nstate_dir: " + t.TempDir() + "\n" + cfg
	cfgPath := filepath.Join(t.TempDir(), "edgetail.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "-config", cfgPath, "-log-level", "debug")
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0", "EDGETAIL_HOOK_TOKEN="+secret)
	a := launch(t, cmd, cfgPath, nil)
	waitFor(t, "ready", func() bool {
		resp, err := http.Get(a.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	appendLines(t, path, "ERROR boom")
	n := h.wait(t, 1, 10*time.Second, 0)
	if got := h.hdrs[0].Get("Authorization"); got != "Bearer "+secret || len(n) != 1 {
		t.Fatalf("Authorization %q", got)
	}
	js, _ := json.Marshal(alertsJSON(t, a))
	stopAgent(t, a, syscall.SIGTERM)
	logs := a.logs.String()
	if !strings.Contains(logs, "retrying") {
		t.Fatalf("the failed attempt was not logged:\n%s", logs)
	}
	for _, s := range []string{secret, "PATHSECRET", strings.TrimPrefix(h.URL, "http://")} {
		if strings.Contains(logs, s) || strings.Contains(string(js), s) {
			t.Fatalf("%q in the log or the status:\n%s\n%s", s, logs, js)
		}
	}
}

// The agent's page lists the rules with their last notifications, and its
// Test button reaches the webhook; an agent without rules shows no panel.
func TestAlertUIPanel(t *testing.T) {
	h := newHook(t)
	path, cfg := fileSource(t, "alerts:\n"+alertRule("api-errors", h.URL, ""))
	a := start(t, cfg)
	appendLines(t, path, "ERROR payment 42 failed")
	h.wait(t, 1, 5*time.Second, 0)
	b := newBrowser(t)
	ctx := b.ctx
	do(t, ctx, chromedp.Navigate(a.url+"/"))
	waitJS(t, ctx, "the panel", `!document.getElementById("alerts-box").hidden`, 10*time.Second)
	js[bool](t, ctx, `(document.getElementById("alerts-box").open = true, true)`)
	rule := `document.querySelector('#alert-list li[data-rule="api-errors"]')`
	waitJS(t, ctx, "the rule and its notification", rule+` && `+rule+`.textContent.includes("firing") && `+rule+`.textContent.includes("ERROR payment <num> failed") && `+rule+`.querySelector(".res-sent")`, 10*time.Second)
	do(t, ctx, chromedp.Click(chromedp.CSS(`#alert-list li[data-rule="api-errors"] .alert-test`)))
	waitJS(t, ctx, "the test sent", rule+`.querySelector(".alert-test").textContent === "Sent"`, 10*time.Second)
	if n := h.wait(t, 2, 5*time.Second, 0); n[1]["kind"] != "test" {
		t.Fatalf("%v", n[1])
	}

	_, cfg2 := fileSource(t, "")
	a2 := start(t, cfg2)
	tab := b.tab()
	do(t, tab, chromedp.Navigate(a2.url+"/"))
	waitJS(t, tab, "live", connState+` === "live"`, 30*time.Second)
	time.Sleep(500 * time.Millisecond)
	if !js[bool](t, tab, `document.getElementById("alerts-box").hidden`) {
		t.Fatal("an agent without rules shows the alerts panel")
	}
}

// SIGHUP applies changed rules only: an unchanged rule keeps its groups
// and cooldowns (the same error again is not notified again), one that
// groups differently starts its groups afresh, and a removed one stops.
func TestAlertSIGHUPAppliesChangedRulesOnly(t *testing.T) {
	h := newHook(t)
	path, cfg := fileSource(t, "alerts:\n"+alertRule("same", h.URL+"/same", "")+alertRule("changed", h.URL+"/changed", "")+alertRule("removed", h.URL+"/removed", ""))
	a := start(t, cfg)
	appendLines(t, path, "ERROR disk 1 full")
	h.wait(t, 3, 5*time.Second, 200*time.Millisecond)
	body, err := os.ReadFile(a.cfg)
	if err != nil {
		t.Fatal(err)
	}
	next := strings.Replace(string(body), alertRule("changed", h.URL+"/changed", ""), alertRule("changed", h.URL+"/changed", "    group_by: rule\n"), 1)
	next = strings.Replace(next, alertRule("removed", h.URL+"/removed", ""), "", 1)
	if next == string(body) {
		t.Fatal("the config did not change")
	}
	if err := os.WriteFile(a.cfg, []byte(next), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reload", func() bool { return strings.Contains(a.logs.String(), `"reloaded"`) })
	appendLines(t, path, "ERROR disk 2 full")
	n := h.wait(t, 4, 5*time.Second, time.Second)
	if len(n) != 4 || n[3]["rule"] != "changed" || n[3]["group"] != "changed" {
		t.Fatalf("after the reload: %v", n[3:])
	}
	var names []string
	for _, r := range alertsJSON(t, a) {
		names = append(names, r["name"].(string))
	}
	if strings.Join(names, ",") != "changed,same" {
		t.Fatalf("rules after the reload: %v", names)
	}
}

// A rule on a journal source, narrowed by identifier, is notified with the
// entry's PRIORITY level and cursor id, and resumes by cursor: an entry
// logged while the agent was killed is notified once after it starts.
func TestAlertJournalResumesByCursor(t *testing.T) {
	jd := journaltest.Start(t)
	h := newHook(t)
	a := startJournalAgent(t, jd, "alerts:\n  - name: j-errors\n    sources: [j]\n    level: error\n    identifier: app\n    webhook: {url: \""+h.URL+"\"}\n")
	jd.Log(t, "other", 3, "not ours")
	jd.Log(t, "app", 6, "just info")
	jd.Log(t, "app", 3, "payment 17 failed")
	n := h.wait(t, 1, 5*time.Second, 500*time.Millisecond)
	if len(n) != 1 || n[0]["line"] != "payment 17 failed" || n[0]["level"] != "error" || !strings.HasPrefix(n[0]["id"].(string), "c") {
		t.Fatalf("%v", n)
	}
	waitFor(t, "sent", func() bool { return ruleStatus(t, a, "j-errors")["sent"] == 1.0 })
	a.restart(t, true, func() {
		jd.Log(t, "app", 2, "disk full while down")
		jd.Log(t, "app", 6, "info while down")
	})
	n = h.wait(t, 2, 10*time.Second, 2*time.Second)
	if len(n) != 2 || n[1]["line"] != "disk full while down" {
		t.Fatalf("after the restart: %v", n)
	}
}

// On a multi-line source a rule sees events, not lines: a stack trace is
// one notification whose line is the whole trace and whose group is its
// first line masked; a rule's q= on a frame of the trace finds the event;
// the same trace again (other numbers) is the same group.
func TestAlertMultilineTraceIsOneNotification(t *testing.T) {
	h := newHook(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendLines(t, path)
	a := start(t, fmt.Sprintf("sources:\n  - name: app\n    files: [%s/*.log]\n    multiline: {preset: java}\nalerts:\n"+
		"  - name: jpa\n    q: \"HibernateJpaDialect.java:276\"\n    webhook: {url: %q}\n", dir, h.URL))
	before, trace, after := springTrace(t)
	appendLines(t, path, before...)
	appendLines(t, path, trace...)
	appendLines(t, path, after...)
	n := h.wait(t, 1, 5*time.Second, 500*time.Millisecond)
	if len(n) != 1 || n[0]["line"] != strings.Join(trace, "\n") || n[0]["group"] != alertsPattern(trace[0]) {
		t.Fatalf("%v\nwant the group %q", n, alertsPattern(trace[0]))
	}
	// The same trace again, its numbers changed: the same group, counted.
	again := append([]string(nil), trace...)
	again[0] = strings.NewReplacer("0", "1", "2", "3", "4", "5").Replace(again[0])
	appendLines(t, path, again...)
	appendLines(t, path, after...)
	waitFor(t, "the repeat counted", func() bool { return ruleStatus(t, a, "jpa")["matches"] == 2.0 })
	if n := h.received(); len(n) != 1 {
		t.Fatalf("the repeat was notified: %v", n[1:])
	}
}

func alertsPattern(line string) string { return string(alerts.Pattern(nil, []byte(line))) }
