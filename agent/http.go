package agent

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"edgetail/stream"
	"edgetail/tailer"
	"edgetail/ui"
)

// routes mounts the stream handlers, the API and the UI on gin. gin stays
// here: the stream package is plain net/http.
func (a *Agent) routes() http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	// gin's ClientIP is not used: the stream hub names clients itself, from
	// trusted_proxies (proxy.go), and trusting no proxy here keeps any
	// future use of c.ClientIP from believing a forged X-Forwarded-For.
	_ = r.SetTrustedProxies(nil)
	r.Use(gin.Recovery(), a.headers, a.cors)

	r.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok\n") })

	authed := r.Group("/", a.authenticate)
	authed.GET("/readyz", func(c *gin.Context) {
		if a.Ready() {
			c.String(http.StatusOK, "ready\n")
			return
		}
		c.String(http.StatusServiceUnavailable, "starting\n")
	})
	streams := gin.WrapH(a.hub.Handler())
	authed.GET("/stream", a.grantSources, streams)
	authed.GET("/stream/:source", a.grantSources, streams)
	authed.GET("/download/:source", a.grantSources, gin.WrapH(a.hub.Download()))
	authed.GET("/api/sources", a.apiSources)
	r.GET("/metrics", a.metricsAuth, a.metrics)
	authed.POST("/api/session", a.login)
	r.DELETE("/api/session", logout)
	r.GET("/", a.page)
	r.GET("/ui/*file", gin.WrapH(ui.Handler()))
	r.GET("/favicon.ico", gin.WrapF(ui.Favicon))
	r.HEAD("/favicon.ico", gin.WrapF(ui.Favicon))
	r.NoRoute(func(c *gin.Context) { c.String(http.StatusNotFound, "not found\n") })
	return r
}

// page serves the UI: 200 with a token (or without auth), else 401 with the
// same page, whose token prompt is the way in.
func (a *Agent) page(c *gin.Context) {
	if au := a.auth.Load(); au.enabled() && au.check(c.Request) == nil {
		c.Header("WWW-Authenticate", `Bearer realm="edgetail"`)
		ui.Page(c.Writer, http.StatusUnauthorized)
		return
	}
	ui.Page(c.Writer, http.StatusOK)
}

// headers sets what every answer carries.
func (a *Agent) headers(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	c.Next()
}

// cors answers preflights and sets Access-Control-Allow-Origin for the
// configured origins only; with none configured it does nothing.
func (a *Agent) cors(c *gin.Context) {
	a.mu.Lock()
	allowed := a.cfg.CORS.AllowedOrigins
	a.mu.Unlock()
	origin := c.Request.Header.Get("Origin")
	if origin == "" || len(allowed) == 0 || !(slices.Contains(allowed, origin) || slices.Contains(allowed, "*")) {
		c.Next()
		return
	}
	h := c.Writer.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Add("Vary", "Origin")
	if c.Request.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Last-Event-ID")
		h.Set("Access-Control-Max-Age", "600")
		c.AbortWithStatus(http.StatusNoContent)
		return
	}
	c.Next()
}

const grantKey = "edgetail.grant"

// metricsAuth applies auth to /metrics unless auth.public_metrics is set.
func (a *Agent) metricsAuth(c *gin.Context) {
	a.mu.Lock()
	public := a.cfg.Auth.PublicMetrics
	a.mu.Unlock()
	if public {
		c.Next()
		return
	}
	a.authenticate(c)
}

// authenticate requires a valid token when auth is configured.
func (a *Agent) authenticate(c *gin.Context) {
	au := a.auth.Load()
	if !au.enabled() {
		c.Next()
		return
	}
	g := au.check(c.Request)
	if g == nil {
		a.tel.authFails["unauthorized"].Inc()
		c.Header("WWW-Authenticate", `Bearer realm="edgetail"`)
		c.String(http.StatusUnauthorized, "a valid token is needed (Authorization: Bearer, or ?token=)\n")
		c.Abort()
		return
	}
	c.Set(grantKey, g)
	c.Next()
}

func grantOf(c *gin.Context) *grant {
	if v, ok := c.Get(grantKey); ok {
		return v.(*grant)
	}
	return nil
}

// grantSources refuses a stream of a source the token does not grant.
func (a *Agent) grantSources(c *gin.Context) {
	g := grantOf(c)
	names := strings.Split(c.Query("sources"), ",")
	if s := c.Param("source"); s != "" {
		names = []string{s}
	}
	for _, n := range names {
		if n = strings.TrimSpace(n); n != "" && !g.allows(n) {
			a.tel.authFails["forbidden"].Inc()
			c.String(http.StatusForbidden, "this token does not grant source %q\n", n)
			c.Abort()
			return
		}
	}
	c.Next()
}

// sourceInfo is one element of GET /api/sources.
type sourceInfo struct {
	stream.SourceStats
	Files    []tailer.FileStatus `json:"files"`
	Counters *fileCounters       `json:"counters,omitempty"` // file sources
	// State and Error say how a journal source's follower is doing: a
	// journal that cannot be read shows why here.
	State string `json:"state,omitempty"`
	Error string `json:"error,omitempty"`
}

// fileCounters are a file source's tailer counters since start.
type fileCounters struct {
	BytesRead   uint64 `json:"bytes_read"`
	Rotations   uint64 `json:"rotations"`
	Truncations uint64 `json:"truncations"`
	LinesCut    uint64 `json:"lines_cut"`
	Errors      uint64 `json:"errors"`
	Engine      string `json:"engine"`
}

func (a *Agent) apiSources(c *gin.Context) {
	g := grantOf(c)
	out := []sourceInfo{}
	for _, st := range a.hub.Stats() {
		if !g.allows(st.Name) {
			continue
		}
		info := sourceInfo{SourceStats: st, Files: []tailer.FileStatus{}}
		if t := a.tailerOf(st.Name); t != nil {
			info.Files = t.Files()
			ts := t.Stats()
			info.Counters = &fileCounters{ts.Bytes, ts.Rotations, ts.Truncations, ts.CutLines, ts.Errors, string(t.Engine())}
			if info.Counters.Engine == "" {
				info.Counters.Engine = "native"
			}
		}
		if j := a.journalOf(st.Name); j != nil {
			info.State, info.Error = j.Status()
		}
		out = append(out, info)
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}

// login turns the token of the request into an HttpOnly cookie, so that the
// UI need not put it in every stream URL, where it would end up in history
// and proxy logs. The cookie is SameSite=Strict: other sites cannot use it.
func (a *Agent) login(c *gin.Context) {
	tok := tokenOf(c.Request)
	if tok == "" || !a.auth.Load().enabled() {
		c.Status(http.StatusNoContent)
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: cookieName, Value: tok, Path: "/", HttpOnly: true,
		Secure: c.Request.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	c.Status(http.StatusNoContent)
}

func logout(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	c.Status(http.StatusNoContent)
}
