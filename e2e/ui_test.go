package e2e

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func uiSource(name, path string) string {
	return fmt.Sprintf("  - name: %s\n    files: [%s]\n", name, path)
}

// TestUILogView: live lines appear within a second; the filter bar (typed
// after the / shortcut) narrows the view on the server, and the URL it leaves
// reproduces the view in a new tab; space pauses, counts what waits, and
// resumes.
func TestUILogView(t *testing.T) {
	logf := filepath.Join(t.TempDir(), "app.log")
	appendLines(t, logf, "boot line one", "needle-old-1 <b>not bold</b>", "hay-old-1")
	a := start(t, "sources:\n"+uiSource("app", logf))
	b := newBrowser(t)
	ctx := b.ctx
	do(t, ctx, chromedp.Navigate(a.url+"/"))
	waitJS(t, ctx, "live", connState+` === "live"`, 30*time.Second)
	waitJS(t, ctx, "history from tail=", logHas("boot line one"), 5*time.Second)
	if js[bool](t, ctx, `document.querySelector("#log b") !== null`) {
		t.Error("a line's HTML was rendered as HTML")
	}
	// The icon the browser asked for by itself (a 404 there fails the
	// test through the browser's error log) is a real one.
	if got := js[string](t, ctx, `fetch("/favicon.ico").then(r => r.status + " " + r.headers.get("content-type"))`); got != "200 image/x-icon" {
		t.Errorf("GET /favicon.ico: %s", got)
	}

	// Latency: from the write to the text in the page.
	var worst time.Duration
	for i := range 5 {
		m := fmt.Sprintf("fresh-%d-%d", i, time.Now().UnixNano())
		t0 := time.Now()
		appendLines(t, logf, m)
		waitJS(t, ctx, "appended line", logHas(m), 5*time.Second)
		d := time.Since(t0)
		worst = max(worst, d)
		if d > time.Second {
			t.Errorf("line %d appeared after %s, want within 1s", i, d)
		}
	}
	t.Logf("append-to-visible latency: worst of 5 = %s", worst.Round(time.Millisecond))

	// Filter: "/" focuses the text filter, Enter applies it.
	do(t, ctx, chromedp.KeyEvent("/"))
	waitJS(t, ctx, "/ focuses the filter", `document.activeElement.id === "f-q"`, 5*time.Second)
	// CDP sends the "/" as a separate char event that preventDefault on
	// keydown cannot stop (a real keyboard's can): clear it.
	js[bool](t, ctx, `(document.getElementById("f-q").value = "", true)`)
	do(t, ctx, chromedp.KeyEvent("needle\r"))
	waitJS(t, ctx, "URL holds the filter", `new URL(location.href).searchParams.get("q") === "needle"`, 5*time.Second)
	onlyNeedles := `(() => { const rows = [...document.querySelectorAll("#log .row")].filter(r => !r.classList.contains("note"));
		return rows.length > 0 && rows.every(r => r.textContent.includes("needle")); })()`
	waitJS(t, ctx, "filtered history", logHas("needle-old-1")+" && "+onlyNeedles, 5*time.Second)
	appendLines(t, logf, "hay-new-1", "needle-new-1")
	waitJS(t, ctx, "filtered live line", logHas("needle-new-1"), 5*time.Second)
	if !js[bool](t, ctx, onlyNeedles) {
		t.Errorf("the filter let other lines through: %q", js[string](t, ctx, `document.getElementById("log").textContent`))
	}
	if !js[bool](t, ctx, `document.querySelector("#log mark") !== null && document.querySelector("#log mark").textContent.toLowerCase() === "needle"`) {
		t.Error("matches are not highlighted")
	}

	// The URL reproduces the view.
	href, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	tab := b.tab()
	do(t, tab, chromedp.Navigate(href))
	waitJS(t, tab, "second tab live", connState+` === "live"`, 30*time.Second)
	waitJS(t, tab, "second tab shows the filtered history", logHas("needle-old-1")+" && "+logHas("needle-new-1")+" && "+onlyNeedles, 5*time.Second)
	if v := js[string](t, tab, `document.getElementById("f-q").value`); v != "needle" {
		t.Errorf("filter input in the shared view = %q", v)
	}

	// Pause holds the view and counts what waits.
	js[bool](t, ctx, `(document.activeElement && document.activeElement.blur(), true)`)
	do(t, ctx, chromedp.KeyEvent(" "))
	waitJS(t, ctx, "paused", `document.getElementById("pause").getAttribute("aria-pressed") === "true"`, 5*time.Second)
	rows := js[int](t, ctx, `document.querySelectorAll("#log .row").length`)
	for i := 1; i <= 5; i++ {
		appendLines(t, logf, fmt.Sprintf("needle held-%d", i))
	}
	waitJS(t, ctx, "waiting count", `document.getElementById("waiting").textContent === "5 waiting"`, 5*time.Second)
	time.Sleep(300 * time.Millisecond)
	if js[bool](t, ctx, logHas("held-")) || js[int](t, ctx, `document.querySelectorAll("#log .row").length`) != rows {
		t.Error("the paused view changed")
	}
	do(t, ctx, chromedp.KeyEvent(" "))
	waitJS(t, ctx, "resumed", logHas("needle held-5")+` && document.getElementById("waiting").textContent === ""`, 5*time.Second)
}

