package reader

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"
)

// ErrStop, returned by an emit function, ends a scan early without error:
// a --limit was reached.
var ErrStop = errors.New("stop scan")

// blockSize is how much of a file one scan worker decodes at a time: large
// enough that the hand-off costs nothing next to the decoding, small enough
// that a few blocks in flight keep memory flat.
const blockSize = 1 << 20

// maxLineBytes bounds one line; a longer one is reported and skipped rather
// than buffered without end.
const maxLineBytes = 64 << 20

// Warning is a file or line that was skipped, with where it is.
type Warning struct {
	File string
	// Line is 0 for a problem with the whole file.
	Line int
	Err  error
}

// String renders the warning as "file:line: problem", the notation editors
// and terminals jump to.
func (w Warning) String() string {
	if w.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", w.File, w.Line, w.Err)
	}
	return fmt.Sprintf("%s: %v", w.File, w.Err)
}

// Summary counts what a scan read, so a command can tell "nothing matched"
// from "nothing could be read".
type Summary struct {
	// Files is the number of files opened; FilesFailed could not be.
	Files       int
	FilesFailed int
	// Lines is the number of non-empty lines; Corrupt of them were unreadable.
	Lines   int
	Corrupt int
}

// Readable is the number of lines that were read without error (including
// lines that a filter ruled out from their raw bytes).
func (s Summary) Readable() int { return s.Lines - s.Corrupt }

// Scanner streams spans out of span files in order: one goroutine per stream
// of files reads (and decompresses) blocks of whole lines, workers decode
// blocks in parallel, and the results are put back in file order (and, for
// several streams, merged by time) before DB-GPT start and end records are
// paired and the filter applied.
type Scanner struct {
	// Filter selects spans; nil selects all.
	Filter *Filter
	// NeedMetadata fills Span.Metadata, which only some outputs show.
	NeedMetadata bool
	// Workers is the number of decoding goroutines; 0 means GOMAXPROCS.
	Workers int
	// Warn is told about every skipped file or line, in file order within
	// a stream. Nil discards them.
	Warn func(Warning)
	// Open opens the inputs by the names in the streams; nil means OpenFile
	// (files on disk). What it returns is decompressed by content.
	Open OpenFunc
	// KeepOTLP gives every span read from an otlp-json line its span as
	// pdata decoded it (Span.OTLP), whole, in place of the metadata built
	// from it, so that it can be sent on unchanged (spansink spans replay).
	KeepOTLP bool
}

// block is a run of whole lines from one file, or a file-level problem.
type block struct {
	stream    int
	seq       int
	file      string
	firstLine int
	data      []byte
	buf       *[]byte
	fileErr   error
	// opened marks the first block of a file that opened; openFailed a file
	// that did not; badLine a fileErr that is about one line; last the
	// empty block that ends a stream.
	opened     bool
	openFailed bool
	badLine    bool
	last       bool
}

// result is a decoded block.
type result struct {
	stream   int
	seq      int
	spansBuf *[]Span
	spans    []Span
	warnings []Warning
	lines    int
	corrupt  int
	opened   bool
	failed   bool
	last     bool
}

var blockPool = sync.Pool{New: func() any { b := make([]byte, 0, blockSize); return &b }}

// spanSlicePool recycles the per-block span slices, which otherwise are most
// of what a full scan allocates.
var spanSlicePool = sync.Pool{New: func() any { s := make([]Span, 0, 256); return &s }}

// Scan reads one writer's files in the order given and calls emit for every
// span that passes the filter. The span is only valid during the call (its
// memory is reused): keep a copy. emit may return ErrStop to end the scan
// early.
func (s *Scanner) Scan(ctx context.Context, files []string, emit func(*Span) error) (Summary, error) {
	return s.ScanStreams(ctx, [][]string{files}, emit)
}

