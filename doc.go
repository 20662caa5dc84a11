// Package rawws is a WebSocket (RFC 6455) engine for Linux event loops: very
// many connections at a low cost per connection, per message and per byte.
package rawws
