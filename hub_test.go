package rawws

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/poller"
)

// Concurrent publishers on one topic: every subscriber gets every message,
// unaltered, and all subscribers in the same order, while other sessions
// subscribe, unsubscribe and close at the same time.
func TestHubOrderUnderConcurrency(t *testing.T) {
	for _, writers := range []int{0, 2} {
		t.Run(fmt.Sprint("writers=", writers), func(t *testing.T) { testHubOrder(t, writers) })
	}
}

func testHubOrder(t *testing.T, writers int) {
	const publishers, perPublisher, stable = 4, 300, 8
	hub := NewHub(HubOptions{SlowPolicy: SlowDrop, Writers: writers})
	opts := Options{MessageHandler: MessageFuncs{}, OutgoingFrames: publishers * perPublisher}
	conns := make([]*fakeConn, stable)
	sessions := make([]*Session, stable)
	for i := range conns {
		conns[i] = &fakeConn{record: true}
		sessions[i] = NewRawSession(conns[i], opts)
		if err := hub.Subscribe("t", sessions[i]); err != nil {
			t.Fatal(err)
		}
		// A second topic on the same session must not disturb the first.
		if err := hub.Subscribe(fmt.Sprint("own", i), NewRawSession(&fakeConn{}, opts)); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var churn sync.WaitGroup
	for g := 0; g < 2; g++ {
		churn.Add(1)
		go func() {
			defer churn.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				s := NewRawSession(&fakeConn{}, opts)
				hub.Subscribe("t", s)
				hub.Subscribe("other", s)
				switch i % 3 {
				case 0:
					hub.Unsubscribe("t", s)
					hub.Unsubscribe("other", s)
				case 1:
					hub.UnsubscribeAll(s)
				case 2:
					s.Close(errors.New("churn")) // leaves by itself
				}
			}
		}()
	}
	var wg sync.WaitGroup
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perPublisher; i++ {
				if err := hub.Publish("t", frame.OpBinary, checkedPayload(uint64(p)<<32|uint64(i), 100+i%300)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	churn.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range sessions {
		if err := s.Flush(ctx); err != nil { // the hub's writers may still be at it
			t.Fatal(err)
		}
	}

	var first []uint64
	for i, fc := range conns {
		var got []uint64
		next := make([]uint32, publishers)
		for _, f := range decodeAll(t, fc.output()) {
			id, ok := checkPayload(f.p)
			if !ok || f.h.Opcode != frame.OpBinary || !f.h.Fin {
				t.Fatalf("subscriber %d: corrupt message %d", i, len(got))
			}
			p, seq := id>>32, uint32(id)
			if seq != next[p] {
				t.Fatalf("subscriber %d: publisher %d message %d, want %d", i, p, seq, next[p])
			}
			next[p]++
			got = append(got, id)
		}
		if len(got) != publishers*perPublisher {
			t.Fatalf("subscriber %d got %d messages, want %d", i, len(got), publishers*perPublisher)
		}
		if first == nil {
			first = got
		} else {
			for j := range got {
				if got[j] != first[j] {
					t.Fatalf("subscriber %d: message %d differs in order from subscriber 0", i, j)
				}
			}
		}
	}
	st := hub.Stats()
	if st.Published != publishers*perPublisher || st.Dropped != 0 || st.Closed != 0 {
		t.Fatalf("stats %+v", st)
	}
	if st.Topics != 1+stable || st.Subscriptions != 2*stable {
		t.Fatalf("after churn: %d topics, %d subscriptions; want %d, %d", st.Topics, st.Subscriptions, 1+stable, 2*stable)
	}
}

// checkedPayload is n bytes: id, pseudo-random bytes derived from it, and
// a CRC-32 of everything before.
func checkedPayload(id uint64, n int) []byte {
	if n < 12 {
		n = 12
	}
	b := make([]byte, n)
	binary.BigEndian.PutUint64(b, id)
	r := rand.New(rand.NewPCG(id, 0x9e3779b97f4a7c15))
	for i := 8; i < n-4; i++ {
		b[i] = byte(r.Uint32())
	}
	binary.BigEndian.PutUint32(b[n-4:], crc32.ChecksumIEEE(b[:n-4]))
	return b
}

// checkPayload returns a checkedPayload's id and whether it is intact.
func checkPayload(b []byte) (uint64, bool) {
	if len(b) < 12 || binary.BigEndian.Uint32(b[len(b)-4:]) != crc32.ChecksumIEEE(b[:len(b)-4]) {
		return 0, false
	}
	return binary.BigEndian.Uint64(b), true
}

// A session leaves every hub when its connection is gone, and cannot
// subscribe afterwards.
func TestHubLeavesOnClose(t *testing.T) {
	h1, h2 := NewHub(HubOptions{}), NewHub(HubOptions{})
	fc := &fakeConn{}
	s := NewRawSession(fc, Options{Handler: HandlerFuncs{}})
	for _, h := range []*Hub{h1, h2} {
		for _, topic := range []string{"a", "b"} {
			if err := h.Subscribe(topic, s); err != nil {
				t.Fatal(err)
			}
		}
	}
	h1.Subscribe("a", s) // twice: no effect
	if n := h1.Subscribers("a"); n != 1 {
		t.Fatalf("%d subscribers after a repeated Subscribe", n)
	}
	fc.CloseWithError(errors.New("peer gone"))
	for _, h := range []*Hub{h1, h2} {
		if st := h.Stats(); st.Topics != 0 || st.Subscriptions != 0 {
			t.Fatalf("after close: %+v", st)
		}
	}
	if err := h1.Subscribe("a", s); !errors.Is(err, ErrClosed) {
		t.Fatalf("subscribe after close: %v", err)
	}
	if err := h1.Publish("a", frame.OpPing, nil); !errors.Is(err, ErrNotData) {
		t.Fatalf("publish ping: %v", err)
	}
	if err := h1.Publish("nobody", frame.OpText, []byte("x")); err != nil {
		t.Fatal(err)
	}
}

// Subscribers that stop reading (real TCP backpressure: the client never
// reads) never hold the publisher or the others: readers get every
// message in order and intact, stalled ones are dropped or closed as
// configured, and the server's memory stays bounded although 50 MB are
// published to each of them.
func TestHubStalledSubscribers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		policy  SlowPolicy
		writers int
		total   int // bytes published
	}{
		{"drop", SlowDrop, 0, 50 << 20},
		{"close", SlowClose, 0, 16 << 20},
		{"drop-writers", SlowDrop, 2, 16 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, eng poller.Engine) {
				testStalled(t, eng, tc.policy, tc.writers, tc.total)
			})
		})
	}
}

