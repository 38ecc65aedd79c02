package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgetail/journal/journaltest"
)

// countLine is one line of the three-day fixture, with the time and level
// the contract gives it.
type countLine struct {
	text  string
	at    time.Time // its own time, or the time of the timed line before it
	level string    // error, warn, info, debug, none
}

// threeDays writes app.log.2.gz, app.log.1 and app.log, one UTC day each,
// ending at today's midnight: lines at irregular times (bursts, a silent
// stretch of three hours a day, stamps with and without fractions, some
// exactly on a minute, an hour or a day), of every level and none, with
// some continuation lines that have no time of their own.
func threeDays(t *testing.T, dir string) (string, time.Time, []countLine) {
	t.Helper()
	day0 := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -3)
	r := rand.New(rand.NewPCG(21, 3))
	levels := []struct{ word, level string }{
		{"ERROR", "error"}, {"WARN", "warn"}, {"INFO", "info"}, {"INFO", "info"}, {"DEBUG", "debug"}, {"note", "none"},
	}
	var files [3][]countLine
	for d := range 3 {
		start := day0.AddDate(0, 0, d)
		at := start
		for i := 0; ; i++ {
			switch {
			case i == 0:
			case i%97 == 0: // on the minute
				at = at.Truncate(time.Minute).Add(time.Minute)
			case i%53 == 0: // a burst: many lines in one second
				at = at.Add(time.Duration(r.IntN(900)) * time.Microsecond)
			default:
				at = at.Add(time.Duration(r.Int64N(int64(150 * time.Second))))
			}
			if h := at.Sub(start); h >= 4*time.Hour && h < 7*time.Hour {
				at = start.Add(7 * time.Hour) // the quiet hours
			}
			if !at.Before(start.AddDate(0, 0, 1)) {
				break
			}
			lv := levels[r.IntN(len(levels))]
			if i%29 == 0 {
				lv = levels[0]
			}
			stamp := at.Format(time.RFC3339)
			if at.Nanosecond() != 0 {
				stamp = at.Format("2006-01-02T15:04:05.000000Z07:00")
			}
			files[d] = append(files[d], countLine{fmt.Sprintf("%s %s request %d done", stamp, lv.word, len(files[d])), at, lv.level})
			if i%11 == 5 {
				// A continuation: the time of the line before.
				files[d] = append(files[d], countLine{fmt.Sprintf("\tat com.example.Handler.run(Handler.java:%d)", i), at, "none"})
			}
		}
	}
	path := filepath.Join(dir, "app.log")
	body := func(ls []countLine) []byte {
		var b bytes.Buffer
		for _, l := range ls {
			b.WriteString(l.text + "\n")
		}
		return b.Bytes()
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(body(files[0]))
	zw.Close()
	for _, f := range []struct {
		path string
		data []byte
	}{{path + ".2.gz", gz.Bytes()}, {path + ".1", body(files[1])}, {path, body(files[2])}} {
		if err := os.WriteFile(f.path, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return path, day0, append(append(files[0], files[1]...), files[2]...)
}

// countAnswer is the JSON of GET /api/counts.
type countAnswer struct {
	Since, Until, Step, Through string
	Sources                     []string
	Problems                    []string
	Buckets                     []struct {
		Time   time.Time
		Count  int
		Levels map[string]int
	}
}

func getCounts(t *testing.T, a *agent, params string, hdr ...string) countAnswer {
	t.Helper()
	resp := a.get("/api/counts?"+params, hdr...)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("counts?%s: %s %s", params, resp.Status, b)
	}
	var ans countAnswer
	if err := json.Unmarshal(b, &ans); err != nil {
		t.Fatalf("counts?%s: %v\n%s", params, err, b)
	}
	if len(ans.Problems) > 0 {
		t.Fatalf("counts?%s: problems %q", params, ans.Problems)
	}
	return ans
}

// want counts lines the contract's way: buckets from since rounded down to
// step in UTC, the window's ends included, empty buckets too.
func wantCounts(lines []countLine, since, until time.Time, step time.Duration, keep func(countLine) bool) [][5]int {
	start := time.Unix(since.Unix()-since.Unix()%int64(step/time.Second), 0)
	n := int((until.Sub(start) + step - 1) / step)
	n = max(n, 1)
	out := make([][5]int, n)
	for _, l := range lines {
		if l.at.Before(since) || l.at.After(until) || (keep != nil && !keep(l)) {
			continue
		}
		i := min(int(l.at.Sub(start)/step), n-1)
		out[i][levelIndex(l.level)]++
	}
	return out
}

var levelNames = []string{"error", "warn", "info", "debug", "none"}

func levelIndex(l string) int {
	for i, n := range levelNames {
		if n == l {
			return i
		}
	}
	return 4
}

func sameBuckets(t *testing.T, what string, got countAnswer, want [][5]int, start time.Time, step time.Duration) {
	t.Helper()
	if len(got.Buckets) != len(want) {
		t.Fatalf("%s: %d buckets, want %d", what, len(got.Buckets), len(want))
	}
	total := 0
	for i, b := range got.Buckets {
		if at := start.Add(time.Duration(i) * step); !b.Time.Equal(at) {
			t.Fatalf("%s: bucket %d at %s, want %s", what, i, b.Time, at)
		}
		sum := 0
		for j, n := range levelNames {
			if b.Levels[n] != want[i][j] {
				t.Fatalf("%s: bucket %d (%s) %s = %d, want %d", what, i, b.Time.Format(time.RFC3339), n, b.Levels[n], want[i][j])
			}
			sum += want[i][j]
		}
		if b.Count != sum {
			t.Fatalf("%s: bucket %d count %d, want %d", what, i, b.Count, sum)
		}
		total += sum
	}
	if total == 0 && !strings.Contains(what, "empty") {
		t.Fatalf("%s: no line in the window: the test says nothing", what)
	}
}

func iso(t time.Time) string { return url.QueryEscape(t.UTC().Format(time.RFC3339Nano)) }

// Every bucket and level of several windows and steps over three days of
// rotated logs (gzip, plain sibling, followed file) is exact, empty buckets
// included: windows on whole minutes and hours (the count index), with
// partial minutes at their ends (read from the files, the gzipped one
// included), steps below a minute (the files read), one ending exactly on
// a line, one in the quiet hours; then again once the index is made.
func TestCountsThreeDaysExact(t *testing.T) {
	dir := t.TempDir()
	path, day0, lines := threeDays(t, dir)
	a := start(t, fmt.Sprintf("sources:\n  - name: app\n    files: [%s]\n", path))
	h := time.Hour
	// A line stamped exactly on a minute, to end a window on.
	var onMinute time.Time
	for _, l := range lines[len(lines)/2:] {
		if l.at.Equal(l.at.Truncate(time.Minute)) && l.at.Second() == 0 {
			onMinute = l.at
			break
		}
	}
	if onMinute.IsZero() {
		t.Fatal("no line on a minute")
	}
	cases := []struct {
		name         string
		since, until time.Time
		step         time.Duration // 0: the default
	}{
		{"three days by the hour", day0, day0.Add(72 * h), h},
		{"three days, default step", day0.Add(90*time.Minute + 17*time.Second), day0.Add(72*h - time.Second), 0},
		{"6h, unaligned", day0.Add(5*h + 13*time.Minute + 7500*time.Millisecond), day0.Add(2*24*h + 19*h + time.Minute + 3*time.Second), 6 * h},
		{"1m inside the gzip", day0.Add(10*h + 30*time.Second), day0.Add(11*h + 30*time.Minute + 250*time.Millisecond), time.Minute},
		{"10s across a rotation", day0.Add(48*h - 10*time.Minute - 5*time.Second), day0.Add(48*h + 10*time.Minute), 10 * time.Second},
		{"5m ending on a line", onMinute.Add(-5 * h), onMinute, 5 * time.Minute},
		{"1d to now", day0, time.Now(), 24 * h},
		{"empty quiet hours", day0.Add(24*h + 4*h + time.Minute), day0.Add(24*h + 6*h), time.Minute},
	}
	for round := range 2 {
		for _, c := range cases {
			p := "since=" + iso(c.since) + "&until=" + iso(c.until)
			step := c.step
			if step != 0 {
				p += "&step=" + (step).String()
			} else {
				step = h
			}
			got := getCounts(t, a, p)
			if got.Step == "" || len(got.Sources) != 1 || got.Sources[0] != "app" || !strings.HasPrefix(got.Through, "m") {
				t.Fatalf("%s: answer %+v", c.name, got)
			}
			start := time.Unix(c.since.Unix()-c.since.Unix()%int64(step/time.Second), 0).UTC()
			sameBuckets(t, fmt.Sprintf("round %d: %s", round, c.name), got, wantCounts(lines, c.since, c.until, step, nil), start, step)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(stateDirOf(t, a), "counts-app")); len(ents) != 3 {
		t.Errorf("count index: %d files, want one per log file", len(ents))
	}
}

// streamTimes reads a since/until stream's events (JSON) and returns
// their times and levels.
func streamTimes(t *testing.T, a *agent, params string) []countLine {
	t.Helper()
	c := a.open("/stream/app?format=json&" + params)
	var out []countLine
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				return out
			}
			if ev.Type != "" {
				t.Fatalf("stream %s: event %s %s", params, ev.Type, ev.Data)
			}
			var e struct {
				Time  time.Time
				Level string
				Line  string
			}
			if err := json.Unmarshal([]byte(ev.Data), &e); err != nil {
				t.Fatal(err)
			}
			if e.Level == "" {
				e.Level = "none"
			}
			out = append(out, countLine{e.Line, e.Time, e.Level})
		case <-time.After(30 * time.Second):
			t.Fatalf("stream %s did not end", params)
		}
	}
}

