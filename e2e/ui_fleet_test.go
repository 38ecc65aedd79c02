package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// startHubOn runs `edgetail hub` on the address listen, so that a test can
// start it again there.
func startHubOn(t *testing.T, natsURL, listen string) *agent {
	t.Helper()
	return startHubArgs(t, "", "-listen", listen, "-nats", natsURL)
}

// startHubArgs runs `edgetail hub` with args and waits until it reaches
// NATS, asking /readyz with token when it is not empty (a hub with auth).
func startHubArgs(t *testing.T, token string, args ...string) *agent {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"hub"}, args...)...)
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	h := launch(t, cmd, "", nil)
	waitFor(t, "hub ready", func() bool {
		req, _ := http.NewRequest(http.MethodGet, h.url+"/readyz", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return h
}

// fleetRowIs is a JavaScript function of a row: it shows host and source
// in their columns and line as its text.
func fleetRowIs(host, source, line string) string {
	return `((r) => {
		const h = r.querySelector(".h"), s = r.querySelector(".s");
		return !!h && !!s && h.textContent === ` + jsq(host) + ` && s.textContent === ` + jsq(source) + ` &&
			[...r.childNodes].filter((n) => n.nodeType === 3 || n.nodeName === "MARK").map((n) => n.textContent).join("") === ` + jsq(line) + `;
	})`
}

// fleetRows is a JavaScript expression: the number of rows of the fleet
// page's log that show line from host/source.
func fleetRows(host, source, line string) string {
	return `[...document.querySelectorAll("#log .row")].filter(` + fleetRowIs(host, source, line) + `).length`
}

// fleetRow is a JavaScript expression: the first row that shows line from
// host/source.
func fleetRow(host, source, line string) string {
	return `[...document.querySelectorAll("#log .row")].find(` + fleetRowIs(host, source, line) + `)`
}

// fleetHas is a JavaScript expression: the fleet page shows line from
// host/source.
func fleetHas(host, source, line string) string { return "(" + fleetRows(host, source, line) + ") > 0" }

// TestUIFleetPage: the hub's page streams the fleet's lines. A hub
// restarted on the same address shows reconnecting, then live again, and
// the page resumes after the last line it showed (the lines written
// meanwhile arrive, each once, with no gap). A view opened while NATS is
// away shows the hub's one-line reason of its 503 while it retries, and
// goes live once NATS is back. A filter the hub refuses (400) shows the
// hub's reason and is not retried.
func TestUIFleetPage(t *testing.T) {
	s := newResumeSetup(t)
	s.startAgent(t)
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	hub := startHubOn(t, s.nats.url(), listen)
	b := newBrowser(t)
	b.allow(
		// Retries that fall while the hub is down, the 503s while NATS is
		// away and the 400 of the bad regex are what this test makes.
		"net::ERR_CONNECTION_REFUSED",
		"HTTP 503 for ", "status of 503", "HTTP 400 for ", "status of 400",
	)
	ctx := b.ctx
	do(t, ctx, chromedp.Navigate(hub.url+"/"))
	waitJS(t, ctx, "live", connState+` === "live"`, 30*time.Second)
	s.write(t, "before", 3)
	waitJS(t, ctx, "lines", fleetHas("web-1", "app", "before 2"), 10*time.Second)
	do(t, ctx, chromedp.Reload())
	waitJS(t, ctx, "history from tail=", connState+` === "live" && `+fleetHas("web-1", "app", "before 2"), 30*time.Second)
	s.write(t, "live", 1)
	waitJS(t, ctx, "live line", fleetHas("web-1", "app", "live 0"), 10*time.Second)

	// The hub restarts: backoff, then resume with Last-Event-ID.
	stopAgent(t, hub, syscall.SIGTERM)
	waitJS(t, ctx, "reconnecting shown", connState+` === "reconnecting"`, 10*time.Second)
	s.write(t, "down", 3)
	hub = startHubOn(t, s.nats.url(), listen)
	waitJS(t, ctx, "live again", connState+` === "live"`, 60*time.Second)
	waitJS(t, ctx, "lines written while the hub was down", fleetHas("web-1", "app", "down 2"), 30*time.Second)
	s.write(t, "after", 1)
	waitJS(t, ctx, "line after the restart", fleetHas("web-1", "app", "after 0"), 10*time.Second)
	once := func(lines ...string) {
		t.Helper()
		for _, l := range lines {
			n := js[int](t, ctx, fleetRows("web-1", "app", l))
			if n != 1 {
				t.Errorf("%q shown %d times, want once", l, n)
			}
		}
	}
	once("before 0", "before 2", "live 0", "down 0", "down 2", "after 0")
	if js[bool](t, ctx, logHas("lines missed")) {
		t.Errorf("a gap after an exact resume: %q", js[string](t, ctx, `document.getElementById("log").textContent`))
	}

	// NATS away: a new view (sources=app) is refused with the hub's reason.
	errText := `document.getElementById("filter-error").textContent`
	s.nats.stop()
	js[bool](t, ctx, `(document.getElementById("f-sources").value = "app", true)`)
	do(t, ctx, chromedp.Click(chromedp.CSS(`#filters button[type=submit]`)))
	waitJS(t, ctx, "the hub's reason shown", `!document.getElementById("filter-error").hidden && `+errText+`.includes("503") && `+errText+`.includes("not reachable")`, 30*time.Second)
	t.Logf("shown while NATS is away: %q", js[string](t, ctx, errText))
	if st := js[string](t, ctx, connState); st != "reconnecting" && st != "connecting" {
		t.Errorf("state while NATS is away: %s", st)
	}
	s.write(t, "away", 1)
	s.nats.start()
	waitJS(t, ctx, "live once NATS is back", connState+` === "live" && document.getElementById("filter-error").hidden`, 60*time.Second)
	waitJS(t, ctx, "the view's history", fleetHas("web-1", "app", "away 0"), 30*time.Second)
	once("before 0", "after 0", "away 0")

	// A bad regex: refused, with the hub's reason, and not retried.
	js[bool](t, ctx, `(document.getElementById("f-re").value = "(", true)`)
	do(t, ctx, chromedp.Click(chromedp.CSS(`#filters button[type=submit]`)))
	waitJS(t, ctx, "refusal shown", errText+`.includes("(400)") && document.getElementById("conn-text").textContent === "refused"`, 10*time.Second)
	t.Logf("shown for a bad regex: %q", js[string](t, ctx, errText))
}