// ScanStreams reads several streams of files as one set and calls emit as
// Scan does. A stream is one writer's files in the order written, such as
// one shard's (see Streams). The streams' records are merged by time before
// DB-GPT start and end records are paired, so the spans of all streams come
// out in time order, and a span whose start record is in one stream and end
// record in another is joined.
//
// Records, not files, are merged, because no order of whole files is an
// order in time across shards (see Streams), and because a span's start and
// end records may be in two shards' files that were written at the same
// time. The merge key is the time a record tells of: the start for a start
// record, the end for any other (see recordTime). A writer writes records in
// about that order, so a k-way merge on it needs only the current block of
// each stream in memory, and when each stream is in order so is the merge.
// When one is not (a client's batch written late), the merge still keeps
// every stream's own order, and the Pairer drops a start record that
// arrives after its span was passed on (RememberEnded), so no span is
// listed or counted twice.
func (s *Scanner) ScanStreams(ctx context.Context, streams [][]string, emit func(*Span) error) (Summary, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := s.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	perStream := blocksPerStream(workers, len(streams))
	jobs := make(chan block, perStream*len(streams))
	results := make(chan result, perStream*len(streams))
	merge := &merger{scanner: s, results: results, streams: make([]*mergeStream, len(streams))}

	var readers sync.WaitGroup
	for i, files := range streams {
		stream := &mergeStream{tokens: make(chan struct{}, perStream), waiting: map[int]result{}}
		merge.streams[i] = stream
		readers.Add(1)
		go func() {
			defer readers.Done()
			readBlocks(ctx, s.opener(), i, files, stream.tokens, jobs)
		}()
	}
	go func() {
		readers.Wait()
		close(jobs)
	}()
	var workerWG sync.WaitGroup
	for range workers {
		workerWG.Add(1)
		go func() {
			defer workerWG.Done()
			dec := &decoder{filter: orAll(s.Filter), needMetadata: s.NeedMetadata, keepOTLP: s.KeepOTLP}
			for job := range jobs {
				res := decodeBlock(dec, job)
				select {
				case results <- res:
				case <-ctx.Done():
				}
			}
		}()
	}
	go func() {
		workerWG.Wait()
		close(results)
	}()

	merge.pairer = NewPairer(s.Filter, s.NeedMetadata, emit)
	if len(streams) > 1 {
		merge.pairer.RememberEnded = DefaultMaxPending
	}
	emitErr := merge.run()
	cancel()
	for range results {
		// Drain, so that no worker waits on a full channel.
	}
	if emitErr == nil {
		emitErr = merge.pairer.Flush()
	}
	if errors.Is(emitErr, ErrStop) {
		emitErr = nil
	}
	if emitErr == nil && ctx.Err() != nil && !errors.Is(ctx.Err(), context.Canceled) {
		emitErr = ctx.Err()
	}
	return merge.summary, emitErr
}

// opener is the Scanner's OpenFunc with its default.
func (s *Scanner) opener() OpenFunc {
	if s.Open == nil {
		return OpenFile
	}
	return s.Open
}

// blocksPerStream is how many blocks a stream may have in flight: the scan's
// budget of 2×workers+2 (enough to keep every worker busy) shared out, but
// at least two, so that each stream is read ahead while its current block is
// merged. Each stream needs its own share: the merge waits for the next
// block of the stream whose turn it is, which a stream that held every
// token could keep from being read.
func blocksPerStream(workers, streams int) int {
	return max(2, (2*workers+2)/max(1, streams))
}

// merger puts each stream's decoded blocks back in file order and passes the
// streams' records to the pairer earliest first.
type merger struct {
	scanner *Scanner
	results <-chan result
	streams []*mergeStream
	pairer  *Pairer
	summary Summary
}

// mergeStream is one stream's place in the merge.
type mergeStream struct {
	tokens  chan struct{}
	waiting map[int]result // decoded blocks that came before their turn
	next    int            // the seq of the block whose turn it is
	head    result         // the block being merged
	pos     int            // the next span of head
	done    bool           // the stream's last block was taken
}

// peek is the stream's next span, nil when its current block is used up.
func (m *mergeStream) peek() *Span {
	if m.pos < len(m.head.spans) {
		return &m.head.spans[m.pos]
	}
	return nil
}

