package agent

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"gopkg.in/yaml.v3"

	"edgetail/alerts"
	"edgetail/event"
	"edgetail/query"
	"edgetail/stream"
	"edgetail/web"
)

// AlertConfig is one entry of alerts: (package alerts has the engine).
type AlertConfig struct {
	Name       string         `yaml:"name"`
	Sources    []string       `yaml:"sources"` // names or globs; default every log source
	Level      string         `yaml:"level"`
	Q          string         `yaml:"q"`
	Re         string         `yaml:"re"`
	Not        string         `yaml:"not"`
	Unit       commaList      `yaml:"unit"`
	Identifier commaList      `yaml:"identifier"`
	Threshold  int            `yaml:"threshold"` // [1]
	Window     *time.Duration `yaml:"window"`    // [1m]
	GroupBy    string         `yaml:"group_by"`  // pattern, source or rule [pattern]
	Cooldown   *time.Duration `yaml:"cooldown"`  // [5m]
	MaxGroups  int            `yaml:"max_groups"`
	Webhook    WebhookConfig  `yaml:"webhook"`
}

// WebhookConfig is a rule's webhook. Its URL and headers are secrets:
// they are never logged or shown.
type WebhookConfig struct {
	URL      string            `yaml:"url"`
	Format   string            `yaml:"format"`   // json, slack or template [json]
	Template string            `yaml:"template"` // a Go text/template of the body
	Headers  map[string]string `yaml:"headers"`  // ${VAR}: from the environment
	Timeout  time.Duration     `yaml:"timeout"`  // [10s]
}

// commaList is a list in YAML, or one string with commas, as unit= and
// identifier= take them.
type commaList []string

// UnmarshalYAML implements yaml.Unmarshaler.
func (l *commaList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = nil
		for _, s := range strings.Split(n.Value, ",") {
			if s = strings.TrimSpace(s); s != "" {
				*l = append(*l, s)
			}
		}
		return nil
	}
	var s []string
	if err := n.Decode(&s); err != nil {
		return err
	}
	*l = s
	return nil
}

// rule turns a validated entry into the engine's rule.
func (a *AlertConfig) rule() (alerts.Rule, error) {
	r := alerts.Rule{Name: a.Name, Sources: a.Sources, Threshold: a.Threshold, GroupBy: a.GroupBy, MaxGroups: a.MaxGroups,
		Filter: query.Filter{Q: a.Q, Re: a.Re, Not: a.Not, Units: append([]string(nil), a.Unit...),
			Identifiers: append([]string(nil), a.Identifier...)},
		Webhook: alerts.Webhook{URL: a.Webhook.URL, Format: a.Webhook.Format, Template: a.Webhook.Template,
			Headers: a.Webhook.Headers, Timeout: a.Webhook.Timeout}}
	if a.Window != nil {
		r.Window = *a.Window
	}
	if a.Cooldown != nil {
		r.Cooldown = *a.Cooldown
	}
	if a.Level != "" {
		lv, err := event.ParseLevel(a.Level)
		if err != nil {
			return r, err
		}
		r.Filter.Level = lv
	}
	return r, r.Filter.Compile()
}

// logSources lists the config's log sources (files and journal: true for
// a journal source) and its metrics sources.
func (c *Config) logSources() (logs, metrics map[string]bool) {
	logs, metrics = map[string]bool{}, map[string]bool{}
	for _, s := range c.Sources {
		if s.Metrics != nil {
			metrics[s.Name] = true
		} else {
			logs[s.Name] = s.Journal != nil
		}
	}
	return logs, metrics
}