// The filters change the counts exactly as they change a since/until
// stream: the stream's events, put in buckets by their times and levels,
// are the counts.
func TestCountsFiltersMatchTheStream(t *testing.T) {
	dir := t.TempDir()
	path, day0, lines := threeDays(t, dir)
	a := start(t, fmt.Sprintf("sources:\n  - name: app\n    files: [%s]\n", path))
	since, until := day0.Add(20*time.Hour+13*time.Second), day0.Add(52*time.Hour+500*time.Millisecond)
	step := 30 * time.Minute
	start := time.Unix(since.Unix()-since.Unix()%int64(step/time.Second), 0).UTC()
	all := wantCounts(lines, since, until, step, nil)
	for _, f := range []string{"q=request+1", "q=handler", "re=request+[0-9]*7+done", "not=info", "level=warn", "level=error&q=done", "q=ERROR&not=request+1"} {
		w := "since=" + iso(since) + "&until=" + iso(until)
		got := getCounts(t, a, w+"&step=30m&"+f)
		sent := streamTimes(t, a, w+"&"+f)
		want := wantCounts(sent, since, until, step, nil)
		sameBuckets(t, f, got, want, start, step)
		// And the filter did filter.
		if fmt.Sprint(want) == fmt.Sprint(all) {
			t.Errorf("%s: the filter kept every line", f)
		}
	}
	// level= alone is answered from the count index; its counts are those
	// of the fixture's levels at warn and above.
	got := getCounts(t, a, "since="+iso(since)+"&until="+iso(until)+"&step=30m&level=warn")
	sameBuckets(t, "level=warn by the fixture", got, wantCounts(lines, since, until, step, func(l countLine) bool {
		return l.level == "warn" || l.level == "error"
	}), start, step)
}

