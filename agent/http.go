package agent

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"edgetail/stream"
	"edgetail/tailer"
	"edgetail/ui"
	"edgetail/web"
)

// routes mounts the stream handlers, the API and the UI on gin, behind
// the web policy. gin stays here: the stream package is plain net/http.
func (a *Agent) routes() http.Handler {
	g := a.guard
	r := g.Engine()
	authed := r.Group("/", g.Authenticate)
	authed.GET("/readyz", func(c *gin.Context) {
		if a.Ready() {
			c.String(http.StatusOK, "ready\n")
			return
		}
		c.String(http.StatusServiceUnavailable, "starting\n")
	})
	streams := gin.WrapH(a.hub.Handler())
	authed.GET("/stream", g.GrantSources, streams)
	authed.GET("/stream/:source", g.GrantSources, streams)
	authed.GET("/download/:source", g.GrantSources, gin.WrapH(a.hub.Download()))
	authed.GET("/api/sources", a.apiSources)
	authed.GET("/api/counts", g.GrantSources, func(c *gin.Context) {
		a.hub.ServeCounts(c.Writer, c.Request, web.GrantOf(c).Allows)
	})
	authed.GET("/api/alerts", a.apiAlerts)
	authed.POST("/api/alerts/:rule/test", a.testAlert)
	r.GET("/metrics", g.MetricsAuth, a.metrics)
	authed.POST("/api/session", g.Login)
	r.GET("/", g.Page(ui.Page))
	r.GET("/ui/*file", gin.WrapH(ui.Handler()))
	r.GET("/favicon.ico", gin.WrapF(ui.Favicon))
	r.HEAD("/favicon.ico", gin.WrapF(ui.Favicon))
	return r
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
	g := web.GrantOf(c)
	out := []sourceInfo{}
	for _, st := range a.hub.Stats() {
		if !g.Allows(st.Name) {
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
