package rawws

import (
	"fmt"
	"testing"
	"time"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/poller"
)

func TestPonger(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{Options: Options{IncomingFrames: 64}})
		c := dialRaw(t, srv.Addr)
		s := srv.next(t)
		Ponger(s)
		const n = 40
		for i := 0; i < n; i++ {
			c.send(true, frame.OpPing, []byte(fmt.Sprint("ping ", i)))
		}
		for i := 0; i < n; i++ {
			h, p, err := c.readFrame(5 * time.Second)
			if err != nil || h.Opcode != frame.OpPong || string(p) != fmt.Sprint("ping ", i) {
				t.Fatalf("pong %d: %v %q %v", i, h.Opcode, p, err)
			}
		}
		for i := 0; i < n; i++ {
			if f := recvFrame(t, s); f.Opcode != frame.OpPing {
				t.Fatalf("ping %d not delivered: %v", i, f.Opcode)
			}
		}
	})
}
