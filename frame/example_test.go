package frame_test

import (
	"errors"
	"fmt"

	"github.com/rawws/rawws/frame"
)

// A server reads frames from a byte stream: headers through a Parser, then
// the payload, unmasked with the header's key, text checked as it arrives.
func ExampleParser() {
	// Two masked frames from a client: "Hel" (text, not final) and "lo".
	stream := []byte{
		0x01, 0x83, 1, 2, 3, 4, 'H' ^ 1, 'e' ^ 2, 'l' ^ 3,
		0x80, 0x82, 5, 6, 7, 8, 'l' ^ 5, 'o' ^ 6,
	}
	p := frame.Parser{MaxFrameSize: 1 << 20, Masking: frame.MaskRequired}
	var text frame.UTF8
	for len(stream) > 0 {
		n, done, err := p.Parse(stream)
		stream = stream[n:]
		var pe *frame.ProtocolError
		if errors.As(err, &pe) {
			fmt.Println("close with", pe.Code, pe.Reason)
			return
		}
		if !done {
			break // wait for more bytes
		}
		h := p.Header()
		payload := stream[:h.Length]
		stream = stream[h.Length:]
		for i := range payload {
			payload[i] ^= h.Key[i&3]
		}
		if _, ok := text.Feed(payload); !ok {
			fmt.Println("close with", frame.CloseInvalidPayload)
			return
		}
		fmt.Printf("%s fin=%v %q\n", h.Opcode, h.Fin, payload)
	}
	fmt.Println("complete text:", text.Complete())
	// Output:
	// text fin=false "Hel"
	// continuation fin=true "lo"
	// complete text: true
}

func ExamplePutHeader() {
	payload := []byte("Hello")
	buf := make([]byte, frame.MaxHeaderSize+len(payload))
	n := frame.PutHeader(buf, frame.Header{Fin: true, Opcode: frame.OpText, Length: int64(len(payload))})
	n += copy(buf[n:], payload)
	fmt.Printf("% x\n", buf[:n])
	// Output: 81 05 48 65 6c 6c 6f
}

func ExampleParseCloseReason() {
	p, _ := frame.AppendCloseReason(nil, frame.CloseReason{Code: frame.CloseGoingAway, Text: "bye"})
	fmt.Printf("% x\n", p)
	r, err := frame.ParseCloseReason(p)
	fmt.Println(r.Code, r.Text, err)
	_, err = frame.ParseCloseReason([]byte{0x03})
	fmt.Println(err)
	// Output:
	// 03 e9 62 79 65
	// going away bye <nil>
	// websocket protocol error 1002: close payload of 1 byte
}
