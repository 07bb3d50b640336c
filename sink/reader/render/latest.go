package render

import "github.com/spansink/spansink/sink/reader"

// Latest keeps the last limit spans seen (limit > 0), so a newest-first or
// tail listing streams through any amount of input in bounded memory.
type Latest struct {
	spans []reader.Span
	limit int
	next  int
	full  bool
}

// NewLatest keeps the last limit spans; with a limit of 0 it keeps none.
func NewLatest(limit int) *Latest { return &Latest{limit: limit} }

// Push keeps a copy of s, dropping the oldest span kept when full.
func (r *Latest) Push(s *reader.Span) {
	if r.limit <= 0 {
		return
	}
	if len(r.spans) < r.limit {
		r.spans = append(r.spans, *s)
		return
	}
	r.spans[r.next] = *s
	r.next = (r.next + 1) % r.limit
	r.full = true
}

// Ordered returns the kept spans oldest first.
func (r *Latest) Ordered() []reader.Span {
	if !r.full {
		return r.spans
	}
	return append(append([]reader.Span{}, r.spans[r.next:]...), r.spans[:r.next]...)
}

// NewestFirst calls write with each kept span, the latest first.
func (r *Latest) NewestFirst(write func(*reader.Span) error) error {
	spans := r.Ordered()
	for i := len(spans) - 1; i >= 0; i-- {
		if err := write(&spans[i]); err != nil {
			return err
		}
	}
	return nil
}