func testStalled(t *testing.T, eng poller.Engine, policy SlowPolicy, writers, total int) {
	const readers, stalled, size, window = 2, 3, 64 << 10, 3
	msgs := total / size
	hub := NewHub(HubOptions{SlowPolicy: policy, Writers: writers})
	srv := startServer(t, eng, UpgradeOptions{Options: Options{
		MessageHandler: MessageFuncs{},
		OutgoingFrames: 8,
		OutgoingBytes:  512 << 10,
		CloseTimeout:   200 * time.Millisecond,
	}})
	var clients []*rawClient
	var sessions []*Session
	for i := 0; i < readers+stalled; i++ {
		c := dialRaw(t, srv.Addr)
		clients = append(clients, c)
		s := srv.next(t)
		sessions = append(sessions, s)
		if err := hub.Subscribe("t", s); err != nil {
			t.Fatal(err)
		}
	}

	// Readers check every message and count them.
	var got [readers]atomic.Int64
	errs := make(chan error, readers)
	for i := 0; i < readers; i++ {
		go func() {
			for n := 0; n < msgs; n++ {
				h, p, err := clients[i].readFrame(10 * time.Second)
				if err != nil {
					errs <- fmt.Errorf("reader %d at message %d: %w", i, n, err)
					return
				}
				id, ok := checkPayload(p)
				if !ok || id != uint64(n) || h.Opcode != frame.OpBinary {
					errs <- fmt.Errorf("reader %d: message %d arrived as %d (intact %v)", i, n, id, ok)
					return
				}
				got[i].Add(1)
			}
			errs <- nil
		}()
	}

	payloads := [4][]byte{}
	for i := range payloads {
		payloads[i] = checkedPayload(0, size)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapInuse, ms.HeapInuse
	deadline := time.Now().Add(20 * time.Second)
	for n := 0; n < msgs; n++ {
		p := payloads[n%len(payloads)]
		binary.BigEndian.PutUint64(p, uint64(n))
		binary.BigEndian.PutUint32(p[len(p)-4:], crc32.ChecksumIEEE(p[:len(p)-4]))
		pf := PrepareMessage(frame.OpBinary, p)
		r, err := hub.PublishPrepared("t", pf)
		pf.Release()
		if err != nil {
			t.Fatal(err)
		}
		if r.Sent < readers {
			t.Fatalf("message %d reached %d subscribers, fewer than the %d readers: %+v", n, r.Sent, readers, r)
		}
		// The publisher keeps pace with the readers (not the stalled ones),
		// as a real feed is paced by its source.
		for i := 0; i < readers; i++ {
			for got[i].Load() < int64(n+1-window) {
				if time.Now().After(deadline) {
					t.Fatalf("reader %d stuck at %d of %d", i, got[i].Load(), n)
				}
				time.Sleep(20 * time.Microsecond)
			}
		}
		if n%64 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	for i := 0; i < readers; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&ms)
	peak = max(peak, ms.HeapInuse)
	growth := int64(peak) - int64(base)
	t.Logf("%s: published %d MB to %d readers and %d stalled; heap in use grew by %.1f MiB; %+v",
		eng.Name(), total>>20, readers, stalled, float64(growth)/(1<<20), hub.Stats())
	// Unbounded queues would hold ~total per stalled subscriber. Bounded:
	// each holds at most its queue caps (8 frames, 256 KiB in the session,
	// about as much in the connection), plus the readers' in-flight frames.
	if limit := int64(32 << 20); growth > limit {
		t.Fatalf("heap in use grew by %d MiB while publishing %d MiB to stalled subscribers (limit %d MiB)", growth>>20, total>>20, limit>>20)
	}

	st := hub.Stats()
	switch policy {
	case SlowDrop:
		if st.Dropped == 0 || st.Closed != 0 {
			t.Fatalf("drop policy: %+v", st)
		}
		if n := hub.Subscribers("t"); n != readers+stalled {
			t.Fatalf("%d subscribers left, want all %d", n, readers+stalled)
		}
		var drops uint64
		for i, s := range sessions {
			if d := s.Dropped(); (d > 0) != (i >= readers) {
				t.Fatalf("session %d (stalled %v) dropped %d", i, i >= readers, d)
			}
			drops += s.Dropped()
		}
		if drops != st.Dropped {
			t.Fatalf("sessions dropped %d in all, hub counted %d", drops, st.Dropped)
		}
	case SlowClose:
		if st.Closed != stalled {
			t.Fatalf("close policy: %d closed, want %d: %+v", st.Closed, stalled, st)
		}
		if !hubSettle(5*time.Second, func() bool { return hub.Subscribers("t") == readers }) {
			t.Fatalf("%d subscribers left, want the %d readers", hub.Subscribers("t"), readers)
		}
	}
	// What a stalled subscriber finally reads is an in-order subsequence,
	// every message intact; under the drop policy, every message queued for
	// it arrives once it reads again.
	var tail atomic.Int64
	var wg sync.WaitGroup
	bad := make(chan error, stalled)
	for i := readers; i < readers+stalled; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := int64(-1)
			for {
				h, p, err := clients[i].readFrame(5 * time.Second)
				if err != nil || h.Opcode == frame.OpClose {
					if last < 0 {
						bad <- fmt.Errorf("stalled subscriber %d read nothing (%v)", i, err)
					}
					return
				}
				id, ok := checkPayload(p)
				if !ok || int64(id) <= last {
					bad <- fmt.Errorf("stalled subscriber %d: message %d after %d (intact %v)", i, id, last, ok)
					return
				}
				last = int64(id)
				tail.Add(1)
			}
		}()
	}
	if policy == SlowDrop {
		want := int64(st.Delivered) - readers*int64(msgs)
		if !hubSettle(10*time.Second, func() bool { return tail.Load() >= want }) || tail.Load() != want {
			t.Errorf("stalled subscribers read %d messages after resuming, %d were queued for them", tail.Load(), want)
		}
		for i := readers; i < readers+stalled; i++ {
			clients[i].nc.Close()
		}
	}
	wg.Wait()
	close(bad)
	for err := range bad {
		t.Error(err)
	}
}

