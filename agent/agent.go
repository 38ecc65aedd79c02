// Package agent owns edgetail's configuration and lifecycle: it reads and
// validates the YAML, starts a producer per source (a tailer or a host
// metrics sampler) feeding the stream hub, mounts the HTTP routes on gin,
// reloads on SIGHUP and shuts down in order.
package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"edgetail/alerts"
	"edgetail/filesource"
	"edgetail/hostmetrics"
	"edgetail/journal"
	"edgetail/journalsource"
	"edgetail/multiline"
	"edgetail/procs"
	"edgetail/stream"
	"edgetail/tailer"
	"edgetail/web"
)

// Agent runs one configuration. New allocates; Run does the work.
type Agent struct {
	log   *zap.Logger
	hub   *stream.Hub
	tel   *telemetry
	guard *web.Guard // auth, CORS, trusted proxies: swapped whole on reload
	cert  atomic.Pointer[tls.Certificate]
	cfg   atomic.Pointer[Config]

	// applyMu serializes the changes of the producers (start, reload,
	// stop), which wait for producers to stop: an fsync, the poll
	// engine's sleep, journalctl's exit. Requests never take it.
	applyMu sync.Mutex
	// mu guards running and ctx only, held for memory only: requests
	// (/api/sources, /metrics, the watchdog) take it.
	mu      sync.Mutex
	running map[string]*producer
	ctx     context.Context
	started atomic.Bool // every source of the first config has started
	up      uplink      // the fleet publishers (agent/fleet.go)
	alerts  *alerts.Engine

	// Hooks for the service manager (systemd), all optional.
	OnReady  func()
	OnReload func(done bool)
	OnStop   func()
	// Procs lets the agent size the runtime's processors to its load
	// (package procs): the daemon sets it; tests, which share their
	// process, leave it off.
	Procs bool
}

// producer is the goroutines feeding one source; cancel stops them.
type producer struct {
	cfg     SourceConfig
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started chan struct{}
	file    *filesource.Source    // nil but for file sources
	journal *journalsource.Source // nil but for journal sources
}

// New builds an agent for cfg; it starts nothing.
func New(cfg *Config, log *zap.Logger) (*Agent, error) {
	if log == nil {
		log = zap.NewNop()
	}
	a := &Agent{log: log, running: make(map[string]*producer), tel: newTelemetry()}
	a.cfg.Store(cfg)
	pol, err := policyOf(cfg)
	if err != nil {
		return nil, err
	}
	a.guard = web.NewGuard(pol)
	a.guard.Denied = func(reason string) { a.tel.authFails[reason].Inc() }
	if err := a.loadCert(cfg.TLS); err != nil {
		return nil, err
	}
	a.alerts = newAlerts(cfg, a)
	st := cfg.Stream
	a.hub = stream.New(stream.Options{
		ReplayLines:         replayLines(st.ReplayLines),
		ReplayBytes:         st.ReplayBytes,
		Heartbeat:           st.Heartbeat,
		Retry:               st.Retry,
		ClientBuffer:        st.ClientBuffer,
		MaxClients:          st.MaxClients,
		MaxClientsPerSource: st.MaxClientsPerSource,
		MaxClientsPerIP:     st.MaxClientsPerIP,
		ConnectRatePerIP:    st.ConnectRatePerIP,
		MaxHistoryReads:     st.MaxHistoryReads,
		Workers:             cfg.Pipeline.Workers,
		BatchMaxLines:       cfg.Pipeline.BatchMaxLines,
		BatchMaxWait:        cfg.Pipeline.BatchMaxWait,
		ClientIP:            a.guard.ClientIP,
		Logger:              log.Named("stream"),
		Observer:            a.tel,
	})
	return a, nil
}

