package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestUIMultilineEventIsOneRow: a trace is one row of the log view, its
// first line shown and the rest folded (not even in the page); a click on
// its toggle unfolds it, e on the selected row folds it again, and c copies
// the whole event. A q= match in the folded lines marks the toggle.
func TestUIMultilineEventIsOneRow(t *testing.T) {
	dir := t.TempDir()
	logf := filepath.Join(dir, "app.log")
	appendLines(t, logf)
	a := start(t, fmt.Sprintf("sources:\n  - name: app\n    files: [%s]\n    multiline: {preset: java}\n", logf))
	before, trace, after := springTrace(t)
	b := newBrowser(t)
	ctx := b.ctx
	do(t, ctx, chromedp.Navigate(a.url+"/?q=PSQLException"))
	waitJS(t, ctx, "live", connState+` === "live"`, 30*time.Second)
	appendLines(t, logf, before...)
	appendLines(t, logf, trace...)
	appendLines(t, logf, after...)
	waitJS(t, ctx, "the trace's row", logHas(trace[0]), 10*time.Second)
	// With q=, only the trace matches: one row.
	rows := js[int](t, ctx, `document.querySelectorAll("#log .row:not(.note)").length`)
	if rows != 1 {
		t.Fatalf("%d rows for one event", rows)
	}
	row := `document.querySelector("#log .row.multi")`
	if js[bool](t, ctx, logHas("HibernateJpaDialect")) {
		t.Error("the folded lines are shown")
	}
	if got := js[string](t, ctx, row+`.querySelector("button.fold").textContent`); got != fmt.Sprintf("▸ %d", len(trace)-1) {
		t.Errorf("toggle %q", got)
	}
	if !js[bool](t, ctx, row+`.querySelector("button.fold").classList.contains("hit")`) {
		t.Error("the toggle does not say the folded lines hold the match")
	}
	// Click unfolds (and selects the row).
	do(t, ctx, chromedp.Click(chromedp.CSS(`#log .row.multi button.fold`)))
	waitJS(t, ctx, "unfolded", row+`.querySelector(".more") && !`+row+`.querySelector(".more").hidden && `+logHas("HibernateJpaDialect.java:276"), 5*time.Second)
	if got := js[string](t, ctx, row+`.querySelector(".more").textContent`); got != strings.Join(trace[1:], "\n") {
		t.Errorf("unfolded lines %q", got)
	}
	if !js[bool](t, ctx, row+`.querySelector(".more mark") !== null`) {
		t.Error("the match in the unfolded lines is not highlighted")
	}
	waitJS(t, ctx, "selected", row+`.classList.contains("sel")`, 5*time.Second)
	screenshot(t, ctx, "multiline.png")
	// e folds it again.
	do(t, ctx, chromedp.KeyEvent("e"))
	waitJS(t, ctx, "folded by e", row+`.querySelector(".more").hidden && `+row+`.querySelector("button.fold").getAttribute("aria-expanded") === "false"`, 5*time.Second)
	// c copies the whole event, folded or not.
	js[bool](t, ctx, `(Object.defineProperty(navigator, "clipboard", {value: {writeText: async (s) => { window.__copied = s; }}}), true)`)
	if got := js[string](t, ctx, `document.getElementById("act-copy").textContent`); got != "Copy event" {
		t.Errorf("copy button %q", got)
	}
	do(t, ctx, chromedp.KeyEvent("c"))
	waitJS(t, ctx, "copied", `typeof window.__copied === "string"`, 5*time.Second)
	if got := js[string](t, ctx, `window.__copied`); got != strings.Join(trace, "\n") {
		t.Errorf("copied %q", got)
	}
}
