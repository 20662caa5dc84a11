package body_test

import (
	"fmt"
	"io"
	"strings"

	"github.com/rawws/rawws/http/body"
)

func ExampleDecodeChunked() {
	wire := "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nChecksum: 42\r\n\r\n"
	c := body.DecodeChunked(strings.NewReader(wire))
	data, err := io.ReadAll(c)
	fmt.Printf("%q %v %s\n", data, err, c.Trailer().Get("Checksum"))
	// Output: "hello, world" <nil> 42
}
