package durability

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/spansink/spansink/sink/spanfile"
)

// spanFiles is what the span files in a directory hold.
type spanFiles struct {
	// count is how often each span id appears.
	count map[uint64]int
	// lines is the number of lines read.
	lines int
	// problems are lines that are not JSON objects with a span_id, and
	// files that break the naming contract.
	problems []string
}

// fileCache remembers what rotated files hold, by day and index: a rotated
// file never changes (compression replaces it with the same lines), so the
// crash test reads each once rather than after every kill.
type fileCache map[string]*fileContent

// fileContent is what one file holds.
type fileContent struct {
	ids      []uint64
	lines    int
	problems []string
}

// readSpanFiles reads the active span file (path) and its rotated files,
// compressed or not, using and filling cache when it is not nil. With
// afterCrash, the state a SIGKILL leaves is tolerated: a torn last line in
// the active file (the next start cuts it), a compression temp file or the
// volume probe's file, and a
// rotated file next to its finished compressed twin (the next start removes
// the plain one, so only one is read). Without it, each is a problem.
func readSpanFiles(path string, afterCrash bool, cache fileCache) (spanFiles, error) {
	dir, base, ext := spanfile.SplitPath(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return spanFiles{}, err
	}
	sf := spanFiles{count: map[uint64]int{}}
	compressedTwin := map[string]bool{}
	var rotated []spanfile.Rotated
	for _, e := range entries {
		name := e.Name()
		if name == base+ext {
			continue
		}
		rot, ok := spanfile.ParseRotated(base, ext, name)
		if !ok {
			if afterCrash && (strings.HasSuffix(name, ".tmp") || name == "."+base+ext+".probe") {
				// A kill in the middle of compression, or of the
				// start-up probe of the volume: the next start
				// removes what it left.
				continue
			}
			sf.problems = append(sf.problems, fmt.Sprintf("unexpected file %s", name))
			continue
		}
		if rot.Compression != "" {
			compressedTwin[rot.Day+"."+fmt.Sprint(rot.Index)] = true
		}
		rotated = append(rotated, rot)
	}
	for _, rot := range rotated {
		if rot.Compression == "" && compressedTwin[rot.Day+"."+fmt.Sprint(rot.Index)] {
			if !afterCrash {
				sf.problems = append(sf.problems, fmt.Sprintf("%s and its compressed twin both exist", rot.Name))
			}
			continue
		}
		key := rot.Day + "." + fmt.Sprint(rot.Index)
		content := cache[key]
		if content == nil {
			if content, err = readFile(filepath.Join(dir, rot.Name), rot.Compression, false); err != nil {
				return sf, err
			}
			if cache != nil {
				cache[key] = content
			}
		}
		sf.add(content)
	}
	content, err := readFile(filepath.Join(dir, base+ext), "", afterCrash)
	if err != nil && !os.IsNotExist(err) {
		return sf, err
	}
	if content != nil {
		sf.add(content)
	}
	return sf, nil
}

func (sf *spanFiles) add(c *fileContent) {
	for _, id := range c.ids {
		sf.count[id]++
	}
	sf.lines += c.lines
	sf.problems = append(sf.problems, c.problems...)
}

func readFile(path string, compression spanfile.Compression, tornTailOK bool) (*fileContent, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c := &fileContent{}
	var r io.Reader = f
	switch compression {
	case "gzip":
		gz, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		r = gz
	case "zstd":
		zr, err := zstd.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	br := bufio.NewReaderSize(r, 256<<10)
	name := filepath.Base(path)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if err == io.EOF {
			if len(line) > 0 && !tornTailOK {
				c.problems = append(c.problems, fmt.Sprintf("%s: last line has no newline: %q", name, clip(line)))
			}
			return c, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		c.lines++
		var span struct {
			SpanID *string `json:"span_id"`
		}
		if err := json.Unmarshal(bytes.TrimSuffix(line, []byte{'\n'}), &span); err != nil || span.SpanID == nil {
			c.problems = append(c.problems, fmt.Sprintf("%s line %d is not a span JSON object (%v): %q", name, n, err, clip(line)))
			continue
		}
		id, err := strconv.ParseUint(*span.SpanID, 16, 64)
		if err != nil || len(*span.SpanID) != 16 {
			c.problems = append(c.problems, fmt.Sprintf("%s line %d has span_id %q, not one the test sent", name, n, *span.SpanID))
			continue
		}
		c.ids = append(c.ids, id)
	}
}

func clip(b []byte) []byte {
	if len(b) > 120 {
		return b[:120]
	}
	return b
}

// duplicates lists span ids that appear more than once.
func (sf spanFiles) duplicates() []string {
	var dups []string
	for id, n := range sf.count {
		if n > 1 {
			dups = append(dups, fmt.Sprintf("%s x%d", spanIDHex(id), n))
		}
	}
	return dups
}
