package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

const chromiumBin = "/usr/bin/chromium"

var chromiumOnce sync.Once

// needChromium returns the path of Debian's chromium, installing it once when
// it is missing and this process may (root with apt-get), and skips the test
// only when it is absent and cannot be installed. `make deps` installs it.
func needChromium(t *testing.T) string {
	t.Helper()
	chromiumOnce.Do(func() {
		if _, err := os.Stat(chromiumBin); err == nil {
			return
		}
		if _, err := exec.LookPath("apt-get"); err != nil || os.Geteuid() != 0 {
			return
		}
		cmd := exec.Command("bash", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "installing chromium failed: %v\n%s\n", err, out)
		}
	})
	if _, err := os.Stat(chromiumBin); err != nil {
		t.Skipf("browser tests need %s (Debian package chromium; `make deps` installs it), and it is absent and could not be installed here", chromiumBin)
	}
	return chromiumBin
}

// browser is one headless chromium. Every tab opened through it reports
// console errors, uncaught exceptions, the browser's own error log (a CSP
// violation, "Failed to load resource") and every failed request or answer
// of 400 and above (the favicon a browser asks for by itself included), and
// the test fails on any that it did not declare with allow.
type browser struct {
	t       *testing.T
	ctx     context.Context
	mu      sync.Mutex
	errs    []string
	allowed []string
	urls    map[network.RequestID]string // for the failures, which name only the request
}

// allow declares errors the test provokes on purpose (a 401 before
// sign-in, a refused connection while the agent restarts): any error whose
// report contains one of these strings is not a failure.
func (b *browser) allow(substrings ...string) {
	b.mu.Lock()
	b.allowed = append(b.allowed, substrings...)
	b.mu.Unlock()
}

// report records an error unless the test allowed it.
func (b *browser) report(msg string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, a := range b.allowed {
		if strings.Contains(msg, a) {
			return
		}
	}
	b.errs = append(b.errs, msg)
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := needChromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 800),
		// The machine's network is closed: nothing to fetch, nothing to wait on.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-quic", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &browser{t: t, urls: map[network.RequestID]string{}}
	ctx, cancel := chromedp.NewContext(actx)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	b.ctx = ctx
	b.listen(ctx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.errs) > 0 {
			t.Errorf("browser console errors:\n%s", strings.Join(b.errs, "\n"))
		}
	})
	return b
}

// tab opens another tab of the same browser.
func (b *browser) tab() context.Context {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("new tab: %v", err)
	}
	b.listen(ctx)
	b.t.Cleanup(cancel)
	return ctx
}

func (b *browser) listen(ctx context.Context) {
	err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type != runtime.ConsoleAPICalledTypeError && e.Type != runtime.ConsoleAPICalledTypeAssert {
				return
			}
			var parts []string
			for _, a := range e.Args {
				if len(a.Value) > 0 {
					parts = append(parts, string(a.Value))
				} else {
					parts = append(parts, a.Description)
				}
			}
			msg = "console." + string(e.Type) + ": " + strings.Join(parts, " ")
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			msg = "exception: " + d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
		case *cdplog.EventEntryAdded:
			if e.Entry.Level != cdplog.EntryLevelError {
				return
			}
			msg = fmt.Sprintf("browser log (%s): %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL)
		case *network.EventRequestWillBeSent:
			b.mu.Lock()
			b.urls[e.RequestID] = e.Request.Method + " " + e.Request.URL
			b.mu.Unlock()
			return
		case *network.EventResponseReceived:
			if e.Response.Status < 400 {
				return
			}
			msg = fmt.Sprintf("HTTP %d for %s (%s)", e.Response.Status, e.Response.URL, e.Type)
		case *network.EventLoadingFailed:
			if e.Canceled {
				return // the page closed it: a stream left for another view
			}
			b.mu.Lock()
			req := b.urls[e.RequestID]
			b.mu.Unlock()
			msg = fmt.Sprintf("request failed: %s %s (%s)", req, e.ErrorText, e.Type)
		default:
			return
		}
		b.report(msg)
	})
	if err != nil {
		b.t.Fatalf("listen: %v", err)
	}
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// js evaluates an expression in the page (promises are awaited).
func js[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS polls a boolean expression until it holds, and returns how long
// that took.
func waitJS(t *testing.T, ctx context.Context, what, expr string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if js[bool](t, ctx, "!!("+expr+")") {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s (%s)\npage status: %s", what, limit, expr,
				js[string](t, ctx, `document.getElementById("conn").dataset.state + " / " + document.getElementById("conn-text").textContent`))
		}
		time.Sleep(15 * time.Millisecond)
	}
}

// jsq quotes a Go string as a JavaScript string literal.
func jsq(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func logHas(s string) string {
	return `document.getElementById("log").textContent.includes(` + jsq(s) + `)`
}

const connState = `document.getElementById("conn").dataset.state`

// colorScheme emulates prefers-color-scheme.
func colorScheme(t *testing.T, ctx context.Context, scheme string) {
	t.Helper()
	_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// screenshot saves the viewport as docs/screenshots/name.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// freePort returns a loopback port that was free a moment ago, so that an
// agent can be restarted on the same address.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
