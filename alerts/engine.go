// Package alerts evaluates alert rules on the events of the agent's
// sources as they are committed, whether or not anyone watches, groups
// repeats so that a flood is a handful of notifications, and delivers them
// to webhooks without ever holding up a source. Each rule reads its
// sources through a filtered tap, which shares the filter group of the
// streams with the same filter, and keeps where it stands (a durable id
// per source), its groups and its undelivered notifications in the state
// directory, so that a restart misses nothing and repeats nothing.
//
// It imports neither the hub nor YAML: the agent hands it plain rules and
// its sources behind the Source interface.
package alerts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Options configure an Engine. Every zero value means the default in
// brackets.
type Options struct {
	// StateDir keeps each rule's state (alerts/RULE.json) across
	// restarts; "": rules start from now on every start.
	StateDir string
	Host     string // the host name notifications carry
	BaseURL  string // the agent's public base URL, for links to the UI; "": none
	Logger   *zap.Logger
	// Env reads ${VAR} in headers [os.LookupEnv].
	Env func(string) (string, bool)
	// QueueSize bounds each rule's notifications waiting for delivery; the
	// oldest are dropped past it [100].
	QueueSize int
	// MaxRetry is how long a notification is retried before it is given
	// up [10m].
	MaxRetry time.Duration
	// BackoffMin and BackoffMax bound the wait between attempts, doubled
	// after each failure and jittered ±50 % [1s, 1m].
	BackoffMin, BackoffMax time.Duration
	// SaveEvery is how often the positions are saved while they move [2s].
	SaveEvery time.Duration
	// Transport sends the webhooks' requests [a clone of
	// http.DefaultTransport].
	Transport http.RoundTripper
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Env == nil {
		o.Env = os.LookupEnv
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 100
	}
	if o.MaxRetry <= 0 {
		o.MaxRetry = 10 * time.Minute
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = time.Second
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = time.Minute
	}
	if o.SaveEvery <= 0 {
		o.SaveEvery = 2 * time.Second
	}
	if o.Transport == nil {
		o.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
}

// Engine runs the rules. New allocates; Apply sets the rules; Run returns
// once every rule's goroutines have ended.
type Engine struct {
	o      Options
	log    *zap.Logger
	client *http.Client
	ctx    context.Context // the rules' parent: cancelled when Run ends
	cancel context.CancelFunc

	mu      sync.Mutex
	rules   map[string]*rule
	ctrs    map[string]*counters // per rule name, across reloads
	stopped bool
	dirMade atomic.Bool // state_dir/alerts exists
}

// counters are a rule's totals, for /metrics.
type counters struct {
	matches, made, sent, failed, dropped, attemptsFailed, saveErrors, forgotten atomic.Uint64
}

// New returns an engine with no rules; it starts nothing.
func New(o Options) *Engine {
	o.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Engine{o: o, log: o.Logger, ctx: ctx, cancel: cancel,
		client: &http.Client{Transport: o.Transport, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a 3xx is a failure: headers are not sent on
		}},
		rules: make(map[string]*rule), ctrs: make(map[string]*counters)}
}

// Run waits until ctx is done, then stops every rule: each takes what its
// taps hold and saves its state.
func (e *Engine) Run(ctx context.Context) error {
	<-ctx.Done()
	e.mu.Lock()
	e.stopped = true
	rs := make([]*rule, 0, len(e.rules))
	for _, r := range e.rules {
		rs = append(rs, r)
	}
	e.mu.Unlock()
	e.cancel()
	for _, r := range rs {
		r.wg.Wait()
	}
	return nil
}

// ErrUnknownRule is Test's answer for a rule that does not exist.
var ErrUnknownRule = errors.New("unknown rule")

// Apply makes the running rules those given, over the sources given (the
// agent's log sources): a rule whose config and sources are unchanged
// keeps running untouched (its groups and cooldowns); a changed one is
// stopped and started again from where it stood, with its positions and
// undelivered notifications, and its groups while it groups as before; a
// removed one is stopped and its state deleted.
func (e *Engine) Apply(rules []Rule, sources []Source) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return
	}
	want := make(map[string]bool, len(rules))
	for _, cfg := range rules {
		cfg.setDefaults()
		want[cfg.Name] = true
		var srcs []Source
		for _, s := range sources {
			if cfg.Matches(s.Name()) {
				srcs = append(srcs, s)
			}
		}
		old := e.rules[cfg.Name]
		if old != nil && old.cfg.fingerprint() == cfg.fingerprint() && slices.Equal(old.srcs, srcs) {
			continue
		}
		var prev *ruleState
		if old != nil {
			prev = old.stop()
		}
		e.rules[cfg.Name] = e.start(cfg, srcs, prev)
	}
	for name, r := range e.rules {
		if !want[name] {
			r.stop()
			delete(e.rules, name)
			e.removeState(name)
			e.log.Info("alert rule removed", zap.String("rule", name))
		}
	}
}