var (
	globMeta  = regexp.MustCompile(`[*?\[]`)
	headerKey = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// validateAlerts checks alerts: and alerts_url, each problem at its line:
// unknown sources, bad filters, a template that does not parse, a URL
// that is not http(s).
func (c *Config) validateAlerts() []Problem {
	var probs []Problem
	add := func(key, format string, args ...any) { probs = append(probs, c.doc.Problem(key, format, args...)) }
	if c.AlertsURL != "" {
		if err := alerts.CheckURL(c.AlertsURL); err != nil {
			add("alerts_url", "%v", err)
		}
	}
	logs, metrics := c.logSources()
	seen := map[string]bool{}
	for i := range c.Alerts {
		a := &c.Alerts[i]
		k := fmt.Sprintf("alerts[%d]", i)
		switch {
		case !sourceName.MatchString(a.Name):
			add(k+".name", "%q is not a valid name ([a-z0-9][a-z0-9_.-]*)", a.Name)
		case seen[a.Name]:
			add(k+".name", "%q is used twice", a.Name)
		}
		seen[a.Name] = true
		var matched []string
		for j, s := range a.Sources {
			sk := fmt.Sprintf("%s.sources[%d]", k, j)
			if _, err := path.Match(s, ""); err != nil {
				add(sk, "bad glob %q: %v", s, err)
				continue
			}
			if !globMeta.MatchString(s) {
				switch {
				case metrics[s]:
					add(sk, "%q is a metrics source: rules read log sources", s)
				case !isLog(logs, s):
					add(sk, "unknown source %q", s)
				default:
					matched = append(matched, s)
				}
				continue
			}
			n := 0
			for name := range logs {
				if ok, _ := path.Match(s, name); ok {
					matched = append(matched, name)
					n++
				}
			}
			if n == 0 {
				add(sk, "%q matches no log source", s)
			}
		}
		if len(a.Sources) == 0 {
			for name := range logs {
				matched = append(matched, name)
			}
		}
		if len(a.Unit) > 0 || len(a.Identifier) > 0 {
			for _, s := range matched {
				if !logs[s] {
					add(k, "unit and identifier narrow journal sources; %q is not one (name the journal sources in sources:)", s)
					break
				}
			}
		}
		if a.Level != "" {
			if _, err := event.ParseLevel(a.Level); err != nil {
				add(k+".level", "%v", err)
			}
		}
		if a.Re != "" {
			if _, err := regexp.Compile(a.Re); err != nil {
				add(k+".re", "bad regular expression: %s", query.OneLine(err.Error()))
			}
		}
		// The rest of the filter: q, not, unit and identifier.
		f := query.Filter{Q: a.Q, Not: a.Not, Units: append([]string(nil), a.Unit...), Identifiers: append([]string(nil), a.Identifier...)}
		if err := f.Compile(); err != nil {
			add(k, "%v", err)
		}
		if a.Threshold < 0 {
			add(k+".threshold", "must be at least 1")
		}
		if a.Window != nil && *a.Window < time.Second {
			add(k+".window", "must be at least 1s")
		}
		if a.Cooldown != nil && *a.Cooldown < time.Second {
			add(k+".cooldown", "must be at least 1s")
		}
		switch a.GroupBy {
		case "", alerts.GroupByPattern, alerts.GroupBySource, alerts.GroupByRule:
		default:
			add(k+".group_by", "want pattern, source or rule, got %q", a.GroupBy)
		}
		if a.MaxGroups < 0 {
			add(k+".max_groups", "must be >= 0")
		}
		probs = append(probs, c.validateWebhook(k+".webhook", &a.Webhook)...)
	}
	return probs
}

func isLog(logs map[string]bool, name string) bool { _, ok := logs[name]; return ok }

func (c *Config) validateWebhook(k string, w *WebhookConfig) []Problem {
	var probs []Problem
	add := func(key, format string, args ...any) { probs = append(probs, c.doc.Problem(key, format, args...)) }
	if w.URL == "" {
		add(k+".url", "a webhook needs a url")
	} else if err := alerts.CheckURL(w.URL); err != nil {
		add(k+".url", "%v", err) // never the URL itself: it may hold a secret
	}
	switch {
	case w.Format == "" || w.Format == alerts.FormatJSON || w.Format == alerts.FormatSlack:
		if w.Template != "" && w.Format != "" {
			add(k+".template", "a template is the body: leave format out (or set it to template)")
		}
	case w.Format == alerts.FormatTemplate:
		if w.Template == "" {
			add(k+".template", "format template needs a template")
		}
	default:
		add(k+".format", "want json, slack or template, got %q", w.Format)
	}
	if w.Template != "" {
		if err := checkTemplate(w.Template); err != nil {
			add(k+".template", "%v", err)
		}
	}
	for name := range w.Headers {
		if !headerKey.MatchString(name) {
			add(k+".headers", "%q is not a header name", name)
		}
	}
	if err := alerts.CheckHeaders(w.Headers); err != nil {
		add(k+".headers", "%v", err)
	}
	if w.Timeout < 0 {
		add(k+".timeout", "must be > 0")
	}
	return probs
}

// checkTemplate parses a body template and runs it on a sample, so that a
// field that does not exist is found by check, not by the first alert.
func checkTemplate(s string) error {
	t, err := alerts.ParseTemplate(s)
	if err != nil {
		return errors.New(query.OneLine(err.Error()))
	}
	if err := t.Execute(discard{}, &alerts.Notification{Rule: "r", Kind: "alert"}); err != nil {
		return errors.New(query.OneLine(err.Error()))
	}
	return nil
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

// newAlerts builds the alert engine of a config; it starts nothing.
func newAlerts(cfg *Config, a *Agent) *alerts.Engine {
	host := ""
	if cfg.Fleet != nil {
		host = cfg.Fleet.fleetHost()
	} else if h, err := os.Hostname(); err == nil {
		host = h
	}
	return alerts.New(alerts.Options{StateDir: cfg.StateDir, Host: host, BaseURL: cfg.AlertsURL,
		Logger: a.log.Named("alerts")})
}

// alertSource is a log source as the alert engine reads it: a filtered
// tap of the hub's source, once its producer has started.
type alertSource struct {
	src     *stream.Source
	started <-chan struct{}
}

func (s alertSource) Name() string             { return s.src.Name() }
func (s alertSource) Started() <-chan struct{} { return s.started }
func (s alertSource) Tap(key []byte, f *query.Filter, notify chan struct{}) alerts.Tap {
	// A queue larger than a stream's: a flood overflows it less often
	// (an overflow reads again from the replay buffer, costing time, not
	// events).
	return s.src.TapFiltered(key, stream.TapOptions{Filter: f, Notify: notify, Buffer: 4096})
}

// applyAlerts hands the config's rules and the running log sources to the
// engine; unchanged rules keep running untouched.
func (a *Agent) applyAlerts(cfg *Config) {
	rules := make([]alerts.Rule, 0, len(cfg.Alerts))
	for i := range cfg.Alerts {
		r, err := cfg.Alerts[i].rule()
		if err != nil {
			continue // validated: cannot happen
		}
		rules = append(rules, r)
	}
	var srcs []alerts.Source
	for _, s := range cfg.Sources {
		if s.Metrics != nil {
			continue
		}
		if src := a.hub.Lookup(s.Name); src != nil {
			srcs = append(srcs, alertSource{src: src, started: a.startedOf(s.Name)})
		}
	}
	a.alerts.Apply(rules, srcs)
}

// apiAlerts answers GET /api/alerts: the rules whose sources the token
// grants, with their state and last notifications.
func (a *Agent) apiAlerts(c *gin.Context) {
	g := web.GrantOf(c)
	out := []alerts.Status{}
	for _, s := range a.alerts.Status() {
		if grantsAll(g, s.Sources) {
			out = append(out, s)
		}
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}

// testAlert answers POST /api/alerts/{rule}/test: a test notification,
// sent at once, and the result of the attempt.
func (a *Agent) testAlert(c *gin.Context) {
	if o := c.GetHeader("Origin"); o != "" {
		// A form of another site may POST here (no preflight): only the
		// agent's own pages may.
		if u, err := url.Parse(o); err != nil || u.Host != c.Request.Host {
			c.String(http.StatusForbidden, "cross-origin request refused\n")
			return
		}
	}
	name := c.Param("rule")
	srcs, ok := a.alerts.RuleSources(name)
	if !ok {
		c.String(http.StatusNotFound, "unknown rule %q\n", name)
		return
	}
	if !grantsAll(web.GrantOf(c), srcs) {
		c.String(http.StatusForbidden, "this token does not grant every source of rule %q\n", name)
		return
	}
	if err := a.alerts.Test(c.Request.Context(), name); err != nil {
		c.JSON(http.StatusBadGateway, gin.H{"ok": false, "error": err.Error()})
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true})
}

func grantsAll(g *web.Grant, sources []string) bool {
	for _, s := range sources {
		if !g.Allows(s) {
			return false
		}
	}
	return true
}