// replayLines maps the config's explicit 0 (no history) to the hub's -1:
// the hub reads 0 as "the default".
func replayLines(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// policyOf reads the web policy of cfg: its tokens (token files
// included), CORS origins and trusted proxies.
func policyOf(cfg *Config) (*web.Policy, error) {
	au, err := web.NewAuthenticator(cfg.Auth)
	if err != nil {
		return nil, err
	}
	tp, err := web.ParseTrustedProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("trusted_proxies: %w", err)
	}
	return &web.Policy{Auth: au, CORS: cfg.CORS.AllowedOrigins, PublicMetrics: cfg.Auth.PublicMetrics, Proxies: tp}, nil
}

// config returns the configuration in force.
func (a *Agent) config() *Config { return a.cfg.Load() }

func (a *Agent) loadCert(c web.TLSConfig) error {
	if c.Cert == "" {
		a.cert.Store(nil)
		return nil
	}
	cert, err := tls.LoadX509KeyPair(c.Cert, c.Key)
	if err != nil {
		return fmt.Errorf("load tls cert %s: %w", c.Cert, err)
	}
	a.cert.Store(&cert)
	return nil
}

// Hub returns the stream hub, for tests and benchmarks.
func (a *Agent) Hub() *stream.Hub { return a.hub }

// Run serves until ctx is done, then stops intake, ends every stream and
// shuts the HTTP server down. The listener is opened first, so a port in
// use is an error at once.
func (a *Agent) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.config().Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.config().Listen, err)
	}
	return a.Serve(ctx, ln)
}

// Serve is Run on a listener the caller opened (tests, socket activation).
func (a *Agent) Serve(ctx context.Context, ln net.Listener) error {
	var cert func() *tls.Certificate
	if a.cert.Load() != nil {
		cert = a.cert.Load
	}
	srv := web.NewServer(a.routes(), a.log, cert)
	a.log.Info("listening", zap.String("addr", ln.Addr().String()), zap.Bool("tls", srv.TLSConfig != nil))

	srcCtx, stopSources := context.WithCancel(context.Background())
	defer stopSources()
	a.mu.Lock()
	a.ctx = srcCtx
	a.mu.Unlock()

	// The sources exist in the hub before the first request can name them.
	cfg := a.config()
	if err := a.apply(cfg); err != nil {
		a.stopAll()
		return err
	}
	var pprofLn net.Listener
	if cfg.Pprof != "" {
		var err error
		if pprofLn, err = net.Listen("tcp", cfg.Pprof); err != nil {
			a.stopAll()
			return fmt.Errorf("pprof: listen on %s: %w", cfg.Pprof, err)
		}
	}

	a.applyAlerts(cfg)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.hub.Run(gctx) })
	// Rules stop with the rest, each after a last take and a save of
	// where it stands: what is committed after that is read again from
	// disk by the next run.
	g.Go(func() error { return a.alerts.Run(gctx) })
	if cfg.Fleet != nil {
		// Stops with the streams: intake first (stopAll), then publishers.
		g.Go(func() error { return a.runFleet(gctx, cfg) })
	}
	if a.Procs {
		gov := &procs.Governor{Busy: a.hub.Busy, Log: a.log}
		g.Go(func() error { return gov.Run(gctx) })
	}
	if pprofLn != nil {
		a.servePprof(gctx, g, pprofLn)
	}
	g.Go(func() error { return web.Serve(srv, ln) })
	g.Go(func() error {
		a.waitStarted(gctx)
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		if a.OnStop != nil {
			a.OnStop()
		}
		// Order: stop intake, end the streams, then close the server,
		// which does not wait for streaming handlers on its own. Without
		// keep-alives, an ended stream's connection closes instead of going
		// idle, so Shutdown need not poll for it.
		a.stopAll()
		srv.SetKeepAlivesEnabled(false)
		a.hub.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
		}
		return nil
	})
	err := g.Wait()
	a.stopAll()
	return err
}

