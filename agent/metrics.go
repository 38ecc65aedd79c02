package agent

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
	"github.com/gin-gonic/gin"

	"edgetail/event"
	"edgetail/stream"
	"edgetail/timeline"
)

// telemetry is the agent's own Prometheus metrics. VictoriaMetrics/metrics
// rather than client_golang: it writes the same text format, has
// Prometheus-style (le) histograms and process metrics, and adds a fraction
// of client_golang's weight to a sidecar meant to stay small. Labels are
// source names and fixed reasons only, never clients, files or lines, so the
// series count stays bounded.
type telemetry struct {
	set       *vm.Set
	batch     *vm.PrometheusHistogram
	latency   *vm.PrometheusHistogram
	authFails map[string]*vm.Counter
}

var _ stream.Observer = (*telemetry)(nil)

// Prometheus reads histograms as histograms only with their TYPE line.
func init() { vm.ExposeMetadata(true) }

func newTelemetry() *telemetry {
	set := vm.NewSet()
	t := &telemetry{
		set: set,
		batch: set.NewPrometheusHistogramExt("edgetail_batch_lines",
			[]float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}),
		latency: set.NewPrometheusHistogramExt("edgetail_pipeline_latency_seconds",
			[]float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}),
		authFails: map[string]*vm.Counter{},
	}
	for _, r := range []string{"unauthorized", "forbidden"} {
		t.authFails[r] = set.NewCounter(fmt.Sprintf(`edgetail_auth_rejected_total{reason=%q}`, r))
	}
	return t
}

// Batch implements stream.Observer.
func (t *telemetry) Batch(lines int) { t.batch.Update(float64(lines)) }

// Delivered implements stream.Observer.
func (t *telemetry) Delivered(age time.Duration) { t.latency.Update(age.Seconds()) }

func (a *Agent) metrics(c *gin.Context) {
	c.Header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	c.Status(http.StatusOK)
	a.tel.set.WritePrometheus(c.Writer)
	a.writeSourceMetrics(c.Writer)
	a.writeFleetMetrics(c.Writer)
	a.alerts.WriteMetrics(c.Writer)
	vm.WriteProcessMetrics(c.Writer)
}

// writeSourceMetrics writes the per-source series, read at scrape time from
// the hub and the tailers, so that a removed source's series go with it.
func (a *Agent) writeSourceMetrics(w io.Writer) {
	metric := func(name, typ, help string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	stats := a.hub.Stats()
	metric("edgetail_lines_read_total", "counter", "Lines read per source.")
	for _, s := range stats {
		fmt.Fprintf(w, "edgetail_lines_read_total{source=%q} %d\n", s.Name, s.Lines)
	}
	metric("edgetail_events_total", "counter", "Events committed per log source and level (none: no level recognised).")
	for _, s := range stats {
		if s.Kind == stream.KindMetrics {
			continue
		}
		for lv, n := range s.Levels {
			fmt.Fprintf(w, "edgetail_events_total{source=%q,level=%q} %d\n", s.Name, timeline.LevelName(event.Level(lv)), n)
		}
	}
	metric("edgetail_clients", "gauge", "Open streams per source.")
	for _, s := range stats {
		fmt.Fprintf(w, "edgetail_clients{source=%q} %d\n", s.Name, s.Clients)
	}

	type fileSource struct {
		name string
		vals [7]uint64
	}
	var fs []fileSource
	a.mu.Lock()
	for name, p := range a.running {
		if p.file == nil {
			continue
		}
		st := p.file.Tailer().Stats()
		var lag uint64
		for _, f := range p.file.Tailer().Files() {
			if f.Size > f.Offset {
				lag += uint64(f.Size - f.Offset)
			}
		}
		fs = append(fs, fileSource{name, [7]uint64{st.Bytes, st.Rotations, st.Truncations, st.CutLines, st.Errors, uint64(st.FilesFollowed), lag}})
	}
	a.mu.Unlock()
	sort.Slice(fs, func(i, j int) bool { return fs[i].name < fs[j].name })
	for i, m := range []struct{ name, typ, help string }{
		{"edgetail_bytes_read_total", "counter", "Bytes read per source."},
		{"edgetail_rotations_total", "counter", "Rotations (renames, deletions) of followed files per source."},
		{"edgetail_truncations_total", "counter", "Truncations (copytruncate) of followed files per source."},
		{"edgetail_lines_cut_total", "counter", "Lines longer than max_line_bytes, cut and marked, per source."},
		{"edgetail_tail_errors_total", "counter", "Errors following files per source."},
		{"edgetail_files_followed", "gauge", "Files followed now per source."},
		{"edgetail_read_lag_bytes", "gauge", "Bytes written to the source's files and not yet read."},
	} {
		metric(m.name, m.typ, m.help)
		for _, f := range fs {
			fmt.Fprintf(w, "%s{source=%q} %d\n", m.name, f.name, f.vals[i])
		}
	}

	hc := a.hub.Counters()
	metric("edgetail_streams", "gauge", "Open streams in the agent.")
	fmt.Fprintf(w, "edgetail_streams %d\n", hc.Clients)
	metric("edgetail_events_sent_total", "counter", "Events written to clients.")
	fmt.Fprintf(w, "edgetail_events_sent_total %d\n", hc.Sent)
	metric("edgetail_bytes_sent_total", "counter", "Bytes written to clients.")
	fmt.Fprintf(w, "edgetail_bytes_sent_total %d\n", hc.SentB)
	// Long lines are cut and marked, never dropped: edgetail_lines_cut_total.
	metric("edgetail_lines_dropped_total", "counter", "Lines a client missed, per reason.")
	fmt.Fprintf(w, "edgetail_lines_dropped_total{reason=\"slow_client\"} %d\n", hc.Dropped)
	metric("edgetail_connections_rejected_total", "counter", "Stream requests refused before streaming, per reason.")
	reasons := make([]string, 0, len(hc.Rejected))
	for r := range hc.Rejected {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Fprintf(w, "edgetail_connections_rejected_total{reason=%q} %d\n", r, hc.Rejected[r])
	}
}
