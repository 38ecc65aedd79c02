package web

import (
	"net/http"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/gin-gonic/gin"
)

// Policy is what the middleware reads on every request. It is swapped whole
// on a reload, so that a request never waits for one (no lock).
type Policy struct {
	Auth          *Authenticator // nil or no tokens: no authentication
	CORS          []string       // allowed origins; none: CORS off
	PublicMetrics bool           // /metrics needs no token
	Proxies       TrustedProxies // peers whose X-Forwarded-For is believed
}

// Guard is the HTTP policy of one server (the agent's or the hub's), as gin
// middleware.
type Guard struct {
	policy atomic.Pointer[Policy]
	// Denied, when set, is told each refusal: "unauthorized" or
	// "forbidden" (the servers count them).
	Denied func(reason string)
}

// NewGuard returns a guard applying p.
func NewGuard(p *Policy) *Guard {
	g := &Guard{}
	g.Set(p)
	return g
}

// Set applies p to the requests that arrive from now on.
func (g *Guard) Set(p *Policy) { g.policy.Store(p) }

// Policy returns the policy in force.
func (g *Guard) Policy() *Policy { return g.policy.Load() }

// ClientIP names the client of r for per-IP caps and logs (see
// TrustedProxies.ClientIP).
func (g *Guard) ClientIP(r *http.Request) string { return g.Policy().Proxies.ClientIP(r) }

func (g *Guard) deny(reason string) {
	if g.Denied != nil {
		g.Denied(reason)
	}
}

// Headers sets what every answer carries.
func (g *Guard) Headers(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	c.Next()
}

// CORS answers preflights and sets Access-Control-Allow-Origin for the
// configured origins only; with none configured it does nothing.
func (g *Guard) CORS(c *gin.Context) {
	allowed := g.Policy().CORS
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

// Authenticate requires a valid token when auth is configured, and keeps
// its grant for the handlers (GrantOf).
func (g *Guard) Authenticate(c *gin.Context) {
	au := g.Policy().Auth
	if !au.Enabled() {
		c.Next()
		return
	}
	gr := au.Check(c.Request)
	if gr == nil {
		g.deny("unauthorized")
		c.Header("WWW-Authenticate", `Bearer realm="edgetail"`)
		c.String(http.StatusUnauthorized, "a valid token is needed (Authorization: Bearer, or ?token=)\n")
		c.Abort()
		return
	}
	c.Set(grantKey, gr)
	c.Next()
}

// MetricsAuth is Authenticate unless auth.public_metrics is set.
func (g *Guard) MetricsAuth(c *gin.Context) {
	if g.Policy().PublicMetrics {
		c.Next()
		return
	}
	g.Authenticate(c)
}

// GrantOf returns the grant Authenticate kept; nil when auth is off.
func GrantOf(c *gin.Context) *Grant {
	if v, ok := c.Get(grantKey); ok {
		return v.(*Grant)
	}
	return nil
}

// GrantSources refuses with 403 a request naming (in :source or
// sources=) a source the token does not grant.
func (g *Guard) GrantSources(c *gin.Context) {
	gr := GrantOf(c)
	names := strings.Split(c.Query("sources"), ",")
	if s := c.Param("source"); s != "" {
		names = []string{s}
	}
	for _, n := range names {
		if n = strings.TrimSpace(n); n != "" && !gr.Allows(n) {
			g.deny("forbidden")
			c.String(http.StatusForbidden, "this token does not grant source %q\n", n)
			c.Abort()
			return
		}
	}
	c.Next()
}

// Page serves a UI page: 200 with a token (or without auth), else 401 with
// the same page, whose token prompt is the way in.
func (g *Guard) Page(write func(w http.ResponseWriter, status int)) gin.HandlerFunc {
	return func(c *gin.Context) {
		if au := g.Policy().Auth; au.Enabled() && au.Check(c.Request) == nil {
			c.Header("WWW-Authenticate", `Bearer realm="edgetail"`)
			write(c.Writer, http.StatusUnauthorized)
			return
		}
		write(c.Writer, http.StatusOK)
	}
}

// Login turns the token of the request into an HttpOnly cookie, so that the
// UI need not put it in every stream URL, where it would end up in history
// and proxy logs. The cookie is SameSite=Strict: other sites cannot use it.
func (g *Guard) Login(c *gin.Context) {
	tok := TokenOf(c.Request)
	if tok == "" || !g.Policy().Auth.Enabled() {
		c.Status(http.StatusNoContent)
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: cookieName, Value: tok, Path: "/", HttpOnly: true,
		Secure: c.Request.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	c.Status(http.StatusNoContent)
}

// Logout drops the UI's cookie.
func Logout(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	c.Status(http.StatusNoContent)
}

// Engine returns a gin engine with the middleware every server uses:
// recovery, Headers and CORS. gin's own ClientIP is not trusted (Guard's
// ClientIP names clients, from trusted_proxies).
func (g *Guard) Engine() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	_ = r.SetTrustedProxies(nil)
	r.Use(gin.Recovery(), g.Headers, g.CORS)
	r.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok\n") })
	r.DELETE("/api/session", Logout)
	r.NoRoute(func(c *gin.Context) { c.String(http.StatusNotFound, "not found\n") })
	return r
}
