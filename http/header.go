package http

import (
	"iter"
	"strings"
)

// HeaderField is one request header field as received. Name keeps the
// client's spelling; Value has surrounding whitespace removed.
type HeaderField struct {
	Name, Value string
}

// Header is a request's header fields in arrival order. The strings are
// views into the connection's read buffer (or the request's own copy) and
// are valid only until the handler returns: copy (strings.Clone) what you
// keep. Names are matched case-insensitively (ASCII).
type Header struct {
	fields []HeaderField
}

// Len is the number of fields, repeated names counted each time.
func (h *Header) Len() int { return len(h.fields) }

// Get returns the value of the first field named name, or "".
func (h *Header) Get(name string) string {
	for i := range h.fields {
		if equalFold(h.fields[i].Name, name) {
			return h.fields[i].Value
		}
	}
	return ""
}

// Has reports whether a field named name is present (even if empty).
func (h *Header) Has(name string) bool {
	for i := range h.fields {
		if equalFold(h.fields[i].Name, name) {
			return true
		}
	}
	return false
}

// Values yields the value of every field named name, in arrival order.
func (h *Header) Values(name string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for i := range h.fields {
			if equalFold(h.fields[i].Name, name) && !yield(h.fields[i].Value) {
				return
			}
		}
	}
}

// Join returns every value of name joined with ", " (the list form of RFC
// 9110 §5.3), "" when absent. It allocates only when there are several.
func (h *Header) Join(name string) string {
	first, n := -1, 0
	for i := range h.fields {
		if equalFold(h.fields[i].Name, name) {
			if first < 0 {
				first = i
			}
			n++
		}
	}
	switch n {
	case 0:
		return ""
	case 1:
		return h.fields[first].Value
	}
	var sb strings.Builder
	for i := first; i < len(h.fields); i++ {
		if equalFold(h.fields[i].Name, name) {
			if sb.Len() > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(h.fields[i].Value)
		}
	}
	return sb.String()
}

// All yields every field as (name, value) in arrival order.
func (h *Header) All() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for i := range h.fields {
			if !yield(h.fields[i].Name, h.fields[i].Value) {
				return
			}
		}
	}
}

// Fields returns the fields themselves (views, see Header); the slice is
// the request's and must not be kept or changed.
func (h *Header) Fields() []HeaderField { return h.fields }

// equalFold reports whether a and b are equal under ASCII case folding.
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] != b[i] && lowerASCII[a[i]] != lowerASCII[b[i]] {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated list v holds token
// (case-insensitive), as in Connection: keep-alive, Upgrade.
func hasListToken(v, token string) bool {
	for len(v) > 0 {
		var t string
		if i := strings.IndexByte(v, ','); i >= 0 {
			t, v = v[:i], v[i+1:]
		} else {
			t, v = v, ""
		}
		if equalFold(trimOWS(t), token) {
			return true
		}
	}
	return false
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
