package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestHostMetricsStream(t *testing.T) {
	a := start(t, "sources:\n  - name: host\n    metrics: {interval: 200ms}\n")
	all := a.open("/stream/host?tail=0")
	var prev time.Time
	for range 3 {
		ev := all.next(t)
		if ev.Type != "metric" {
			t.Fatalf("event type %q, want metric", ev.Type)
		}
		var s map[string]json.RawMessage
		if err := json.Unmarshal([]byte(ev.Data), &s); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"time", "cpu", "mem", "swap", "load", "disk", "fs", "net", "uptime", "procs"} {
			if _, ok := s[k]; !ok {
				t.Errorf("sample lacks %s", k)
			}
		}
		var ts time.Time
		_ = json.Unmarshal(s["time"], &ts)
		if !prev.IsZero() && (ts.Sub(prev) < 100*time.Millisecond || ts.Sub(prev) > 2*time.Second) {
			t.Errorf("samples %v apart, want about 200ms", ts.Sub(prev))
		}
		prev = ts
	}
	cpu := a.open("/stream/host?tail=1&fields=cpu")
	var s map[string]json.RawMessage
	if err := json.Unmarshal([]byte(cpu.next(t).Data), &s); err != nil {
		t.Fatal(err)
	}
	if _, ok := s["cpu"]; !ok || len(s) != 2 {
		t.Fatalf("fields=cpu gave keys %v, want cpu and time", keys(s))
	}
}

func keys(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func scrape(t *testing.T, a *agent) map[string]*dto.MetricFamily {
	t.Helper()
	resp := a.get("/metrics")
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value returns the value of the series of name whose labels include want.
func value(fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	f, ok := fams[name]
	if !ok {
		return -1
	}
metrics:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(want); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == want[i] && l.GetValue() == want[i+1] {
					found = true
				}
			}
			if !found {
				continue metrics
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Untyped != nil:
			return m.Untyped.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

func TestPrometheusMetricsMove(t *testing.T) {
	path, cfg := fileSource(t, "stream:\n  max_clients_per_ip: 1\n")
	a := start(t, cfg)
	before := scrape(t, a)
	for _, name := range []string{"edgetail_lines_read_total", "edgetail_bytes_read_total", "edgetail_clients",
		"edgetail_connections_rejected_total", "edgetail_events_sent_total", "edgetail_pipeline_latency_seconds",
		"edgetail_batch_lines", "edgetail_files_followed", "edgetail_read_lag_bytes", "go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := before[name]; !ok {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	c := a.open("/stream/app?tail=0")
	appendLines(t, path, "one", "two", "three")
	for range 3 {
		c.next(t)
	}
	resp := a.get("/stream/app")
	resp.Body.Close()
	if resp.StatusCode != 429 {
		t.Fatalf("second stream over the per-IP cap of 1: %s", resp.Status)
	}
	var after map[string]*dto.MetricFamily
	waitFor(t, "latency observed", func() bool {
		after = scrape(t, a)
		return value(after, "edgetail_pipeline_latency_seconds") >= 1
	})
	for _, c := range []struct {
		name   string
		labels []string
		delta  float64
	}{
		{"edgetail_lines_read_total", []string{"source", "app"}, 3},
		{"edgetail_bytes_read_total", []string{"source", "app"}, float64(len("one\ntwo\nthree\n"))},
		{"edgetail_clients", []string{"source", "app"}, 1},
		{"edgetail_connections_rejected_total", []string{"reason", "cap_ip"}, 1},
		{"edgetail_events_sent_total", nil, 3},
	} {
		if d := value(after, c.name, c.labels...) - value(before, c.name, c.labels...); d != c.delta {
			t.Errorf("%s%v moved by %v, want %v", c.name, c.labels, d, c.delta)
		}
	}
}

// A /proc read that would block (a FIFO in a fixture tree) delays neither
// the other streams nor the shutdown.
func TestBlockingProcReadDelaysNothing(t *testing.T) {
	proc := t.TempDir()
	for _, f := range []string{"stat", "loadavg", "uptime", "diskstats", "net/dev", "self/mounts"} {
		os.MkdirAll(filepath.Dir(filepath.Join(proc, f)), 0o755)
	}
	os.WriteFile(filepath.Join(proc, "stat"), []byte("cpu  1 2 3 4 5 6 7 8 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\nprocs_running 1\nprocs_blocked 0\n"), 0o644)
	os.WriteFile(filepath.Join(proc, "loadavg"), []byte("0.1 0.2 0.3 1/100 42\n"), 0o644)
	os.WriteFile(filepath.Join(proc, "uptime"), []byte("100.0 50.0\n"), 0o644)
	if err := syscall.Mkfifo(filepath.Join(proc, "meminfo"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Hold the FIFO open for writing, never writing: a reader that opens
	// it blocking would wait forever.
	w, err := os.OpenFile(filepath.Join(proc, "meminfo"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	path, cfg := fileSource(t, fmt.Sprintf("  - name: host\n    metrics: {interval: 200ms, proc_root: %s, sys_root: %s}\n", proc, t.TempDir()))
	a := start(t, cfg)
	host := a.open("/stream/host?tail=0")
	ev := host.next(t)
	if !strings.Contains(ev.Data, "meminfo") || !strings.Contains(ev.Data, `"load"`) {
		t.Fatalf("sample with a blocking meminfo: %s", ev.Data)
	}
	c := a.open("/stream/app?tail=0")
	appendLines(t, path, "unaffected")
	if got := c.next(t).Data; got != "unaffected" {
		t.Fatalf("file stream: %q", got)
	}
	began := time.Now()
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(5 * time.Second):
		t.Fatal("shutdown took over 5s")
	}
	t.Logf("shutdown took %v", time.Since(began).Round(time.Millisecond))
}