// The same prepared frame reaches channel-mode sessions through
// SendPrepared, which waits for room there.
func TestSendPreparedChannelMode(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{})
		c := dialRaw(t, srv.Addr)
		s := srv.next(t)
		pf := PrepareMessage(frame.OpText, []byte("shared"))
		defer pf.Release()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for i := 0; i < 20; i++ {
			if err := s.SendPrepared(ctx, pf); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < 20; i++ {
			h, p, err := c.readFrame(5 * time.Second)
			if err != nil || h.Opcode != frame.OpText || string(p) != "shared" || h.Masked {
				t.Fatalf("frame %d: %+v %q %v", i, h, p, err)
			}
		}
	})
}

// hubSettle polls f until it holds or timeout passes.
func hubSettle(timeout time.Duration, f func() bool) bool {
	for end := time.Now().Add(timeout); ; time.Sleep(5 * time.Millisecond) {
		if f() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}

// BenchmarkHubPublish is the in-process cost of one publish to 1,000
// subscribers (no sockets: the connections only count bytes), i.e. what
// the hub adds on top of the system calls.
func BenchmarkHubPublish(b *testing.B) {
	for _, size := range []int{64, 4096} {
		b.Run(fmt.Sprint("subs=1000/size=", size), func(b *testing.B) {
			hub := NewHub(HubOptions{})
			for i := 0; i < 1000; i++ {
				hub.Subscribe("t", NewRawSession(&fakeConn{}, Options{MessageHandler: MessageFuncs{}}))
			}
			p := make([]byte, size)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				hub.Publish("t", frame.OpBinary, p)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/delivery")
		})
	}
}
