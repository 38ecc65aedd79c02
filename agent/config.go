package agent

import (
	"bytes"
	_ "embed"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"edgetail/logging"
	"edgetail/multiline"
	"edgetail/stream"
	"edgetail/tailer"
	"edgetail/web"
	"edgetail/yamlconf"
)

// Config is the YAML configuration. Only this package sees YAML; the tailer
// and the stream hub get plain option structs built from it.
type Config struct {
	Listen   string         `yaml:"listen"`
	LogLevel string         `yaml:"log_level"`
	Insecure bool           `yaml:"insecure"`
	Sources  []SourceConfig `yaml:"sources"`
	Pipeline PipelineConfig `yaml:"pipeline"`
	Stream   StreamConfig   `yaml:"stream"`
	Auth     web.AuthConfig `yaml:"auth"`
	TLS      web.TLSConfig  `yaml:"tls"`
	CORS     web.CORSConfig `yaml:"cors"`
	Pprof    string         `yaml:"pprof"` // loopback address for net/http/pprof; "" is off
	// StateDir keeps what must outlive the process: each file source's
	// table of known files, which makes its ids durable.
	StateDir string `yaml:"state_dir"`
	// TrustedProxies lists the reverse proxies (CIDRs) whose
	// X-Forwarded-For names the client for the per-IP cap and rate; none
	// by default, and then the header is ignored.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Fleet publishes sources to NATS JetStream (agent/fleet.go); nil: off.
	Fleet *FleetConfig `yaml:"fleet"`
	// Alerts are rules evaluated on every line, notified to webhooks
	// (agent/alerts.go, package alerts).
	Alerts []AlertConfig `yaml:"alerts"`
	// AlertsURL is the agent's public base URL, for the links to the UI
	// that notifications carry; "": none.
	AlertsURL string `yaml:"alerts_url"`

	doc *yamlconf.Doc // for the line numbers of validation errors
}

// SourceConfig is one entry of sources:. Exactly one of Files, Metrics and
// Journal is set.
type SourceConfig struct {
	Name    string         `yaml:"name"`
	Files   []string       `yaml:"files"`
	Exclude []string       `yaml:"exclude"`
	Engine  string         `yaml:"engine"` // "", "native" or "poll"
	Metrics *MetricsConfig `yaml:"metrics"`
	Journal *JournalConfig `yaml:"journal"`
	Publish bool           `yaml:"publish"` // send the source's lines to the fleet (agent/fleet.go)
	// Multiline groups a file source's lines into events (stack traces);
	// nil: every line is an event.
	Multiline *MultilineConfig `yaml:"multiline"`
}

// MultilineConfig is a file source's grouping of lines into events (SPEC
// "Multi-line events"): one of Preset and Start; zero values are the
// defaults (500 lines, 256KiB, 300ms).
type MultilineConfig struct {
	Preset   string        `yaml:"preset"`    // java, python, go, ruby, dotnet, indent
	Start    string        `yaml:"start"`     // RE2: a matching line starts an event
	MaxLines int           `yaml:"max_lines"` // [500]
	MaxBytes string        `yaml:"max_bytes"` // 256KiB, 1MiB, or bytes [256KiB]
	Wait     time.Duration `yaml:"wait"`      // [300ms]
}

// rules compiles the settings for the file source (the agent validated
// them: validateMultiline).
func (m *MultilineConfig) rules() (*multiline.Rules, error) {
	c := multiline.Config{Preset: m.Preset, Start: m.Start, MaxLines: m.MaxLines, Wait: m.Wait}
	if m.MaxBytes != "" {
		n, err := parseBytes(m.MaxBytes)
		if err != nil {
			return nil, err
		}
		if n > math.MaxInt32 {
			return nil, fmt.Errorf("%d bytes is too large", n)
		}
		c.MaxBytes = int(n)
	}
	return multiline.Compile(c)
}

