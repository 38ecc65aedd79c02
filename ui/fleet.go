package ui

import "net/http"

// FleetPage writes the fleet hub's page (static/fleet.html): one merged
// view across hosts, with a host picker. Like Page it holds no data, so the
// hub answers it with 401 to a browser without a token, whose prompt is the
// way in.
func FleetPage(w http.ResponseWriter, status int) { writePage(w, "fleet.html", status) }
