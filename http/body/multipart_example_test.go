package body_test

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/rawws/rawws/http/body"
)

func ExampleMultipartReader_All() {
	wire := "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nfirst\r\n" +
		"--XyZ\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\nsecond\r\n--XyZ--\r\n"
	m, err := body.ParseMultipartType(context.Background(), strings.NewReader(wire),
		`multipart/form-data; boundary="XyZ"`, int64(len(wire)))
	if err != nil {
		panic(err)
	}
	for ev, err := range m.All() {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		if part, ok := ev.(body.Part); ok {
			data, _ := io.ReadAll(part.Body)
			fmt.Printf("%s: %s\n", part.Header.Get("Content-Disposition"), data)
		}
	}
	// Output:
	// form-data; name="a": first
	// form-data; name="b": second
}