// Lines written now appear in the current bucket within 2 s, and in
// edgetail_events_total.
func TestCountsLiveLinesInTheCurrentBucket(t *testing.T) {
	dir := t.TempDir()
	path, _, _ := threeDays(t, dir)
	a := start(t, fmt.Sprintf("sources:\n  - name: app\n    files: [%s]\n", path))
	before := getCounts(t, a, "step=10s")
	total := func(c countAnswer) (n int) {
		for _, b := range c.Buckets {
			n += b.Count
		}
		return n
	}
	if total(before) != 0 {
		t.Fatalf("the last hour already holds %d lines", total(before))
	}
	metricsBefore := eventsTotal(t, a)
	now := time.Now().UTC()
	var live []string
	for i := range 5 {
		live = append(live, fmt.Sprintf("%s ERROR live %d", now.Format(time.RFC3339Nano), i))
	}
	live = append(live, "no time of its own, read now")
	appendLines(t, path, live...)
	written := time.Now()
	for {
		got := getCounts(t, a, "step=10s&since=2m")
		if total(got) == 6 {
			// All in the bucket of their time: the current one when
			// they were written (the line without a time of its own
			// takes the time of the line before it).
			for _, b := range got.Buckets {
				if !b.Time.After(now) && now.Before(b.Time.Add(10*time.Second)) && (b.Levels["error"] != 5 || b.Levels["none"] != 1) {
					t.Fatalf("the lines are not in their bucket: %+v", got.Buckets)
				}
			}
			break
		}
		if time.Since(written) > 2*time.Second {
			t.Fatalf("live lines not counted within 2 s: %+v", got.Buckets)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("counted %v after they were written", time.Since(written).Round(time.Millisecond))
	waitFor(t, "edgetail_events_total", func() bool {
		m := eventsTotal(t, a)
		return m["error"]-metricsBefore["error"] == 5 && m["none"]-metricsBefore["none"] == 1
	})
}

// eventsTotal reads edgetail_events_total{source="app"} by level.
func eventsTotal(t *testing.T, a *agent) map[string]int {
	t.Helper()
	resp := a.get("/metrics")
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]int{}
	for _, l := range strings.Split(string(b), "\n") {
		var lv string
		var n int
		if _, err := fmt.Sscanf(strings.NewReplacer(`"`, " ", ",", " ", "}", " ").Replace(l), "edgetail_events_total{source= app  level= %s  %d", &lv, &n); err == nil {
			out[lv] = n
		}
	}
	if len(out) != 5 {
		t.Fatalf("edgetail_events_total: %v\n%s", out, b)
	}
	return out
}

// A bad step, since or until is a 400 with a one-line reason.
func TestCountsBadParametersAre400(t *testing.T) {
	dir := t.TempDir()
	appendLines(t, filepath.Join(dir, "app.log"), "x")
	a := start(t, fmt.Sprintf("sources:\n  - name: app\n    files: [%s/app.log]\n  - name: host\n    metrics: {interval: 1s}\n", dir))
	for q, reason := range map[string]string{
		"step=0":                         "step",
		"step=1ms":                       "step",
		"step=1.5s":                      "step",
		"step=abc":                       "step",
		"step=-1m":                       "step",
		"step=1s&since=7d":               "10000",
		"since=yesterday":                "since",
		"since=2999-01-01T00:00:00Z":     "future",
		"until=nope":                     "until",
		"since=1h&until=2h":              "before",
		"tail=5":                         "parameter",
		"re=(":                           "re",
		"level=loud":                     "level",
		"sources=host":                   "metrics",
		"sources=app&unit=nginx.service": "journal",
	} {
		resp := a.get("/api/counts?" + q)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || bytes.Count(b, []byte("\n")) != 1 || !strings.Contains(string(b), reason) {
			t.Errorf("%s: %s %q, want 400 naming %s", q, resp.Status, b, reason)
		}
	}
	if resp := a.get("/api/counts?sources=nope"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown source: %s", resp.Status)
	}
}

// Tokens narrow the sources: without sources=, a count covers what the
// token grants; naming another source is a 403; no token, a 401.
func TestCountsTokensNarrowSources(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	appendLines(t, filepath.Join(dir, "a.log"), now+" ERROR one of a", now+" INFO two of a")
	appendLines(t, filepath.Join(dir, "b.log"), now+" WARN one of b")
	cfg := fmt.Sprintf(`sources:
  - name: a
    files: [%s/a.log]
  - name: b
    files: [%s/b.log]
auth:
  tokens:
    - name: ops
      token_sha256: %q
      sources: ["*"]
    - name: alice
      token_sha256: %q
      sources: [a]
`, dir, dir, sha(opsToken), sha(aliceToken))
	a := startAuthed(t, cfg)
	sum := func(c countAnswer) map[string]int {
		out := map[string]int{}
		for _, b := range c.Buckets {
			for k, v := range b.Levels {
				out[k] += v
			}
		}
		return out
	}
	ops := getCounts(t, a, "since=10m", "Authorization", "Bearer "+opsToken)
	if fmt.Sprint(ops.Sources) != "[a b]" || sum(ops)["warn"] != 1 || sum(ops)["error"] != 1 {
		t.Errorf("ops: %v %v", ops.Sources, sum(ops))
	}
	alice := getCounts(t, a, "since=10m", "Authorization", "Bearer "+aliceToken)
	if fmt.Sprint(alice.Sources) != "[a]" || sum(alice)["warn"] != 0 || sum(alice)["error"] != 1 || sum(alice)["info"] != 1 {
		t.Errorf("alice: %v %v", alice.Sources, sum(alice))
	}
	for hdr, status := range map[string]int{"Bearer " + aliceToken: http.StatusForbidden, "": http.StatusUnauthorized} {
		resp := a.get("/api/counts?sources=b", "Authorization", hdr)
		resp.Body.Close()
		if resp.StatusCode != status {
			t.Errorf("sources=b with %q: %s, want %d", hdr, resp.Status, status)
		}
	}
}

// A journal source is counted too, each entry by its time and the level
// of its PRIORITY (or of its message), and unit=/identifier= narrow it.
func TestCountsJournal(t *testing.T) {
	jd := journaltest.Start(t)
	for i := range 12 {
		jd.Log(t, []string{"web", "db"}[i%2], i%8, fmt.Sprintf("entry %d", i))
	}
	jd.Log(t, "web", 6, `{"level":"error","msg":"json says error"}`)
	jd.WaitMessage(t, `{"level":"error","msg":"json says error"}`)
	a := startJournalAgent(t, jd, "")
	var want [5]int
	var web [5]int
	for _, e := range jd.Entries(t) {
		lv := []int{0, 0, 0, 0, 1, 2, 2, 3}[e.Priority]
		if strings.Contains(string(e.Message), `"level":"error"`) {
			lv = 0
		}
		want[lv]++
		if e.Identifier == "web" {
			web[lv]++
		}
	}
	sum := func(c countAnswer) (out [5]int) {
		for _, b := range c.Buckets {
			for i, n := range levelNames {
				out[i] += b.Levels[n]
			}
		}
		return out
	}
	if got := sum(getCounts(t, a, "since=10m&step=1m")); got != want {
		t.Errorf("journal: %v, want %v", got, want)
	}
	if got := sum(getCounts(t, a, "since=10m&step=1m&identifier=web")); got != web {
		t.Errorf("identifier=web: %v, want %v", got, web)
	}
}

// A live event's time is the line's own (the one reads of the past and
// counts use), not when the agent read it; a line without one has the read
// time, marked no_time.
func TestTimelineEventTimes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendLines(t, path, "2026-01-02T03:04:05.678Z INFO before")
	a := start(t, fmt.Sprintf("sources:\n  - name: app\n    files: [%s]\n", path))
	c := a.open("/stream/app?format=json&tail=0")
	stamp := time.Now().UTC().Add(-42 * time.Minute).Truncate(time.Millisecond)
	appendLines(t, path, stamp.Format(time.RFC3339Nano)+" WARN stamped", "no stamp here")
	read := time.Now()
	var e struct {
		Time   time.Time
		NoTime bool `json:"no_time"`
		Line   string
	}
	for i, want := range []string{"stamped", "no stamp"} {
		if err := json.Unmarshal([]byte(c.next(t).Data), &e); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(e.Line, want) {
			t.Fatalf("event %d: %q", i, e.Line)
		}
		switch i {
		case 0:
			if !e.Time.Equal(stamp) || e.NoTime {
				t.Errorf("stamped line: time %s no_time %v, want %s", e.Time, e.NoTime, stamp)
			}
		case 1:
			if !e.NoTime || e.Time.Sub(read).Abs() > 5*time.Second {
				t.Errorf("line without a time: time %s no_time %v, want the read time (%s) marked", e.Time, e.NoTime, read)
			}
		}
	}
}

