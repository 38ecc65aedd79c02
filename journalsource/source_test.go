package journalsource

import (
	"testing"

	"edgetail/journal"
)

// TestMultiLineMessageIsOneEvent: a MESSAGE of several lines becomes one
// event of that many lines (the stream then writes one data: field per
// line); a final newline ends the last line rather than adding an empty
// one; a message of one line stays a line.
func TestMultiLineMessageIsOneEvent(t *testing.T) {
	ls := lines([]journal.Entry{
		{Cursor: "c1", Message: []byte("Traceback (most recent call last):\n  File \"x\"\nValueError: x\n"), Priority: 3},
		{Cursor: "c2", Message: []byte("one line\n"), Priority: 6},
		{Cursor: "c3", Message: []byte("cr\rlf"), Priority: 6},
	}, 0)
	for i, want := range []struct {
		text  string
		lines int
	}{
		{"Traceback (most recent call last):\n  File \"x\"\nValueError: x", 3},
		{"one line", 0},
		{"cr\rlf", 0},
	} {
		if string(ls[i].Text) != want.text || ls[i].Lines != want.lines {
			t.Errorf("entry %d: %q, %d lines; want %q, %d", i, ls[i].Text, ls[i].Lines, want.text, want.lines)
		}
	}
	if string(ls[0].Key) != "cc1" {
		t.Errorf("key %q", ls[0].Key)
	}
}
