package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path"
	"slices"
	"strings"
	"syscall"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
	"github.com/gin-gonic/gin"
	"gopkg.in/yaml.v3"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"edgetail/fleet"
	"edgetail/ui"
)

// HubConfig is the YAML of `edgetail hub`: the agent's keys that make sense
// for a hub, with fleet: naming NATS.
type HubConfig struct {
	Listen   string          `yaml:"listen"`
	LogLevel string          `yaml:"log_level"`
	Insecure bool            `yaml:"insecure"`
	Fleet    HubFleetConfig  `yaml:"fleet"`
	Stream   HubStreamConfig `yaml:"stream"`
	Auth     AuthConfig      `yaml:"auth"`
	TLS      TLSConfig       `yaml:"tls"`
	CORS     CORSConfig      `yaml:"cors"`

	root *yaml.Node
}

// HubFleetConfig says where the hub reads the fleet.
type HubFleetConfig struct {
	NATS   []string `yaml:"nats"`
	Stream string   `yaml:"stream"`
	Creds  string   `yaml:"creds"`
	TLS    FleetTLS `yaml:"tls"`
}

// HubStreamConfig tunes the hub's streams and caps; zero values are the
// agent's defaults.
type HubStreamConfig struct {
	Heartbeat       time.Duration `yaml:"heartbeat"`
	Retry           time.Duration `yaml:"retry"`
	MaxClients      int           `yaml:"max_clients"`
	MaxClientsPerIP int           `yaml:"max_clients_per_ip"`
	ClientBuffer    int           `yaml:"client_buffer"`
	ReplayLines     int           `yaml:"replay_lines"` // per shared view [10000]
}

// ParseHubConfig parses and validates a hub config; name is used in
// messages.
func ParseHubConfig(data []byte, name string) (*HubConfig, error) {
	c, err := decodeHubConfig(data, name)
	if err != nil {
		return nil, err
	}
	if probs := c.validate(name); len(probs) > 0 {
		return nil, &ConfigError{probs}
	}
	return c, nil
}

// decodeHubConfig parses a hub config strictly (unknown keys are errors)
// and sets defaults, without validating values.
func decodeHubConfig(data []byte, name string) (*HubConfig, error) {
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return nil, &ConfigError{yamlProblems(name, err)}
	}
	c := &HubConfig{root: &root}
	if len(root.Content) > 0 {
		strict := yaml.NewDecoder(bytes.NewReader(data))
		strict.KnownFields(true)
		if err := strict.Decode(c); err != nil && !errors.Is(err, io.EOF) {
			return nil, &ConfigError{yamlProblems(name, err)}
		}
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:7080"
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	return c, nil
}