// start runs a rule; prev is the state of the rule it replaces, nil to
// read it from the state file. e.mu held.
func (e *Engine) start(cfg Rule, srcs []Source, prev *ruleState) *rule {
	log := e.log.With(zap.String("rule", cfg.Name))
	ctr := e.ctrs[cfg.Name]
	if ctr == nil {
		ctr = &counters{}
		e.ctrs[cfg.Name] = ctr
	}
	r := &rule{cfg: cfg, e: e, log: log, srcs: srcs, ctr: ctr,
		notify: make(chan struct{}, 1), wakeOut: make(chan struct{}, 1)}
	if cfg.Webhook.Format == FormatTemplate {
		// Checked with the config: a template that does not parse never
		// gets here.
		r.tmpl, _ = ParseTemplate(cfg.Webhook.Template)
	}
	var unset []string
	r.hdr, unset = expandHeaders(cfg.Webhook.Headers, e.o.Env)
	if len(unset) > 0 {
		log.Warn("webhook headers name unset environment variables: sent empty", zap.Strings("variables", unset))
	}
	r.st = ruleState{gs: newGroups(cfg.Threshold, cfg.Window, cfg.Cooldown, cfg.MaxGroups),
		pos: make(map[string][]byte), started: time.Now()}
	if prev != nil {
		r.st.pos, r.st.out, r.st.dropped, r.st.recent = prev.pos, prev.out, prev.dropped, prev.recent
		r.st.lastSent, r.st.lastErr, r.st.lastErrT, r.st.failures = prev.lastSent, prev.lastErr, prev.lastErrT, prev.failures
		if prev.grouping == cfg.grouping() {
			prev.gs.threshold, prev.gs.cooldown, prev.gs.max = cfg.Threshold, cfg.Cooldown, cfg.MaxGroups
			r.st.gs = prev.gs
			r.st.gs.bound(nil)
		}
		for _, p := range r.st.out {
			p.inflight = false
		}
	} else {
		r.loadState(&r.st)
	}
	if len(srcs) == 0 {
		log.Warn("the alert rule matches no log source")
	}
	ctx, cancel := context.WithCancel(e.ctx)
	r.cancel = cancel
	r.wg.Go(func() { r.evaluate(ctx) })
	r.wg.Go(func() { r.deliver(ctx) })
	log.Info("alert rule started", zap.Strings("sources", r.sourceNames()))
	return r
}

// stop ends the rule's goroutines (the evaluator saves) and returns its
// state, for the rule that replaces it.
func (r *rule) stop() *ruleState {
	r.cancel()
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.st
	st.grouping = r.cfg.grouping()
	return &st
}

// Status is one rule in GET /api/alerts. It never holds the webhook's URL
// or headers.
type Status struct {
	Name    string   `json:"name"`
	Sources []string `json:"sources"` // the sources it reads now
	State   string   `json:"state"`   // ok, or firing while a group is in its cooldown
	Filter  string   `json:"filter"`
	// Groups counting or firing now, and of those the firing ones.
	Groups    int    `json:"groups"`
	Firing    int    `json:"firing"`
	Threshold int    `json:"threshold"`
	Window    string `json:"window"`
	Cooldown  string `json:"cooldown"`
	GroupBy   string `json:"group_by"`
	Format    string `json:"format"`
	// Matches counted since start; notifications sent, given up after
	// their retries, and dropped from a full queue; waiting in the queue.
	Matches          uint64 `json:"matches"`
	Sent             uint64 `json:"sent"`
	Failed           uint64 `json:"failed"`
	Dropped          uint64 `json:"dropped"`
	Queued           int    `json:"queued"`
	DeliveriesFailed uint64 `json:"deliveries_failed"` // failed attempts, retried or not
	Forgotten        uint64 `json:"groups_forgotten"`
	// Missed is how many events could not be evaluated (gone from disk or
	// the journal before the rule read them): -1 when some were and their
	// number is unknown.
	Missed           int64     `json:"missed"`
	LastNotification time.Time `json:"last_notification,omitzero"`
	LastError        string    `json:"last_error,omitempty"`
	LastErrorAt      time.Time `json:"last_error_at,omitzero"`
	Recent           []Recent  `json:"recent"` // the last notifications, newest first
}

