package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// timelineLines writes 59 minutes of lines ending a minute ago: a few to a
// few dozen a minute, of every level, with a burst of errors 18 minutes
// ago; it returns each line's text and time.
func timelineLines(t *testing.T, path string, now time.Time) ([]string, []time.Time) {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 11))
	var lines []string
	var times []time.Time
	words := []string{"INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR", "note"}
	for m := 59; m >= 1; m-- {
		n := 3 + r.IntN(20)
		if m == 18 || m == 17 {
			n = 60
		}
		minute := now.Truncate(time.Minute).Add(-time.Duration(m) * time.Minute)
		for i := range n {
			at := minute.Add(time.Duration(i) * time.Minute / time.Duration(n))
			w := words[r.IntN(len(words))]
			if m == 18 || m == 17 {
				w = "ERROR"
			}
			lines = append(lines, fmt.Sprintf("%s %s request %d of minute -%d", at.Format("2006-01-02T15:04:05.000Z"), w, i, m))
			times = append(times, at)
		}
	}
	appendLines(t, path, lines...)
	return lines, times
}

// TestUITimeline: the chart above the log view has bars for the last hour
// (live), counts a live line within 2 s without asking the agent, shows a
// bucket's counts on hover; a drag across it sets since= and until= in the
// URL and the log view shows exactly that window, oldest first, then ends;
// a click on a bar sets its bucket. Screenshots of both themes.
func TestUITimeline(t *testing.T) {
	logf := filepath.Join(t.TempDir(), "app.log")
	now := time.Now().UTC()
	lines, times := timelineLines(t, logf, now)
	a := start(t, "sources:\n"+uiSource("app", logf))
	b := newBrowser(t)
	ctx := b.ctx
	do(t, ctx, chromedp.EmulateViewport(1280, 720), chromedp.Navigate(a.url+"/"))
	waitJS(t, ctx, "live", connState+` === "live"`, 30*time.Second)
	canvas := `document.getElementById("tl-canvas")`
	waitJS(t, ctx, "bars", `+`+canvas+`.dataset.bars > 0`, 10*time.Second)
	if got := js[string](t, ctx, canvas+`.dataset.total`); got != fmt.Sprint(len(lines)) {
		t.Errorf("the chart counts %s events, want the %d of the last hour", got, len(lines))
	}
	if got := js[string](t, ctx, canvas+`.dataset.bars`); got != "59" {
		t.Errorf("%s bars with events, want 59 (one a minute)", got)
	}
	inHour := len(lines)

	// A live line is counted from the stream, within 2 s.
	counts := 0
	js[bool](t, ctx, `(window.__counts = 0, window.__fetch = window.fetch, window.fetch = (u, o) => { if (String(u).includes("/api/counts")) window.__counts++; return window.__fetch(u, o); }, true)`)
	appendLines(t, logf, time.Now().UTC().Format(time.RFC3339Nano)+" ERROR live one")
	d := waitJS(t, ctx, "the live line counted", canvas+`.dataset.total === "`+fmt.Sprint(inHour+1)+`"`, 2*time.Second)
	t.Logf("a live line reached the chart in %v", d.Round(time.Millisecond))
	if n := js[int](t, ctx, `window.__counts`); n != counts {
		t.Errorf("the page asked for counts %d times for one live line", n)
	}

	// Hover shows a bucket's counts.
	x := func(i int) float64 {
		return js[float64](t, ctx, `(() => { const r = `+canvas+`.getBoundingClientRect(), n = +`+canvas+`.dataset.buckets;
			return r.left + 46 + (`+fmt.Sprint(i)+` + 0.5) * (r.width - 54) / n; })()`)
	}
	y := js[float64](t, ctx, `(() => { const r = `+canvas+`.getBoundingClientRect(); return r.top + r.height / 2; })()`)
	n := js[int](t, ctx, `+`+canvas+`.dataset.buckets`)
	burst := n - 1 - 18 // the bucket of the burst, 18 minutes before the current one
	do(t, ctx, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x(burst), y))
	waitJS(t, ctx, "the tooltip", `!document.getElementById("tl-tip").hidden && document.getElementById("tl-tip").textContent.includes("error 60")`, 2*time.Second)
	colorScheme(t, ctx, "light")
	screenshot(t, ctx, "timeline-light.png")
	colorScheme(t, ctx, "dark")
	time.Sleep(300 * time.Millisecond) // a frame to redraw in the dark palette
	screenshot(t, ctx, "timeline-dark.png")
	colorScheme(t, ctx, "light")

	// Drag from 30 to 20 minutes back: the range of those buckets.
	from, to := n-1-30, n-1-20
	do(t, ctx,
		chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, x(from), y, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x(from+3), y, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x(to), y, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, x(to), y, chromedp.ButtonLeft),
	)
	waitJS(t, ctx, "since and until in the URL", `(p => p.get("range") === "custom" && p.get("since") && p.get("until"))(new URL(location.href).searchParams)`, 5*time.Second)
	since, until := rangeOf(t, ctx)
	wantSince := now.Truncate(time.Minute).Add(-30 * time.Minute)
	if !since.Equal(wantSince) || !until.Equal(wantSince.Add(11*time.Minute-time.Millisecond)) {
		t.Errorf("range %s .. %s, want %s .. 11 minutes later less 1 ms", since, until, wantSince)
	}
	waitJS(t, ctx, "the range shown", logHas("End of the range."), 10*time.Second)
	shown := js[[]string](t, ctx, `[...document.querySelectorAll("#log .row")].filter(r => r._ev).map(r => r._ev.line)`)
	var want []string
	for i, at := range times {
		if !at.Before(since) && !at.After(until) {
			want = append(want, lines[i])
		}
	}
	if strings.Join(shown, "\n") != strings.Join(want, "\n") {
		t.Errorf("the view shows %d lines, want the %d of the range\nfirst %q, want %q", len(shown), len(want), head(shown), head(want))
	}
	// The chart now shows that window: 11 one-minute bars.
	waitJS(t, ctx, "the chart of the range", canvas+`.dataset.total === "`+fmt.Sprint(len(want))+`"`, 5*time.Second)

	// A click on a bar: its bucket (10 s bars for these 11 minutes).
	n = js[int](t, ctx, `+`+canvas+`.dataset.buckets`)
	step := time.Duration(js[int64](t, ctx, `+`+canvas+`.dataset.step`)) * time.Millisecond
	if step != 10*time.Second || n != 66 {
		t.Errorf("the range's chart: %d bars of %v, want 66 of 10s", n, step)
	}
	do(t, ctx,
		chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, x(n-1), y, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, x(n-1), y, chromedp.ButtonLeft),
	)
	last := wantSince.Add(time.Duration(n-1) * step)
	waitJS(t, ctx, "the clicked bucket", `new Date(new URL(location.href).searchParams.get("since")).getTime() === `+fmt.Sprint(last.UnixMilli()), 5*time.Second)
	if s, u := rangeOf(t, ctx); !s.Equal(last) || !u.Equal(last.Add(step-time.Millisecond)) {
		t.Errorf("clicked bar: %s .. %s", s, u)
	}
}

// rangeOf reads the page URL's since and until (local datetime values, as
// the page reads them) as times.
func rangeOf(t *testing.T, ctx context.Context) (time.Time, time.Time) {
	t.Helper()
	ms := js[[]int64](t, ctx, `(p => [new Date(p.get("since")).getTime(), new Date(p.get("until")).getTime()])(new URL(location.href).searchParams)`)
	return time.UnixMilli(ms[0]).UTC(), time.UnixMilli(ms[1]).UTC()
}
