// Package ui embeds the browser UI, so that the binary serves it with no
// front-end build step.
package ui

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static
var static embed.FS

// Handler serves GET / (the page) and /ui/* (its assets).
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err)
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-cache")
		r2 := r.Clone(r.Context())
		if r.URL.Path == "/" {
			r2.URL.Path = "/index.html"
		} else {
			r2.URL.Path = strings.TrimPrefix(r.URL.Path, "/ui")
		}
		if r2.URL.Path == "/index.html" {
			// FileServer redirects /index.html to /; serve it directly.
			b, err := fs.ReadFile(sub, "index.html")
			if err != nil {
				http.Error(w, "ui missing", http.StatusInternalServerError)
				return
			}
			h.Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write(b)
			return
		}
		files.ServeHTTP(w, r2)
	})
}
