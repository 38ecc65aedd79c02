package agent

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"edgetail/fleet"
	"edgetail/stream"
)

// FleetConfig is the agent's fleet: block: where it publishes the lines of
// its publish: true sources.
type FleetConfig struct {
	NATS              []string        `yaml:"nats"`                 // servers, nats://host:4222
	Host              string          `yaml:"host"`                 // default: the machine's host name
	Stream            string          `yaml:"stream"`               // default EDGETAIL; created if missing
	MaxAge            time.Duration   `yaml:"max_age"`              // when this agent creates the stream [24h]
	MaxBytes          string          `yaml:"max_bytes"`            // likewise, 1GiB, 512MiB, or bytes [1GiB]
	MaxMsgsPerSubject int64           `yaml:"max_msgs_per_subject"` // likewise, per host, source and level [1000000]
	Replicas          int             `yaml:"replicas"`             // likewise [1]
	Creds             string          `yaml:"creds"`                // NATS credentials file
	TLS               fleet.TLSConfig `yaml:"tls"`
	// StateDir keeps the durable id of each published source's last
	// acknowledged line (and the messages in flight) across restarts, so
	// that a publisher resumes from disk after it; "": the agent's
	// state_dir.
	StateDir string `yaml:"state_dir"`
}

// parseBytes reads 1GiB, 512MiB, 64KiB, 1GB, 10MB or a plain byte count.
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(v), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("want a size like 1GiB or 512MiB")
	}
	return n * mult, nil
}

