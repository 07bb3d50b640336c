package access

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-logr/logr"
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
// file system event said they changed: events are not delivered on every
// file system (network and some overlay mounts), and a missed one must not
// leave an old token in force for long.
const DefaultPollInterval = 10 * time.Second

// settleDelay lets a burst of events (a kubelet update is several) end
// before the files are read.
const settleDelay = 50 * time.Millisecond

// watcher reloads sources when their directories change and every poll
// interval.
type watcher struct {
	sources []*watched
	fs      *fsnotify.Watcher // nil when the directories cannot be watched
	poll    time.Duration
	log     logr.Logger
	metrics *Metrics
	stop    chan struct{}
	done    chan struct{}
}

// newWatcher starts watching. It watches each file's directory, not the
// file: the kubelet updates a mounted Secret by making a new directory of
// files and swapping the ..data symlink to it, which changes nothing in
// the old files and so raises no event on them.
func newWatcher(sources []*watched, poll time.Duration, log logr.Logger, m *Metrics) *watcher {
	w := &watcher{sources: sources, poll: poll, log: log, metrics: m, stop: make(chan struct{}), done: make(chan struct{})}
	var dirs []string
	for _, s := range sources {
		for _, p := range s.paths() {
			dirs = append(dirs, filepath.Dir(p))
		}
	}
	slices.Sort(dirs)
	dirs = slices.Compact(dirs)
	fsw, err := fsnotify.NewWatcher()
	if err == nil {
		for _, d := range dirs {
			if err = fsw.Add(d); err != nil {
				err = fmt.Errorf("watch %s: %w", d, err)
				fsw.Close()
				break
			}
		}
	}
	if err != nil {
		log.Error(err, "cannot watch the credential files; reading them again at every poll interval only", "pollInterval", poll.String())
	} else {
		w.fs = fsw
	}
	go w.run()
	return w
}

func (w *watcher) run() {
	defer close(w.done)
	poll := time.NewTicker(w.poll)
	defer poll.Stop()
	settle := time.NewTimer(settleDelay)
	settle.Stop()
	defer settle.Stop()
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w.fs != nil {
		events, errs = w.fs.Events, w.fs.Errors
	}
	for {
		select {
		case <-w.stop:
			return
		case _, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			settle.Reset(settleDelay)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			// An overflow lost events: read everything again.
			w.log.Error(err, "watching the credential files")
			settle.Reset(settleDelay)
		case <-settle.C:
			w.reload()
		case <-poll.C:
			w.reload()
		}
	}
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
func (w *watcher) close() error {
	close(w.stop)
	<-w.done
	if w.fs != nil {
		return w.fs.Close()
	}
	return nil
}