// JournalConfig selects entries of the systemd journal; the zero value is
// the whole system journal.
type JournalConfig struct {
	Units       []string `yaml:"units"`       // _SYSTEMD_UNIT, exact; ".service" added when there is no dot
	Identifiers []string `yaml:"identifiers"` // SYSLOG_IDENTIFIER
	Matches     []string `yaml:"matches"`     // FIELD=VALUE
	Priority    string   `yaml:"priority"`    // keep this priority or more urgent (name or 0-7)
	Directory   string   `yaml:"directory"`   // a journal directory instead of the system journal
	Namespace   string   `yaml:"namespace"`   // or a journal namespace
}

// MetricsConfig configures a host metrics source.
type MetricsConfig struct {
	Interval time.Duration `yaml:"interval"`
	// ProcRoot and SysRoot point at the host's /proc and /sys, for an agent
	// in a container that has them mounted elsewhere (e.g. /host/proc).
	ProcRoot string `yaml:"proc_root"`
	SysRoot  string `yaml:"sys_root"`
}

// PipelineConfig tunes batching and the worker pool.
type PipelineConfig struct {
	Workers       int           `yaml:"workers"`
	BatchMaxLines int           `yaml:"batch_max_lines"`
	BatchMaxWait  time.Duration `yaml:"batch_max_wait"`
}

// StreamConfig tunes the streams and their caps.
type StreamConfig struct {
	Heartbeat           time.Duration `yaml:"heartbeat"`
	Retry               time.Duration `yaml:"retry"`
	ReplayLines         int           `yaml:"replay_lines"`
	ReplayBytes         int           `yaml:"replay_bytes"`
	MaxLineBytes        int           `yaml:"max_line_bytes"`
	MaxClients          int           `yaml:"max_clients"`
	MaxClientsPerSource int           `yaml:"max_clients_per_source"`
	MaxClientsPerIP     int           `yaml:"max_clients_per_ip"`
	ClientBuffer        int           `yaml:"client_buffer"`
	// ConnectRatePerIP bounds new streams per second per address (bursts
	// of twice that); -1 turns the limit off. An edgetail addition.
	ConnectRatePerIP float64 `yaml:"connect_rate_per_ip"`
	// MaxHistoryReads bounds the reads of logs on disk (since=, until=,
	// tail= beyond the replay buffer, downloads) running at once; more are
	// refused with 503. An edgetail addition.
	MaxHistoryReads int `yaml:"max_history_reads"`
}

//go:embed default.yaml
var defaultYAML []byte

// DefaultConfig returns the embedded default configuration, with a
// `journal` source for the whole system journal when journalctl exists: on
// a stock Debian 12 server the journal holds most of the logs.
func DefaultConfig() *Config {
	data := defaultYAML
	if _, err := exec.LookPath("journalctl"); err == nil {
		data = append(bytes.Clone(data), defaultJournalYAML...)
	}
	c, err := ParseConfig(data, "default.yaml")
	if err != nil {
		panic("embedded default config: " + err.Error())
	}
	return c
}

// defaultJournalYAML is appended to the default's sources: list.
const defaultJournalYAML = "  - name: journal\n    journal: {}\n"

// Problem is one thing wrong with a config, located in its file.
type Problem = yamlconf.Problem

// ConfigError holds every problem found, so one run of `edgetail check`
// shows them all.
type ConfigError = yamlconf.Error

// LoadConfig reads and validates a config file.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return ParseConfig(data, path)
}

// ParseConfig parses and validates YAML; name is used in messages.
func ParseConfig(data []byte, name string) (*Config, error) {
	c := &Config{}
	doc, probs, err := yamlconf.Decode(data, name, c)
	if err != nil {
		return nil, err
	}
	c.doc = doc
	c.setDefaults()
	probs = yamlconf.Merge(probs, c.validate())
	if len(probs) > 0 {
		return nil, &ConfigError{Problems: probs}
	}
	return c, nil
}