func (c *HubConfig) validate(name string) []Problem {
	// The agent's helpers find lines through a Config holding the same tree.
	loc := &Config{root: c.root, Auth: c.Auth}
	var probs []Problem
	add := func(key, format string, args ...any) {
		probs = append(probs, Problem{File: name, Line: loc.lineOf(key), Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		add("listen", "want host:port, got %q", c.Listen)
	}
	if _, err := parseLogLevel(c.LogLevel); err != nil {
		add("log_level", "%v", err)
	}
	if len(c.Fleet.NATS) == 0 {
		add("fleet.nats", "list at least one NATS server (nats://host:4222), or give -nats")
	}
	if c.Fleet.Stream != "" && !streamName.MatchString(c.Fleet.Stream) {
		add("fleet.stream", "%q is not a stream name ([A-Za-z0-9_-], at most 64)", c.Fleet.Stream)
	}
	if (c.Fleet.TLS.Cert == "") != (c.Fleet.TLS.Key == "") {
		add("fleet.tls", "cert and key go together")
	}
	st := c.Stream
	if st.Heartbeat != 0 && st.Heartbeat < 10*time.Millisecond {
		add("stream.heartbeat", "must be at least 10ms")
	}
	for key, v := range map[string]int{"stream.max_clients": st.MaxClients, "stream.max_clients_per_ip": st.MaxClientsPerIP,
		"stream.client_buffer": st.ClientBuffer, "stream.replay_lines": st.ReplayLines} {
		if v < 0 {
			add(key, "must be >= 0")
		}
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		add("tls", "cert and key go together")
	}
	// Token sources and hosts are globs on a hub: any name is known.
	known := map[string]bool{}
	for i, t := range c.Auth.Tokens {
		for j, g := range append(slices.Clone(t.Sources), t.Hosts...) {
			known[g] = true
			if _, err := path.Match(g, ""); err != nil {
				add(fmt.Sprintf("auth.tokens[%d]", i), "bad glob %q (entry %d): %v", g, j, err)
			}
		}
	}
	probs = append(probs, loc.validateAuth(name, known)...)
	if !c.Insecure && len(c.Auth.Tokens) == 0 && c.TLS.Cert == "" && !isLoopback(c.Listen) {
		add("listen", "%s is reachable beyond this machine, and there is no auth and no tls: "+
			"add auth.tokens or tls, listen on 127.0.0.1, or set insecure: true to accept the risk", c.Listen)
	}
	return probs
}

func hubUsage(w io.Writer) {
	fmt.Fprint(w, `usage: edgetail hub [-config FILE] [-listen ADDR] [-nats URL[,URL...]] [-log-level LEVEL]
serves the fleet view: GET /stream?hosts=&sources=, /api/hosts, the UI
`)
}

// Hub runs `edgetail hub` until SIGTERM or SIGINT.
func Hub(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edgetail hub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { hubUsage(stderr) }
	cfgPath := fs.String("config", "", "YAML config file")
	listen := fs.String("listen", "", "listen address, host:port")
	natsURL := fs.String("nats", "", "NATS servers, comma-separated")
	logLevel := fs.String("log-level", "", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	data := []byte{}
	name := "flags"
	if *cfgPath != "" {
		b, err := os.ReadFile(*cfgPath)
		if err != nil {
			fmt.Fprintln(stderr, "edgetail hub:", err)
			return 1
		}
		data, name = b, *cfgPath
	}
	// Flags beat the file; the whole is validated once, after them.
	cfg, err := decodeHubConfig(data, name)
	if err != nil {
		printConfigError(stderr, err)
		return 1
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	if *natsURL != "" {
		cfg.Fleet.NATS = strings.Split(*natsURL, ",")
	}
	if *logLevel != "" {
		cfg.LogLevel = *logLevel
	}
	if probs := cfg.validate(name); len(probs) > 0 {
		printConfigError(stderr, &ConfigError{probs})
		return 1
	}
	log, _, err := NewLogger(cfg.LogLevel)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer func() { _ = log.Sync() }()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := RunHub(ctx, cfg, log, nil); err != nil {
		log.Error("hub stopped", zap.Error(err))
		return 1
	}
	log.Info("stopped")
	return 0
}

// RunHub serves the fleet view until ctx is done; ln may be nil (listen on
// cfg.Listen).
func RunHub(ctx context.Context, cfg *HubConfig, log *zap.Logger, ln net.Listener) error {
	if log == nil {
		log = zap.NewNop()
	}
	au, err := newAuthenticator(cfg.Auth)
	if err != nil {
		return err
	}
	access := map[*grant]fleet.Access{}
	for i := range au.tokens {
		t := cfg.Auth.Tokens[i]
		var a fleet.Access
		if !slices.Contains(t.Hosts, "*") {
			a.Hosts = t.Hosts // none listed: every host
		}
		if !slices.Contains(t.Sources, "*") {
			a.Sources = t.Sources
		}
		access[&au.tokens[i]] = a
	}
	var cert *tls.Certificate
	if cfg.TLS.Cert != "" {
		c, err := tls.LoadX509KeyPair(cfg.TLS.Cert, cfg.TLS.Key)
		if err != nil {
			return fmt.Errorf("load tls cert %s: %w", cfg.TLS.Cert, err)
		}
		cert = &c
	}
	nlog := log.Named("nats")
	nc, err := fleet.Connect(fleet.ConnOptions{URLs: cfg.Fleet.NATS, Name: "edgetail hub", Creds: cfg.Fleet.Creds,
		CA: cfg.Fleet.TLS.CA, Cert: cfg.Fleet.TLS.Cert, Key: cfg.Fleet.TLS.Key, Logger: nlog})
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := fleet.NewJetStream(nc)
	if err != nil {
		return err
	}
	st := cfg.Stream
	h := fleet.NewHub(fleet.HubOptions{Conn: nc, JS: js, Stream: cfg.Fleet.Stream,
		Heartbeat: st.Heartbeat, Retry: st.Retry, MaxClients: st.MaxClients, MaxClientsPerIP: st.MaxClientsPerIP,
		ClientBuffer: st.ClientBuffer, ReplayLines: st.ReplayLines, Logger: log.Named("hub")})

	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
		}
	}
	srv := &http.Server{Handler: hubRoutes(h, au, access, cfg), ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10, ErrorLog: zap.NewStdLog(log.Named("http"))}
	if cert != nil {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*cert}}
	}
	log.Info("listening", zap.String("addr", ln.Addr().String()), zap.Strings("nats", cfg.Fleet.NATS))
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return h.Run(gctx) })
	g.Go(func() error { return serveHTTP(srv, ln) })
	g.Go(func() error {
		<-gctx.Done()
		srv.SetKeepAlivesEnabled(false)
		h.Close() // streams end, so Shutdown can complete
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
		}
		return nil
	})
	return g.Wait()
}

