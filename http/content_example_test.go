package http_test

import (
	"fmt"
	"io"
	"strings"
	"time"

	rawhttp "github.com/rawws/rawws/http"
)

func ExampleServeContent() {
	content := strings.NewReader("0123456789")
	modtime := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	res, err := rawhttp.ServeContent(rawhttp.ContentRequest{Method: "GET", Range: "bytes=2-5"},
		"digits.txt", modtime, `"v1"`, content)
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(res.Body)
	fmt.Println(res.Status, res.Header.Get("Content-Range"), res.Length, string(body))
	// Output: 206 bytes 2-5/10 4 2345
}
