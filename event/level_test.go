package event

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
)

// levelCase is one entry of testdata/levels.txt.
type levelCase struct {
	line string
	want Level
	at   int // line number in the corpus, for messages
}

// levelCorpus reads testdata/levels.txt: "<level|none> <line>" per entry.
func levelCorpus(tb testing.TB) []levelCase {
	tb.Helper()
	f, err := os.Open("testdata/levels.txt")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []levelCase
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		text := sc.Text()
		if text == "" || text[0] == '#' {
			continue
		}
		name, line, ok := strings.Cut(text, " ")
		if !ok {
			tb.Fatalf("levels.txt:%d: want \"<level> <line>\"", n)
		}
		want := LevelUnknown
		if name != "none" {
			if want, err = ParseLevel(name); err != nil {
				tb.Fatalf("levels.txt:%d: %v", n, err)
			}
		}
		out = append(out, levelCase{line, want, n})
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// TestLevelCorpus: every format of the corpus gets its level, and the lines
// without one get none.
func TestLevelCorpus(t *testing.T) {
	cases := levelCorpus(t)
	if len(cases) < 30 {
		t.Fatalf("corpus holds %d lines", len(cases))
	}
	for _, c := range cases {
		if got := DetectLevel([]byte(c.line)); got != c.want {
			t.Errorf("levels.txt:%d: DetectLevel(%q) = %q, want %q", c.at, c.line, got, c.want)
		}
	}
}

// TestLevelWords: the level= parameter's words, and the words that only look
// like levels.
func TestLevelWords(t *testing.T) {
	for _, c := range []struct {
		line string
		want Level
	}{
		{"TRACE x", LevelDebug}, {"NOTICE x", LevelInfo}, {"[crit] x", LevelError},
		{"<emerg> x", LevelError}, {"PANIC x", LevelError}, {"ALERT x", LevelError},
		{"2026-12-01 10:00:00 Error connecting", LevelError},
		{"2026-12-01 10:00:00 information follows", LevelUnknown},
		{"a b c d e f error late in the line", LevelUnknown}, // not near the start
		{"a b c d e f ERROR in capitals counts anywhere", LevelError},
		{"errorless", LevelUnknown}, {"WARNINGS", LevelUnknown}, {"INFO2", LevelUnknown},
		{"my_error happened", LevelUnknown}, {"x=warn", LevelUnknown},
		{"LOG entries rotated", LevelUnknown}, // LOG counts only as PostgreSQL's LOG:
		{"I1201 not klog without a time", LevelUnknown},
		{"E1201 10:00:00.000000", LevelError},
		{"xlevel=debug level=warn", LevelWarn},
		{`{"msg":"level","level":"error"}`, LevelError},
	} {
		if got := DetectLevel([]byte(c.line)); got != c.want {
			t.Errorf("DetectLevel(%q) = %q, want %q", c.line, got, c.want)
		}
	}
	for _, w := range []string{"debug", "info", "warn", "error", "WARNING", "fatal"} {
		if _, err := ParseLevel(w); err != nil {
			t.Errorf("ParseLevel(%q): %v", w, err)
		}
	}
}

// BenchmarkLevel measures DetectLevel, which runs once on every line read:
// over the corpus (every format once) and over a long line with no level
// (the whole scan limit examined).
func BenchmarkLevel(b *testing.B) {
	var corpus [][]byte
	for _, c := range levelCorpus(b) {
		corpus = append(corpus, []byte(c.line))
	}
	long := []byte(strings.Repeat("the quick brown fox jumps over the lazy dog 0123456789 ", 12))
	for _, bc := range []struct {
		name  string
		lines [][]byte
	}{{"corpus", corpus}, {"long_nolevel", [][]byte{long}}, {"hotpath", benchLineTexts(512)}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var sink Level
			for range b.N {
				for _, l := range bc.lines {
					sink += DetectLevel(l)
				}
			}
			_ = sink
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(bc.lines)), "ns/line")
		})
	}
}

// benchLineTexts are the lines BenchmarkFanout publishes.
func benchLineTexts(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		lvl := []string{"INFO", "WARN", "ERROR", "DEBUG"}[i%4]
		out[i] = fmt.Appendf(nil, "2026-11-22T10:00:00Z %s request id=%d path=/api/v1/items status=200 took=12ms", lvl, i)
	}
	return out
}

// TestLevelFormatsTable: each entry of the table reads its own example.
func TestLevelFormatsTable(t *testing.T) {
	for _, f := range levelFormats {
		if f.detect([]byte(f.example)) == LevelUnknown {
			t.Errorf("format %q does not read its example %q", f.name, f.example)
		}
	}
}
