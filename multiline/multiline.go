// Package multiline groups the lines of a log file into events: a stack
// trace (Java, Python, Go, Ruby, .NET), or whatever a `start` expression
// says, is one event with the line that introduced it. It decides line by
// line, with no goroutine and no timer of its own: a source's reading
// goroutine feeds it and asks it, once per source, when the open events are
// due (Wait after their last line).
//
// It imports nothing of edgetail but event, so that the tailer's sink, the
// reader of the past and the tests all group with the same code.
package multiline

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Defaults of a source's multiline settings (SPEC "Multi-line events").
const (
	DefaultMaxLines = 500
	DefaultMaxBytes = 256 << 10
	DefaultWait     = 300 * time.Millisecond
)

// Config is one source's multi-line grouping. Exactly one of Preset and
// Start is set; zero MaxLines, MaxBytes and Wait mean the defaults.
type Config struct {
	// Preset names a built-in rule: java (Kotlin and Scala too), python,
	// go, ruby, dotnet or indent.
	Preset string
	// Start is an RE2 expression: a line matching it starts an event, any
	// other line continues the open one.
	Start string
	// MaxLines and MaxBytes bound an event: one that would grow past
	// either is cut there (and marked), and the next line starts the next
	// event. An event of one line longer than MaxBytes stays whole.
	MaxLines int
	MaxBytes int
	// Wait is how long an open event waits for its next line before it
	// is complete.
	Wait time.Duration
}

// Problems of a Config, as values so that `edgetail check` can name them.
var (
	ErrPresetAndStart = errors.New("preset and start are exclusive: set one")
	ErrNoRule         = errors.New("set preset or start")
	ErrUnknownPreset  = errors.New("unknown preset")
)

// Presets lists the names Preset accepts, for messages and docs.
var Presets = []string{"java", "python", "go", "ruby", "dotnet", "indent"}

// Rules is a compiled Config, shared read-only by every file of a source
// (each file keeps its own Group).
type Rules struct {
	cfg   Config
	kind  ruleKind
	start *regexp.Regexp
}

// Compile checks c and returns its rules. Its errors wrap the Err values
// above, or are the regular expression's own.
func Compile(c Config) (*Rules, error) {
	if c.Preset != "" && c.Start != "" {
		return nil, ErrPresetAndStart
	}
	if c.Preset == "" && c.Start == "" {
		return nil, ErrNoRule
	}
	if c.MaxLines < 0 || c.MaxBytes < 0 || c.Wait < 0 {
		return nil, errors.New("max_lines, max_bytes and wait must not be negative")
	}
	if c.MaxLines == 0 {
		c.MaxLines = DefaultMaxLines
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.Wait == 0 {
		c.Wait = DefaultWait
	}
	r := &Rules{cfg: c}
	if c.Start != "" {
		re, err := regexp.Compile(c.Start)
		if err != nil {
			return nil, fmt.Errorf("start: %w", err)
		}
		r.kind, r.start = ruleStart, re
		return r, nil
	}
	k, ok := presetKinds[c.Preset]
	if !ok {
		return nil, fmt.Errorf("%w %q (want one of java, python, go, ruby, dotnet, indent)", ErrUnknownPreset, c.Preset)
	}
	r.kind = k
	return r, nil
}

// Config returns the settings, defaults filled in.
func (r *Rules) Config() Config { return r.cfg }

// Wait returns how long an open event waits for its next line.
func (r *Rules) Wait() time.Duration { return r.cfg.Wait }

// Group is the grouping state of one file: the open event's size and the
// rule's memory (inside a Python traceback, a Go goroutine dump). It sees
// only the lines' text; callers keep the lines themselves (Pending does).
// The zero value is not usable: get one from Rules.NewGroup.
type Group struct {
	r     *Rules
	state state
	n     int // lines of the open event; 0: none open
	size  int // its bytes, the newlines between its lines included
}

// NewGroup returns the state of a new file, with no event open.
func (r *Rules) NewGroup() Group { return Group{r: r} }

// Step takes the file's next line. ended says the open event is complete
// before it (the caller emits that event, then keeps line as the first of
// the next one); cut says it ended at MaxLines or MaxBytes although line
// would have continued it. A line that continues nothing (the first of a
// file, the first after an event ended by Close or cut) opens an event.
func (g *Group) Step(line []byte) (ended, cut bool) {
	cont := g.r.continues(&g.state, line)
	if g.n == 0 {
		g.n, g.size = 1, len(line)
		return false, false
	}
	if !cont {
		g.n, g.size = 1, len(line)
		return true, false
	}
	if g.n >= g.r.cfg.MaxLines || g.size+1+len(line) > g.r.cfg.MaxBytes {
		g.n, g.size = 1, len(line)
		return true, true
	}
	g.n++
	g.size += 1 + len(line)
	return false, false
}

// Close ends the open event (its wait passed, its file or read ended): the
// next line opens a new one. The rule's memory is kept, so that the lines
// of a trace written slowly are still told from the lines around it.
func (g *Group) Close() { g.n, g.size = 0, 0 }

// Open reports how many lines the open event has (0: none open).
func (g *Group) Open() int { return g.n }
