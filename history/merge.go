package history

import (
	"container/heap"
	"context"
)

// batcher copies lines out of the chains' read buffers into one bounded
// batch, so that a chain may read on while the batch still holds its lines.
type batcher struct {
	ctx   context.Context
	emit  func(Item) error
	lines []Line
	buf   []byte
	max   int
}

func (b *batcher) add(l Line) error {
	if len(b.buf)+len(l.Text) > cap(b.buf) && len(b.lines) > 0 {
		if err := b.flush(); err != nil {
			return err
		}
	}
	if b.buf == nil {
		b.buf = make([]byte, 0, max(batchBytes, len(l.Text)))
	}
	start := len(b.buf)
	b.buf = append(b.buf, l.Text...)
	l.Text = b.buf[start:len(b.buf):len(b.buf)]
	b.lines = append(b.lines, l)
	if len(b.lines) >= b.max {
		return b.flush()
	}
	return nil
}

func (b *batcher) flush() error {
	if len(b.lines) == 0 {
		return nil
	}
	if err := b.ctx.Err(); err != nil {
		return err
	}
	err := b.emit(Item{Lines: b.lines})
	clear(b.lines)
	b.lines = b.lines[:0]
	b.buf = b.buf[:0]
	return err
}

func (b *batcher) gap(g *Item) error {
	if err := b.flush(); err != nil {
		return err
	}
	return b.emit(*g)
}

// head is a chain's next line, waiting in the merge.
type head struct {
	c    *chain
	l    Line
	seq  int // the chain's place, to break ties in a stable way
	text []byte
}

type heads []*head

func (h heads) Len() int { return len(h) }
func (h heads) Less(i, j int) bool {
	if !h[i].l.Time.Equal(h[j].l.Time) {
		return h[i].l.Time.Before(h[j].l.Time)
	}
	return h[i].seq < h[j].seq
}
func (h heads) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *heads) Push(x any)   { *h = append(*h, x.(*head)) }
func (h *heads) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// merge hands out the chains' lines in time order (one chain: in its own
// order, which is also time order), passing over the first skip lines.
func merge(ctx context.Context, q *Query, chains []*chain, skip int64, emit func(Item) error) error {
	b := &batcher{ctx: ctx, emit: emit, max: q.MaxBatch}
	out := func(l Line) error {
		if skip > 0 {
			skip--
			return nil
		}
		return b.add(l)
	}
	n := 0
	if len(chains) == 1 {
		c := chains[0]
		for {
			if n++; n&1023 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			l, g, ok := c.next()
			if !ok {
				break
			}
			var err error
			if g != nil {
				err = b.gap(g)
			} else {
				err = out(l)
			}
			if err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		return b.flush()
	}
	// Several chains: a line's text aliases its chain's buffer, which the
	// chain's next read overwrites, so a waiting head keeps its own copy.
	var h heads
	pull := func(hd *head) (bool, error) {
		for {
			l, g, ok := hd.c.next()
			if !ok {
				return false, nil
			}
			if g != nil {
				if err := b.gap(g); err != nil {
					return false, err
				}
				continue
			}
			hd.text = append(hd.text[:0], l.Text...)
			l.Text = hd.text
			hd.l = l
			return true, nil
		}
	}
	for i, c := range chains {
		hd := &head{c: c, seq: i}
		ok, err := pull(hd)
		if err != nil {
			return err
		}
		if ok {
			h = append(h, hd)
		}
	}
	heap.Init(&h)
	for h.Len() > 0 {
		if n++; n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		hd := h[0]
		if err := out(hd.l); err != nil {
			return err
		}
		ok, err := pull(hd)
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return b.flush()
}