func (c *Config) setDefaults() {
	if c.StateDir == "" {
		c.StateDir = "/var/lib/edgetail"
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:7070"
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	// The stream and pipeline defaults are the hub's (stream.Defaults),
	// written here into the config so that `edgetail check` and the
	// tailers see the values in force.
	d := &stream.Defaults
	p := &c.Pipeline
	if p.BatchMaxLines == 0 {
		p.BatchMaxLines = d.BatchMaxLines
	}
	if p.BatchMaxWait == 0 {
		p.BatchMaxWait = d.BatchMaxWait
	}
	s := &c.Stream
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if s.Heartbeat == 0 {
		s.Heartbeat = d.Heartbeat
	}
	if s.Retry == 0 {
		s.Retry = d.Retry
	}
	if s.ReplayLines == 0 && !c.doc.Has("stream", "replay_lines") {
		s.ReplayLines = d.ReplayLines // unset; an explicit 0 keeps no history
	}
	def(&s.ReplayBytes, d.ReplayBytes)
	def(&s.MaxLineBytes, tailer.DefaultMaxLineBytes)
	def(&s.MaxClients, d.MaxClients)
	def(&s.MaxClientsPerSource, d.MaxClientsPerSource)
	def(&s.MaxClientsPerIP, d.MaxClientsPerIP)
	def(&s.ClientBuffer, d.ClientBuffer)
	def(&s.MaxHistoryReads, d.MaxHistoryReads)
	if s.ConnectRatePerIP == 0 {
		s.ConnectRatePerIP = d.ConnectRatePerIP
	}
	for i := range c.Sources {
		if m := c.Sources[i].Metrics; m != nil && m.Interval == 0 {
			m.Interval = 2 * time.Second
		}
	}
}

var sourceName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

// Validate checks the config again, after flags changed it.
func (c *Config) Validate() error {
	if probs := c.validate(); len(probs) > 0 {
		return &ConfigError{Problems: probs}
	}
	return nil
}

// validateMultiline checks a source's multiline block, each problem at
// its own key's line.
func (c *Config) validateMultiline(k string, s SourceConfig) []Problem {
	var probs []Problem
	add := func(key, format string, args ...any) { probs = append(probs, c.doc.Problem(key, format, args...)) }
	m, mk := s.Multiline, k+".multiline"
	if len(s.Files) == 0 {
		add(mk, "multiline groups the lines of files: a journal groups each entry's lines already")
	}
	switch {
	case m.Preset != "" && m.Start != "":
		add(mk+".start", "start and preset are exclusive: set one")
	case m.Preset == "" && m.Start == "":
		add(mk, "set preset (%s) or start", strings.Join(multiline.Presets, ", "))
	case m.Start != "":
		if _, err := regexp.Compile(m.Start); err != nil {
			add(mk+".start", "bad regular expression: %v", err)
		}
	case !slices.Contains(multiline.Presets, m.Preset):
		add(mk+".preset", "unknown preset %q (want %s)", m.Preset, strings.Join(multiline.Presets, ", "))
	}
	if m.MaxLines < 0 {
		add(mk+".max_lines", "must be >= 0 (0: 500)")
	}
	if m.MaxBytes != "" {
		if n, err := parseBytes(m.MaxBytes); err != nil {
			add(mk+".max_bytes", "%v", err)
		} else if n > math.MaxInt32 {
			add(mk+".max_bytes", "at most 2GiB")
		}
	}
	if m.Wait < 0 {
		add(mk+".wait", "must be >= 0 (0: 300ms)")
	}
	return probs
}

func (c *Config) validate() []Problem {
	var probs []Problem
	add := func(key, format string, args ...any) { probs = append(probs, c.doc.Problem(key, format, args...)) }
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		add("listen", "want host:port, got %q", c.Listen)
	}
	if _, err := logging.ParseLevel(c.LogLevel); err != nil {
		add("log_level", "%v", err)
	}
	if len(c.Sources) == 0 {
		add("sources", "at least one source is needed")
	}
	seen := map[string]bool{}
	for i, s := range c.Sources {
		k := fmt.Sprintf("sources[%d]", i)
		switch {
		case !sourceName.MatchString(s.Name):
			add(k+".name", "%q is not a valid name ([a-z0-9][a-z0-9_.-]*)", s.Name)
		case seen[s.Name]:
			add(k+".name", "%q is used twice", s.Name)
		}
		seen[s.Name] = true
		kinds := 0
		for _, set := range []bool{len(s.Files) > 0, s.Metrics != nil, s.Journal != nil} {
			if set {
				kinds++
			}
		}
		switch {
		case kinds > 1 && s.Journal == nil:
			add(k, "a source has files or metrics, not both")
		case kinds > 1:
			add(k, "a source has one of files, metrics and journal")
		case kinds == 0:
			add(k, "a source needs files or metrics (or journal)")
		}
		if s.Journal != nil {
			probs = append(probs, c.validateJournal(k+".journal", s.Journal)...)
		}
		for j, f := range s.Files {
			fk := fmt.Sprintf("%s.files[%d]", k, j)
			if !filepath.IsAbs(f) {
				add(fk, "%q is not an absolute path", f)
			} else if _, err := filepath.Match(f, ""); err != nil {
				add(fk, "bad glob %q: %v", f, err)
			}
		}
		for j, f := range s.Exclude {
			if _, err := filepath.Match(f, ""); err != nil {
				add(fmt.Sprintf("%s.exclude[%d]", k, j), "bad pattern %q: %v", f, err)
			}
		}
		switch s.Engine {
		case "", "native", "poll":
		default:
			add(k+".engine", "want native or poll, got %q", s.Engine)
		}
		if s.Multiline != nil {
			probs = append(probs, c.validateMultiline(k, s)...)
		}
		if s.Metrics != nil && s.Metrics.Interval < 10*time.Millisecond {
			add(k+".metrics.interval", "must be at least 10ms")
		}
	}
	p := c.Pipeline
	if p.Workers < 0 {
		add("pipeline.workers", "must be >= 0")
	}
	if p.BatchMaxLines < 1 {
		add("pipeline.batch_max_lines", "must be >= 1")
	}
	if p.BatchMaxWait < 0 {
		add("pipeline.batch_max_wait", "must be >= 0")
	}
	st := c.Stream
	if st.Heartbeat < 10*time.Millisecond {
		add("stream.heartbeat", "must be at least 10ms")
	}
	if st.Retry < 0 {
		add("stream.retry", "must be >= 0")
	}
	for key, v := range map[string]int{
		"stream.replay_lines": st.ReplayLines, "stream.replay_bytes": st.ReplayBytes,
		"stream.max_line_bytes": st.MaxLineBytes, "stream.max_clients": st.MaxClients,
		"stream.max_clients_per_source": st.MaxClientsPerSource, "stream.max_clients_per_ip": st.MaxClientsPerIP,
		"stream.client_buffer": st.ClientBuffer, "stream.max_history_reads": st.MaxHistoryReads,
	} {
		if v < 0 {
			add(key, "must be >= 0")
		}
	}
	if st.ConnectRatePerIP < 0 && st.ConnectRatePerIP != -1 {
		add("stream.connect_rate_per_ip", "must be > 0, or -1 for no limit")
	}
	if st.MaxLineBytes > 0 && st.MaxLineBytes < 16 {
		add("stream.max_line_bytes", "must be at least 16")
	}
	if c.Pprof != "" && !web.IsLoopback(c.Pprof) {
		add("pprof", "%q must be a loopback host:port (127.0.0.1:6060): profiles reveal memory contents", c.Pprof)
	}
	for i, p := range c.TrustedProxies {
		if _, err := web.ParseProxy(p); err != nil {
			add(fmt.Sprintf("trusted_proxies[%d]", i), "%v", err)
		}
	}
	probs = append(probs, web.ValidateAuth(c.doc, c.Auth, func(s string) bool { return seen[s] })...)
	probs = append(probs, c.validateFleet()...)
	probs = append(probs, c.validateAlerts()...)
	probs = append(probs, web.ValidateExposure(c.doc, c.Listen, c.Auth, c.TLS, c.Insecure)...)
	return probs
}
