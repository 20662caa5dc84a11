//go:build !linux

package server

import (
	"net"
	"time"
)

const watchSupported = false

func inheritedListener() (net.Listener, error) { return nil, nil }

func (s *Server) restart(time.Duration) {}
