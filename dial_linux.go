package rawws

// On Linux the event-loop backends are linked in, so DefaultEngine picks
// netpoll and UpgradeOptions.Backend / DialOptions.Backend can name any of
// them. Both start their loops only when an engine is created.
import (
	_ "github.com/rawws/rawws/poller/epoll"
	_ "github.com/rawws/rawws/poller/netpoll"
)