// run passes records to the pairer until every stream is read, emit stops
// the scan, or the scan is cancelled (its blocks stop coming).
func (m *merger) run() error {
	for {
		if !m.fill() {
			return nil
		}
		stream := m.earliest()
		if stream == nil {
			return nil
		}
		err := m.pairer.Add(stream.peek())
		stream.pos++
		if stream.peek() == nil {
			stream.release()
		}
		if err != nil {
			return err
		}
	}
}

// fill gives every stream that is not done a span at its head, taking
// blocks in their turn and waiting for those not decoded yet. It is false
// when the results ended first: the scan was cancelled.
func (m *merger) fill() bool {
	for _, stream := range m.streams {
		for !stream.done && stream.peek() == nil {
			res, ok := stream.waiting[stream.next]
			if !ok {
				if res, ok = <-m.results; !ok {
					return false
				}
				m.streams[res.stream].waiting[res.seq] = res
				continue
			}
			m.take(stream, res)
		}
	}
	return true
}

// take makes a block the stream's head, counting it and reporting its
// warnings; its token lets the stream's reader read another block ahead.
func (m *merger) take(stream *mergeStream, res result) {
	delete(stream.waiting, stream.next)
	stream.next++
	<-stream.tokens
	m.account(res)
	stream.head, stream.pos, stream.done = res, 0, res.last
	if stream.peek() == nil {
		stream.release() // a block without spans: a file opened, or all filtered out
	}
}

// account counts a block in the summary and reports its warnings.
func (m *merger) account(res result) {
	if res.opened {
		m.summary.Files++
	}
	if res.failed {
		m.summary.FilesFailed++
	}
	m.summary.Lines += res.lines
	m.summary.Corrupt += res.corrupt
	if m.scanner.Warn != nil {
		for _, w := range res.warnings {
			m.scanner.Warn(w)
		}
	}
}

// earliest is the stream whose next record is earliest by recordTime, nil
// when all are done. On a tie a start record goes first, so that it is held
// when its end record (of the same millisecond, in another stream) arrives;
// then the stream given first.
func (m *merger) earliest() *mergeStream {
	var best *mergeStream
	var bestTime time.Time
	var bestStart bool
	for _, stream := range m.streams {
		span := stream.peek()
		if span == nil {
			continue
		}
		at, start := recordTime(span), span.isStartRecord()
		if best == nil || at.Before(bestTime) || (at.Equal(bestTime) && start && !bestStart) {
			best, bestTime, bestStart = stream, at, start
		}
	}
	return best
}

// recordTime is the moment a record tells of, which is about when it was
// written: a start record's span start, any other record's span end (its
// start when it has no end).
func recordTime(s *Span) time.Time {
	if s.End.IsZero() {
		return s.Start
	}
	return s.End
}

// release hands the head block's span slice back for reuse.
func (m *mergeStream) release() {
	if m.head.spansBuf != nil {
		clear(m.head.spans) // drop the strings for the collector
		*m.head.spansBuf = m.head.spans[:0]
		spanSlicePool.Put(m.head.spansBuf)
	}
	m.head, m.pos = result{}, 0
}

// decodeBlock decodes every line of a block.
func decodeBlock(dec *decoder, job block) result {
	res := result{stream: job.stream, seq: job.seq, opened: job.opened, last: job.last}
	if job.last {
		return res
	}
	if job.fileErr != nil {
		res.warnings = append(res.warnings, Warning{File: job.file, Line: job.firstLine, Err: job.fileErr})
		res.failed = job.openFailed
		if job.badLine {
			res.lines, res.corrupt = 1, 1
		}
		return res
	}
	res.spansBuf = spanSlicePool.Get().(*[]Span)
	res.spans = (*res.spansBuf)[:0]
	data := job.data
	lineNo := job.firstLine
	for len(data) > 0 {
		end := bytes.IndexByte(data, '\n')
		var line []byte
		if end < 0 {
			line, data = data, nil
		} else {
			line, data = data[:end], data[end+1:]
		}
		if len(bytes.TrimSpace(line)) > 0 {
			res.lines++
			var err error
			res.spans, err = dec.decodeLine(line, job.file, lineNo, res.spans)
			if err != nil && err != errSkipped {
				res.corrupt++
				res.warnings = append(res.warnings, Warning{File: job.file, Line: lineNo, Err: err})
			}
		}
		lineNo++
	}
	if job.buf != nil {
		*job.buf = (*job.buf)[:0]
		blockPool.Put(job.buf)
	}
	return res
}

