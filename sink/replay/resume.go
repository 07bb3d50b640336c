package replay

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// stateVersion is the layout of the resume file; a file of another version
// is refused rather than misread.
const stateVersion = 1

// State is what a replay with --resume records: per input (a file's
// absolute path, or an object's s3:// URL), how many of its spans the
// receiver acknowledged. The reader emits an input's spans in the same
// order every time, so a new run skips that many of each input's spans and
// sends the rest.
type State struct {
	path string
	doc  stateDoc
}

// stateDoc is the file's content.
type stateDoc struct {
	Version int `json:"version"`
	// Endpoint is the receiver the counts were acknowledged by.
	Endpoint string `json:"endpoint"`
	// Acknowledged is the count per input.
	Acknowledged map[string]int64 `json:"acknowledged"`
}

// LoadState reads the resume file at path; a missing file is a fresh state,
// which Save creates.
func LoadState(path string) (*State, error) {
	s := &State{path: path, doc: stateDoc{Version: stateVersion, Acknowledged: map[string]int64{}}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the resume file: %w", err)
	}
	if err := json.Unmarshal(data, &s.doc); err != nil {
		return nil, fmt.Errorf("resume file %s is not a replay's state (%v); remove it to replay from the start", path, err)
	}
	if s.doc.Version != stateVersion {
		return nil, fmt.Errorf("resume file %s has version %d, this spansink writes version %d; remove it to replay from the start", path, s.doc.Version, stateVersion)
	}
	if s.doc.Acknowledged == nil {
		s.doc.Acknowledged = map[string]int64{}
	}
	for input, n := range s.doc.Acknowledged {
		if n < 0 {
			return nil, fmt.Errorf("resume file %s: negative count %d for %s", path, n, input)
		}
	}
	return s, nil
}

// Acknowledged is how many spans of input were acknowledged.
func (s *State) Acknowledged(input string) int64 { return s.doc.Acknowledged[input] }

// Total is the spans acknowledged over all inputs.
func (s *State) Total() int64 {
	var n int64
	for _, count := range s.doc.Acknowledged {
		n += count
	}
	return n
}

// Endpoint is the receiver the state was recorded for; "" for a new state.
func (s *State) Endpoint() string { return s.doc.Endpoint }

// Add counts acknowledged spans of an input, in memory.
func (s *State) Add(endpoint string, counts map[string]int64) {
	s.doc.Endpoint = endpoint
	for input, n := range counts {
		s.doc.Acknowledged[input] += n
	}
}

// Save writes the state so that a crash at any moment leaves either the
// old file or the new one: a temporary file in the same directory, synced,
// renamed over the old one, and the directory synced so that the rename
// survives a power loss.
func (s *State) Save() error {
	data, err := json.MarshalIndent(s.doc, "", "  ")
	if err != nil {
		return fmt.Errorf("encode the resume state: %w", err)
	}
	dir := filepath.Dir(s.path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(s.path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write the resume file: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write the resume file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync the resume file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write the resume file: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return fmt.Errorf("replace the resume file: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync the resume file's directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync the resume file's directory: %w", err)
	}
	return nil
}
