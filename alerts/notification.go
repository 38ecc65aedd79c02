package alerts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"
)

// Notification is what a webhook is sent: the json format's body, and
// the data of a template.
type Notification struct {
	Rule       string    `json:"rule"`
	Host       string    `json:"host"`
	Source     string    `json:"source"`
	Group      string    `json:"group"` // the pattern, source or rule name the events share
	Level      string    `json:"level"`
	Count      int64     `json:"count"`      // events it reports: those in the window (alert), or the suppressed ones (rollup)
	Suppressed int64     `json:"suppressed"` // events counted during the cooldown it ends (rollup); 0 otherwise
	First      time.Time `json:"first"`      // time of the first event it reports
	Last       time.Time `json:"last"`       // time of the last one
	Line       string    `json:"line"`       // the last event's text, cut to 4 KiB
	ID         string    `json:"id"`         // its durable id
	URL        string    `json:"url"`        // the UI at that event, when alerts_url is set
	Dropped    int64     `json:"dropped"`    // notifications of the rule lost since the last one delivered
	Kind       string    `json:"kind"`       // alert, rollup or test
}

// maxLine bounds a notification's line.
const maxLine = 4 << 10

// cutLine returns at most maxLine bytes of line, cut at a rune.
func cutLine(line []byte) string {
	if len(line) <= maxLine {
		return string(line)
	}
	cut := maxLine
	for cut > 0 && !utf8.RuneStart(line[cut]) {
		cut--
	}
	return string(line[:cut])
}

// cutString returns at most n bytes of s, cut at a rune.
func cutString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// The webhook formats.
const (
	FormatJSON     = "json"
	FormatSlack    = "slack"
	FormatTemplate = "template"
)

// Webhook is where a rule's notifications go.
type Webhook struct {
	URL      string
	Format   string // json (default), slack, or template (Template set)
	Template string // a Go text/template of the body; its data is a Notification
	// Headers are added to each request; ${VAR} in a value is the
	// environment variable VAR, read when the rule starts.
	Headers map[string]string
	Timeout time.Duration // of each request [10s]
}

// DefaultTimeout is a webhook's timeout when none is set.
const DefaultTimeout = 10 * time.Second

// ParseTemplate parses a body template. Beside text/template's own
// functions it has json, which writes a value as JSON ({{json .Line}} in a
// JSON body).
func ParseTemplate(s string) (*template.Template, error) {
	return template.New("body").Option("missingkey=error").Funcs(template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
	}).Parse(s)
}

// CheckURL reports whether s is an http(s) URL with a host. Its error
// never holds the URL, which may hold a secret.
func CheckURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("not an http or https URL")
	}
	if u.Host == "" {
		return errors.New("the URL has no host")
	}
	return nil
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandHeaders replaces each ${VAR} by the variable's value, and returns
// the names of those unset (replaced by nothing).
func expandHeaders(h map[string]string, lookup func(string) (string, bool)) (map[string]string, []string) {
	out := make(map[string]string, len(h))
	var unset []string
	for k, v := range h {
		out[k] = envRef.ReplaceAllStringFunc(v, func(ref string) string {
			name := ref[2 : len(ref)-1]
			val, ok := lookup(name)
			if !ok {
				unset = append(unset, name)
			}
			return val
		})
	}
	return out, unset
}

// CheckHeaders reports a header value whose ${ is not a ${VAR} reference.
func CheckHeaders(h map[string]string) error {
	for k, v := range h {
		rest := envRef.ReplaceAllString(v, "")
		if strings.Contains(rest, "${") {
			return fmt.Errorf("header %s: ${ starts no ${VAR} (a name of letters, digits and _)", k)
		}
	}
	return nil
}

// body renders a notification in the webhook's format, with its content
// type.
func body(n *Notification, format string, tmpl *template.Template) ([]byte, string, error) {
	switch format {
	case FormatSlack:
		b, err := json.Marshal(map[string]string{"text": slackText(n)})
		return b, "application/json", err
	case FormatTemplate:
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, n); err != nil {
			return nil, "", fmt.Errorf("template: %w", err)
		}
		ct := "text/plain; charset=utf-8"
		if t := bytes.TrimSpace(buf.Bytes()); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
			ct = "application/json"
		}
		return buf.Bytes(), ct, nil
	}
	b, err := json.Marshal(n)
	return b, "application/json", err
}

// slackText is the message of the slack format: what and where, then the
// line in a quote.
func slackText(n *Notification) string {
	var b strings.Builder
	where := n.Host
	if n.Source != "" {
		where += "/" + n.Source
	}
	switch n.Kind {
	case kindTest:
		fmt.Fprintf(&b, "*%s*: a test notification from edgetail on %s", n.Rule, n.Host)
		return b.String()
	case kindRollup:
		fmt.Fprintf(&b, "*%s* on %s: %d more since %s (last %s)", n.Rule, where, n.Suppressed,
			n.First.UTC().Format(time.RFC3339), n.Last.UTC().Format(time.RFC3339))
	default:
		fmt.Fprintf(&b, "*%s* on %s: %d matching %s (%s)", n.Rule, where, n.Count, plural(n.Count, "event", "events"),
			n.Last.UTC().Format(time.RFC3339))
	}
	if n.Dropped > 0 {
		fmt.Fprintf(&b, " (%d earlier %s lost)", n.Dropped, plural(n.Dropped, "notification", "notifications"))
	}
	line := strings.ReplaceAll(n.Line, "```", "'''")
	fmt.Fprintf(&b, "\n```%s```", line)
	if n.URL != "" {
		fmt.Fprintf(&b, "\n<%s|Open in edgetail>", n.URL)
	}
	return b.String()
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// link is the UI's view of the source around an event: a minute either
// side of the events it reports.
func link(base, source string, first, last time.Time) string {
	if base == "" {
		return ""
	}
	v := url.Values{}
	v.Set("sources", source)
	v.Set("range", "custom")
	v.Set("since", first.Add(-time.Minute).UTC().Format(time.RFC3339))
	v.Set("until", last.Add(time.Minute).UTC().Format(time.RFC3339))
	return strings.TrimRight(base, "/") + "/?" + v.Encode()
}
