package stream

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"edgetail/event"
)

// countsOf serves one count request.
func countsOf(t *testing.T, h *Hub, path string, allowed func(string) bool) (int, string) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeCounts(w, httptest.NewRequest(http.MethodGet, path, nil), allowed)
	return w.Code, w.Body.String()
}

// A source without a past is counted from its replay buffer, with the
// filters, by its events' own times; the answer says the sources and
// where the count stopped (the merged order).
func TestCountsFromTheReplayBuffer(t *testing.T) {
	e := newEnv(t, Options{}, "a", "b")
	e.hub.Source("host", KindMetrics)
	now := time.Now().UTC()
	e.publish("a", "ERROR one", "INFO two", "plain three")
	// A line stamped an hour ago is counted at its own time.
	old := now.Add(-90 * time.Minute)
	if err := e.hub.Lookup("b").Publish(context.Background(), []event.Line{{Text: []byte("WARN old"), Time: old}}); err != nil {
		t.Fatal(err)
	}
	code, body := countsOf(t, e.hub, "/api/counts?since=2h&step=1h", nil)
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	var ans struct {
		Sources []string
		Through string
		Buckets []struct {
			Time   time.Time
			Count  int
			Levels map[string]int
		}
	}
	if err := json.Unmarshal([]byte(body), &ans); err != nil {
		t.Fatal(err)
	}
	if strings.Join(ans.Sources, ",") != "a,b" || ans.Through != "m"+formatID(e.hub.g) {
		t.Fatalf("sources %v through %s (g %d)", ans.Sources, ans.Through, e.hub.g)
	}
	total := map[string]int{}
	for _, b := range ans.Buckets {
		for k, v := range b.Levels {
			total[k] += v
		}
		if b.Time.Before(old) && !b.Time.Add(time.Hour).After(old) && b.Levels["warn"] != 0 {
			t.Errorf("the old line is not in its hour: %+v", ans.Buckets)
		}
	}
	if total["error"] != 1 || total["info"] != 1 || total["none"] != 1 || total["warn"] != 1 {
		t.Errorf("levels %v", total)
	}
	_, body = countsOf(t, e.hub, "/api/counts?since=2h&level=warn&sources=a", nil)
	if !strings.Contains(body, `"error":1`) || strings.Contains(body, `"info":1`) {
		t.Errorf("level=warn: %s", body)
	}
	if code, body := countsOf(t, e.hub, "/api/counts", func(s string) bool { return s == "b" }); code != http.StatusOK || !strings.Contains(body, `"sources":["b"]`) {
		t.Errorf("granted b: %d %s", code, body)
	}
	if code, _ := countsOf(t, e.hub, "/api/counts?sources=a", func(s string) bool { return s == "b" }); code != http.StatusForbidden {
		t.Errorf("a not granted: %d", code)
	}
	// The per-level counters behind edgetail_events_total.
	if lc := e.hub.Lookup("a").LevelCounts(); lc[event.LevelError] != 1 || lc[event.LevelInfo] != 1 || lc[event.LevelUnknown] != 1 {
		t.Errorf("level counts %v", lc)
	}
}

// A count takes a history read slot: when every slot is taken it is a 503.
func TestCountsHoldAHistorySlot(t *testing.T) {
	e := newEnv(t, Options{MaxHistoryReads: 1}, "a")
	e.hub.histSem <- struct{}{}
	code, body := countsOf(t, e.hub, "/api/counts", nil)
	<-e.hub.histSem
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "max_history_reads") {
		t.Errorf("%d %s", code, body)
	}
	if code, _ := countsOf(t, e.hub, "/api/counts", nil); code != http.StatusOK || len(e.hub.histSem) != 0 {
		t.Errorf("after: %d, %d slots taken", code, len(e.hub.histSem))
	}
}
