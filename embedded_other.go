//go:build !linux

package rawws

import (
	"net"
	"time"
)

const watchSupported = false

func inheritedListener() (net.Listener, error) { return nil, nil }

func (s *Server) restart(time.Duration) {}
