package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go"
)

// fleetViewSetup is two agents (web-1 with source app, db-1 with source
// postgres) publishing to a nats-server, and a hub with auth: opsToken
// reads every host, webToken only web-*.
type fleetViewSetup struct {
	nats          *natsProc
	hub           *agent
	webLog, dbLog string
}

const webToken = "web-token-0123456789abcdef0123456789"

func newFleetViewSetup(t *testing.T) *fleetViewSetup {
	t.Helper()
	s := &fleetViewSetup{nats: newNATSProc(t)}
	dir := t.TempDir()
	s.webLog, s.dbLog = filepath.Join(dir, "app.log"), filepath.Join(dir, "postgres.log")
	for _, a := range []struct{ host, source, path string }{{"web-1", "app", s.webLog}, {"db-1", "postgres", s.dbLog}} {
		if err := os.WriteFile(a.path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		start(t, fmt.Sprintf("sources:\n  - name: %s\n    files: [%s]\n    publish: true\nfleet:\n  nats: [%s]\n  host: %s\n",
			a.source, a.path, s.nats.url(), a.host))
	}
	cfg := filepath.Join(dir, "hub.yaml")
	err := os.WriteFile(cfg, []byte(fmt.Sprintf(`listen: 127.0.0.1:0
fleet:
  nats: [%s]
auth:
  tokens:
    - name: ops
      token_sha256: %q
      sources: ["*"]
    - name: web
      token_sha256: %q
      sources: ["*"]
      hosts: ["web-*"]
`, s.nats.url(), sha(opsToken), sha(webToken))), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	s.hub = startHubArgs(t, opsToken, "-config", cfg)
	return s
}

// publishGap publishes an agent's gap marker as an agent's publisher
// does (subject EDGETAIL.<host>.<source>.gap, host and source in headers).
func (s *fleetViewSetup) publishGap(t *testing.T, host, source string, missed int) {
	t.Helper()
	nc, err := nats.Connect(s.nats.url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	m := nats.NewMsg("EDGETAIL." + host + "." + source + ".gap")
	m.Header.Set("Edgetail-Host", host)
	m.Header.Set("Edgetail-Source", source)
	m.Data = fmt.Appendf(nil, `{"missed":%d}`, missed)
	if err := nc.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// bearerAll has the tab send token with every request, as a signed-in
// browser's cookie would (no 401 on the way).
func bearerAll(t *testing.T, b *browser, token string) {
	t.Helper()
	_, err := chromedp.Call(b.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Authorization": "Bearer " + token},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// logShare is a JavaScript expression: the share of the window's height
// the log area takes.
const logShare = `document.getElementById("log").getBoundingClientRect().height / window.innerHeight`

// TestUIFleetView: the hub's page is the agent's log view with hosts. At
// 1280x720 and 1920x1080 the log takes most of the window; an ERROR line
// has the error style; the host column shows each host in its colour, the
// one its picker entry has; an agent's gap marker shows where it came,
// with its host, source and count; a JSON line expands; Download saves
// what the view holds; a host not heard from is marked in the picker;
// hosts= in the URL is applied on load; pause holds new lines and resume
// shows them; a host the token does not grant gets the hub's 403 reason
// on the page. No console error and no failed request but that 403.
// Saves fleet-light.png and fleet-dark.png.
func TestUIFleetView(t *testing.T) {
	s := newFleetViewSetup(t)
	now := time.Now().UTC()
	ts := func(ago time.Duration) string { return now.Add(-ago).Format(time.RFC3339) }
	var web, db []string
	for i := range 24 {
		ago := time.Duration(60-2*i) * time.Second
		switch {
		case i%7 == 3:
			web = append(web, fmt.Sprintf("%s WARN payment latency %dms above budget order=%d", ts(ago), 800+i*7, 1000+i))
		case i%11 == 5:
			web = append(web, fmt.Sprintf("%s ERROR charge failed order=%d: upstream timeout", ts(ago), 1000+i))
		case i%5 == 2:
			web = append(web, fmt.Sprintf(`{"time":%q,"level":"info","msg":"GET /api/orders","status":200,"ms":%d}`, ts(ago), 3+i))
		default:
			web = append(web, fmt.Sprintf("%s INFO order %d accepted amount=%d.%02d EUR", ts(ago), 1000+i, 10+i, i))
		}
		if i%3 == 0 {
			db = append(db, fmt.Sprintf("%s LOG:  checkpoint complete: wrote %d buffers (%d.%d%%)", ts(ago), 40+i, i/4, i%10))
		}
		if i == 13 {
			db = append(db, fmt.Sprintf("%s ERROR:  deadlock detected on relation orders", ts(ago)))
		}
	}
	errLine := web[16] // i == 16: 16%11 == 5
	if !strings.Contains(errLine, "ERROR") {
		t.Fatalf("no ERROR line at 16: %q", errLine)
	}

	b := newBrowser(t)
	// The 403 of the last step is what the test provokes; nothing else
	// may fail.
	b.allow("HTTP 403 for "+s.hub.url+"/stream?hosts=db-1&", "status of 403 (Forbidden)")
	bearerAll(t, b, opsToken)
	ctx := b.ctx
	do(t, ctx, chromedp.EmulateViewport(1280, 720))
	colorScheme(t, ctx, "light")
	do(t, ctx, chromedp.Navigate(s.hub.url+"/"))
	waitJS(t, ctx, "live", connState+` === "live"`, 30*time.Second)
	// The hosts log in turns, a few lines each, each turn seen before the
	// next: the view interleaves them.
	for k := range 4 {
		wk, dk := web[k*len(web)/4:(k+1)*len(web)/4], db[k*len(db)/4:(k+1)*len(db)/4]
		appendLines(t, s.webLog, wk...)
		waitJS(t, ctx, "web-1's lines", fleetHas("web-1", "app", wk[len(wk)-1]), 30*time.Second)
		appendLines(t, s.dbLog, dk...)
		waitJS(t, ctx, "db-1's lines", fleetHas("db-1", "postgres", dk[len(dk)-1]), 30*time.Second)
	}
	waitJS(t, ctx, "both hosts in the picker", `document.querySelectorAll("#host-list li[data-host]").length === 2`, 10*time.Second)

	// The log fills the window.
	for _, size := range [][2]int64{{1280, 720}, {1920, 1080}} {
		do(t, ctx, chromedp.EmulateViewport(size[0], size[1]))
		waitJS(t, ctx, "resized", fmt.Sprintf("window.innerWidth === %d && window.innerHeight === %d", size[0], size[1]), 5*time.Second)
		share := js[float64](t, ctx, logShare)
		t.Logf("at %dx%d the log is %.0f%% of the window's height", size[0], size[1], 100*share)
		if share < 0.6 {
			t.Errorf("at %dx%d the log is %.0f%% of the window's height, want most of it", size[0], size[1], 100*share)
		}
	}
	do(t, ctx, chromedp.EmulateViewport(1280, 720))

	// Level colours: the ERROR line has the error style (the --lv-error
	// colour, bold), an INFO line not.
	styleOf := func(row string) string {
		return `(() => { const r = ` + row + `; if (!r) return "none";
			const probe = document.createElement("span"); probe.style.color = "var(--lv-error)"; document.body.appendChild(probe);
			const want = getComputedStyle(probe).color; probe.remove();
			const cs = getComputedStyle(r);
			return r.className + "|" + (cs.color === want ? "error colour" : cs.color) + "|" + cs.fontWeight; })()`
	}
	if got := js[string](t, ctx, styleOf(fleetRow("web-1", "app", errLine))); got != "row lv-error|error colour|600" {
		t.Errorf("the ERROR line's style: %s", got)
	}
	if got := js[string](t, ctx, styleOf(fleetRow("web-1", "app", web[len(web)-1]))); !strings.HasPrefix(got, "row lv-info|") || strings.Contains(got, "error colour") {
		t.Errorf("an INFO line's style: %s", got)
	}
	// The time column holds the event's time.
	if got := js[string](t, ctx, fleetRow("web-1", "app", errLine)+`.querySelector(".t").textContent`); len(got) != len("15:04:05.000") {
		t.Errorf("time column %q", got)
	}

	// The host column: each host, in the colour of its picker entry.
	hostCol := func(host string) string {
		return `(() => { const h = [...document.querySelectorAll("#log .row .h")].find((h) => h.textContent === ` + jsq(host) + `);
			const dot = document.querySelector('#host-list li[data-host=` + jsq(host) + `] .hdot');
			return h && dot ? getComputedStyle(h).color + " " + getComputedStyle(dot).backgroundColor : "missing"; })()`
	}
	var colours []string
	for _, h := range []string{"web-1", "db-1"} {
		c := js[string](t, ctx, hostCol(h))
		f := strings.SplitN(c, " rgb", 2)
		if len(f) != 2 || f[0] != "rgb"+f[1] {
			t.Errorf("host column of %s and its picker entry: %q", h, c)
		}
		colours = append(colours, f[0])
	}
	if colours[0] == colours[1] {
		t.Errorf("web-1 and db-1 have one colour, %s", colours[0])
	}
	if got := js[string](t, ctx, `[...document.querySelectorAll("#host-list li")].map((li) => li.dataset.host + (li.querySelector("input").checked ? "+" : "-") + (li.classList.contains("stale") ? "stale" : "")).join(" ")`); got != "db-1+ web-1+" {
		t.Errorf("host picker: %q", got)
	}

	// An agent's gap marker shows where it came: between the lines around it.
	appendLines(t, s.dbLog, ts(0)+" LOG:  before the gap")
	waitJS(t, ctx, "line before the gap", fleetHas("db-1", "postgres", ts(0)+" LOG:  before the gap"), 10*time.Second)
	s.publishGap(t, "db-1", "postgres", 42)
	appendLines(t, s.dbLog, ts(0)+" LOG:  after the gap")
	waitJS(t, ctx, "line after the gap", fleetHas("db-1", "postgres", ts(0)+" LOG:  after the gap"), 10*time.Second)
	gap := js[string](t, ctx, `(() => { const rows = [...document.querySelectorAll("#log .row")];
		const g = rows.findIndex((r) => r.classList.contains("gap"));
		const at = (s) => rows.findIndex((r) => r.textContent.endsWith(s));
		if (g < 0) return "no gap row";
		const r = rows[g];
		return r.querySelector(".h").textContent + "|" + r.querySelector(".s").textContent + "|" + r.title + "|" +
			(at("before the gap") < g && g < at("after the gap") ? "in place" : "out of place"); })()`)
	if gap != "db-1|postgres|42 lines missed from db-1/postgres|in place" {
		t.Errorf("the agent's gap marker: %q", gap)
	}

	// JSON expansion and copy of a selected line.
	jsonLine := web[22] // i == 22: 22%5 == 2
	js[bool](t, ctx, `(`+fleetRow("web-1", "app", jsonLine)+`.click(), true)`)
	do(t, ctx, chromedp.Click(chromedp.CSS("#act-json")))
	waitJS(t, ctx, "pretty JSON", `document.querySelector("#log pre.json") && document.querySelector("#log pre.json").textContent.includes('\n  "status": 200')`, 5*time.Second)
	do(t, ctx, chromedp.KeyEvent("c"))
	waitJS(t, ctx, "copied", `document.getElementById("act-copy").textContent === "Copied"`, 5*time.Second)

	// Download saves the lines the view holds, as host/source line.
	js[bool](t, ctx, `(() => { window.__blobs = []; const make = URL.createObjectURL;
		URL.createObjectURL = (b) => { window.__blobs.push(b); return make.call(URL, b); };
		window.__saved = []; HTMLAnchorElement.prototype.click = function () { window.__saved.push(this.download); }; return true; })()`)
	do(t, ctx, chromedp.Click(chromedp.CSS("#download")))
	waitJS(t, ctx, "a download", `window.__saved.length === 1`, 5*time.Second)
	if name := js[string](t, ctx, `window.__saved[0]`); name != "fleet.log" {
		t.Errorf("download named %q", name)
	}
	saved := js[string](t, ctx, `window.__blobs[0].text()`)
	for _, want := range []string{"web-1/app " + errLine + "\n", "db-1/postgres " + db[0] + "\n"} {
		if !strings.Contains(saved, want) {
			t.Errorf("the download lacks %q:\n%s", want, saved)
		}
	}

	// Screenshots, both themes.
	do(t, ctx, chromedp.KeyEvent("G"))
	time.Sleep(300 * time.Millisecond)
	screenshot(t, ctx, "fleet-light.png")
	colorScheme(t, ctx, "dark")
	time.Sleep(300 * time.Millisecond)
	screenshot(t, ctx, "fleet-dark.png")
	colorScheme(t, ctx, "light")

	// A host not heard from for a while is marked in the picker. The hub's
	// last_seen is the last message's time: db-1's is moved 10 minutes back
	// in its answer, as if db-1 had been quiet since.
	js[bool](t, ctx, `(() => { const f = window.fetch; window.fetch = async (...a) => {
		const r = await f(...a);
		if (!String(a[0]).startsWith("/api/hosts")) return r;
		const hosts = await r.json();
		for (const h of hosts) if (h.host === "db-1") h.last_seen = new Date(Date.parse(r.headers.get("Date")) - 600000).toISOString();
		return new Response(JSON.stringify(hosts), { status: r.status, headers: r.headers });
	}; return true; })()`)
	waitJS(t, ctx, "db-1 marked", `document.querySelector('#host-list li[data-host="db-1"]').classList.contains("stale")`, 10*time.Second)
	if got := js[string](t, ctx, `[...document.querySelectorAll("#host-list li")].map((li) => li.dataset.host + ":" + (li.classList.contains("stale") ? "stale " : "") + li.querySelector(".meta").textContent).join(" | ")`); !strings.Contains(got, "db-1:stale postgres · not seen for 10 min") || strings.Contains(got, "web-1:stale") {
		t.Errorf("host picker after db-1 went quiet: %q", got)
	}

	// hosts= in the URL is applied on load: db-1 only, in the field, the
	// picker and the view.
	do(t, ctx, chromedp.Navigate(s.hub.url+"/?hosts=db-1&tail=50"))
	waitJS(t, ctx, "live on db-1", connState+` === "live" && `+fleetHas("db-1", "postgres", db[len(db)-1]), 30*time.Second)
	if got := js[string](t, ctx, `document.getElementById("f-hosts").value + " " + [...document.querySelectorAll("#host-list input")].map((c) => c.value + (c.checked ? "+" : "-")).join(" ")`); got != "db-1 db-1+ web-1-" {
		t.Errorf("hosts=db-1 on load: field and picker %q", got)
	}
	appendLines(t, s.webLog, ts(0)+" INFO web line after the reload")
	appendLines(t, s.dbLog, ts(0)+" LOG:  db line after the reload")
	waitJS(t, ctx, "db-1's live line", fleetHas("db-1", "postgres", ts(0)+" LOG:  db line after the reload"), 10*time.Second)
	if n := js[int](t, ctx, `[...document.querySelectorAll("#log .row .h")].filter((h) => h.textContent !== "db-1").length`); n != 0 {
		t.Errorf("%d rows of other hosts under hosts=db-1", n)
	}

	// Pause holds new lines (and counts them); resume shows them.
	js[bool](t, ctx, `(document.activeElement && document.activeElement.blur(), true)`)
	do(t, ctx, chromedp.KeyEvent(" "))
	waitJS(t, ctx, "paused", `document.getElementById("pause").getAttribute("aria-pressed") === "true"`, 5*time.Second)
	rows := js[int](t, ctx, `document.querySelectorAll("#log .row").length`)
	for i := range 3 {
		appendLines(t, s.dbLog, fmt.Sprintf("%s LOG:  held %d", ts(0), i))
	}
	waitJS(t, ctx, "waiting count", `document.getElementById("waiting").textContent === "3 waiting"`, 10*time.Second)
	time.Sleep(300 * time.Millisecond)
	if js[bool](t, ctx, logHas("held ")) || js[int](t, ctx, `document.querySelectorAll("#log .row").length`) != rows {
		t.Error("the paused view changed")
	}
	do(t, ctx, chromedp.KeyEvent(" "))
	waitJS(t, ctx, "resumed", fleetHas("db-1", "postgres", ts(0)+" LOG:  held 2")+` && document.getElementById("waiting").textContent === ""`, 5*time.Second)

	// A token that grants web-* only: hosts=db-1 is the hub's 403, whose
	// reason the page shows, and which it does not retry.
	bearerAll(t, b, webToken)
	do(t, ctx, chromedp.Navigate(s.hub.url+"/?hosts=db-1"))
	errText := `document.getElementById("filter-error").textContent`
	waitJS(t, ctx, "the 403's reason", `!document.getElementById("filter-error").hidden && `+errText+`.includes("(403)") && `+errText+`.includes('does not grant host "db-1"')`, 30*time.Second)
	waitJS(t, ctx, "refused, not retried", `document.getElementById("conn-text").textContent === "refused"`, 5*time.Second)
	t.Logf("shown for a host the token does not grant: %q", js[string](t, ctx, errText))
	if got := js[string](t, ctx, `[...document.querySelectorAll("#host-list li")].map((li) => li.dataset.host).join(" ")`); got != "web-1" {
		t.Errorf("hosts listed to the web-* token: %q", got)
	}
}

// TestUIFleetTokenPrompt: on a hub with auth, the page asks for a token
// (the agent page's prompt), refuses a wrong one, and with one that grants
// web-* streams web-1 only.
func TestUIFleetTokenPrompt(t *testing.T) {
	s := newFleetViewSetup(t)
	b := newBrowser(t)
	// The page and /api/hosts answer 401 on purpose: that is how the page
	// knows to ask. Any other error still fails.
	b.allow("HTTP 401 for ", "status of 401 (Unauthorized)")
	ctx := b.ctx
	do(t, ctx, chromedp.Navigate(s.hub.url+"/"))
	waitJS(t, ctx, "token prompt", `document.getElementById("token-dialog").open`, 30*time.Second)
	do(t, ctx, chromedp.SendKeys("#token-input", wrongToken), chromedp.Click("#token-ok"))
	waitJS(t, ctx, "wrong token refused", `!document.getElementById("token-error").hidden`, 10*time.Second)
	js[bool](t, ctx, `(document.getElementById("token-input").value = "", true)`)
	do(t, ctx, chromedp.SendKeys("#token-input", webToken), chromedp.Click("#token-ok"))
	waitJS(t, ctx, "live after sign-in", connState+` === "live"`, 30*time.Second)
	appendLines(t, s.dbLog, "db line")
	appendLines(t, s.webLog, "web line")
	waitJS(t, ctx, "the granted host streams", fleetHas("web-1", "app", "web line"), 10*time.Second)
	waitJS(t, ctx, "the granted host listed", `document.querySelectorAll("#host-list li[data-host]").length === 1`, 10*time.Second)
	if got := js[string](t, ctx, `[...document.querySelectorAll("#log .row .h, #host-list li[data-host]")].map((e) => e.textContent || e.dataset.host).join(" ")`); strings.Contains(got, "db-1") {
		t.Errorf("a host the token does not grant is shown: %q", got)
	}
}
