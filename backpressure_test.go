package rawws

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/poller"
)

// An echo handler whose peer stops reading loses nothing: while answers
// wait for the writer the session stops reading that peer (TCP pushes back
// on its sends) instead of refusing answers at the queue's cap. The client
// sends ~10 MB, more than the session's queue, the engine's queue and both
// socket buffers hold, before it reads a single echo. netpoll cannot stop
// the kernel reading, so there the pause is bounded by the engine's
// MaxInput instead (the poller suite tests that) and this test skips it.
func TestSlowReaderBackpressureLosesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		if eng.Name() == "netpoll" {
			t.Skip("netpoll keeps reading while paused; bounded by MaxInput instead")
		}
		srv := startServer(t, eng, UpgradeOptions{Options: Options{MessageHandler: echoMessages}})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c, _, err := Dial(ctx, srv.URL, DialOptions{Backend: "std"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(nil)
		const n, size = 320, 32 << 10
		sent := make(chan error, 1)
		go func() {
			for i := 0; i < n; i++ {
				p := make([]byte, size)
				binary.LittleEndian.PutUint32(p, uint32(i))
				p[size-1] = byte(i)
				if err := c.Send(ctx, frame.Frame{Fin: true, Opcode: frame.OpBinary, Payload: p}); err != nil {
					sent <- err
					return
				}
			}
			sent <- nil
		}()
		time.Sleep(300 * time.Millisecond) // the answers pile up unread
		for i := 0; i < n; i++ {
			f := recvFrame(t, c)
			if len(f.Payload) != size || binary.LittleEndian.Uint32(f.Payload) != uint32(i) || f.Payload[size-1] != byte(i) {
				t.Fatalf("echo %d: %d bytes, seq %d: answers were lost or reordered", i, len(f.Payload), binary.LittleEndian.Uint32(f.Payload))
			}
		}
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
	})
}
