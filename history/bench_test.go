package history

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkReadNeedle reads a window over 64 MB of plain logs with a q=
// that matches one line in 1,000: the bulk skip's speed.
func BenchmarkReadNeedle(b *testing.B) {
	path := filepath.Join(b.TempDir(), "app.log")
	f, _ := os.Create(path)
	w := bufio.NewWriter(f)
	pad := strings.Repeat("abcdefghij", 5)
	var size int64
	for n := 0; size < 64<<20; n++ {
		word := "info"
		if n%1000 == 500 {
			word = "needle-7f3a"
		}
		k, _ := fmt.Fprintf(w, "%s INFO request %d %s served path=/x/%d %s\n", t0.Add(time.Duration(n)*time.Millisecond).Format("2006-01-02T15:04:05.000Z"), n, word, n%977, pad)
		size += int64(k)
	}
	w.Flush()
	f.Close()
	needle := []byte("needle-7f3a")
	q := Query{Files: []string{path}, Since: t0.Add(-time.Hour), Until: t0.Add(100 * time.Hour), Needle: needle,
		Match: func(b []byte) bool { return bytes.Contains(b, needle) }}
	b.SetBytes(size)
	for b.Loop() {
		n := 0
		_ = Read(context.Background(), q, func(it Item) error { n += len(it.Lines); return nil })
		if n == 0 {
			b.Fatal("no lines")
		}
	}
}

// BenchmarkPositionsKey is the per-line cost of durable keys on the live
// path, for a source of three files.
func BenchmarkPositionsKey(b *testing.B) {
	p := NewPositions('f', "bench")
	for i := range 3 {
		p.Key(nil, 1, uint64(i+1), "", 1)
	}
	var buf []byte
	off := int64(0)
	for b.Loop() {
		off += 120
		buf = p.Key(buf[:0], 1, 2, "/var/log/app.log", off)
	}
}

// BenchmarkKeyPerLine is the per-line cost of durable keys on the live path
// for sources of 1, 16 and 64 files: lines come in runs of 20 per file,
// round-robin, with the batch's Flush (the checkpoint log in memory here;
// the agent's adds one write per batch), and reports the keys' length.
func BenchmarkKeyPerLine(b *testing.B) {
	for _, files := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("files=%d", files), func(b *testing.B) {
			p := NewPositions('f', "mj3bvx8kq2pg1")
			offs := make([]int64, files)
			var buf []byte
			keyLen, n := 0, 0
			for b.Loop() {
				for f := range files {
					for range 20 {
						offs[f] += 120
						buf = p.Key(buf[:0], 1, uint64(f+1), "/var/log/app.log", offs[f])
						keyLen += len(buf)
						n++
					}
					_ = p.Flush()
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/line")
			b.ReportMetric(float64(keyLen)/float64(n), "key-bytes")
			b.ReportMetric(0, "ns/op")
		})
	}
}
