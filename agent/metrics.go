package agent

import (
	"bufio"
	"fmt"
	"net/http"
	"runtime"
	"sort"

	"github.com/gin-gonic/gin"
)

// metrics writes the agent's own counters in the Prometheus text format.
// Labels are source names and fixed reasons only, never clients or lines,
// so the series count stays bounded.
func (a *Agent) metrics(c *gin.Context) {
	c.Header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	c.Status(http.StatusOK)
	w := bufio.NewWriter(c.Writer)
	defer w.Flush()
	metric := func(name, typ, help string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	stats := a.hub.Stats()
	metric("edgetail_lines_read_total", "counter", "Lines read per source.")
	for _, s := range stats {
		fmt.Fprintf(w, "edgetail_lines_read_total{source=%q} %d\n", s.Name, s.Lines)
	}
	metric("edgetail_clients", "gauge", "Open streams per source.")
	for _, s := range stats {
		fmt.Fprintf(w, "edgetail_clients{source=%q} %d\n", s.Name, s.Clients)
	}
	type fileSource struct {
		name string
		st   tailerStats
	}
	var fs []fileSource
	a.mu.Lock()
	for name, p := range a.running {
		if p.tailer != nil {
			st := p.tailer.Stats()
			fs = append(fs, fileSource{name, tailerStats{st.Bytes, st.Rotations, st.Truncations, st.CutLines, st.Errors, st.FilesFollowed}})
		}
	}
	a.mu.Unlock()
	sort.Slice(fs, func(i, j int) bool { return fs[i].name < fs[j].name })
	for _, m := range []struct {
		name, typ, help string
		get             func(tailerStats) uint64
	}{
		{"edgetail_bytes_read_total", "counter", "Bytes read per source.", func(s tailerStats) uint64 { return s.bytes }},
		{"edgetail_rotations_total", "counter", "File rotations seen per source.", func(s tailerStats) uint64 { return s.rotations }},
		{"edgetail_truncations_total", "counter", "File truncations seen per source.", func(s tailerStats) uint64 { return s.truncations }},
		{"edgetail_lines_cut_total", "counter", "Lines longer than max_line_bytes, cut, per source.", func(s tailerStats) uint64 { return s.cut }},
		{"edgetail_tail_errors_total", "counter", "Errors following files per source.", func(s tailerStats) uint64 { return s.errors }},
		{"edgetail_files_followed", "gauge", "Files followed now per source.", func(s tailerStats) uint64 { return uint64(s.files) }},
	} {
		metric(m.name, m.typ, m.help)
		for _, f := range fs {
			fmt.Fprintf(w, "%s{source=%q} %d\n", m.name, f.name, m.get(f.st))
		}
	}
	hc := a.hub.Counters()
	metric("edgetail_streams", "gauge", "Open streams in the agent.")
	fmt.Fprintf(w, "edgetail_streams %d\n", hc.Clients)
	metric("edgetail_events_sent_total", "counter", "Events written to clients.")
	fmt.Fprintf(w, "edgetail_events_sent_total %d\n", hc.Sent)
	metric("edgetail_bytes_sent_total", "counter", "Bytes written to clients.")
	fmt.Fprintf(w, "edgetail_bytes_sent_total %d\n", hc.SentB)
	metric("edgetail_events_dropped_total", "counter", "Events slow clients missed (sent a gap instead).")
	fmt.Fprintf(w, "edgetail_events_dropped_total{reason=\"slow_client\"} %d\n", hc.Dropped)
	metric("edgetail_connections_rejected_total", "counter", "Stream requests refused, per reason.")
	reasons := make([]string, 0, len(hc.Rejected))
	for r := range hc.Rejected {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Fprintf(w, "edgetail_connections_rejected_total{reason=%q} %d\n", r, hc.Rejected[r])
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	metric("go_goroutines", "gauge", "Goroutines.")
	fmt.Fprintf(w, "go_goroutines %d\n", runtime.NumGoroutine())
	metric("go_memstats_heap_inuse_bytes", "gauge", "Heap bytes in use.")
	fmt.Fprintf(w, "go_memstats_heap_inuse_bytes %d\n", ms.HeapInuse)
}

type tailerStats struct {
	bytes, rotations, truncations, cut, errors uint64
	files                                      int
}
