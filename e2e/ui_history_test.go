package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestUITimeRangeAndDownload drives the time range control (presets, then
// a custom range that ends), "load older", and the download button, in
// Chromium, against lines with timestamps 3 h, 30 min and 5 min old.
func TestUITimeRangeAndDownload(t *testing.T) {
	logf := filepath.Join(t.TempDir(), "app.log")
	now := time.Now().UTC().Truncate(time.Second)
	line := func(ago time.Duration, text string) string {
		return now.Add(-ago).Format(time.RFC3339) + " INFO " + text
	}
	ancient, half, recent := line(3*time.Hour, "ancient line"), line(30*time.Minute, "half hour line"), line(5*time.Minute, "five minutes line")
	appendLines(t, logf, ancient, half, recent)
	a := start(t, "sources:\n"+uiSource("app", logf))
	b := newBrowser(t)
	ctx := b.ctx
	do(t, ctx, chromedp.Navigate(a.url+"/?tail=1"))
	waitJS(t, ctx, "live", connState+` === "live"`, 30*time.Second)
	waitJS(t, ctx, "tail=1", logHas("five minutes line"), 5*time.Second)

	// Load older: the lines before the oldest shown, from disk, on top.
	do(t, ctx, chromedp.Click(chromedp.CSS("#older")))
	waitJS(t, ctx, "older lines", logHas("ancient line")+" && "+logHas("half hour line"), 5*time.Second)
	order := `[...document.querySelectorAll("#log .row")].map(r => r.textContent).join("|")`
	if got := js[string](t, ctx, order); strings.Count(got, "five minutes line") != 1 ||
		strings.Index(got, "ancient line") > strings.Index(got, "half hour line") || strings.Index(got, "half hour line") > strings.Index(got, "five minutes line") {
		t.Errorf("after load older: %q", got)
	}

	pick := func(v string) {
		t.Helper()
		js[bool](t, ctx, `(() => { const s = document.getElementById("f-range"); s.value = `+jsq(v)+`; s.dispatchEvent(new Event("change")); return true; })()`)
	}
	// Last 1 h: the two recent lines from disk, then live.
	pick("1h")
	waitJS(t, ctx, "range 1h", logHas("half hour line")+" && "+logHas("five minutes line")+" && !"+logHas("ancient line"), 10*time.Second)
	waitJS(t, ctx, "URL holds the range", `new URL(location.href).searchParams.get("range") === "1h"`, 5*time.Second)
	appendLines(t, logf, line(0, "live after the range"))
	waitJS(t, ctx, "then live", logHas("live after the range"), 5*time.Second)

	// The download button: what the view shows (last 1 h), from disk.
	js[bool](t, ctx, `(window.__dl = [], HTMLAnchorElement.prototype.click = function () { window.__dl.push(this.href); }, true)`)
	do(t, ctx, chromedp.Click(chromedp.CSS("#download")))
	waitJS(t, ctx, "a download", `window.__dl.length === 1`, 5*time.Second)
	got := js[string](t, ctx, `fetch(window.__dl[0]).then(async r => r.headers.get("Content-Disposition") + "\n" + await r.text())`)
	want := "attachment; filename=\"app.log\"\n" + half + "\n" + recent + "\n" + line(0, "live after the range") + "\n"
	if got != want {
		t.Errorf("download:\n%q\nwant\n%q", got, want)
	}

	// Last 15 min: one line.
	pick("15m")
	waitJS(t, ctx, "range 15m", logHas("five minutes line")+" && !"+logHas("half hour line"), 10*time.Second)

	// Custom: from 4 h to 2 h ago, which ends.
	local := func(ago time.Duration) string { return now.Add(-ago).Local().Format("2006-01-02T15:04:05") }
	js[bool](t, ctx, `(() => { const s = document.getElementById("f-range"); s.value = "custom"; s.dispatchEvent(new Event("change"));
		document.getElementById("f-since").value = `+jsq(local(4*time.Hour))+`;
		const u = document.getElementById("f-until"); u.value = `+jsq(local(2*time.Hour))+`; u.dispatchEvent(new Event("change")); return true; })()`)
	waitJS(t, ctx, "custom range", logHas("ancient line")+" && !"+logHas("five minutes line")+" && "+logHas("End of the range."), 10*time.Second)
	waitJS(t, ctx, "ended, not reconnecting", `document.getElementById("conn-text").textContent === "range shown"`, 5*time.Second)
	screenshot(t, ctx, "time-range.png")
}