// Status reports every rule, sorted by name.
func (e *Engine) Status() []Status {
	e.mu.Lock()
	rs := make([]*rule, 0, len(e.rules))
	for _, r := range e.rules {
		rs = append(rs, r)
	}
	e.mu.Unlock()
	out := make([]Status, 0, len(rs))
	for _, r := range rs {
		c := &r.cfg
		s := Status{Name: c.Name, Sources: r.sourceNames(), State: "ok", Filter: c.Filter.String(),
			Threshold: c.Threshold, Window: c.Window.String(), Cooldown: c.Cooldown.String(), GroupBy: c.GroupBy,
			Format: c.Webhook.Format, Matches: r.ctr.matches.Load(), Sent: r.ctr.sent.Load(), Failed: r.ctr.failed.Load(),
			Dropped: r.ctr.dropped.Load(), DeliveriesFailed: r.ctr.attemptsFailed.Load(), Forgotten: r.ctr.forgotten.Load()}
		r.mu.Lock()
		s.Groups, s.Firing = len(r.st.gs.m), r.st.gs.firingCount()
		if s.Firing > 0 {
			s.State = "firing"
		}
		s.Queued, s.Missed = len(r.st.out), r.st.missed
		s.LastNotification, s.LastError, s.LastErrorAt = r.st.lastSent, r.st.lastErr, r.st.lastErrT
		s.Recent = slices.Clone(r.st.recent)
		r.mu.Unlock()
		slices.Reverse(s.Recent)
		if s.Recent == nil {
			s.Recent = []Recent{}
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// RuleSources returns the sources of the named rule now, and whether it
// exists: what a caller's grants are checked against.
func (e *Engine) RuleSources(name string) ([]string, bool) {
	e.mu.Lock()
	r := e.rules[name]
	e.mu.Unlock()
	if r == nil {
		return nil, false
	}
	return r.sourceNames(), true
}

// Test sends the named rule's webhook a test notification at once, once
// (no queue, no retry), and returns the attempt's error.
func (e *Engine) Test(ctx context.Context, name string) error {
	e.mu.Lock()
	r := e.rules[name]
	e.mu.Unlock()
	if r == nil {
		return ErrUnknownRule
	}
	now := time.Now()
	n := Notification{Rule: name, Host: e.o.Host, Group: "test", Level: "info", First: now, Last: now,
		Line: "a test notification from edgetail", Kind: kindTest}
	_, err := r.post(ctx, &n, fmt.Sprintf("%s-test-%d", name, now.UnixNano()))
	r.mu.Lock()
	if err != nil {
		r.st.lastErr, r.st.lastErrT = "test: "+err.Error(), now
	}
	r.mu.Unlock()
	return err
}

// WriteMetrics writes the rules' series in the Prometheus text format.
func (e *Engine) WriteMetrics(w io.Writer) {
	e.mu.Lock()
	names := make([]string, 0, len(e.ctrs))
	for n := range e.ctrs {
		names = append(names, n)
	}
	sort.Strings(names)
	ctrs := make([]*counters, len(names))
	for i, n := range names {
		ctrs[i] = e.ctrs[n]
	}
	queued := make(map[string][2]int, len(e.rules))
	for n, r := range e.rules {
		r.mu.Lock()
		queued[n] = [2]int{len(r.st.out), len(r.st.gs.m)}
		r.mu.Unlock()
	}
	e.mu.Unlock()
	if len(names) == 0 {
		return
	}
	metric := func(name, typ, help string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	metric("edgetail_alert_notifications_total", "counter", "Alert notifications per rule and result: sent, failed (given up after its retries), dropped (queue full).")
	for i, n := range names {
		c := ctrs[i]
		for _, r := range []struct {
			res string
			v   uint64
		}{{resultSent, c.sent.Load()}, {resultFailed, c.failed.Load()}, {resultDropped, c.dropped.Load()}} {
			fmt.Fprintf(w, "edgetail_alert_notifications_total{rule=%q,result=%q} %d\n", n, r.res, r.v)
		}
	}
	for _, m := range []struct {
		name, help string
		v          func(*counters) uint64
	}{
		{"edgetail_alert_matches_total", "Events that matched a rule.", func(c *counters) uint64 { return c.matches.Load() }},
		{"edgetail_alert_delivery_errors_total", "Failed attempts to deliver a notification (retried or not).", func(c *counters) uint64 { return c.attemptsFailed.Load() }},
		{"edgetail_alert_groups_forgotten_total", "Groups a rule forgot for its bound (max_groups).", func(c *counters) uint64 { return c.forgotten.Load() }},
		{"edgetail_alert_state_errors_total", "Failed writes of a rule's state file.", func(c *counters) uint64 { return c.saveErrors.Load() }},
	} {
		metric(m.name, "counter", m.help)
		for i, n := range names {
			fmt.Fprintf(w, "%s{rule=%q} %d\n", m.name, n, m.v(ctrs[i]))
		}
	}
	metric("edgetail_alert_queued", "gauge", "Notifications waiting for delivery per rule.")
	for _, n := range names {
		if q, ok := queued[n]; ok {
			fmt.Fprintf(w, "edgetail_alert_queued{rule=%q} %d\n", n, q[0])
		}
	}
	metric("edgetail_alert_groups", "gauge", "Groups counting or firing per rule.")
	for _, n := range names {
		if q, ok := queued[n]; ok {
			fmt.Fprintf(w, "edgetail_alert_groups{rule=%q} %d\n", n, q[1])
		}
	}
}
