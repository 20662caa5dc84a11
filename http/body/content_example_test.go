package body_test

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rawws/rawws/http/body"
)

func ExampleServeContent() {
	content := strings.NewReader("0123456789")
	modtime := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	res, err := body.ServeContent(body.ContentRequest{Method: "GET", Range: "bytes=2-5"},
		"digits.txt", modtime, `"v1"`, content)
	if err != nil {
		panic(err)
	}
	data, _ := io.ReadAll(res.Body)
	fmt.Println(res.Status, res.Header.Get("Content-Range"), res.Length, string(data))
	// Output: 206 bytes 2-5/10 4 2345
}