// TestUIReconnect: an agent restarted on the same port shows reconnecting,
// then live again; the merged id resumes exactly (no gap marker), and the
// lines written while it was down arrive, each once.
func TestUIReconnect(t *testing.T) {
	logf := filepath.Join(t.TempDir(), "app.log")
	appendLines(t, logf, "first run line")
	cfg := fmt.Sprintf("listen: 127.0.0.1:%d\nsources:\n%s", freePort(t), uiSource("app", logf))
	a := start(t, cfg)
	b := newBrowser(t)
	// A retry that falls while the agent is down is refused: that is the
	// outage this test makes. Any other error still fails.
	b.allow("net::ERR_CONNECTION_REFUSED")
	ctx := b.ctx
	do(t, ctx, chromedp.Navigate(a.url+"/"))
	waitJS(t, ctx, "live", connState+` === "live"`, 30*time.Second)
	appendLines(t, logf, "before restart")
	waitJS(t, ctx, "line", logHas("before restart"), 5*time.Second)

	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.done:
	case <-time.After(15 * time.Second):
		t.Fatal("agent did not stop")
	}
	waitJS(t, ctx, "reconnecting shown", connState+` === "reconnecting"`, 10*time.Second)
	appendLines(t, logf, "written while down")

	a2 := startArgs(t, a.cfg, "-config", a.cfg)
	if a2.url != a.url {
		t.Fatalf("restarted on %s, want %s", a2.url, a.url)
	}
	waitJS(t, ctx, "live again", connState+` === "live"`, 60*time.Second)
	waitJS(t, ctx, "line written while down", logHas("written while down"), 10*time.Second)
	appendLines(t, logf, "after restart")
	waitJS(t, ctx, "line after restart", logHas("after restart"), 5*time.Second)
	if js[bool](t, ctx, `document.querySelector("#log .row.gap") !== null`) {
		t.Errorf("a gap marker after an exact resume: %q", js[string](t, ctx, `document.querySelector("#log .row.gap").textContent`))
	}
	// Nothing is sent twice (the UI no longer hides repeats).
	for _, l := range []string{"first run line", "before restart", "written while down"} {
		n := js[int](t, ctx, `[...document.querySelectorAll("#log .row")].filter(r => r.textContent.includes(`+jsq(l)+`)).length`)
		if n != 1 {
			t.Errorf("%q shown %d times, want once", l, n)
		}
	}
}

