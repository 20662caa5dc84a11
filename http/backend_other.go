//go:build !linux

package http

import _ "github.com/rawws/rawws/poller/std"

// DefaultBackend is the poller backend a Server starts when
// Settings.Engine and Settings.Backend are unset: "epoll" on Linux, "std"
// elsewhere.
const DefaultBackend = "std"
