package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mattn/go-isatty"

	"edgetail/follow"
)

// headerFlags collects repeated -H "Name: value" flags.
type headerFlags http.Header

func (h headerFlags) String() string { return "" }
func (h headerFlags) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if !ok {
		return fmt.Errorf("want -H 'Name: value', got %q", v)
	}
	http.Header(h).Add(strings.TrimSpace(name), strings.TrimSpace(value))
	return nil
}

// Follow runs `edgetail follow`: exit 0 on Ctrl-C, 1 when refused, 2 on bad
// usage.
func Follow(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edgetail follow", flag.ContinueOnError)
	fs.SetOutput(stderr)
	hdr := headerFlags{}
	var o follow.Options
	q := url.Values{}
	param := func(name, help string) {
		fs.Func(name, help, func(v string) error { q.Set(name, v); return nil })
	}
	param("q", "keep lines containing this text")
	param("re", "keep lines matching this regular expression")
	param("not", "drop lines containing this text")
	param("level", "keep lines at this level or above")
	param("tail", "lines of history to print first")
	param("since", "first print the lines since this time from disk: RFC 3339, or a duration back (90s, 15m, 2h, 7d)")
	param("until", "with -since: stop at this time (RFC 3339 or a duration back) and exit")
	param("fields", "metrics: only these fields")
	fs.StringVar(&o.Token, "token", os.Getenv("EDGETAIL_TOKEN"), "bearer token (default $EDGETAIL_TOKEN)")
	fs.Var(hdr, "H", "extra header, 'Name: value' (repeatable)")
	fs.BoolVar(&o.JSON, "json", false, "print events as JSON lines")
	fs.BoolVar(&o.Raw, "raw", false, "keep ANSI escape sequences")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: edgetail follow [flags] URL")
		return 2
	}
	o.URL, o.Query, o.Header = fs.Arg(0), q, http.Header(hdr)
	o.Out, o.Err = stdout, stderr
	if f, ok := stdout.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		o.Color = true
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := follow.Run(ctx, o); err != nil {
		fmt.Fprintln(stderr, "edgetail follow:", err)
		if errors.Is(err, follow.ErrRefused) {
			return 1
		}
		return 1
	}
	return 0
}
