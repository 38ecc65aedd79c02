package follow

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReader(t *testing.T) {
	in := "retry: 1500\n\n: heartbeat\n\nid: 7\ndata:  two spaces\ndata: second\n\nevent: gap\ndata: {\"missed\":3}\r\n\r\ndata:\n\n"
	r := NewReader(strings.NewReader(in), 1024)
	var got []Event
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
	}
	want := []Event{
		{Retry: 1500},
		{Type: ":"},
		{ID: "7", Data: " two spaces\nsecond"},
		{ID: "7", Type: "gap", Data: `{"missed":3}`},
		{ID: "7", Data: ""},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d events %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i].ID != want[i].ID || got[i].Type != want[i].Type || got[i].Data != want[i].Data || got[i].Retry != want[i].Retry {
			t.Errorf("event %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestReaderBoundsLines(t *testing.T) {
	r := NewReader(strings.NewReader("data: "+strings.Repeat("x", 5000)+"\n\n"), 1024)
	if _, err := r.Next(); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("a 5 kB line with a 1 kB bound: %v", err)
	}
}

func TestLevelColor(t *testing.T) {
	for line, want := range map[string]string{
		"2026-11-22 ERROR boom":  "\x1b[31m",
		`{"level":"warn"}`:       "\x1b[33m",
		"level=debug msg=x":      "\x1b[2m",
		"INFO fine":              "",
		"no errors found, fine.": "",
	} {
		if got := levelColor(line); got != want {
			t.Errorf("levelColor(%q) = %q, want %q", line, got, want)
		}
	}
}

// FuzzReader: any byte stream parses into events or an error, never a
// panic; an id holding NUL is ignored, as the standard says.
func FuzzReader(f *testing.F) {
	for _, s := range []string{"data: x\n\n", "id: 1\r\ndata: a\r\n\r\n", ":c\n", "retry: x\n\n", "data", "\r\r\r", "event: gap\ndata: {}\n\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(strings.NewReader(string(in)), 4096)
		for range 1000 {
			ev, err := r.Next()
			if err != nil {
				return
			}
			if strings.ContainsRune(ev.ID, 0) {
				t.Fatalf("id %q holds NUL", ev.ID)
			}
		}
	})
}

// TestPrintsTheLinesOfAnEvent: an event of several lines (one data: field
// per line) is printed as its lines, coloured by its first line's level,
// each line coloured on its own.
func TestPrintsTheLinesOfAnEvent(t *testing.T) {
	r := NewReader(strings.NewReader("id: f1\ndata: 2026-12-01 ERROR boom\ndata: java.lang.IllegalStateException: x\ndata: \tat a.B.c(B.java:1) INFO\n\n"), 1024)
	ev, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	var plain, color strings.Builder
	(&session{o: Options{Out: &plain}}).print(ev)
	if want := "2026-12-01 ERROR boom\njava.lang.IllegalStateException: x\n\tat a.B.c(B.java:1) INFO\n"; plain.String() != want {
		t.Errorf("printed %q, want %q", plain.String(), want)
	}
	(&session{o: Options{Out: &color, Color: true}}).print(ev)
	want := "\x1b[31m2026-12-01 ERROR boom\x1b[0m\n\x1b[31mjava.lang.IllegalStateException: x\x1b[0m\n\x1b[31m\tat a.B.c(B.java:1) INFO\x1b[0m\n"
	if color.String() != want {
		t.Errorf("coloured %q, want %q", color.String(), want)
	}
	if levelColor("INFO fine\nERROR later") != "" {
		t.Error("a later line's level coloured the event")
	}
}