// TestUIMetricsAndScreenshots: the charts draw the history from tail= at
// once and then update; JSON lines expand; ANSI and HTML stay text. Saves the
// README's screenshots (light and dark).
func TestUIMetricsAndScreenshots(t *testing.T) {
	dir := t.TempDir()
	appf, webf := filepath.Join(dir, "app.log"), filepath.Join(dir, "web.log")
	now := time.Now().UTC()
	var app, web []string
	for i := range 40 {
		ts := now.Add(time.Duration(i-40) * time.Second).Format(time.RFC3339)
		switch {
		case i%9 == 4:
			app = append(app, fmt.Sprintf("%s WARN payment latency %dms above budget order=%d", ts, 800+i*7, 1000+i))
		case i%13 == 6:
			app = append(app, fmt.Sprintf("%s ERROR charge failed order=%d: upstream timeout", ts, 1000+i))
		case i%5 == 2:
			app = append(app, fmt.Sprintf("%s DEBUG cache hit key=user:%d", ts, i))
		default:
			app = append(app, fmt.Sprintf("%s INFO order %d accepted amount=%d.%02d EUR", ts, 1000+i, 10+i, i))
		}
		if i%4 == 0 {
			web = append(web, fmt.Sprintf(`{"time":%q,"level":"info","msg":"GET /api/orders","status":200,"ms":%d,"ua":"<script>x</script>"}`, ts, 3+i))
		}
		if i%10 == 3 {
			web = append(web, fmt.Sprintf("\x1b[31m[error]\x1b[0m worker %d: connection reset by peer", i))
		}
	}
	appendLines(t, appf, app...)
	appendLines(t, webf, web...)
	a := start(t, "sources:\n"+uiSource("app", appf)+uiSource("web", webf)+"  - name: host\n    metrics: {interval: 300ms}\n")
	b := newBrowser(t)
	ctx := b.ctx

	// Let some history build up, then open the metrics view.
	time.Sleep(3 * time.Second)
	do(t, ctx, chromedp.Navigate(a.url+"/?view=metrics"))
	waitJS(t, ctx, "live", connState+` === "live"`, 30*time.Second)
	for _, c := range []string{"cpu", "mem", "load", "net", "disk"} {
		waitJS(t, ctx, c+" chart drawn with history", `+document.getElementById("chart-`+c+`").dataset.points >= 5`, 10*time.Second)
	}
	p1 := js[int](t, ctx, `+document.getElementById("chart-cpu").dataset.points`)
	waitJS(t, ctx, "charts update", fmt.Sprintf(`+document.getElementById("chart-cpu").dataset.points > %d && +document.getElementById("chart-net").dataset.points > %d`, p1+2, p1+2), 10*time.Second)
	for _, c := range []string{"cpu", "mem", "load"} {
		if v := js[string](t, ctx, `document.getElementById("now-`+c+`").textContent`); v == "" || v == "–" {
			t.Errorf("chart %s shows no current value", c)
		}
	}
	colorScheme(t, ctx, "light")
	time.Sleep(500 * time.Millisecond)
	screenshot(t, ctx, "metrics-light.png")
	colorScheme(t, ctx, "dark")
	time.Sleep(500 * time.Millisecond)
	screenshot(t, ctx, "metrics-dark.png")

	// The log view over both file sources, merged.
	colorScheme(t, ctx, "light")
	do(t, ctx, chromedp.Navigate(a.url+"/?sources=app,web&tail=100"))
	waitJS(t, ctx, "log live", connState+` === "live"`, 30*time.Second)
	waitJS(t, ctx, "merged history", logHas("accepted")+" && "+logHas("GET /api/orders"), 5*time.Second)
	if js[bool](t, ctx, logHas("\x1b")+` || document.querySelector("#log script") !== null`) {
		t.Error("ANSI escapes or HTML leaked into the page")
	}
	if !js[bool](t, ctx, logHas("[error] worker")) {
		t.Error("ANSI line not shown as text")
	}
	// Select a JSON line and pretty-print it.
	js[bool](t, ctx, `(() => { const r = [...document.querySelectorAll("#log .row")].reverse().find(r => r.textContent.includes("GET /api/orders")); r.click(); return true; })()`)
	do(t, ctx, chromedp.Click(chromedp.CSS("#act-json")))
	waitJS(t, ctx, "pretty JSON", `document.querySelector("#log pre.json") && document.querySelector("#log pre.json").textContent.includes('\n  "status": 200')`, 5*time.Second)
	appendLines(t, appf, now.Format(time.RFC3339)+" INFO screenshot taken")
	waitJS(t, ctx, "live line", logHas("screenshot taken"), 5*time.Second)
	screenshot(t, ctx, "logs-light.png")
	colorScheme(t, ctx, "dark")
	time.Sleep(300 * time.Millisecond)
	screenshot(t, ctx, "logs-dark.png")
}

