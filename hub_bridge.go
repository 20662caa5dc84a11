package rawws

import "github.com/rawws/rawws/frame"

// Publisher takes messages for topics: a Hub (to its local subscribers)
// or, for a fleet of servers, a thin adapter around a broker client that
// publishes to the broker (NATS, Redis pub/sub, Kafka...). Code that
// publishes through this interface runs unchanged on one machine or many.
type Publisher interface {
	// Publish sends one text or binary message to topic. payload is only
	// read during the call.
	Publish(topic string, op frame.Opcode, payload []byte) error
}

// Subscriber is the receiving half of a broker bridge. A Hub with
// HubOptions.Upstream calls Subscribe the first time a topic gets a local
// subscriber and the returned cancel once the topic has none, never both
// at once for one topic; the bridge calls dst.Publish for every message the
// broker delivers on topic, from any goroutine. Subscribe and cancel run
// on the goroutine of the Hub call that changed the topic's subscribers,
// which may be an event loop (Subscribe from OnOpen; the automatic leave
// when a connection ends runs in OnClose): they must not block for long,
// so a bridge whose broker client blocks should subscribe asynchronously
// and return at once.
//
// Bridging to a broker, with a NATS-like client as the example (rawws
// depends on no broker):
//
//	// natsBridge implements both halves.
//	type natsBridge struct{ nc *nats.Conn }
//
//	func (b natsBridge) Publish(topic string, op frame.Opcode, p []byte) error {
//		return b.nc.Publish("ws."+topic, append([]byte{byte(op)}, p...))
//	}
//
//	func (b natsBridge) Subscribe(topic string, dst rawws.Publisher) (func(), error) {
//		sub, err := b.nc.Subscribe("ws."+topic, func(m *nats.Msg) {
//			if len(m.Data) > 0 {
//				dst.Publish(topic, frame.Opcode(m.Data[0]), m.Data[1:])
//			}
//		})
//		if err != nil {
//			return nil, err
//		}
//		return func() { sub.Unsubscribe() }, nil
//	}
//
//	hub := rawws.NewHub(rawws.HubOptions{Upstream: bridge})
//	hub.Subscribe("prices", s)            // local sessions subscribe to the hub
//	bridge.Publish("prices", op, payload) // publish to the broker, not the hub
//
// Every server's hub then receives each message once from the broker and
// fans it out locally, encoded once. Publish to the bridge, not to the
// hub: Hub.Publish reaches this server's subscribers only. Order per
// subscriber is what the broker gives per subject, since the bridge's
// deliveries go through Hub.Publish.
type Subscriber interface {
	Subscribe(topic string, dst Publisher) (cancel func(), err error)
}

// syncUpstream makes the upstream subscription of topic match whether the
// topic has local subscribers. Calls are serialized, so a subscribe and a
// cancel for one topic never race each other; no other lock is held, so a
// slow broker delays subscription changes, never publishing.
func (h *Hub) syncUpstream(topic string) error {
	if h.opts.Upstream == nil {
		return nil
	}
	h.upMu.Lock()
	defer h.upMu.Unlock()
	h.mu.RLock()
	want := h.topics[topic] != nil
	h.mu.RUnlock()
	cancel, have := h.up[topic]
	switch {
	case want && !have:
		c, err := h.opts.Upstream.Subscribe(topic, h)
		if err != nil {
			return err
		}
		if c == nil {
			c = func() {}
		}
		h.up[topic] = c
	case !want && have:
		delete(h.up, topic)
		cancel()
	}
	return nil
}

// Compile-time check: a Hub is a Publisher (what a bridge feeds).
var _ Publisher = (*Hub)(nil)
