package alerts

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func ev(sec int) eventRef {
	return eventRef{Source: "app", Level: "error", Line: "boom", ID: "k", Time: t0.Add(time.Duration(sec) * time.Second)}
}

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

// quiet -> counting: a match below the threshold notifies nothing and
// holds the group.
func TestGroupQuietToCounting(t *testing.T) {
	gs := newGroups(3, time.Minute, 5*time.Minute, 10)
	if f := gs.match([]byte("g"), ev(0), at(0), nil); len(f) != 0 {
		t.Fatalf("firings %v", f)
	}
	if g := gs.m["g"]; g == nil || len(g.hits) != 1 || !g.until.IsZero() {
		t.Fatalf("group %+v", g)
	}
}

// counting -> firing: the threshold-th match within the window notifies,
// with the window's count and first time, and starts the cooldown.
func TestGroupCountingToFiring(t *testing.T) {
	gs := newGroups(3, time.Minute, 5*time.Minute, 10)
	gs.match([]byte("g"), ev(0), at(0), nil)
	gs.match([]byte("g"), ev(10), at(10), nil)
	f := gs.match([]byte("g"), ev(20), at(20), nil)
	if len(f) != 1 || f[0].kind != kindAlert || f[0].count != 3 || !f[0].first.Equal(at(0)) || !f[0].ev.Time.Equal(at(20)) {
		t.Fatalf("firings %+v", f)
	}
	if g := gs.m["g"]; !g.until.Equal(at(20).Add(5*time.Minute)) || gs.firingCount() != 1 {
		t.Fatalf("group %+v", g)
	}
}

// counting -> counting: matches spread wider than the window never reach
// the threshold.
func TestGroupCountingOutsideTheWindow(t *testing.T) {
	gs := newGroups(2, time.Minute, 5*time.Minute, 10)
	for i := range 5 {
		if f := gs.match([]byte("g"), ev(i*61), at(i*61), nil); len(f) != 0 {
			t.Fatalf("match %d fired: %+v", i, f)
		}
	}
}

// firing -> firing: matches during the cooldown are counted, not sent.
func TestGroupFiringSuppresses(t *testing.T) {
	gs := newGroups(1, time.Minute, 5*time.Minute, 10)
	if f := gs.match([]byte("g"), ev(0), at(0), nil); len(f) != 1 {
		t.Fatalf("first: %+v", f)
	}
	for i := 1; i <= 999; i++ {
		if f := gs.match([]byte("g"), ev(i), at(i), nil); len(f) != 0 {
			t.Fatalf("match %d fired", i)
		}
	}
	if g := gs.m["g"]; g.suppressed != 999 || !g.supFirst.Equal(at(1)) || !g.last.Time.Equal(at(999)) {
		t.Fatalf("group %+v", g)
	}
}

// firing --cooldown ends, suppressed--> firing: one roll-up with the
// count and the last event, and a new cooldown.
func TestGroupCooldownEndsWithRollup(t *testing.T) {
	gs := newGroups(1, time.Minute, 5*time.Minute, 10)
	gs.match([]byte("g"), ev(0), at(0), nil)
	gs.match([]byte("g"), ev(5), at(5), nil)
	gs.match([]byte("g"), ev(9), at(9), nil)
	if f := gs.tick(at(299), nil); len(f) != 0 {
		t.Fatalf("before the end: %+v", f)
	}
	f := gs.tick(at(300), nil)
	if len(f) != 1 || f[0].kind != kindRollup || f[0].suppressed != 2 || f[0].count != 2 || !f[0].first.Equal(at(5)) || !f[0].ev.Time.Equal(at(9)) {
		t.Fatalf("roll-up %+v", f)
	}
	if g := gs.m["g"]; g == nil || !g.until.Equal(at(600)) || g.suppressed != 0 {
		t.Fatalf("after the roll-up: %+v", g)
	}
	// Nothing more: the next end of cooldown has nothing to roll up, and
	// the group goes quiet.
	if f := gs.tick(at(600), nil); len(f) != 0 || len(gs.m) != 0 {
		t.Fatalf("quiet end: %+v, %d groups", f, len(gs.m))
	}
	if f := gs.match([]byte("g"), ev(700), at(700), nil); len(f) != 1 || f[0].kind != kindAlert {
		t.Fatalf("after quiet: %+v", f)
	}
}

// counting -> quiet: a group whose window passed without the threshold
// goes.
func TestGroupCountingGoesQuiet(t *testing.T) {
	gs := newGroups(5, time.Minute, 5*time.Minute, 10)
	gs.match([]byte("g"), ev(0), at(0), nil)
	gs.tick(at(30), nil)
	if len(gs.m) != 1 {
		t.Fatal("a counting group in its window went")
	}
	if !gs.next().Equal(at(60)) {
		t.Fatalf("next %v", gs.next())
	}
	gs.tick(at(60), nil)
	if len(gs.m) != 0 {
		t.Fatal("a counting group past its window stayed")
	}
}

// The bound: past max groups the least recently matched is forgotten,
// counted, with its roll-up when it owes one.
func TestGroupBoundForgetsTheLeastRecent(t *testing.T) {
	gs := newGroups(1, time.Minute, 5*time.Minute, 2)
	gs.match([]byte("a"), ev(0), at(0), nil)
	gs.match([]byte("a"), ev(1), at(1), nil) // a owes a roll-up
	gs.match([]byte("b"), ev(2), at(2), nil)
	gs.match([]byte("a"), ev(3), at(3), nil) // a is the most recent now
	f := gs.match([]byte("c"), ev(4), at(4), nil)
	if len(f) != 1 || f[0].group != "c" || gs.m["b"] != nil || gs.forgotten != 1 {
		t.Fatalf("firings %+v, forgotten %d, groups %v", f, gs.forgotten, len(gs.m))
	}
	f = gs.match([]byte("d"), ev(5), at(5), nil)
	if len(f) != 2 || f[0].kind != kindRollup || f[0].group != "a" || f[0].suppressed != 2 || f[1].group != "d" {
		t.Fatalf("firings %+v", f)
	}
}
