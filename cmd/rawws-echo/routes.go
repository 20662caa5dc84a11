package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"strconv"
	"strings"
	"time"

	rhttp "github.com/rawws/rawws/http"
	"github.com/rawws/rawws/http/body"
)

// maxBytes caps GET /bytes/N. The body is produced on demand and streamed
// as the client reads (memory stays at the connection's output cap), so
// the cap only bounds how long one request can keep the server busy.
const maxBytes = 64 << 20

// httpRoutes are the plain HTTP endpoints of the echo server, served by
// rawws's own HTTP/1.1 server:
//
//	GET  /healthz    200 "ok"
//	POST /echo       the request body back (chunked or not), same Content-Type
//	GET  /bytes/N    N deterministic bytes, honouring Range (one or several)
//	POST /multipart  JSON [{"name","filename","size","sha256"}] of the parts
func httpRoutes() *rhttp.ServeMux {
	mux := rhttp.NewServeMux()
	mux.HandleNonBlocking("/healthz", rhttp.HandlerFunc(func(w *rhttp.ResponseWriter, r *rhttp.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteString("ok\n")
	}))
	mux.HandleNonBlocking("/echo", rhttp.HandlerFunc(serveEcho))
	mux.Handle("/bytes/", rhttp.HandlerFunc(serveBytes))
	mux.Handle("/multipart", rhttp.HandlerFunc(serveMultipart))
	return mux
}

func serveEcho(w *rhttp.ResponseWriter, r *rhttp.Request) {
	if r.Method != "POST" && r.Method != "PUT" {
		w.Header().Set("Allow", "POST, PUT")
		w.WriteHeader(405)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.Write(r.Body)
}

// patternByte is byte i of every /bytes/N body, so a client can check any
// range it asked for without the server storing anything.
func patternByte(i int64) byte { return byte(i*31 + i>>8 + 7) }

// pattern is an io.ReaderAt over the first size pattern bytes.
type pattern struct{ size int64 }

func (p pattern) ReadAt(b []byte, off int64) (int, error) {
	if off >= p.size {
		return 0, io.EOF
	}
	n := len(b)
	if rem := p.size - off; int64(n) > rem {
		n = int(rem)
	}
	for i := range n {
		b[i] = patternByte(off + int64(i))
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// epoch is the fixed Last-Modified of every /bytes body, so If-Range with a
// date works across restarts.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func serveBytes(w *rhttp.ResponseWriter, r *rhttp.Request) {
	n, err := strconv.ParseInt(strings.TrimPrefix(r.Path, "/bytes/"), 10, 64)
	if err != nil || n < 0 || n > maxBytes {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(400)
		w.WriteString("want /bytes/N with 0 <= N <= " + strconv.Itoa(maxBytes) + "\n")
		return
	}
	req := body.ContentRequest{
		Method:          r.Method,
		Range:           r.Header.Get("Range"),
		IfRange:         r.Header.Get("If-Range"),
		IfMatch:         r.Header.Get("If-Match"),
		IfNoneMatch:     r.Header.Get("If-None-Match"),
		IfModifiedSince: r.Header.Get("If-Modified-Since"),
		ContentType:     "application/octet-stream",
	}
	etag := `"bytes-` + strconv.FormatInt(n, 10) + `"`
	res, err := body.ServeContentAt(req, "", epoch, etag, pattern{n}, n)
	for name, vals := range res.Header {
		for _, v := range vals {
			w.Header().Add(name, v)
		}
	}
	w.WriteHeader(res.Status)
	if err == nil && res.Body != nil {
		io.Copy(w, res.Body)
	}
}

// partInfo is one part of a POST /multipart answer.
type partInfo struct {
	Name     string `json:"name"`
	Filename string `json:"filename"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
}

func serveMultipart(w *rhttp.ResponseWriter, r *rhttp.Request) {
	fail := func(status int, err error) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(status)
		w.WriteString(err.Error() + "\n")
	}
	if r.Method != "POST" {
		w.Header().Set("Allow", "POST")
		w.WriteHeader(405)
		return
	}
	mr, err := body.ParseMultipartType(context.Background(), bytes.NewReader(r.Body), r.Header.Get("Content-Type"), int64(len(r.Body)))
	if err != nil {
		fail(400, err)
		return
	}
	parts := []partInfo{}
	for ev, err := range mr.All() {
		if err != nil {
			fail(400, err)
			return
		}
		p, ok := ev.(body.Part)
		if !ok {
			continue
		}
		h := sha256.New()
		size, err := io.Copy(h, p.Body)
		if err != nil {
			fail(400, err)
			return
		}
		name, filename := dispositionNames(p.Header.Get("Content-Disposition"))
		parts = append(parts, partInfo{Name: name, Filename: filename, Size: size, SHA256: hex.EncodeToString(h.Sum(nil))})
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(parts); err != nil {
		fail(500, errors.New("encoding the answer failed"))
	}
}

// dispositionNames pulls name and filename out of a form-data
// Content-Disposition value.
func dispositionNames(v string) (name, filename string) {
	_, params, err := mime.ParseMediaType(v)
	if err != nil {
		return "", ""
	}
	return params["name"], params["filename"]
}
