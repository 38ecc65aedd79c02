package fleet

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"

	"go.uber.org/zap"
)

// A Publisher's state file: where a restart resumes, and which messages it
// sends first again with the same lines (docs/DESIGN.md, "Resuming across
// agent restarts").

// state is what the state file holds. Its size is bounded: a key names at
// most the 64 files of its source's table, and at most Window messages are
// in flight.
type state struct {
	Host   string `json:"host"`
	Source string `json:"source"`
	Acked  string `json:"acked"`         // in-run id of the last acknowledged line
	Key    string `json:"key,omitempty"` // its durable key: what a restart resumes after
	// Flights are the messages sent and not yet acknowledged, oldest
	// first, which a restart sends again with the same lines.
	Flights []flight `json:"in_flight,omitempty"`
}

// flight is a message in flight: its lines are the Lines after the
// previous one's (the first: after Key), the last with the key Last.
type flight struct {
	Lines int    `json:"lines"`
	Last  string `json:"last"`
}

// loaded is the state a Run starts from.
type loaded struct {
	id      uint64
	key     []byte
	flights []flight
}

// loadState reads the state file; a missing, unreadable or foreign one
// (another host or source) starts from now.
func (p *Publisher) loadState() loaded {
	if p.o.StatePath == "" {
		return loaded{}
	}
	b, err := os.ReadFile(p.o.StatePath)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			p.log.Warn("fleet: cannot read state; publishing from now", zap.Error(err))
		}
		return loaded{}
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil || st.Host != p.o.Host || st.Source != p.o.Source.Name() {
		p.log.Warn("fleet: state file does not fit; publishing from now", zap.String("path", p.o.StatePath))
		return loaded{}
	}
	var l loaded
	l.id, _ = strconv.ParseUint(st.Acked, 10, 64)
	if st.Key != "" {
		l.key = []byte(st.Key)
		for _, f := range st.Flights {
			if f.Lines <= 0 || f.Lines > p.o.MaxLines || f.Last == "" {
				break
			}
			l.flights = append(l.flights, f)
		}
	}
	return l
}

// saveState writes the state file: a temporary file, then a rename, so a
// crash leaves the old state or the new, never half of one. No fsync: the
// file is to outlive the process (kill -9), not the machine.
func (p *Publisher) saveState(acked uint64, key []byte, pend []*pending) {
	if p.o.StatePath == "" || (acked == 0 && key == nil) {
		return
	}
	st := state{Host: p.o.Host, Source: p.o.Source.Name(), Acked: strconv.FormatUint(acked, 10), Key: string(key)}
	if key != nil {
		for _, m := range pend {
			if m.lines == 0 || m.lastKey == nil {
				break // a gap marker: what follows is not the lines after Key
			}
			st.Flights = append(st.Flights, flight{Lines: m.lines, Last: string(m.lastKey)})
		}
	}
	b, _ := json.Marshal(st)
	tmp := p.o.StatePath + ".tmp"
	if err := os.MkdirAll(filepath.Dir(p.o.StatePath), 0o750); err != nil {
		p.log.Warn("fleet: cannot save state", zap.Error(err))
		return
	}
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		p.log.Warn("fleet: cannot save state", zap.Error(err))
		return
	}
	if err := os.Rename(tmp, p.o.StatePath); err != nil {
		p.log.Warn("fleet: cannot save state", zap.Error(err))
	}
}
