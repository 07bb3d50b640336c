package reader

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
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

// Scanner streams spans out of span files in order: one goroutine reads
// (and decompresses) blocks of whole lines, workers decode blocks in
// parallel, and the results are put back in file order before DB-GPT start
// and end records are paired and the filter applied.
type Scanner struct {
	// Filter selects spans; nil selects all.
	Filter *Filter
	// NeedMetadata fills Span.Metadata, which only some outputs show.
	NeedMetadata bool
	// Workers is the number of decoding goroutines; 0 means GOMAXPROCS.
	Workers int
	// Warn is told about every skipped file or line, in file order. Nil
	// discards them.
	Warn func(Warning)
}

// block is a run of whole lines from one file, or a file-level problem.
type block struct {
	seq       int
	file      string
	firstLine int
	data      []byte
	buf       *[]byte
	fileErr   error
	// opened marks the first block of a file that opened; openFailed a file
	// that did not; badLine a fileErr that is about one line.
	opened     bool
	openFailed bool
	badLine    bool
}

// result is a decoded block.
type result struct {
	seq      int
	spansBuf *[]Span
	spans    []Span
	warnings []Warning
	lines    int
	corrupt  int
	opened   bool
	failed   bool
}

var blockPool = sync.Pool{New: func() any { b := make([]byte, 0, blockSize); return &b }}

// spanSlicePool recycles the per-block span slices, which otherwise are most
// of what a full scan allocates.
var spanSlicePool = sync.Pool{New: func() any { s := make([]Span, 0, 256); return &s }}

// Scan reads files in the order given and calls emit for every span that
// passes the filter. The span is only valid during the call (its memory is
// reused): keep a copy. emit may return ErrStop to end the scan early.
func (s *Scanner) Scan(ctx context.Context, files []string, emit func(*Span) error) (Summary, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := s.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	inFlight := 2*workers + 2
	tokens := make(chan struct{}, inFlight)
	jobs := make(chan block, inFlight)
	results := make(chan result, inFlight)

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(jobs)
		readBlocks(ctx, files, tokens, jobs)
	}()
	var workerWG sync.WaitGroup
	for range workers {
		workerWG.Add(1)
		go func() {
			defer workerWG.Done()
			dec := &decoder{filter: orAll(s.Filter), needMetadata: s.NeedMetadata}
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

	pairer := NewPairer(s.Filter, s.NeedMetadata, emit)
	var summary Summary
	waiting := map[int]result{}
	next := 0
	var emitErr error
	for res := range results {
		if emitErr != nil {
			continue // draining after a stop
		}
		waiting[res.seq] = res
		for {
			ready, ok := waiting[next]
			if !ok {
				break
			}
			delete(waiting, next)
			next++
			<-tokens
			if err := s.consume(ready, pairer, &summary); err != nil {
				emitErr = err
				cancel()
				break
			}
		}
	}
	wg.Wait()
	if emitErr == nil {
		emitErr = pairer.Flush()
	}
	if errors.Is(emitErr, ErrStop) {
		emitErr = nil
	}
	if emitErr == nil && ctx.Err() != nil && !errors.Is(ctx.Err(), context.Canceled) {
		emitErr = ctx.Err()
	}
	return summary, emitErr
}

// consume counts a decoded block, reports its warnings and passes its spans on.
func (s *Scanner) consume(res result, pairer *Pairer, summary *Summary) error {
	if res.opened {
		summary.Files++
	}
	if res.failed {
		summary.FilesFailed++
	}
	summary.Lines += res.lines
	summary.Corrupt += res.corrupt
	if s.Warn != nil {
		for _, w := range res.warnings {
			s.Warn(w)
		}
	}
	defer func() {
		if res.spansBuf != nil {
			clear(res.spans) // drop the strings for the collector
			*res.spansBuf = res.spans[:0]
			spanSlicePool.Put(res.spansBuf)
		}
	}()
	for i := range res.spans {
		if err := pairer.Add(&res.spans[i]); err != nil {
			return err
		}
	}
	return nil
}

// decodeBlock decodes every line of a block.
func decodeBlock(dec *decoder, job block) result {
	res := result{seq: job.seq, opened: job.opened}
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

// readBlocks cuts the files into blocks of whole lines and hands them out in
// sequence, waiting for a token before each so that no more than a few
// blocks are ever in memory.
func readBlocks(ctx context.Context, files []string, tokens chan struct{}, jobs chan<- block) {
	seq := 0
	send := func(b block) bool {
		select {
		case tokens <- struct{}{}:
		case <-ctx.Done():
			return false
		}
		b.seq = seq
		seq++
		select {
		case jobs <- b:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for _, path := range files {
		if !readFile(ctx, path, send) {
			return
		}
	}
}

// readFile sends one file's blocks; false means the scan was cancelled.
func readFile(ctx context.Context, path string, send func(block) bool) bool {
	rc, err := Open(path)
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
