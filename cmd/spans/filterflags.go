package spans

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/spansink/spansink/sink/reader"
)

// filterFlags are the span filters shared by list, tail and stats.
type filterFlags struct {
	traceID, spanID, parentSpanID string
	spanType, service, operation  string
	search                        string
	since, until                  string
	minDuration                   time.Duration
	errorsOnly                    bool
}

func (f *filterFlags) register(flags *pflag.FlagSet, ids bool) {
	if ids {
		flags.StringVar(&f.traceID, "trace-id", "", "only spans of this trace")
		flags.StringVar(&f.spanID, "span-id", "", "only the span with this id")
		flags.StringVar(&f.parentSpanID, "parent-span-id", "", "only children of this span")
	}
	flags.StringVar(&f.spanType, "span-type", "", "only spans of this DB-GPT span type (base, run, chat, ...)")
	flags.StringVar(&f.service, "service", "", "only spans of this service")
	flags.StringVar(&f.operation, "operation", "", "only spans with this operation name")
	flags.StringVar(&f.search, "search", "", "only spans with this text in an id, the operation name, or a metadata key or value")
	flags.StringVar(&f.since, "since", "", `only spans that started at or after this time: RFC 3339, "YYYY-MM-DD HH:MM:SS" (UTC), or a duration ago such as 15m`)
	flags.StringVar(&f.until, "until", "", "only spans that started at or before this time (same notations as --since)")
	flags.DurationVar(&f.minDuration, "min-duration", 0, "only spans that took at least this long (e.g. 250ms)")
	flags.BoolVar(&f.errorsOnly, "errors", false, "only failed spans")
}

// build turns the flags into a filter, reading relative times against now.
func (f *filterFlags) build(now time.Time) (*reader.Filter, error) {
	filter := &reader.Filter{
		TraceID: f.traceID, SpanID: f.spanID, ParentSpanID: f.parentSpanID,
		SpanType: f.spanType, Service: f.service, Operation: f.operation,
		Search: f.search, MinDuration: f.minDuration, ErrorsOnly: f.errorsOnly,
	}
	var err error
	if f.since != "" {
		if filter.Since, err = reader.ParseTimeFlag(f.since, now); err != nil {
			return nil, usageErrorf("--since: %w", err)
		}
	}
	if f.until != "" {
		if filter.Until, err = reader.ParseTimeFlag(f.until, now); err != nil {
			return nil, usageErrorf("--until: %w", err)
		}
	}
	if !filter.Since.IsZero() && !filter.Until.IsZero() && filter.Until.Before(filter.Since) {
		return nil, usageErrorf("--until %s is before --since %s", filter.Until.Format(reader.TimeLayout), filter.Since.Format(reader.TimeLayout))
	}
	if f.minDuration < 0 {
		return nil, usageErrorf("--min-duration must not be negative")
	}
	return filter, nil
}
