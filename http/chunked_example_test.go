package http_test

import (
	"fmt"
	"io"
	"strings"

	rawhttp "github.com/rawws/rawws/http"
)

func ExampleDecodeChunked() {
	body := "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nChecksum: 42\r\n\r\n"
	c := rawhttp.DecodeChunked(strings.NewReader(body))
	data, err := io.ReadAll(c)
	fmt.Printf("%q %v %s\n", data, err, c.Trailer().Get("Checksum"))
	// Output: "hello, world" <nil> 42
}
