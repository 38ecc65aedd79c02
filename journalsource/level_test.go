package journalsource

import (
	"testing"

	"edgetail/event"
	"edgetail/journal"
)

// A journal entry's level, as SPEC "Levels" orders it: a JSON or logfmt
// level in MESSAGE, then PRIORITY, then a level word. journald gives every
// line a service writes to stdout PRIORITY 6, so its own levels must win.
func TestLevelJournalPrecedence(t *testing.T) {
	for _, c := range []struct {
		msg      string
		priority int
		want     event.Level // LevelUnknown: left for the hub's word detection
	}{
		{`{"level":"warn","msg":"disk"}`, 6, event.LevelWarn},
		{`time=1 level=debug msg="cache miss"`, 3, event.LevelDebug},
		{`ERROR but journald says info`, 6, event.LevelInfo},
		{`{"severity":"ERROR"}`, 7, event.LevelError},
		{`lvl=info started`, 0, event.LevelInfo},
		{`plain text`, 4, event.LevelWarn},
		{`kernel: ERROR without a priority`, -1, event.LevelUnknown},
	} {
		ls := lines([]journal.Entry{{Cursor: "s=1", Message: []byte(c.msg), Priority: c.priority}}, 0)
		if got := ls[0].Level; got != c.want {
			t.Errorf("%q PRIORITY %d: level %v, want %v", c.msg, c.priority, got, c.want)
		}
	}
	// With no PRIORITY the hub reads the word, as for a file line.
	if got := event.DetectLevel([]byte("kernel: ERROR without a priority")); got != event.LevelError {
		t.Errorf("word level: %v", got)
	}
}
