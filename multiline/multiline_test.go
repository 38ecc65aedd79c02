package multiline

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"edgetail/event"
)

// readTrace returns the lines of a real trace in testdata.
func readTrace(t testing.TB, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// got is one emitted event.
type got struct {
	lines []string
	cut   bool
}

// driver feeds a Pending the way a source's goroutine does: each line at
// its time, the open event released first when its wait has passed by
// then (the tailer's one timer), and the last one released at the end.
type driver struct {
	r   *Rules
	p   *Pending[event.Line]
	out []got
}

func newDriver(r *Rules) *driver { return &driver{r: r, p: NewPending[event.Line](r)} }

func (d *driver) emit(lines []event.Line, cut bool) {
	g := got{cut: cut}
	for _, l := range lines {
		g.lines = append(g.lines, string(l.Text))
	}
	d.out = append(d.out, g)
}

func (d *driver) add(line string, at time.Time) {
	if due := d.p.Due(d.r.Wait()); !due.IsZero() && !due.After(at) {
		d.p.Flush(d.emit)
	}
	d.p.Add(event.Line{Text: []byte(line)}, []byte(line), at, d.emit)
}

func (d *driver) end() { d.p.Flush(d.emit) }

func (d *driver) sizes() []int {
	var n []int
	for _, g := range d.out {
		n = append(n, len(g.lines))
	}
	return n
}

func mustCompile(t testing.TB, c Config) *Rules {
	t.Helper()
	r, err := Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestPresetsOnRealTraces: each preset groups a real trace, with the log
// lines around it, into the events an operator expects, whether the file
// is read whole or line by line with pauses shorter than wait; with pauses
// longer than wait every line is complete before the next arrives, so
// each is an event of its own. No line is lost, repeated or reordered.
func TestPresetsOnRealTraces(t *testing.T) {
	for _, tc := range []struct {
		preset, file string
		want         []int // lines per event
	}{
		{"java", "java-spring.log", []int{1, 17, 1, 1}},
		{"python", "python-django.log", []int{1, 18, 1, 1}},
		{"go", "go-panic.log", []int{1, 1, 21, 1}},
		{"ruby", "ruby-rails.log", []int{1, 1, 1, 9, 1, 4}},
		{"dotnet", "dotnet.log", []int{1, 11, 1, 1}},
	} {
		lines := readTrace(t, tc.file)
		r := mustCompile(t, Config{Preset: tc.preset})
		t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		for _, mode := range []struct {
			name string
			gap  time.Duration
		}{{"whole", 0}, {"pauses shorter than wait", r.Wait() - 10*time.Millisecond}, {"pauses longer than wait", r.Wait() + 10*time.Millisecond}} {
			t.Run(tc.preset+"/"+mode.name, func(t *testing.T) {
				d := newDriver(r)
				for i, l := range lines {
					d.add(l, t0.Add(time.Duration(i)*mode.gap))
				}
				d.end()
				want := tc.want
				if mode.gap > r.Wait() {
					want = slices.Repeat([]int{1}, len(lines))
				}
				if !slices.Equal(d.sizes(), want) {
					t.Errorf("events of %v lines, want %v", d.sizes(), want)
					for _, g := range d.out {
						t.Logf("%q", g.lines)
					}
				}
				var all []string
				for _, g := range d.out {
					all = append(all, g.lines...)
					if g.cut {
						t.Errorf("event cut: %q", g.lines)
					}
				}
				if !slices.Equal(all, lines) {
					t.Errorf("lines changed:\n%q\nwant\n%q", all, lines)
				}
			})
		}
	}
}

// TestTraceEndsAtNextEvent: the trace's event is complete when the next
// event's first line arrives, not only after wait.
func TestTraceEndsAtNextEvent(t *testing.T) {
	r := mustCompile(t, Config{Preset: "java"})
	d := newDriver(r)
	now := time.Now()
	for _, l := range []string{"2026-12-01 ERROR boom", "java.lang.IllegalStateException: x", "\tat a.B.c(B.java:1)"} {
		d.add(l, now)
	}
	if len(d.out) != 0 {
		t.Fatalf("emitted before the trace ended: %v", d.out)
	}
	d.add("2026-12-01 INFO next", now)
	if !slices.Equal(d.sizes(), []int{3}) {
		t.Fatalf("events %v, want the trace of 3 lines", d.sizes())
	}
	if due := d.p.Due(r.Wait()); !due.Equal(now.Add(r.Wait())) {
		t.Fatalf("the open line is due at %v, want %v", due, now.Add(r.Wait()))
	}
}

// TestContinuationWithNothingBefore: continuations at the start of a file
// (or after a wait released the event) open an event of their own.
func TestContinuationWithNothingBefore(t *testing.T) {
	r := mustCompile(t, Config{Preset: "indent"})
	d := newDriver(r)
	now := time.Now()
	d.add("  orphan 1", now)
	d.add("  orphan 2", now)
	d.add("start", now)
	d.add("  child", now)
	d.end()
	if !slices.Equal(d.sizes(), []int{2, 2}) || d.out[0].lines[0] != "  orphan 1" {
		t.Fatalf("events %v (%v)", d.sizes(), d.out)
	}
}

// TestCutAtMaxLinesLosesNoLine: a 2,000-line trace with max_lines 100 is
// 20 events, the first 19 marked cut, every line once in order.
func TestCutAtMaxLinesLosesNoLine(t *testing.T) {
	r := mustCompile(t, Config{Preset: "java", MaxLines: 100})
	d := newDriver(r)
	now := time.Now()
	var lines []string
	lines = append(lines, "2026-12-01 ERROR huge")
	for i := 1; i < 2000; i++ {
		lines = append(lines, fmt.Sprintf("\tat f%d(F.java:%d)", i, i))
	}
	for _, l := range lines {
		d.add(l, now)
	}
	d.end()
	if len(d.out) != 20 {
		t.Fatalf("%d events, want 20", len(d.out))
	}
	var all []string
	for i, g := range d.out {
		all = append(all, g.lines...)
		if len(g.lines) != 100 || g.cut != (i < 19) {
			t.Errorf("event %d: %d lines, cut %v", i, len(g.lines), g.cut)
		}
	}
	if !slices.Equal(all, lines) {
		t.Fatal("lines lost or reordered")
	}
}

// TestCutAtMaxBytes: an event stops before the line that would take it
// past max_bytes; one line longer than max_bytes stays whole.
func TestCutAtMaxBytes(t *testing.T) {
	r := mustCompile(t, Config{Preset: "indent", MaxBytes: 20})
	d := newDriver(r)
	now := time.Now()
	for _, l := range []string{"start 1", " 123456", " 1234567", strings.Repeat("x", 30), " y"} {
		d.add(l, now)
	}
	d.end()
	// "start 1\n 123456" is 15 bytes; with "\n 1234567" 24: cut.
	if !slices.Equal(d.sizes(), []int{2, 1, 1, 1}) || !d.out[0].cut || d.out[1].cut || !d.out[2].cut {
		t.Fatalf("events %v: %+v", d.sizes(), d.out)
	}
}

// TestStartExpression: a start expression opens an event at every line
// it matches; the others continue.
func TestStartExpression(t *testing.T) {
	r := mustCompile(t, Config{Start: `^\d{4}-\d{2}-\d{2}[T ]`})
	d := newDriver(r)
	now := time.Now()
	for _, l := range []string{"2026-12-01 10:00:00 a", "b", "c", "2026-12-01T10:00:01 d", "2026-12-01 10:00:02 e", "f"} {
		d.add(l, now)
	}
	d.end()
	if !slices.Equal(d.sizes(), []int{3, 1, 2}) {
		t.Fatalf("events %v", d.sizes())
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want error
	}{
		{Config{Preset: "java", Start: "x"}, ErrPresetAndStart},
		{Config{}, ErrNoRule},
		{Config{Preset: "cobol"}, ErrUnknownPreset},
	} {
		if _, err := Compile(tc.c); !errors.Is(err, tc.want) {
			t.Errorf("Compile(%+v) = %v, want %v", tc.c, err, tc.want)
		}
	}
	if _, err := Compile(Config{Start: "a("}); err == nil {
		t.Error("a bad expression compiled")
	}
	r := mustCompile(t, Config{Preset: "go"})
	if c := r.Config(); c.MaxLines != DefaultMaxLines || c.MaxBytes != DefaultMaxBytes || c.Wait != DefaultWait {
		t.Errorf("defaults %+v", c)
	}
}

// TestJoin: an event's lines joined by "\n", its time the first line's,
// its cut the last line's, and a cut line inside it marked in the text.
func TestJoin(t *testing.T) {
	t0 := time.Unix(100, 0)
	lines := []event.Line{
		{File: "/a", Text: []byte("first"), Time: t0},
		{File: "/a", Text: []byte("mid"), Cut: 99, Time: t0.Add(time.Second)},
		{File: "/a", Text: []byte("last"), Cut: 7, Time: t0.Add(2 * time.Second)},
	}
	l, _ := Join(nil, lines, func(l *event.Line) *event.Line { return l }, true)
	want := "first\nmid [edgetail: line cut, 99 bytes]\nlast"
	if string(l.Text) != want || l.Lines != 3 || !l.Time.Equal(t0) || l.Cut != 7 || !l.Partial || l.File != "/a" {
		t.Fatalf("Join = %+v (%q)", l, l.Text)
	}
	one, buf := Join(nil, lines[:1], func(l *event.Line) *event.Line { return l }, false)
	if buf != nil || !bytes.Equal(one.Text, []byte("first")) || one.Lines != 0 {
		t.Fatalf("one line joined: %+v", one)
	}
}

// TestPresetLines covers each preset's cases one line at a time: whether
// a line continues the event before it, in the state the lines before it
// leave.
func TestPresetLines(t *testing.T) {
	for _, tc := range []struct {
		preset string
		before []string // lines that set the rule's state
		line   string
		want   bool
	}{
		{"java", nil, "\tat a.b.C.d(C.java:1)", true},
		{"java", nil, "Caused by: java.io.IOException: x", true},
		{"java", nil, "\t... 42 more", true},
		{"java", nil, "... 42 more", true},
		{"java", nil, "kotlin.UninitializedPropertyAccessException: lateinit property x", true},
		{"java", nil, "scala.MatchError: 3 (of class java.lang.Integer)", true},
		{"java", nil, "com.acme.Foo$BarError", true},
		{"java", nil, "Exception in thread \"main\" java.lang.RuntimeException: x", false},
		{"java", nil, "2026-12-01 10:00:00 INFO x", false},
		{"java", nil, "com.acme.Service: started", false},
		{"python", nil, "Traceback (most recent call last):", true},
		{"python", []string{"Traceback (most recent call last):", "  File \"x\", line 1"}, "ValueError: x", true},
		{"python", []string{"Traceback (most recent call last):", "  File \"x\", line 1", "ValueError: x"}, "INFO next", false},
		{"python", []string{"Traceback (most recent call last):", "  File \"x\", line 1", "ValueError: x"}, "", true},
		{"python", nil, "ValueError: x", false},
		{"go", nil, "panic: boom", false},
		{"go", []string{"panic: boom"}, "", true},
		{"go", []string{"panic: boom"}, "goroutine 1 [running]:", true},
		{"go", []string{"panic: boom"}, "main.main()", true},
		{"go", []string{"panic: boom"}, "rax    0x0", true},
		{"go", []string{"panic: boom"}, "2026/12/01 10:00:00 next", false},
		{"go", nil, "main.main()", false},
		{"go", nil, "SIGQUIT: quit", false},
		{"ruby", nil, "\tfrom a.rb:1:in `x'", true},
		{"ruby", nil, "app/models/user.rb:3:in `name'", true},
		{"ruby", nil, "a.rb:1:in `x': boom (RuntimeError)", false},
		{"ruby", nil, "E, [2026-12-01T10:00:00.000000 #1] ERROR -- : x", false},
		{"ruby", nil, "[abc] ActiveRecord::RecordNotFound (Couldn't find User with 'id'=1):", true},
		{"ruby", nil, "[main] INFO x", false},
		{"dotnet", nil, " ---> System.Exception: inner", true},
		{"dotnet", nil, "--- End of stack trace from previous location ---", true},
		{"dotnet", nil, "System.InvalidOperationException: x", true},
		{"dotnet", nil, "Unhandled exception. System.Exception: x", false},
		{"indent", nil, "\tx", true},
		{"indent", nil, "x", false},
		{"indent", nil, "", false},
	} {
		r := mustCompile(t, Config{Preset: tc.preset})
		var st state
		for _, b := range tc.before {
			r.continues(&st, []byte(b))
		}
		if got := r.continues(&st, []byte(tc.line)); got != tc.want {
			t.Errorf("%s after %q: continues(%q) = %v, want %v", tc.preset, tc.before, tc.line, got, tc.want)
		}
	}
}

// BenchmarkJava: the cost per line of the java preset on lines that are
// not traces (what a busy source mostly writes).
func BenchmarkJava(b *testing.B) {
	r := mustCompile(b, Config{Preset: "java"})
	p := NewPending[event.Line](r)
	line := []byte("2026-12-01 10:00:00.101  INFO 4242 --- [main] c.e.demo.DemoApplication : request served in 12 ms")
	l := event.Line{Text: line}
	now := time.Now()
	emit := func([]event.Line, bool) {}
	b.ReportAllocs()
	for b.Loop() {
		p.Add(l, line, now, emit)
	}
}
