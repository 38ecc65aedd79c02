package stream

import (
	"context"
	"fmt"
	"net/url"
	"runtime"
	"testing"
	"time"

	"edgetail/event"
	"edgetail/query"
)

// benchHub is a hub with one source and n subscribed clients split across
// the given filters; the benchmark drains each client as its writer would.
func benchHub(b *testing.B, n int, queries ...string) (*Source, []*client) {
	h := New(Options{ClientBuffer: 4096, MaxClients: n + 1, MaxClientsPerSource: n + 1, MaxClientsPerIP: n + 1})
	src := h.Source("app", KindFile)
	var cs []*client
	for i := range n {
		v, _ := url.ParseQuery(queries[i%len(queries)])
		req, err := query.ParseRequest(v, 0)
		if err != nil {
			b.Fatal(err)
		}
		sub, ref := h.subscribe(req, []string{"app"}, false, fmt.Sprint("ip", i))
		if ref != nil {
			b.Fatal(ref.msg)
		}
		cs = append(cs, sub.c)
	}
	return src, cs
}

func benchLines(n int) []event.Line {
	lines := make([]event.Line, n)
	now := time.Now()
	for i := range lines {
		lvl := []string{"INFO", "WARN", "ERROR", "DEBUG"}[i%4]
		lines[i] = event.Line{File: "/var/log/app.log", Time: now,
			Text: fmt.Appendf(nil, "2026-11-22T10:00:00Z %s request id=%d path=/api/v1/items status=200 took=12ms", lvl, i)}
	}
	return lines
}

// BenchmarkFanout measures filter + encode + fan-out per line: the work the
// pipeline does between a read and a client's write.
func BenchmarkFanout(b *testing.B) {
	for _, bc := range []struct {
		name    string
		clients int
		batch   int
		queries []string
	}{
		// At rest: a source nobody watches, batched as a busy source is.
		{"0clients_batch20", 0, 20, []string{""}},
		{"1client", 1, 512, []string{""}},
		// One viewer at 1,000 lines/s: a 2 ms patience makes batches of 2.
		{"1client_batch2", 1, 2, []string{""}},
		{"1000clients_nofilter", 1000, 512, []string{""}},
		{"1000clients_4filters", 1000, 512, []string{"", "level=warn", "q=status%3D200", "re=id%3D[0-9]*7%20"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			src, cs := benchHub(b, bc.clients, bc.queries...)
			lines := benchLines(bc.batch)
			var scratch []*event.Event
			var before, after runtime.MemStats
			b.ReportAllocs()
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			for range b.N {
				if err := src.Publish(context.Background(), lines); err != nil {
					b.Fatal(err)
				}
				for _, c := range cs {
					scratch, _, _ = c.take(scratch[:0])
					for _, e := range scratch {
						_ = frame(e, query.FormatText, false)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*len(lines))/b.Elapsed().Seconds(), "lines/s")
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*len(lines)), "allocs/line")
		})
	}
}
