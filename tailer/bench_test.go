package tailer

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

const benchLines = 200_000

// benchData writes the large file that all readers of one run measure.
func benchData(b *testing.B) string {
	path := filepath.Join(b.TempDir(), "big.data")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := 0; i < benchLines; i++ {
		fmt.Fprintf(w, "2026-11-02T10:00:00.000Z INFO request id=%08d path=/api/v1/items status=200 bytes=1234\n", i)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	return path
}

// BenchmarkRead compares the engines with a plain bufio.Scanner over the
// same 200k-line file (about 18 MB), in lines/s.
func BenchmarkRead(b *testing.B) {
	src := benchData(b)
	fi, _ := os.Stat(src)

	b.Run("bufio_scanner", func(b *testing.B) {
		b.SetBytes(fi.Size())
		start := time.Now()
		for i := 0; i < b.N; i++ {
			f, err := os.Open(src)
			if err != nil {
				b.Fatal(err)
			}
			sc := bufio.NewScanner(f)
			n := 0
			for sc.Scan() {
				n++
			}
			f.Close()
			if n != benchLines {
				b.Fatalf("%d lines", n)
			}
		}
		b.ReportMetric(float64(benchLines*b.N)/time.Since(start).Seconds(), "lines/s")
	})
	for _, e := range engines {
		b.Run(string(e), func(b *testing.B) {
			b.SetBytes(fi.Size())
			var total time.Duration
			for i := 0; i < b.N; i++ {
				total += benchEngine(b, e, src)
			}
			b.ReportMetric(float64(benchLines*b.N)/total.Seconds(), "lines/s")
		})
	}
}

// benchEngine follows a directory, links the big file into it (a file that
// appears later is read from 0) and times until every line was delivered.
func benchEngine(b *testing.B, e Engine, src string) time.Duration {
	b.StopTimer()
	dir := b.TempDir()
	o := Options{Globs: []string{filepath.Join(dir, "*.log")}, Engine: e, PollInterval: 10 * time.Millisecond}
	tl, err := New(o)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan Batch, 16)
	done := make(chan error, 1)
	go func() { done <- tl.Run(ctx, chanSink(out)) }()
	<-tl.Started()
	b.StartTimer()
	start := time.Now()
	if err := os.Link(src, filepath.Join(dir, "big.log")); err != nil {
		b.Fatal(err)
	}
	n := 0
	for n < benchLines {
		select {
		case bt := <-out:
			n += len(bt.Lines)
		case <-time.After(30 * time.Second):
			b.Fatalf("%s: only %d lines", e, n)
		}
	}
	d := time.Since(start)
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	return d
}
