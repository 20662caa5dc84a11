//go:build !linux

package server

import (
	"fmt"
	"time"
)

// watcher is unavailable off Linux: WatchPaths needs inotify.
type watcher struct{}

func newWatcher(paths []string, _ time.Duration, _ func(string)) (*watcher, error) {
	return nil, fmt.Errorf("rawws: watch %v: %w", paths, ErrWatchUnsupported)
}

func (*watcher) Close() error { return nil }