// openDecompressed opens an input and decompresses it.
func openDecompressed(ctx context.Context, open OpenFunc, name string) (io.ReadCloser, error) {
	raw, err := open(ctx, name)
	if err != nil {
		return nil, err
	}
	return Decompress(name, raw)
}

// readBlocks cuts one stream's files into blocks of whole lines and hands
// them out in sequence, waiting for a token before each so that no more than
// a few blocks are ever in memory, and ends with a last, empty block.
func readBlocks(ctx context.Context, open OpenFunc, stream int, files []string, tokens chan struct{}, jobs chan<- block) {
	seq := 0
	send := func(b block) bool {
		select {
		case tokens <- struct{}{}:
		case <-ctx.Done():
			return false
		}
		b.stream, b.seq = stream, seq
		seq++
		select {
		case jobs <- b:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for _, path := range files {
		if !readFile(ctx, open, path, send) {
			return
		}
	}
	send(block{last: true})
}

// readFile sends one file's blocks; false means the scan was cancelled.
func readFile(ctx context.Context, open OpenFunc, path string, send func(block) bool) bool {
	rc, err := openDecompressed(ctx, open, path)
	if err != nil {
		return send(block{file: path, fileErr: err, openFailed: true})
	}
	defer rc.Close()
	if !send(block{file: path, opened: true}) {
		return false
	}
	line := 1
	var carry []byte  // the start of a line that did not end in the last block
	skipping := false // inside a line longer than maxLineBytes
	for ctx.Err() == nil {
		bufp := blockPool.Get().(*[]byte)
		if len(carry) > cap(*bufp)/2 {
			grown := make([]byte, 0, 2*len(carry)+blockSize)
			bufp = &grown
		}
		buf := append((*bufp)[:0], carry...)
		n, readErr := io.ReadFull(rc, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if readErr == io.ErrUnexpectedEOF {
			readErr = io.EOF
		}
		if readErr != nil && readErr != io.EOF {
			blockPool.Put(bufp)
			return send(block{file: path, fileErr: fmt.Errorf("read after line %d: %w", line-1, readErr)})
		}
		start := 0
		if skipping {
			skip := bytes.IndexByte(buf, '\n')
			if skip < 0 {
				blockPool.Put(bufp)
				if readErr == io.EOF {
					return true
				}
				continue
			}
			skipping = false
			line++
			start = skip + 1
		}
		if readErr == io.EOF && len(buf) == start {
			blockPool.Put(bufp)
			return true
		}
		cut := bytes.LastIndexByte(buf[start:], '\n')
		if readErr == io.EOF {
			cut = len(buf) - start - 1 // the last line may be unterminated
		}
		if cut < 0 {
			// No line ends in this block: it is all one long line so far.
			carry = append(carry[:0], buf[start:]...)
			blockPool.Put(bufp)
			if len(carry) > maxLineBytes {
				if !send(block{file: path, firstLine: line, fileErr: fmt.Errorf("line longer than %d bytes, skipped", maxLineBytes), badLine: true}) {
					return false
				}
				carry, skipping = nil, true
			}
			continue
		}
		data := buf[start : start+cut+1]
		carry = append(carry[:0], buf[start+cut+1:]...)
		first := line
		line += bytes.Count(data, []byte{'\n'})
		if len(data) == 0 {
			blockPool.Put(bufp)
		} else if !send(block{file: path, firstLine: first, data: data, buf: bufp}) {
			return false
		}
		if readErr == io.EOF {
			return true
		}
	}
	return false
}
