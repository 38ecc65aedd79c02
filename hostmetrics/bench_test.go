package hostmetrics

import (
	"encoding/json"
	"testing"
)

// BenchmarkSampleJSON measures one full sample of this host plus its JSON
// encoding, which is what Run does every interval.
func BenchmarkSampleJSON(b *testing.B) {
	s := New(Options{})
	b.ReportAllocs()
	for b.Loop() {
		smp, err := s.Sample()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(smp); err != nil {
			b.Fatal(err)
		}
	}
}