// A multiline source counts events, not lines: a Java trace is one event,
// at its first line's time and level, in the count index (whole minutes),
// at the window's ends, with q= on one of its frames (the event, once) and
// level=, over a gzipped sibling, a plain one and the followed file; as a
// since/until stream sends them.
func TestCountsMultilineEventsOnce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	base := time.Now().UTC().Truncate(time.Hour).Add(-30 * time.Hour)
	var files [3][]string
	var events []countLine
	for i := range 180 {
		at := base.Add(time.Duration(i) * 7 * time.Minute)
		f := &files[i/60]
		if i%3 == 0 {
			*f = append(*f, fmt.Sprintf("%s ERROR request %d failed", at.Format(time.RFC3339), i),
				fmt.Sprintf("java.lang.IllegalStateException: state %d", i),
				fmt.Sprintf("\tat com.example.Handler.handle%d(Handler.java:%d)", i%4, 10+i%4),
				"\tat com.example.Server.run(Server.java:99)", "\t... 42 more")
			events = append(events, countLine{fmt.Sprint(i), at, "error"})
			continue
		}
		*f = append(*f, fmt.Sprintf("%s INFO request %d served", at.Format(time.RFC3339), i))
		events = append(events, countLine{fmt.Sprint(i), at, "info"})
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(strings.Join(files[0], "\n") + "\n"))
	zw.Close()
	os.WriteFile(path+".2.gz", gz.Bytes(), 0o644)
	os.WriteFile(path+".1", []byte(strings.Join(files[1], "\n")+"\n"), 0o644)
	os.WriteFile(path, []byte(strings.Join(files[2], "\n")+"\n"), 0o644)
	a := start(t, fmt.Sprintf("sources:\n  - name: app\n    files: [%s]\n    multiline: {preset: java}\n", path))
	since, until := base, base.Add(180*7*time.Minute)
	w := "since=" + iso(since) + "&until=" + iso(until)
	// The file's last event is committed once its wait is over.
	waitFor(t, "every event counted", func() bool {
		c := getCounts(t, a, w+"&step=1h")
		n := 0
		for _, b := range c.Buckets {
			n += b.Count
		}
		return n == len(events)
	})
	for _, c := range []struct {
		name, params string
		since, until time.Time
		step         time.Duration
		keep         func(countLine) bool
	}{
		{"all, by the hour", "", since, until, time.Hour, nil},
		{"partial minutes, 10m", "", since.Add(95*time.Minute + 30*time.Second), until.Add(-3*time.Hour - 20*time.Second), 10 * time.Minute, nil},
		{"level=error", "&level=error", since, until, time.Hour, func(l countLine) bool { return l.level == "error" }},
		{"q= on a frame", "&q=Handler.java%3A11", since, until, time.Hour, func(l countLine) bool {
			var i int
			fmt.Sscan(l.text, &i)
			return l.level == "error" && i%4 == 1
		}},
	} {
		p := "since=" + iso(c.since) + "&until=" + iso(c.until) + "&step=" + c.step.String() + c.params
		got := getCounts(t, a, p)
		start := time.Unix(c.since.Unix()-c.since.Unix()%int64(c.step/time.Second), 0).UTC()
		sameBuckets(t, c.name, got, wantCounts(events, c.since, c.until, c.step, c.keep), start, c.step)
		if c.params != "" {
			sent := streamTimes(t, a, "since="+iso(c.since)+"&until="+iso(c.until)+c.params)
			sameBuckets(t, c.name+" as the stream", got, wantCounts(sent, c.since, c.until, c.step, nil), start, c.step)
		}
	}
}
