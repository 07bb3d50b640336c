package access

import (
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/go-logr/logr"

	"github.com/spansink/spansink/sink/filewatch"
)

// source is credential material read from files.
type source interface {
	// kind labels the reload metric and logs.
	kind() string
	// paths are the files, read in this order.
	paths() []string
	// apply parses the files' contents and puts them in force, or
	// returns why not and keeps what was in force.
	apply(contents [][]byte) error
}

// watched is a source and the digest of what was last read for it: the
// files' contents, or the errors reading them. A change of digest is a
// change to apply; the same broken content is logged and counted once.
type watched struct {
	source
	digest [sha256.Size]byte
}

// load reads the source's files and applies them when they differ from the
// last read. It reports whether they differed.
func (w *watched) load() (bool, error) {
	paths := w.paths()
	contents := make([][]byte, len(paths))
	var readErrs []error
	h := sha256.New()
	for i, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			readErrs = append(readErrs, err) // it names the file
			h.Write([]byte("error " + err.Error() + "\n"))
			continue
		}
		contents[i] = data
		h.Write([]byte("file " + strconv.Itoa(len(data)) + "\n"))
		h.Write(data)
	}
	var digest [sha256.Size]byte
	h.Sum(digest[:0])
	if digest == w.digest {
		return false, nil
	}
	w.digest = digest
	if err := errors.Join(readErrs...); err != nil {
		return true, err
	}
	return true, w.apply(contents)
}

// DefaultPollInterval is how often the files are read again even when no
// file system event said they changed: a missed event must not leave an
// old token in force for long.
const DefaultPollInterval = 10 * time.Second

// watcher reloads sources when their directories change and every poll
// interval.
type watcher struct {
	sources []*watched
	log     logr.Logger
	metrics *Metrics
	stop    chan struct{}
	done    chan struct{}
}

// newWatcher starts watching the directories of the sources' files.
func newWatcher(sources []*watched, poll time.Duration, log logr.Logger, m *Metrics) *watcher {
	w := &watcher{sources: sources, log: log, metrics: m, stop: make(chan struct{}), done: make(chan struct{})}
	var dirs []string
	for _, s := range sources {
		for _, p := range s.paths() {
			dirs = append(dirs, filepath.Dir(p))
		}
	}
	fw := filewatch.Start(dirs, "the credential files", log)
	go func() {
		defer close(w.done)
		fw.Run(poll, w.stop, func(string) { w.reload() })
	}()
	return w
}

// reload applies every source whose files changed, logging and counting
// the outcome.
func (w *watcher) reload() {
	for _, s := range w.sources {
		changed, err := s.load()
		if !changed {
			continue
		}
		if err != nil {
			w.metrics.reloads.WithLabelValues(s.kind(), "failure").Inc()
			w.log.Error(err, "credentials changed but cannot be loaded; the previous ones stay in force", "kind", s.kind(), "files", s.paths())
			continue
		}
		w.metrics.reloads.WithLabelValues(s.kind(), "success").Inc()
		w.log.Info("reloaded credentials", "kind", s.kind(), "files", s.paths())
	}
}

// close stops watching and waits for a reload under way.
func (w *watcher) close() {
	close(w.stop)
	<-w.done
}