// TestUIThroughput: 2,000 lines/s for 10 s. The DOM stays bounded, the page
// keeps answering, and main-thread long tasks stay short.
func TestUIThroughput(t *testing.T) {
	logf := filepath.Join(t.TempDir(), "app.log")
	appendLines(t, logf, "start")
	a := start(t, "sources:\n"+uiSource("app", logf))
	b := newBrowser(t)
	ctx := b.ctx
	do(t, ctx, chromedp.Navigate(a.url+"/"))
	waitJS(t, ctx, "live", connState+` === "live"`, 30*time.Second)
	js[bool](t, ctx, `(() => { window.__lt = [];
		new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__lt.push(e.duration); }).observe({ type: "longtask" });
		return true; })()`)

	f, err := os.OpenFile(logf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 64<<10)
	const perSec, secs, tick = 2000, 10, 20 * time.Millisecond
	perTick := perSec * int(tick) / int(time.Second)
	total := perSec * secs
	done := make(chan struct{})
	var worstRTT time.Duration
	go func() {
		defer close(done)
		tk := time.NewTicker(tick)
		defer tk.Stop()
		pad := strings.Repeat("x", 60)
		for n := 0; n < total; {
			<-tk.C
			for range perTick {
				n++
				lvl := [...]string{"INFO", "INFO", "INFO", "WARN", "ERROR", "DEBUG"}[n%6]
				fmt.Fprintf(w, "%s burst line %06d %s\n", lvl, n, pad)
			}
			w.Flush()
		}
	}()
	// While it runs, the page must answer an evaluation promptly.
	probe := time.NewTicker(500 * time.Millisecond)
loop:
	for {
		select {
		case <-done:
			break loop
		case <-probe.C:
			t0 := time.Now()
			js[bool](t, ctx, `new Promise((r) => setTimeout(() => r(true), 0))`)
			worstRTT = max(worstRTT, time.Since(t0))
		}
	}
	probe.Stop()
	last := fmt.Sprintf("burst line %06d", total)
	took := waitJS(t, ctx, "last burst line", logHas(last), 30*time.Second)

	type stats struct {
		Rows, Count, Max, Sum, Blocking float64
	}
	s := js[stats](t, ctx, `(() => { const lt = window.__lt;
		return { Rows: document.querySelectorAll("#log .row").length,
		  Count: lt.length, Max: Math.max(0, ...lt), Sum: lt.reduce((a, b) => a + b, 0),
		  Blocking: lt.reduce((a, b) => a + Math.max(0, b - 50), 0) }; })()`)
	received := js[string](t, ctx, `document.getElementById("count").textContent`)
	t.Logf("%d lines in %ds: rows in DOM %v (%s); long tasks: %v, longest %.0f ms, total %.0f ms, blocking time %.0f ms over 10 s; worst evaluation round trip %s; last line visible %s after the writer finished",
		total, secs, s.Rows, received, s.Count, s.Max, s.Sum, s.Blocking, worstRTT.Round(time.Millisecond), took.Round(time.Millisecond))
	if s.Rows > 3010 {
		t.Errorf("DOM holds %v rows, want at most about 3000", s.Rows)
	}
	// Measured 120-180 ms at most on 2 quiet cores with the -race agent
	// writing alongside, 354 ms with a load benchmark and fuzzers on the
	// same cores. The bounds catch a page that freezes (an unbounded DOM
	// takes seconds per frame), not a busy machine.
	if s.Max > 1000 {
		t.Errorf("longest main-thread task %.0f ms, want at most 1 s", s.Max)
	}
	if s.Blocking > 5000 {
		t.Errorf("total blocking time %.0f ms over 10 s, want under half of it", s.Blocking)
	}
	if worstRTT > 2*time.Second {
		t.Errorf("the page took %s to answer during the burst", worstRTT)
	}
}

// TestUITokenPrompt: with auth on, the page asks for a token, refuses a
// wrong one, and with a right one streams the sources the token grants.
func TestUITokenPrompt(t *testing.T) {
	a, pa := authAgent(t)
	b := newBrowser(t)
	// The page, /api/sources and the wrong token answer 401 on purpose:
	// that is how the page knows to ask. Any other error still fails.
	b.allow("HTTP 401 for ", "status of 401 (Unauthorized)")
	ctx := b.ctx
	do(t, ctx, chromedp.Navigate(a.url+"/"))
	waitJS(t, ctx, "token prompt", `document.getElementById("token-dialog").open`, 30*time.Second)
	do(t, ctx, chromedp.SendKeys("#token-input", wrongToken), chromedp.Click("#token-ok"))
	waitJS(t, ctx, "wrong token refused", `!document.getElementById("token-error").hidden`, 10*time.Second)
	js[bool](t, ctx, `(document.getElementById("token-input").value = "", true)`)
	do(t, ctx, chromedp.SendKeys("#token-input", aliceToken), chromedp.Click("#token-ok"))
	waitJS(t, ctx, "live after sign-in", connState+` === "live"`, 30*time.Second)
	appendLines(t, pa, "granted line")
	waitJS(t, ctx, "granted source streams", logHas("granted line"), 10*time.Second)
	if js[bool](t, ctx, `sessionStorage.getItem("edgetail.token") === null`) {
		t.Error("the token is not kept in sessionStorage")
	}
}
