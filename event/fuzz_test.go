package event

import "testing"

// FuzzDetectLevel: any line yields a valid level and never panics, and
// only the first levelScanLimit bytes decide it. Seeded with the corpus of
// real formats (testdata/levels.txt) and a few truncated forms.
func FuzzDetectLevel(f *testing.F) {
	for _, c := range levelCorpus(f) {
		f.Add([]byte(c.line))
	}
	for _, s := range []string{`{"level":`, "lvl=\"", "", "E1201 1", "[", "LOG:", "\terror"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		lv := DetectLevel(line)
		if lv > LevelError {
			t.Fatalf("level %d out of range", lv)
		}
		if len(line) > levelScanLimit && DetectLevel(line[:levelScanLimit]) != lv {
			t.Fatalf("bytes past the scan limit changed the level of %q", line)
		}
	})
}

func TestLevelDetection(t *testing.T) {
	for line, want := range map[string]Level{
		`{"level":"error","msg":"x"}`:      LevelError,
		`{"ts":1, "lvl": "WARN"}`:          LevelWarn,
		`{"severity":"Info"}`:              LevelInfo,
		`ts=1 level=debug msg="x"`:         LevelDebug,
		`ts=1 lvl=warning`:                 LevelWarn,
		`2024-05-01 12:00:00 ERROR failed`: LevelError,
		`[Thu] [error] [client 1.2.3.4]`:   LevelError,
		`warning: disk almost full`:        LevelWarn,
		`E: FATAL boom`:                    LevelError,
		`no errors found today`:            LevelUnknown,
		`loglevel=error`:                   LevelUnknown,
		`INFO starting`:                    LevelInfo,
		`<notice> hello`:                   LevelInfo,
	} {
		if got := DetectLevel([]byte(line)); got != want {
			t.Errorf("DetectLevel(%q) = %v, want %v", line, got, want)
		}
	}
}
