package filesource

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"edgetail/event"
	"edgetail/history"
	"edgetail/multiline"
	"edgetail/stream"
	"edgetail/tailer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// offsets decodes a key's file entries (index -> offset).
func offsets(t *testing.T, pos *history.Positions, key []byte) map[int]int64 {
	t.Helper()
	v, err := pos.Offsets(key)
	if err != nil {
		t.Fatalf("key %q: %v", key, err)
	}
	return v
}

// TestGroupSinkKeysAtCommit: two files of a multiline source, A's trace
// still open while B's events are committed. Each event is keyed when it
// is committed, with its last line's position, so B's keys leave A where
// its last committed event ended: a resume after a B event reads A's open
// trace again from disk. A's trace, released by its wait, is one event
// keyed at its last line. Nothing is published before it is complete.
func TestGroupSinkKeysAtCommit(t *testing.T) {
	hub := stream.New(stream.Options{})
	src := hub.Source("app", stream.KindFile)
	tap := src.Tap(src.LastID(), 0)
	defer tap.Close()
	r, err := multiline.Compile(multiline.Config{Preset: "java", Wait: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := &groupSink{sink: sink{src: src, pos: history.NewPositions(KeyPrefix, "g")}, g: newGrouping(r)}
	var offA, offB int64
	line := func(file string, text string) tailer.Line {
		l := tailer.Line{Line: event.Line{File: file, Text: []byte(text), Time: time.Now()}, Dev: 1}
		if file == "/a" {
			offA += int64(len(text) + 1)
			l.Ino, l.End = 10, offA
		} else {
			offB += int64(len(text) + 1)
			l.Ino, l.End = 20, offB
		}
		return l
	}
	ctx := context.Background()
	now := time.Now()
	// A: a line, then a trace left open. B: two lines, then a third.
	batch := []tailer.Line{line("/a", "2026 INFO a0")}
	aEnd0 := offA // a0 is complete once a1 starts
	batch = append(batch, line("/a", "2026 ERROR a1"), line("/a", "\tat x.Y.z(Y.java:1)"), line("/b", "2026 INFO b0"), line("/b", "2026 INFO b1"), line("/b", "2026 INFO b2"))
	bEnd1 := offB - int64(len("2026 INFO b2")+1)
	s.g.add(batch, now)
	if err := s.publish(ctx, s.g.out); err != nil {
		t.Fatal(err)
	}
	s.g.published()
	evs, _, _ := tap.Take(nil)
	var got []string
	for _, e := range evs {
		got = append(got, string(e.Line))
	}
	if strings.Join(got, "|") != "2026 INFO a0|2026 INFO b0|2026 INFO b1" {
		t.Fatalf("committed %q", got)
	}
	k := offsets(t, s.pos, evs[2].Key) // b1's key: A at a0's end, B at b1's
	if k[0] != aEnd0 || k[1] != bEnd1 {
		t.Errorf("b1's key %q: A at %d (want %d), B at %d (want %d)", evs[2].Key, k[0], aEnd0, k[1], bEnd1)
	}
	if d := s.Due(); !d.Equal(now.Add(100 * time.Millisecond)) {
		t.Errorf("due %v, want now + wait", d.Sub(now))
	}
	// Before the wait nothing is released; after it, A's trace and b2.
	if err := s.Release(ctx, now.Add(50*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if evs, _, _ := tap.Take(nil); len(evs) != 0 {
		t.Fatalf("released early: %d events", len(evs))
	}
	if err := s.Release(ctx, now.Add(100*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	evs, _, _ = tap.Take(nil)
	if len(evs) != 2 || s.Due() != (time.Time{}) {
		t.Fatalf("released %d events, due %v", len(evs), s.Due())
	}
	for _, e := range evs {
		if e.Lines == 2 {
			if string(e.Line) != "2026 ERROR a1\n\tat x.Y.z(Y.java:1)" || offsets(t, s.pos, e.Key)[0] != offA {
				t.Errorf("A's trace %q keyed %q", e.Line, e.Key)
			}
		}
	}
}

// TestGroupSinkTruncation: a file truncated under its open event (its next
// line ends before the open event's last) completes that event first: the
// new content never continues a trace of the old.
func TestGroupSinkTruncation(t *testing.T) {
	hub := stream.New(stream.Options{})
	src := hub.Source("app", stream.KindFile)
	tap := src.Tap(src.LastID(), 0)
	defer tap.Close()
	r, err := multiline.Compile(multiline.Config{Preset: "indent"})
	if err != nil {
		t.Fatal(err)
	}
	s := &groupSink{sink: sink{src: src, pos: history.NewPositions(KeyPrefix, "g")}, g: newGrouping(r)}
	mk := func(text string, end int64) tailer.Line {
		return tailer.Line{Line: event.Line{File: "/a", Text: []byte(text)}, Dev: 1, Ino: 1, End: end}
	}
	ctx := context.Background()
	if err := s.Publish(ctx, tailer.Batch{Lines: []tailer.Line{mk("start", 6), mk(" frame", 13), mk(" x", 3)}}); err != nil {
		t.Fatal(err)
	}
	evs, _, _ := tap.Take(nil)
	if len(evs) != 1 || string(evs[0].Line) != "start\n frame" {
		t.Fatalf("%d events, the first %q", len(evs), evs[0].Line)
	}
	if p := s.g.files[fileKey{dev: 1, ino: 1}]; p.Held() != 1 {
		t.Fatalf("%d lines open after the truncation, want the one after it", p.Held())
	}
}
