package alerts

import (
	"context"
	"encoding/json"
	"path"
	"slices"
	"sync"
	"text/template"
	"time"

	"go.uber.org/zap"

	"edgetail/event"
	"edgetail/query"
)

// Rule is one alert rule as the agent's config gives it. Every zero value
// means the default in brackets.
type Rule struct {
	Name      string
	Sources   []string      // names or globs (path.Match) [every log source]
	Filter    query.Filter  // compiled (query.Filter.Compile)
	Threshold int           // notify when this many events match within Window [1]
	Window    time.Duration // [1m]
	GroupBy   string        // pattern, source or rule [pattern]
	Cooldown  time.Duration // per group: after a notification, matches are counted, not sent [5m]
	MaxGroups int           // groups held at once; the least recently matched is forgotten [1000]
	Webhook   Webhook
}

// The values of group_by.
const (
	GroupByPattern = "pattern"
	GroupBySource  = "source"
	GroupByRule    = "rule"
)

// Defaults of a rule.
const (
	DefaultWindow    = time.Minute
	DefaultCooldown  = 5 * time.Minute
	DefaultMaxGroups = 1000
)

func (r *Rule) setDefaults() {
	if r.Threshold <= 0 {
		r.Threshold = 1
	}
	if r.Window <= 0 {
		r.Window = DefaultWindow
	}
	if r.GroupBy == "" {
		r.GroupBy = GroupByPattern
	}
	if r.Cooldown <= 0 {
		r.Cooldown = DefaultCooldown
	}
	if r.MaxGroups <= 0 {
		r.MaxGroups = DefaultMaxGroups
	}
	if r.Webhook.Format == "" {
		r.Webhook.Format = FormatJSON
		if r.Webhook.Template != "" {
			r.Webhook.Format = FormatTemplate
		}
	}
	if r.Webhook.Timeout <= 0 {
		r.Webhook.Timeout = DefaultTimeout
	}
}

// fingerprint says whether two configs are one rule: a reload leaves a
// rule whose fingerprint (and sources) did not change alone.
func (r *Rule) fingerprint() string {
	b, _ := json.Marshal(struct {
		R   Rule
		Key string
	}{*r, r.Filter.Key()})
	return string(b)
}

// grouping says whether saved groups still mean the same: kept across a
// restart or a change of the rule only while it is equal.
func (r *Rule) grouping() string {
	b, _ := json.Marshal([]any{r.GroupBy, r.Threshold, r.Window, r.Filter.Key()})
	return string(b)
}

// Matches reports whether the rule reads the named source.
func (r *Rule) Matches(source string) bool {
	if len(r.Sources) == 0 {
		return true
	}
	for _, g := range r.Sources {
		if ok, _ := path.Match(g, source); ok {
			return true
		}
	}
	return false
}

// Source is a source a rule reads: the agent's stream sources, through an
// adapter, so that this package need not import the hub.
type Source interface {
	Name() string
	// Started is closed once the source's producer has started: its
	// prefill (the files' last lines) is committed, so a tap from then on
	// reads only what is new.
	Started() <-chan struct{}
	// Tap reads the events that pass f after the durable key (nil: from
	// the next one committed), signalling notify when there are some.
	Tap(key []byte, f *query.Filter, notify chan struct{}) Tap
}

// Tap is a filtered reader of a source (the hub's stream.Tap).
type Tap interface {
	Take(dst []*event.Event) (events []*event.Event, missed int64, ended bool)
	// Through is the key of the newest event read past, matching or not.
	Through() []byte
	Close()
}

// rule is one running rule: its evaluator and its deliverer, two
// goroutines sharing its state under mu.
type rule struct {
	cfg  Rule
	e    *Engine
	log  *zap.Logger
	srcs []Source
	tmpl *template.Template
	hdr  map[string]string // the headers, ${VAR} expanded: never logged
	ctr  *counters         // the rule name's counters, which outlive reloads

	notify  chan struct{} // the taps': events to take
	wakeOut chan struct{} // the deliverer's: a notification to send
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu  sync.Mutex
	st  ruleState
	pat []byte // the evaluator's pattern buffer

	saveMu      sync.Mutex // orders the writes of the state file
	saveFailing bool       // the last write failed; saveMu held
}

// ruleState is what a rule keeps across reloads and, in state_dir,
// restarts. Guarded by rule.mu.
type ruleState struct {
	gs       *groups
	pos      map[string][]byte // per source: the key of the last event evaluated
	out      []*pending        // notifications waiting for delivery, oldest first
	dropped  int64             // notifications lost since the last delivered
	dirty    bool              // groups or outbox changed since the last save
	moved    bool              // positions moved since the last save
	saved    time.Time         // the last save
	started  time.Time         // evaluating since
	missed   int64             // events the taps could not read (gaps), -1 in the sum when unknown
	lastSent time.Time
	lastErr  string
	lastErrT time.Time
	failures uint64 // failed attempts
	recent   []Recent
	grouping string // the rule's grouping when it stopped (see Rule.grouping)
}

// Recent is one of a rule's last notifications, as GET /api/alerts shows
// it.
type Recent struct {
	key        string    // the notification's Key
	Kind       string    `json:"kind"`
	Group      string    `json:"group"`
	Source     string    `json:"source"`
	Count      int64     `json:"count"`
	Suppressed int64     `json:"suppressed"`
	Line       string    `json:"line"`
	At         time.Time `json:"at"`     // when it was made
	Result     string    `json:"result"` // pending, sent, failed or dropped
}

// maxRecent is how many notifications a rule's status lists.
const maxRecent = 10

// pending is a notification waiting for delivery.
type pending struct {
	N        Notification `json:"n"`
	Key      string       `json:"key"` // Edgetail-Notification: the same for every attempt and across restarts
	Created  time.Time    `json:"created"`
	inflight bool         // the deliverer holds it
	firstTry time.Time    // this run's first attempt: the retries' budget counts from it
}

// sources lists the names of the rule's sources.
func (r *rule) sourceNames() []string {
	out := make([]string, len(r.srcs))
	for i, s := range r.srcs {
		out[i] = s.Name()
	}
	slices.Sort(out)
	return out
}
