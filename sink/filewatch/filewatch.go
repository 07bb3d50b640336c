// Package filewatch tells when files that the kubelet mounts from a
// ConfigMap or a Secret may have changed: the collector's config, its
// bearer tokens and TLS material. The kubelet updates such a volume by
// writing a new directory of files and swapping the ..data symlink to it,
// which changes nothing in the old files and so raises no event on them;
// the directory is watched instead. Events are not delivered on every file
// system (network and some overlay mounts), so the files are also read
// again on a poll interval. The caller reads and compares the files; this
// package only says when to.
package filewatch

import (
	"fmt"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-logr/logr"
)

// SettleDelay lets a burst of events (one kubelet update is several) end
// before the files are read.
const SettleDelay = 50 * time.Millisecond

// Triggers passed to the changed function of Run.
const (
	// TriggerWatch: an event in a watched directory.
	TriggerWatch = "watch"
	// TriggerPoll: the poll interval passed.
	TriggerPoll = "poll"
)

// Watcher watches directories from Start until Run returns.
type Watcher struct {
	fs   *fsnotify.Watcher // nil when the directories cannot be watched
	what string
	log  logr.Logger
}

// Start watches dirs at once, so that a change made after Start returns
// is seen. A directory that cannot be watched is logged, and the files are
// then only polled: what describes them in that message ("the config
// file").
func Start(dirs []string, what string, log logr.Logger) *Watcher {
	w := &Watcher{what: what, log: log}
	dirs = slices.Clone(dirs)
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
		log.Error(err, "cannot watch the directory; reading the files again at every poll interval only", "files", what)
		return w
	}
	w.fs = fsw
	return w
}

// Run calls changed with TriggerWatch once a burst of events has settled,
// and with TriggerPoll every poll interval, until stop is closed; then it
// stops watching. changed runs on Run's goroutine, one call at a time.
func (w *Watcher) Run(poll time.Duration, stop <-chan struct{}, changed func(trigger string)) {
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w.fs != nil {
		defer w.fs.Close()
		events, errs = w.fs.Events, w.fs.Errors
	}
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	settle := time.NewTimer(SettleDelay)
	settle.Stop()
	defer settle.Stop()
	for {
		select {
		case <-stop:
			return
		case _, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			settle.Reset(SettleDelay)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			// An overflow lost events: read everything again.
			w.log.Error(err, "watching the directory", "files", w.what)
			settle.Reset(SettleDelay)
		case <-settle.C:
			changed(TriggerWatch)
		case <-ticker.C:
			changed(TriggerPoll)
		}
	}
}
