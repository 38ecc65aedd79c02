package ui

import (
	"io/fs"
	"net/http"
)

// FleetPage writes the fleet hub's page (static/fleet.html): one merged
// view across hosts, with a host picker. Like Page it holds no data, so the
// hub answers it with 401 to a browser without a token, whose prompt is the
// way in.
func FleetPage(w http.ResponseWriter, status int) {
	b, err := fs.ReadFile(sub, "fleet.html")
	if err != nil {
		http.Error(w, "ui missing", http.StatusInternalServerError)
		return
	}
	setHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