// waitStarted marks the agent ready once every source has started.
func (a *Agent) waitStarted(ctx context.Context) {
	a.mu.Lock()
	var chans []chan struct{}
	for _, p := range a.running {
		chans = append(chans, p.started)
	}
	a.mu.Unlock()
	for _, c := range chans {
		select {
		case <-c:
		case <-ctx.Done():
			return
		}
	}
	a.started.Store(true)
	a.log.Info("ready", zap.Int("sources", len(chans)))
	if a.OnReady != nil {
		a.OnReady()
	}
}

// Ready reports whether every source has started.
func (a *Agent) Ready() bool {
	if !a.started.Load() {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range a.running {
		select {
		case <-p.started:
		default:
			return false
		}
	}
	return true
}

// Reload applies a new configuration: sources whose config is unchanged
// keep running and keep their clients; changed ones restart their producer
// but keep their clients and history; removed ones end their streams.
// Settings that need a restart (listen, caps) are logged, not applied.
func (a *Agent) Reload(cfg *Config) error {
	if a.OnReload != nil {
		a.OnReload(false)
		defer a.OnReload(true)
	}
	pol, err := policyOf(cfg)
	if err != nil {
		return err
	}
	if err := a.loadCert(cfg.TLS); err != nil {
		return err
	}
	a.guard.Set(pol)
	old := a.config()
	if cfg.Listen != old.Listen || !reflect.DeepEqual(cfg.Stream, old.Stream) || !reflect.DeepEqual(cfg.Pipeline, old.Pipeline) {
		a.log.Warn("listen, stream and pipeline settings change only on restart")
	}
	warnFleetReload(a.log, old, cfg)
	if err := a.apply(cfg); err != nil {
		return err
	}
	if cfg.AlertsURL != old.AlertsURL || cfg.StateDir != old.StateDir {
		a.log.Warn("alerts_url and state_dir change only on restart")
	}
	a.applyAlerts(cfg)
	a.cfg.Store(cfg)
	a.log.Info("reloaded", zap.Int("sources", len(cfg.Sources)), zap.Int("alerts", len(cfg.Alerts)))
	return nil
}

// apply makes the running producers match cfg. It waits for the producers
// it stops without holding mu, so that requests and streams never wait for
// a reload.
func (a *Agent) apply(cfg *Config) error {
	a.applyMu.Lock()
	defer a.applyMu.Unlock()
	want := make(map[string]SourceConfig, len(cfg.Sources))
	for _, s := range cfg.Sources {
		want[s.Name] = s
	}
	var stopped []*producer
	a.mu.Lock()
	for name, p := range a.running {
		if s, ok := want[name]; ok && reflect.DeepEqual(s, p.cfg) {
			continue
		}
		stopped = append(stopped, p)
		delete(a.running, name)
	}
	a.mu.Unlock()
	for _, p := range stopped {
		// Wait, so that the old and the new producer never feed the
		// source at once: ids and order depend on a single feeder.
		p.stop()
		if _, ok := want[p.cfg.Name]; !ok {
			a.hub.Remove(p.cfg.Name)
			a.log.Info("source removed", zap.String("source", p.cfg.Name))
		}
	}
	for _, s := range cfg.Sources {
		a.mu.Lock()
		_, ok := a.running[s.Name]
		a.mu.Unlock()
		if ok {
			continue
		}
		p, err := a.start(s, cfg)
		if err != nil {
			return fmt.Errorf("source %s: %w", s.Name, err)
		}
		a.mu.Lock()
		a.running[s.Name] = p
		a.mu.Unlock()
	}
	return nil
}

// start launches the producer of one source; a.applyMu held.
func (a *Agent) start(s SourceConfig, cfg *Config) (*producer, error) {
	a.mu.Lock()
	parent := a.ctx
	a.mu.Unlock()
	ctx, cancel := context.WithCancel(parent)
	p := &producer{cfg: s, cancel: cancel, started: make(chan struct{})}
	log := a.log.With(zap.String("source", s.Name))
	if s.Metrics != nil {
		src := a.hub.Source(s.Name, stream.KindMetrics)
		sampler := hostmetrics.New(hostmetrics.Options{
			Interval: s.Metrics.Interval,
			ProcRoot: s.Metrics.ProcRoot,
			SysRoot:  s.Metrics.SysRoot,
			Logger:   log,
		})
		close(p.started)
		p.wg.Go(func() {
			if err := sampler.Run(ctx, src.PublishMetric); err != nil {
				log.Error("metrics source stopped", zap.Error(err))
			}
		})
		return p, nil
	}
	if s.Journal != nil {
		jc := s.Journal
		js, err := journalsource.New(journalsource.Options{
			Stream: a.hub.Source(s.Name, stream.KindJournal),
			Journal: journal.Options{
				Units:       jc.Units,
				Identifiers: jc.Identifiers,
				Matches:     jc.Matches,
				Priority:    jc.Priority,
				Directory:   jc.Directory,
				Namespace:   jc.Namespace,
				Prefill:     max(cfg.Stream.ReplayLines, 0),
			},
			MaxLineBytes: cfg.Stream.MaxLineBytes,
			Logger:       log,
		})
		if err != nil {
			cancel()
			return nil, err
		}
		p.journal = js
		p.run(ctx, js.Run, js.Started(), log, "journal source stopped")
		return p, nil
	}
	var ml *multiline.Rules
	if s.Multiline != nil {
		var err error
		if ml, err = s.Multiline.rules(); err != nil {
			cancel()
			return nil, fmt.Errorf("source %s: multiline: %w", s.Name, err)
		}
	}
	fs, err := filesource.New(filesource.Options{
		Stream:       a.hub.Source(s.Name, stream.KindFile),
		Globs:        s.Files,
		Exclude:      s.Exclude,
		Engine:       tailer.Engine(s.Engine),
		MaxLineBytes: cfg.Stream.MaxLineBytes,
		Prefill:      cfg.Stream.ReplayLines,
		StateDir:     cfg.StateDir,
		Multiline:    ml,
		Logger:       log,
	})
	if err != nil {
		cancel()
		return nil, err
	}
	p.file = fs
	p.run(ctx, fs.Run, fs.Started(), log, "tailer stopped")
	return p, nil
}

// run starts the producer's goroutines: run itself, and the one that marks
// the producer started once started is closed.
func (p *producer) run(ctx context.Context, run func(context.Context) error, started <-chan struct{}, log *zap.Logger, failed string) {
	p.wg.Go(func() {
		if err := run(ctx); err != nil && ctx.Err() == nil {
			log.Error(failed, zap.Error(err))
		}
	})
	p.wg.Go(func() {
		select {
		case <-started:
			close(p.started)
		case <-ctx.Done():
		}
	})
}

func (p *producer) stop() {
	p.cancel()
	p.wg.Wait()
}

// stopAll stops every producer and waits for them.
func (a *Agent) stopAll() {
	a.applyMu.Lock()
	defer a.applyMu.Unlock()
	a.mu.Lock()
	ps := make([]*producer, 0, len(a.running))
	for _, p := range a.running {
		ps = append(ps, p)
	}
	a.mu.Unlock()
	for _, p := range ps {
		p.stop()
	}
}

// tailerOf returns the tailer of a file source, nil for others.
func (a *Agent) tailerOf(name string) *tailer.Tailer {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p, ok := a.running[name]; ok && p.file != nil {
		return p.file.Tailer()
	}
	return nil
}

// journalOf returns the follower of a journal source, nil for others.
func (a *Agent) journalOf(name string) *journalsource.Source {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p, ok := a.running[name]; ok {
		return p.journal
	}
	return nil
}

// servePprof serves net/http/pprof on its own listener, which validation
// keeps on loopback; it stops with the agent.
func (a *Agent) servePprof(ctx context.Context, g *errgroup.Group, ln net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	a.log.Info("pprof listening", zap.String("addr", ln.Addr().String()))
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("pprof: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		return srv.Close()
	})
}
