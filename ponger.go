package rawws

// Ponger makes s answer every Ping with a Pong carrying the same payload,
// in the order the pings came; pongs are never dropped (they skip the
// outgoing frame cap, within a bound that closes a peer flooding pings it
// never reads the answers to). Pings are still delivered to the application
// in raw modes. Message mode does this by itself. The returned function
// stops answering.
func Ponger(s *Session) (stop func()) {
	s.flags.Or(flagAutoPong)
	return func() { s.flags.And(^flagAutoPong) }
}
