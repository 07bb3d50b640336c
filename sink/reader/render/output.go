package render

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spansink/spansink/sink/reader"
)

// Output formats, as --output names them.
const (
	Text = "text"
	JSON = "json"
	CSV  = "csv"
)

// SpanWriter writes spans in one output format.
type SpanWriter interface {
	Write(*reader.Span) error
	// Flush writes out what is buffered; the writer stays usable.
	Flush() error
}

// NewSpanWriter returns the writer for a format. live writers flush every
// span at once (tail -f) and, for text, use fixed column widths instead of
// aligning over many rows.
func NewSpanWriter(w io.Writer, format string, live bool) SpanWriter {
	switch format {
	case JSON:
		return &jsonWriter{out: bufio.NewWriterSize(w, 64<<10), live: live}
	case CSV:
		cw := &csvWriter{out: csv.NewWriter(w), live: live}
		return cw
	}
	if live {
		return &liveTextWriter{out: w}
	}
	return &textWriter{out: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
}

// textColumns are the columns of the span table.
var textColumns = []string{"TRACE ID", "SPAN ID", "SERVICE", "OPERATION", "START", "DURATION", "STATUS"}

// textRow is one span as table cells, escaped for the terminal.
func textRow(s *reader.Span) []string {
	return []string{Printable(s.TraceID), Printable(s.SpanID), Printable(orDash(s.Service)), Printable(orDash(s.Operation)), formatTime(s.Start), spanDuration(s), Printable(string(s.Status))}
}

// textWriter aligns the table. It flushes every alignBlock rows, so an
// unlimited listing never holds more than that many rows.
type textWriter struct {
	out    *tabwriter.Writer
	rows   int
	header bool
}

const alignBlock = 1000

func (t *textWriter) Write(s *reader.Span) error {
	if !t.header {
		t.header = true
		if _, err := fmt.Fprintln(t.out, strings.Join(textColumns, "\t")); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintln(t.out, strings.Join(textRow(s), "\t")); err != nil {
		return err
	}
	t.rows++
	if t.rows%alignBlock == 0 {
		return t.out.Flush()
	}
	return nil
}

func (t *textWriter) Flush() error { return t.out.Flush() }

// liveTextWriter writes rows as they come with fixed column widths.
type liveTextWriter struct {
	out    io.Writer
	header bool
}

var liveWidths = []int{32, 16, 16, 28, 23, 10, 0}

func (t *liveTextWriter) line(cells []string) error {
	var b strings.Builder
	for i, cell := range cells {
		if i > 0 {
			b.WriteString("  ")
		}
		b.WriteString(cell)
		if pad := liveWidths[i] - len([]rune(cell)); pad > 0 && i < len(cells)-1 {
			b.WriteString(strings.Repeat(" ", pad))
		}
	}
	b.WriteByte('\n')
	_, err := io.WriteString(t.out, b.String())
	return err
}

func (t *liveTextWriter) Write(s *reader.Span) error {
	if !t.header {
		t.header = true
		if err := t.line(textColumns); err != nil {
			return err
		}
	}
	return t.line(textRow(s))
}

func (t *liveTextWriter) Flush() error { return nil }

// jsonWriter writes one "dbgpt" line per span, which the reader (and DB-GPT)
// can read back.
type jsonWriter struct {
	out  *bufio.Writer
	buf  []byte
	live bool
}

func (j *jsonWriter) Write(s *reader.Span) error {
	line, err := reader.AppendDBGPT(j.buf[:0], s)
	if err != nil {
		return fmt.Errorf("encode span %s from %s:%d: %w", s.SpanID, s.File, s.Line, err)
	}
	j.buf = append(line, '\n')
	if _, err := j.out.Write(TerminalSafeJSON(j.buf)); err != nil {
		return err
	}
	if j.live {
		return j.out.Flush()
	}
	return nil
}

func (j *jsonWriter) Flush() error { return j.out.Flush() }

// IndentedJSON is s as indented JSON in the "dbgpt" layout, metadata
// included, ending in a newline: a span shown whole.
func IndentedJSON(s *reader.Span) ([]byte, error) {
	line, err := reader.AppendDBGPT(nil, s)
	if err != nil {
		return nil, err
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, line, "", "  "); err != nil {
		return nil, err
	}
	pretty.WriteByte('\n')
	return TerminalSafeJSON(pretty.Bytes()), nil
}

// csvWriter writes a header and one row per span.
type csvWriter struct {
	out    *csv.Writer
	header bool
	live   bool
}

var csvColumns = []string{"trace_id", "span_id", "parent_span_id", "span_type", "service", "operation", "start_time", "end_time", "duration_ms", "status"}

func (c *csvWriter) Write(s *reader.Span) error {
	if !c.header {
		c.header = true
		if err := c.out.Write(csvColumns); err != nil {
			return err
		}
	}
	duration := ""
	if d, ok := s.Duration(); ok {
		duration = strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', -1, 64)
	}
	// CSV is read in spreadsheets and terminals alike, where control
	// characters are of no use and may act.
	record := []string{Printable(s.TraceID), Printable(s.SpanID), Printable(s.ParentSpanID), Printable(s.SpanType), Printable(s.Service), Printable(s.Operation),
		csvTime(s.Start), csvTime(s.End), duration, string(s.Status)}
	if err := c.out.Write(record); err != nil {
		return err
	}
	if c.live {
		return c.Flush()
	}
	return nil
}

func (c *csvWriter) Flush() error {
	c.out.Flush()
	return c.out.Error()
}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(reader.TimeLayout)
}

// formatTime shows a span time, "-" when unknown.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(reader.TimeLayout)
}

// spanDuration shows a span's duration, "-" when its end is unknown.
func spanDuration(s *reader.Span) string {
	d, ok := s.Duration()
	if !ok {
		return "-"
	}
	return formatDuration(d)
}

// formatDuration rounds to a precision that suits the magnitude: the files
// hold milliseconds (DB-GPT) or nanoseconds (OTLP), and six digits of
// nanoseconds on a multi-second span only hide the number.
func formatDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + formatDuration(-d)
	case d < time.Microsecond:
		return d.String()
	case d < time.Second:
		return d.Round(time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
