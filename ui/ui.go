// Package ui embeds the browser UI, so that the binary serves it with no
// front-end build step.
package ui

import (
	"embed"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
)

//go:embed static
var static embed.FS

var sub = func() fs.FS {
	s, err := fs.Sub(static, "static")
	if err != nil {
		panic(err)
	}
	return s
}()

func setHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-cache")
}

// Page writes the page with the given status. With auth on and no token,
// the agent answers GET / with 401 and this same page: it holds no data, and
// its token prompt is how a browser user gets in.
func Page(w http.ResponseWriter, status int) { writePage(w, "index.html", status) }

// writePage writes one of the embedded HTML pages with the UI's headers.
func writePage(w http.ResponseWriter, name string, status int) {
	b, err := fs.ReadFile(sub, name)
	if err != nil {
		http.Error(w, "ui missing", http.StatusInternalServerError)
		return
	}
	setHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Favicon serves GET /favicon.ico, which a browser asks for by itself on a
// first visit: without it a fresh tab's console shows a 404. Like the
// assets, it is the same for everyone and needs no token. It is a 32x32
// PNG in an ICO, drawn by favicon_gen.go.
func Favicon(w http.ResponseWriter, r *http.Request) {
	b, err := fs.ReadFile(sub, "favicon.ico")
	if err != nil {
		http.Error(w, "icon missing", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "image/x-icon")
	h.Set("Cache-Control", "public, max-age=86400")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}

// Handler serves GET / (the page) and /ui/* (its assets, the same for every
// user and holding no data, so they need no token).
func Handler() http.Handler {
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" || r.URL.Path == "/index.html" || r.URL.Path == "/ui/index.html" {
			Page(w, http.StatusOK)
			return
		}
		setHeaders(w.Header())
		if strings.HasSuffix(r.URL.Path, ".js") {
			// Module scripts run only when served as JavaScript: the
			// type is not left to the host's MIME tables, which
			// FileServerFS reads and which may say otherwise.
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = strings.TrimPrefix(r.URL.Path, "/ui")
		files.ServeHTTP(w, r2)
	})
}