// fleetHost is the host name the agent publishes under.
func (f *FleetConfig) fleetHost() string {
	if f.Host != "" {
		return f.Host
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

// validateFleet checks the fleet: block and the publish: flags.
func (c *Config) validateFleet() []Problem {
	var probs []Problem
	add := func(key, format string, args ...any) {
		probs = append(probs, c.doc.Problem(key, format, args...))
	}
	f := c.Fleet
	if f == nil {
		for i, s := range c.Sources {
			if s.Publish {
				add(fmt.Sprintf("sources[%d].publish", i), "publish: true needs a fleet: block with nats servers")
			}
		}
		return probs
	}
	if len(f.NATS) == 0 {
		add("fleet.nats", "list at least one NATS server (nats://host:4222)")
	}
	for i, u := range f.NATS {
		if !strings.Contains(u, "://") && !strings.Contains(u, ":") {
			add(fmt.Sprintf("fleet.nats[%d]", i), "%q is not a NATS URL (nats://host:4222)", u)
		}
	}
	if f.Stream != "" && !fleet.ValidStreamName(f.Stream) {
		add("fleet.stream", "%q is not a stream name ([A-Za-z0-9_-], at most 64)", f.Stream)
	}
	if f.Host != "" && (len(f.Host) > 255 || strings.ContainsAny(f.Host, " \t\r\n,")) {
		add("fleet.host", "%q is not a host name", f.Host)
	}
	if f.MaxAge < 0 || f.MaxAge > 0 && f.MaxAge < time.Minute {
		add("fleet.max_age", "must be at least 1m")
	}
	if f.MaxBytes != "" {
		if _, err := parseBytes(f.MaxBytes); err != nil {
			add("fleet.max_bytes", "%q: %v", f.MaxBytes, err)
		}
	}
	if f.MaxMsgsPerSubject < 0 {
		add("fleet.max_msgs_per_subject", "must be > 0")
	}
	if f.Replicas < 0 || f.Replicas > 5 {
		add("fleet.replicas", "must be between 1 and 5")
	}
	if (f.TLS.Cert == "") != (f.TLS.Key == "") {
		add("fleet.tls", "cert and key go together")
	}
	if f.StateDir != "" && !filepath.IsAbs(f.StateDir) {
		add("fleet.state_dir", "%q is not an absolute path", f.StateDir)
	}
	for i, s := range c.Sources {
		if s.Publish && s.Metrics != nil {
			add(fmt.Sprintf("sources[%d].publish", i), "metrics sources are not published to the fleet")
		}
	}
	return probs
}

// uplink is the agent's side of the fleet: one NATS connection and a
// publisher per published source.
type uplink struct {
	mu   sync.Mutex
	pubs []*fleet.Publisher
}

// runFleet publishes the publish: true sources until ctx is done. NATS
// being away never stops the agent: the connection retries for ever, and
// the publishers wait and catch up.
func (a *Agent) runFleet(ctx context.Context, cfg *Config) error {
	f := cfg.Fleet
	log := a.log.Named("fleet")
	host := f.fleetHost()
	nc, err := fleet.Connect(fleet.ConnOptions{URLs: f.NATS, Name: "edgetail " + host, Creds: f.Creds,
		CA: f.TLS.CA, Cert: f.TLS.Cert, Key: f.TLS.Key, Logger: log})
	if err != nil {
		// The agent's own streams go on without the fleet.
		log.Error("fleet off: cannot set up the NATS connection", zap.Error(err))
		return nil
	}
	defer nc.Close()
	js, err := fleet.NewJetStream(nc)
	if err != nil {
		log.Error("fleet off", zap.Error(err))
		return nil
	}
	so := fleet.StreamOptions{Name: f.Stream, MaxAge: f.MaxAge, MaxPerSubject: f.MaxMsgsPerSubject, Replicas: f.Replicas}
	if f.MaxBytes != "" {
		so.MaxBytes, _ = parseBytes(f.MaxBytes)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { ensureStreamLoop(ctx, js, so, log) })
	for _, s := range cfg.Sources {
		if !s.Publish {
			continue
		}
		src := a.hub.Lookup(s.Name)
		if src == nil {
			continue
		}
		// fleet.state_dir, else the agent's own state_dir (where the
		// durable ids' tables live too).
		var statePath string
		if dir := cmp.Or(f.StateDir, cfg.StateDir); dir != "" {
			statePath = filepath.Join(dir, "fleet-"+s.Name+".json")
		}
		started := a.startedOf(s.Name)
		wg.Go(func() {
			// Once the source has started (a file source's prefill is
			// committed): a resume then reads the past exactly up to the
			// live lines, and a first start publishes from the end of
			// the files rather than their last replay_lines lines again.
			select {
			case <-started:
			case <-ctx.Done():
				return
			}
			p := fleet.NewPublisher(fleet.PublisherOptions{Conn: nc, JS: js, Prefix: f.Stream, Host: host,
				Source: fleet.SourceOf[*stream.Tap](src), StatePath: statePath, Logger: log.With(zap.String("source", s.Name))})
			a.up.mu.Lock()
			a.up.pubs = append(a.up.pubs, p)
			a.up.mu.Unlock()
			_ = p.Run(ctx)
		})
	}
	log.Info("publishing to the fleet", zap.String("host", host), zap.Strings("nats", f.NATS))
	<-ctx.Done()
	return nil
}

// startedOf returns what is closed once the named source's producer has
// started; a closed channel when it runs no producer.
func (a *Agent) startedOf(name string) <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p := a.running[name]; p != nil {
		return p.started
	}
	c := make(chan struct{})
	close(c)
	return c
}

// ensureStreamLoop creates the stream when it is missing, retrying until
// NATS answers; publishes before then fail and are sent again.
func ensureStreamLoop(ctx context.Context, js jetstream.JetStream, so fleet.StreamOptions, log *zap.Logger) {
	wait := 500 * time.Millisecond
	var last string
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		created, err := fleet.EnsureStream(cctx, js, so)
		cancel()
		if err == nil {
			if created {
				log.Info("created the fleet stream", zap.String("stream", cmp.Or(so.Name, fleet.DefaultStream)))
			}
			return
		}
		if err.Error() != last {
			log.Warn("fleet stream not reachable yet", zap.Error(err))
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// writeFleetMetrics writes the publishers' counters.
func (a *Agent) writeFleetMetrics(w io.Writer) {
	a.up.mu.Lock()
	pubs := append([]*fleet.Publisher(nil), a.up.pubs...)
	a.up.mu.Unlock()
	if len(pubs) == 0 {
		return
	}
	var stats []fleet.PublisherStats
	for _, p := range pubs {
		stats = append(stats, p.Stats())
	}
	for _, m := range []struct {
		name, help string
		val        func(fleet.PublisherStats) uint64
	}{
		{"edgetail_fleet_published_lines_total", "Lines acknowledged by JetStream, per source.", func(s fleet.PublisherStats) uint64 { return s.Published }},
		{"edgetail_fleet_missed_lines_total", "Lines published as missing (a gap marker), per source.", func(s fleet.PublisherStats) uint64 { return s.Missed }},
		{"edgetail_fleet_resent_messages_total", "Messages sent again after an error, per source.", func(s fleet.PublisherStats) uint64 { return s.Resends }},
	} {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n", m.name, m.help, m.name)
		for _, s := range stats {
			fmt.Fprintf(w, "%s{source=%q} %d\n", m.name, s.Source, m.val(s))
		}
	}
}

// warnFleetReload says when a reload changes what only a restart applies:
// the fleet block and which sources are published.
func warnFleetReload(log *zap.Logger, old, cfg *Config) {
	published := func(c *Config) []string {
		var out []string
		for _, s := range c.Sources {
			if s.Publish {
				out = append(out, s.Name)
			}
		}
		return out
	}
	if !reflect.DeepEqual(old.Fleet, cfg.Fleet) || !slices.Equal(published(old), published(cfg)) {
		log.Warn("fleet settings and publish: flags change only on restart")
	}
}
