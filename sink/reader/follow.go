package reader

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// DefaultPollInterval is how often a follower looks for new lines and for a
// rotation. Polling needs no inotify (absent on some volumes, and in the
// collector's minimal image) and costs one stat per interval.
const DefaultPollInterval = 250 * time.Millisecond

// Follower reads the active span file as it grows and follows it across
// rotation: when the file is renamed away, what is left of it is read to the
// end, then the new file at the same path is read from its start.
type Follower struct {
	// Path is the active file.
	Path string
	// Poll is how often to look for more; 0 means DefaultPollInterval.
	Poll time.Duration
	// Filter and NeedMetadata are as for Scanner.
	Filter       *Filter
	NeedMetadata bool
	// Warn is told about corrupt lines.
	Warn func(Warning)
	// CaughtUp is called once, when the lines that were already in the file
	// at the start have been read, so a caller can print the last few.
	CaughtUp func() error
}

// Follow emits spans until ctx ends (which is not an error).
func (f *Follower) Follow(ctx context.Context, emit func(*Span) error) error {
	poll := f.Poll
	if poll <= 0 {
		poll = DefaultPollInterval
	}
	state := &followState{
		follower: f,
		decoder:  &decoder{filter: orAll(f.Filter), needMetadata: f.NeedMetadata},
		pairer:   NewPairer(f.Filter, f.NeedMetadata, emit),
		buf:      make([]byte, readBufferSize),
	}
	caughtUp := false
	for {
		if state.file == nil {
			if err := state.open(); err != nil {
				if !errors.Is(err, fs.ErrNotExist) {
					return err
				}
			}
		}
		if state.file != nil {
			if err := state.readToEnd(); err != nil {
				return err
			}
			rotated, err := state.checkRotation()
			if err != nil {
				return err
			}
			if rotated {
				continue // read the new file at once
			}
		}
		if !caughtUp {
			caughtUp = true
			if f.CaughtUp != nil {
				if err := f.CaughtUp(); err != nil {
					return err
				}
			}
		}
		select {
		case <-ctx.Done():
			state.close()
			return nil
		case <-time.After(poll):
		}
	}
}

// followState is the file being followed and the unfinished line in it.
type followState struct {
	follower *Follower
	decoder  *decoder
	pairer   *Pairer
	file     *os.File
	info     os.FileInfo
	offset   int64
	line     int
	partial  []byte
	buf      []byte
}

func (s *followState) open() error {
	file, err := os.Open(s.follower.Path)
	if err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	info, err := file.Stat()
	if err != nil {
		file.Close()
		return fmt.Errorf("follow: %w", err)
	}
	s.file, s.info, s.offset, s.line, s.partial = file, info, 0, 0, s.partial[:0]
	return nil
}

func (s *followState) close() {
	if s.file != nil {
		s.file.Close()
		s.file = nil
	}
}

// readToEnd reads and decodes every complete line available now.
func (s *followState) readToEnd() error {
	for {
		n, err := s.file.Read(s.buf)
		if n > 0 {
			s.offset += int64(n)
			s.partial = append(s.partial, s.buf[:n]...)
			if err := s.decodeComplete(); err != nil {
				return err
			}
		}
		if err == io.EOF || (err == nil && n == 0) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("follow %s: %w", s.follower.Path, err)
		}
	}
}

// decodeComplete decodes the complete lines in partial and keeps the rest.
func (s *followState) decodeComplete() error {
	rest := s.partial
	for {
		end := bytes.IndexByte(rest, '\n')
		if end < 0 {
			break
		}
		if err := s.decode(rest[:end]); err != nil {
			return err
		}
		rest = rest[end+1:]
	}
	s.partial = append(s.partial[:0], rest...)
	return nil
}

// decode handles one line.
func (s *followState) decode(line []byte) error {
	s.line++
	if len(bytes.TrimSpace(line)) == 0 {
		return nil
	}
	spans, err := s.decoder.decodeLine(line, s.follower.Path, s.line, nil)
	if err != nil && err != errSkipped && s.follower.Warn != nil {
		s.follower.Warn(Warning{File: s.follower.Path, Line: s.line, Err: err})
	}
	for i := range spans {
		if err := s.pairer.Add(&spans[i]); err != nil {
			return err
		}
	}
	return nil
}

// checkRotation notices that the path now names another file (the active
// file was renamed and a new one created) or that the file was truncated.
// After a rename the old file is read to its end, including a last line
// without a newline, before switching.
func (s *followState) checkRotation() (bool, error) {
	info, err := os.Stat(s.follower.Path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("follow: %w", err)
	}
	if err == nil && os.SameFile(info, s.info) {
		if info.Size() < s.offset {
			// Truncated in place: start over.
			if _, err := s.file.Seek(0, io.SeekStart); err != nil {
				return false, fmt.Errorf("follow %s after truncation: %w", s.follower.Path, err)
			}
			s.offset, s.line, s.partial = 0, 0, s.partial[:0]
			return true, nil
		}
		return false, nil
	}
	// Renamed away (and perhaps replaced): finish the old file.
	if err := s.readToEnd(); err != nil {
		return false, err
	}
	if len(s.partial) > 0 {
		last := append([]byte(nil), s.partial...)
		s.partial = s.partial[:0]
		if err := s.decode(last); err != nil {
			return false, err
		}
	}
	s.close()
	if err != nil {
		return false, nil // no new file yet: open it on a later poll
	}
	if err := s.open(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return s.file != nil, nil
}
