package stream

import (
	"context"
	"fmt"
	"testing"
	"time"

	"edgetail/event"
	"edgetail/query"
)

// BenchmarkPublishWithRules is the at-rest cost of five rules' filtered
// taps (none matching) on a batch of 200 lines, against no tap: per line,
// what a source's producer pays for alert rules.
func BenchmarkPublishWithRules(b *testing.B) {
	lines := make([]event.Line, 200)
	for i := range lines {
		t := fmt.Sprintf(`%d 1765170000000000000 level=info msg="bench line" pad=`, i)
		for len(t) < 99 {
			t += "x"
		}
		lines[i] = event.Line{Text: []byte(t), Time: time.Now(), Key: []byte(fmt.Sprintf("f%06d", i))}
	}
	filters := []query.Filter{
		{Level: event.LevelError},
		{Level: event.LevelWarn, Q: "timeout"},
		{Q: "panic:"},
		{Re: "segfault at [0-9a-f]+"},
		{Q: "refused", Not: "bench"},
	}
	for _, n := range []int{0, 5} {
		b.Run(fmt.Sprint("rules", n), func(b *testing.B) {
			h := New(Options{ReplayLines: 10000})
			s := h.Source("app", KindFile)
			notify := make(chan struct{}, 1)
			for i := range n {
				f := filters[i]
				if err := f.Compile(); err != nil {
					b.Fatal(err)
				}
				tp := s.TapFiltered(nil, TapOptions{Filter: &f, Notify: notify})
				defer tp.Close()
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Publish(context.Background(), lines); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(lines)), "ns/line")
		})
	}
}
