package rawws

import (
	"errors"
	"sync"
	"testing"

	"github.com/rawws/rawws/frame"
)

// memBroker is an in-process stand-in for NATS or Redis: it implements
// both halves of a bridge.
type memBroker struct {
	mu   sync.Mutex
	subs map[string]map[int]Publisher
	next int
}

func newMemBroker() *memBroker { return &memBroker{subs: map[string]map[int]Publisher{}} }

func (b *memBroker) Publish(topic string, op frame.Opcode, p []byte) error {
	b.mu.Lock()
	var dsts []Publisher
	for _, d := range b.subs[topic] {
		dsts = append(dsts, d)
	}
	b.mu.Unlock()
	for _, d := range dsts {
		if err := d.Publish(topic, op, p); err != nil {
			return err
		}
	}
	return nil
}

func (b *memBroker) Subscribe(topic string, dst Publisher) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs[topic] == nil {
		b.subs[topic] = map[int]Publisher{}
	}
	b.next++
	id := b.next
	b.subs[topic][id] = dst
	return func() {
		b.mu.Lock()
		delete(b.subs[topic], id)
		b.mu.Unlock()
	}, nil
}

func (b *memBroker) count(topic string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs[topic])
}

// Two hubs bridged through a broker: each subscribes upstream once per
// topic while it has local subscribers, and a message published to the
// broker reaches the subscribers of both, once.
func TestHubUpstream(t *testing.T) {
	br := newMemBroker()
	hubs := []*Hub{NewHub(HubOptions{Upstream: br}), NewHub(HubOptions{Upstream: br})}
	var conns []*fakeConn
	var sess []*Session
	for _, h := range hubs {
		for i := 0; i < 2; i++ {
			fc := &fakeConn{record: true}
			s := NewRawSession(fc, Options{Handler: HandlerFuncs{}})
			if err := h.Subscribe("news", s); err != nil {
				t.Fatal(err)
			}
			conns, sess = append(conns, fc), append(sess, s)
		}
	}
	if n := br.count("news"); n != 2 {
		t.Fatalf("%d upstream subscriptions, want one per hub", n)
	}
	if err := br.Publish("news", frame.OpText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	for i, fc := range conns {
		fs := decodeAll(t, fc.output())
		if len(fs) != 1 || string(fs[0].p) != "hello" {
			t.Fatalf("session %d got %d frames", i, len(fs))
		}
	}
	hubs[0].Unsubscribe("news", sess[0])
	if n := br.count("news"); n != 2 {
		t.Fatalf("upstream dropped while a local subscriber remains: %d", n)
	}
	hubs[0].UnsubscribeAll(sess[1])
	sess[2].Close(errors.New("gone"))
	if n := br.count("news"); n != 1 {
		t.Fatalf("%d upstream subscriptions after hub 0 lost its subscribers, want 1", n)
	}
	sess[3].Close(errors.New("gone"))
	if n := br.count("news"); n != 0 {
		t.Fatalf("%d upstream subscriptions left", n)
	}
}
