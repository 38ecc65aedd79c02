// Package hub is the `edgetail hub` daemon: it serves the fleet's view
// (package fleet reads JetStream) over HTTP, behind the same web policy as
// an agent, with its own metrics.
package hub

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
	"github.com/gin-gonic/gin"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"edgetail/fleet"
	"edgetail/ui"
	"edgetail/web"
)

// Run serves the fleet view until ctx is done; ln may be nil (listen on
// cfg.Listen).
func Run(ctx context.Context, cfg *Config, log *zap.Logger, ln net.Listener) error {
	if log == nil {
		log = zap.NewNop()
	}
	au, err := web.NewAuthenticator(cfg.Auth)
	if err != nil {
		return err
	}
	var cert func() *tls.Certificate
	if cfg.TLS.Cert != "" {
		c, err := tls.LoadX509KeyPair(cfg.TLS.Cert, cfg.TLS.Key)
		if err != nil {
			return fmt.Errorf("load tls cert %s: %w", cfg.TLS.Cert, err)
		}
		cert = func() *tls.Certificate { return &c }
	}
	nc, err := fleet.Connect(fleet.ConnOptions{URLs: cfg.Fleet.NATS, Name: "edgetail hub", Creds: cfg.Fleet.Creds,
		CA: cfg.Fleet.TLS.CA, Cert: cfg.Fleet.TLS.Cert, Key: cfg.Fleet.TLS.Key, Logger: log.Named("nats")})
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
	guard := web.NewGuard(&web.Policy{Auth: au, CORS: cfg.CORS.AllowedOrigins, PublicMetrics: cfg.Auth.PublicMetrics})
	srv := web.NewServer(routes(h, guard), log, cert)
	log.Info("listening", zap.String("addr", ln.Addr().String()), zap.Strings("nats", cfg.Fleet.NATS))
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return h.Run(gctx) })
	g.Go(func() error { return web.Serve(srv, ln) })
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

// accessOf turns a token's grant into what a fleet view may read: its
// hosts: and sources: globs, "*" (or none listed, for hosts) being all.
func accessOf(g *web.Grant) fleet.Access {
	var a fleet.Access
	if g == nil {
		return a
	}
	if !slices.Contains(g.Hosts, "*") {
		a.Hosts = g.Hosts // none listed: every host
	}
	if !slices.Contains(g.Sources, "*") {
		a.Sources = g.Sources
	}
	return a
}

// routes mounts the hub's handlers on gin, behind the guard; a token's
// hosts: and sources: travel to the stream as fleet.Access.
func routes(h *fleet.Hub, guard *web.Guard) http.Handler {
	set := vm.NewSet()
	fails := map[string]*vm.Counter{}
	for _, r := range []string{"unauthorized", "forbidden"} {
		fails[r] = set.NewCounter(fmt.Sprintf(`edgetail_auth_rejected_total{reason=%q}`, r))
	}
	guard.Denied = func(reason string) { fails[reason].Inc() }

	r := guard.Engine()
	authed := r.Group("/", guard.Authenticate, func(c *gin.Context) {
		if g := web.GrantOf(c); g != nil {
			c.Request = c.Request.WithContext(fleet.WithAccess(c.Request.Context(), accessOf(g)))
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
	authed.POST("/api/session", guard.Login)
	r.GET("/metrics", guard.MetricsAuth, func(c *gin.Context) {
		c.Header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		writeMetrics(c.Writer, h.Stats())
		set.WritePrometheus(c.Writer)
		vm.WriteProcessMetrics(c.Writer)
	})
	r.GET("/", guard.Page(ui.FleetPage))
	r.GET("/ui/*file", gin.WrapH(ui.Handler()))
	r.GET("/favicon.ico", gin.WrapF(ui.Favicon))
	r.HEAD("/favicon.ico", gin.WrapF(ui.Favicon))
	return r
}

// writeMetrics writes the hub's own series.
func writeMetrics(w io.Writer, s fleet.HubStats) {
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
		{"edgetail_hub_consumer_replacements_total", "counter", "JetStream consumers replaced after they stopped delivering (a NATS server died, the connection moved).", s.ConsumerReplacements},
	} {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %v\n", m.name, m.help, m.name, m.typ, m.name, m.v)
	}
}
