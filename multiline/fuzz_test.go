package multiline

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"edgetail/event"
)

// FuzzGroup: whatever the lines and whatever the rule, every byte of every
// line appears exactly once across the events, in order; no event is
// longer than max_lines, or than max_bytes unless it is one line; Join
// gives back the lines joined by "\n". opts picks the rule, the bounds and
// where waits pass. Seeded with the real traces of testdata, run as a test
// by `go test`.
func FuzzGroup(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.log"))
	for i, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint32(i))
		f.Add(b, uint32(i)|0x300) // small bounds
	}
	f.Add([]byte("  a\n\n\tb\nc\n d\n"), uint32(5))
	f.Add([]byte("\xff\n\r\n \rdata: forged\n"), uint32(6))
	rules := []string{"java", "python", "go", "ruby", "dotnet", "indent", "start"}
	f.Fuzz(func(t *testing.T, input []byte, opts uint32) {
		c := Config{MaxLines: 1 + int(opts>>8&0x3), MaxBytes: 1 + int(opts>>10&0x3f)}
		if opts&0x300 == 0 {
			c.MaxLines, c.MaxBytes = 0, 0
		}
		if p := rules[int(opts&0xff)%len(rules)]; p == "start" {
			c.Start = `^\S`
		} else {
			c.Preset = p
		}
		r, err := Compile(c)
		if err != nil {
			t.Fatal(err)
		}
		lines := bytes.Split(input, []byte("\n"))
		p := NewPending[event.Line](r)
		var out [][]byte
		var events [][]event.Line
		get := func(l *event.Line) *event.Line { return l }
		emit := func(ls []event.Line, cut bool) {
			if len(ls) == 0 {
				t.Fatal("an empty event")
			}
			cfg := r.Config()
			size := len(ls) - 1
			for _, l := range ls {
				size += len(l.Text)
			}
			if len(ls) > cfg.MaxLines || (len(ls) > 1 && size > cfg.MaxBytes) {
				t.Fatalf("event of %d lines, %d bytes over %+v", len(ls), size, cfg)
			}
			j, _ := Join(nil, ls, get, cut)
			var want [][]byte
			for _, l := range ls {
				want = append(want, l.Text)
				out = append(out, l.Text)
			}
			if !bytes.Equal(j.Text, bytes.Join(want, []byte("\n"))) {
				t.Fatalf("Join = %q, want %q", j.Text, want)
			}
			events = append(events, append([]event.Line(nil), ls...))
		}
		now := time.Unix(0, 0)
		for i, l := range lines {
			// A wait passes before some lines, chosen by the input.
			if (opts>>16)&(1<<(i%16)) != 0 {
				now = now.Add(r.Wait())
				if due := p.Due(r.Wait()); !due.IsZero() && !due.After(now) {
					p.Flush(emit)
				}
			}
			p.Add(event.Line{Text: l}, l, now, emit)
		}
		p.Flush(emit)
		if !bytes.Equal(bytes.Join(out, []byte("\n")), input) || len(out) != len(lines) {
			t.Fatalf("lines %q, want %q", out, lines)
		}
		if p.Held() != 0 {
			t.Fatal("lines held after the flush")
		}
	})
}
