// Package follow is the terminal client behind `edgetail follow URL`: it
// prints a stream's lines, reconnects with exponential backoff and jitter,
// resumes with Last-Event-ID, and says on stderr when lines were missed.
package follow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"edgetail/event"
)

// Options configure a follow session. Zero values mean the default.
type Options struct {
	URL     string
	Query   url.Values  // filter parameters added to the URL
	Header  http.Header // extra headers (-H)
	Token   string      // sent as Authorization: Bearer
	JSON    bool        // print whole events as JSON lines
	Color   bool        // colour lines by level (stdout is a terminal)
	Raw     bool        // keep ANSI escapes in lines
	Out     io.Writer
	Err     io.Writer
	Client  *http.Client
	MaxWait time.Duration // longest backoff [30s]
	// Idle is how long without any byte (heartbeats included) before the
	// link counts as dead and is reopened [60s].
	Idle time.Duration
}

// errEnded is a stream the agent ended.
var errEnded = errors.New("stream ended")

// ErrRefused is returned for a 4xx answer other than 429: retrying would not
// help.
var ErrRefused = errors.New("refused")

// Run follows until ctx is done (nil) or the server refuses (ErrRefused).
func Run(ctx context.Context, o Options) error {
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 30 * time.Second
	}
	if o.Idle <= 0 {
		o.Idle = 60 * time.Second
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("%w: %q is not an http(s) URL", ErrRefused, o.URL)
	}
	q := u.Query()
	for k, vs := range o.Query {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	u.RawQuery = q.Encode()
	// With until= the agent ends the response after the window: that end
	// is the answer, not a broken link.
	window := q.Get("until") != ""
	s := &session{o: o, url: u.String()}
	wait := 250 * time.Millisecond
	for {
		progressed, err := s.once(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrRefused) {
			return err
		}
		if window && errors.Is(err, errEnded) {
			return nil
		}
		if progressed {
			wait = 250 * time.Millisecond
		}
		// Full jitter: many clients cut off at once do not return at once.
		d := time.Duration(rand.Int64N(int64(wait))) + wait/2
		if s.retry > 0 && d < s.retry {
			d = s.retry
		}
		fmt.Fprintf(o.Err, "edgetail follow: %v; reconnecting in %s\n", err, d.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(d):
		}
		wait = min(wait*2, o.MaxWait)
	}
}

type session struct {
	o      Options
	url    string
	lastID string
	retry  time.Duration
}

// once opens the stream and prints it until it breaks. progressed reports
// whether any event arrived, which resets the backoff.
func (s *session) once(ctx context.Context) (progressed bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrRefused, err)
	}
	for k, vs := range s.o.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Accept", "text/event-stream")
	if s.o.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.o.Token)
	}
	if s.lastID != "" {
		req.Header.Set("Last-Event-ID", s.lastID)
	}
	resp, err := s.o.Client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		msg := fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
			return false, fmt.Errorf("%w: %s", ErrRefused, msg)
		}
		return false, errors.New(msg)
	}
	// A watchdog closes the body when nothing, not even a heartbeat,
	// arrives for Idle: a dead link must not look like a quiet log.
	alive := make(chan struct{}, 1)
	go func() {
		t := time.NewTimer(s.o.Idle)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-alive:
				t.Reset(s.o.Idle)
			case <-t.C:
				cancel()
				return
			}
		}
	}()
	r := NewReader(resp.Body, 16<<20)
	for {
		ev, err := r.Next()
		if err != nil {
			if ctx.Err() != nil && ctx.Err() != context.Canceled {
				return progressed, ctx.Err()
			}
			if err == io.EOF {
				err = errEnded
			}
			return progressed, err
		}
		select {
		case alive <- struct{}{}:
		default:
		}
		if ev.Retry > 0 {
			s.retry = time.Duration(ev.Retry) * time.Millisecond
		}
		if ev.ID != "" {
			s.lastID = ev.ID
		}
		switch ev.Type {
		case ":":
			continue
		case "gap":
			var g struct {
				Missed int64  `json:"missed"`
				Source string `json:"source"`
			}
			_ = json.Unmarshal([]byte(ev.Data), &g)
			what := fmt.Sprintf("%d lines", g.Missed)
			if g.Missed < 0 {
				what = "an unknown number of lines"
			}
			if g.Source != "" {
				what += " of " + g.Source
			}
			// The agent resumes exactly where it can (file ids are
			// durable) and says so when lines are really gone: nothing
			// is printed twice, and nothing needs hiding here.
			fmt.Fprintf(s.o.Err, "edgetail follow: missed %s\n", what)
			continue
		}
		if !ev.HasData {
			continue
		}
		progressed = true
		s.print(ev)
	}
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]`)

func (s *session) print(ev Event) {
	if s.o.JSON {
		b, _ := json.Marshal(map[string]string{"id": ev.ID, "event": ev.Type, "data": ev.Data})
		fmt.Fprintf(s.o.Out, "%s\n", b)
		return
	}
	line := ev.Data
	if !s.o.Raw {
		line = ansi.ReplaceAllString(line, "")
	}
	if s.o.Color {
		if c := levelColor(line); c != "" {
			// Each line coloured on its own: a pager or a terminal that
			// resets at a newline keeps the colour of a trace's lines.
			line = c + strings.ReplaceAll(line, "\n", "\x1b[0m\n"+c) + "\x1b[0m"
		}
	}
	fmt.Fprintln(s.o.Out, line)
}

// levelColor colours a line by the level the agent's own level= filter
// reads from it (event.DetectLevel), so colour and filter agree: an
// event of several lines (a stack trace) takes its first line's.
func levelColor(line string) string {
	switch event.DetectLevel(event.FirstLine([]byte(line))) {
	case event.LevelError:
		return "\x1b[31m"
	case event.LevelWarn:
		return "\x1b[33m"
	case event.LevelDebug:
		return "\x1b[2m"
	}
	return ""
}