// hubRoutes mounts the hub's handlers on gin, behind the agent's token
// checks; a token's hosts: and sources: travel to the stream as Access.
func hubRoutes(h *fleet.Hub, au *authenticator, access map[*grant]fleet.Access, cfg *HubConfig) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	_ = r.SetTrustedProxies(nil)
	a := &Agent{cfg: &Config{CORS: cfg.CORS, Auth: cfg.Auth}, tel: newTelemetry()}
	a.auth.Store(au)
	r.Use(gin.Recovery(), a.headers, a.cors)
	r.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok\n") })
	authed := r.Group("/", a.authenticate, func(c *gin.Context) {
		if g := grantOf(c); g != nil {
			c.Request = c.Request.WithContext(fleet.WithAccess(c.Request.Context(), access[g]))
		}
		c.Next()
	})
	authed.GET("/readyz", func(c *gin.Context) {
		if h.Ready() {
			c.String(http.StatusOK, "ready\n")
			return
		}
		c.String(http.StatusServiceUnavailable, "NATS or the stream not reachable\n")
	})
	authed.GET("/stream", gin.WrapH(h.StreamHandler()))
	authed.GET("/api/hosts", gin.WrapH(h.HostsHandler()))
	authed.POST("/api/session", a.login)
	r.DELETE("/api/session", logout)
	r.GET("/metrics", func(c *gin.Context) {
		if !cfg.Auth.PublicMetrics {
			a.authenticate(c)
			if c.IsAborted() {
				return
			}
		}
		c.Header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		writeHubMetrics(c.Writer, h.Stats())
		a.tel.set.WritePrometheus(c.Writer)
		vm.WriteProcessMetrics(c.Writer)
	})
	r.GET("/", func(c *gin.Context) {
		if au.enabled() && au.check(c.Request) == nil {
			c.Header("WWW-Authenticate", `Bearer realm="edgetail"`)
			ui.FleetPage(c.Writer, http.StatusUnauthorized)
			return
		}
		ui.FleetPage(c.Writer, http.StatusOK)
	})
	r.GET("/ui/*file", gin.WrapH(ui.Handler()))
	r.NoRoute(func(c *gin.Context) { c.String(http.StatusNotFound, "not found\n") })
	return r
}

func writeHubMetrics(w io.Writer, s fleet.HubStats) {
	ready := 0
	if s.Ready {
		ready = 1
	}
	for _, m := range []struct {
		name, typ, help string
		v               any
	}{
		{"edgetail_hub_ready", "gauge", "1 when NATS and the stream answered the last check.", ready},
		{"edgetail_hub_streams", "gauge", "Open fleet streams.", s.Streams},
		{"edgetail_hub_consumers", "gauge", "JetStream consumers open for views (shared by viewers with one filter).", s.Views},
		{"edgetail_hub_events_sent_total", "counter", "Events written to viewers.", s.Sent},
		{"edgetail_hub_bytes_sent_total", "counter", "Bytes written to viewers.", s.SentBytes},
		{"edgetail_hub_lines_dropped_total", "counter", "Events slow viewers missed (sent as event: gap).", s.Dropped},
		{"edgetail_hub_messages_total", "counter", "JetStream messages read by views.", s.Messages},
		{"edgetail_hub_bad_messages_total", "counter", "Messages whose body could not be read.", s.BadMessages},
		{"edgetail_hub_duplicates_total", "counter", "Re-sent lines skipped.", s.Duplicates},
		{"edgetail_hub_rejected_total", "counter", "Stream requests refused before streaming.", s.Rejected},
		{"edgetail_hub_resumes_total", "counter", "Streams resumed from an id.", s.Resumes},
		{"edgetail_hub_retention_gaps_total", "counter", "Resumes whose point had passed the stream's retention.", s.RetentionGaps},
	} {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %v\n", m.name, m.help, m.name, m.typ, m.name, m.v)
	}
}
