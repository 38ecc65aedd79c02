package agent

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"edgetail/journal/journaltest"
)

// BenchmarkJournalSource compares the entries/s of a journal source (from
// journalctl's pipe through parsing, encoding and the replay buffer's
// commit) with `journalctl -o json | wc -l` over the same journal, in the
// same run. Run it once: go test -run '^$' -bench JournalSource -benchtime 1x.
func BenchmarkJournalSource(b *testing.B) {
	jd := journaltest.Start(b)
	const n = 200_000
	msg := strings.Repeat("x", 80)
	for i := range n {
		if err := jd.Send("MESSAGE", fmt.Sprintf("%s %d", msg, i), "SYSLOG_IDENTIFIER", "bench", "PRIORITY", "6"); err != nil {
			// The socket's buffer is full: let journald catch up.
			time.Sleep(time.Millisecond)
			if err := jd.Send("MESSAGE", fmt.Sprintf("%s %d", msg, i), "SYSLOG_IDENTIFIER", "bench", "PRIORITY", "6"); err != nil {
				b.Fatal(err)
			}
		}
	}
	jd.WaitLast(b, fmt.Sprintf("%s %d", msg, n-1))
	b.ResetTimer()
	for range b.N {
		// journalctl alone.
		t0 := time.Now()
		out, err := exec.Command("sh", "-c", "journalctl --directory="+jd.Dir+" -o json --no-pager | wc -l").Output()
		if err != nil {
			b.Fatal(err)
		}
		total, _ := strconv.Atoi(strings.TrimSpace(string(out)))
		ctlRate := float64(total) / time.Since(t0).Seconds()

		// The journal source of an agent: its prefill reads every entry.
		cfg, err := ParseConfig([]byte(fmt.Sprintf("stream: {replay_lines: %d, replay_bytes: 1000000000}\nsources:\n  - name: j\n    journal: {directory: %s}\n", total, jd.Dir)), "b.yaml")
		if err != nil {
			b.Fatal(err)
		}
		a, err := New(cfg, nil)
		if err != nil {
			b.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		t1 := time.Now()
		go func() { done <- a.Serve(ctx, ln) }()
		var got uint64
		for got < uint64(total) {
			time.Sleep(5 * time.Millisecond)
			for _, st := range a.Hub().Stats() {
				got = st.Lines
			}
		}
		srcRate := float64(got) / time.Since(t1).Seconds()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(ctlRate, "journalctl-entries/s")
		b.ReportMetric(srcRate, "source-entries/s")
		b.ReportMetric(srcRate/ctlRate, "ratio")
	}
}
