package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestLevelsThroughBinary: each line of the level corpus, written to a
// followed file, arrives on the format=json stream with the level the
// corpus gives it ("" for none).
func TestLevelsThroughBinary(t *testing.T) {
	type entry struct{ level, line string }
	f, err := os.Open("../event/testdata/levels.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var corpus []entry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if text := sc.Text(); text != "" && text[0] != '#' {
			level, line, _ := strings.Cut(text, " ")
			if level == "none" {
				level = ""
			}
			corpus = append(corpus, entry{level, line})
		}
	}
	if err := sc.Err(); err != nil || len(corpus) == 0 {
		t.Fatalf("corpus: %d lines, %v", len(corpus), err)
	}

	path, cfg := fileSource(t, "")
	a := start(t, cfg)
	c := a.open("/stream/app?format=json&tail=0")
	lines := make([]string, len(corpus))
	for i, e := range corpus {
		lines[i] = e.line
	}
	appendLines(t, path, lines...)
	for i, e := range corpus {
		var got struct{ Level, Line string }
		ev := c.next(t)
		if err := json.Unmarshal([]byte(ev.Data), &got); err != nil {
			t.Fatalf("event %d: %v: %s", i, err, ev.Data)
		}
		if got.Line != e.line {
			t.Fatalf("event %d is %q, want %q", i, got.Line, e.line)
		}
		if got.Level != e.level {
			t.Errorf("%q: level %q, want %q", e.line, got.Level, e.level)
		}
	}
}
