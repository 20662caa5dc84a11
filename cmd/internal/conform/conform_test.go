package conform

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// quick leaves out the cases that move megabytes: under -race they cost
// seconds and test nothing the small ones do not.
var quick = HeavyCases

func run(t *testing.T, url string, cases ...string) Report {
	t.Helper()
	rep, err := Run(context.Background(), url, Options{Cases: cases, Exclude: quick, Timeout: time.Second, Parallel: 4})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestSuiteSize(t *testing.T) {
	all := All()
	if len(all) < 250 {
		t.Fatalf("%d cases, want at least 250", len(all))
	}
	seen := map[string]bool{}
	for _, c := range all {
		if seen[c.ID] {
			t.Errorf("duplicate case id %s", c.ID)
		}
		seen[c.ID] = true
		if c.Description == "" || c.Expect == "" {
			t.Errorf("case %s lacks a description or expectation", c.ID)
		}
	}
	for _, sec := range []string{"1", "2", "3", "4", "5", "6", "7", "9", "10"} {
		if len(Select([]string{sec}, nil)) == 0 {
			t.Errorf("section %s is empty", sec)
		}
	}
}

// TestConformingServer: a server that does everything right gets no
// FAILED and no NON-STRICT verdict.
func TestConformingServer(t *testing.T) {
	rep := run(t, testServer(t, flawNone))
	for _, r := range rep.Results {
		if r.Verdict == Failed || r.Verdict == NonStrict {
			t.Errorf("%s %s: %s: %s\n%s", r.ID, r.Verdict, r.Description, r.Detail, strings.Join(r.Trace, "\n"))
		}
	}
	if c := rep.Counts(); c[OK] < 250 {
		t.Errorf("only %d OK: %s", c[OK], rep.Summary())
	}
}

// TestFlawsDetected: each deliberate defect turns the cases that look at
// it into the verdict it deserves.
func TestFlawsDetected(t *testing.T) {
	tests := []struct {
		name string
		flaw flaw
		id   string
		want Verdict
	}{
		{"utf8 checked only at message end", flawLateUTF8, "6.4.1", NonStrict},
		{"utf8 checked only at message end, 1-byte fragments", flawLateUTF8, "6.8.26", NonStrict},
		{"utf8 checked only at message end, whole message is fine", flawLateUTF8, "6.7.26", OK},
		{"utf8 checked only at frame end", flawLateUTF8, "6.4.3", NonStrict},
		{"no utf8 check", flawNoUTF8, "6.7.26", Failed},
		{"no utf8 check, fragments", flawNoUTF8, "6.9.1", Failed},
		{"rsv ignored", flawAcceptRSV, "3.1.4", Failed},
		{"rsv ignored on ping", flawAcceptRSV, "3.5.1", Failed},
		{"no pong", flawNoPong, "2.1", Failed},
		{"no pong for ten pings", flawNoPong, "2.10", Failed},
		{"TCP left open after close", flawKeepTCP, "7.3.3", Failed},
		{"wrong close code on protocol error", flawCode1000, "4.1.1", Failed},
		{"wrong close code on invalid close code", flawCode1000, "7.9.1", Failed},
		{"reserved opcode echoed", flawEchoReserved, "4.2.1", Failed},
		{"any handshake version accepted", flawAnyVersion, "10.3.4", Failed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := run(t, testServer(t, tt.flaw), tt.id)
			if len(rep.Results) != 1 {
				t.Fatalf("%d results for %s", len(rep.Results), tt.id)
			}
			r := rep.Results[0]
			if r.Verdict != tt.want {
				t.Errorf("%s: %s (%s), want %s\n%s", r.ID, r.Verdict, r.Detail, tt.want, strings.Join(r.Trace, "\n"))
			}
			if tt.want == Failed && len(rep.Failed()) != 1 {
				t.Errorf("Failed() = %v", rep.Failed())
			}
			if tt.want == NonStrict && len(rep.NonStrict()) != 1 {
				t.Errorf("NonStrict() = %v", rep.NonStrict())
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		url   string
		cases []string
		want  error
	}{
		{"http://127.0.0.1:1/", nil, ErrBadURL},
		{"ws://127.0.0.1:1/", []string{"99.*"}, ErrNoCases},
		{"ws://127.0.0.1:1/", nil, ErrUnreachable},
	}
	for _, tt := range tests {
		if _, err := Run(ctx, tt.url, Options{Cases: tt.cases, Timeout: time.Second}); !errors.Is(err, tt.want) {
			t.Errorf("Run(%s, %v) = %v, want %v", tt.url, tt.cases, err, tt.want)
		}
	}
}

func TestSelect(t *testing.T) {
	tests := []struct {
		in, ex []string
		id     string
		want   bool
	}{
		{[]string{"1.*"}, nil, "1.1.1", true},
		{[]string{"1.*"}, nil, "10.1.1", false},
		{[]string{"6.4"}, nil, "6.4.2", true},
		{[]string{"6.4"}, nil, "6.40.1", false},
		{nil, []string{"9.*"}, "9.1.1", false},
		{nil, nil, "7.9.2", true},
		{nil, HeavyCases, "1.2.9", false},
		{nil, HeavyCases, "1.2.8", true},
	}
	for _, tt := range tests {
		got := false
		for _, c := range Select(tt.in, tt.ex) {
			got = got || c.ID == tt.id
		}
		if got != tt.want {
			t.Errorf("Select(%v, %v) has %s = %v, want %v", tt.in, tt.ex, tt.id, got, tt.want)
		}
	}
}

func TestReportOutput(t *testing.T) {
	rep := run(t, testServer(t, flawNoPong), "2.1", "2.7")
	var txt, js bytes.Buffer
	if err := rep.WriteText(&txt, true); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"2.1", "FAILED", "2.7", "OK", "2 cases", "1 FAILED", "== 2.1 FAILED", "> ping len=0"} {
		if !strings.Contains(txt.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, txt.String())
		}
	}
	for _, want := range []string{`"verdict": "FAILED"`, `"id": "2.7"`} {
		if !strings.Contains(js.String(), want) {
			t.Errorf("json report lacks %q", want)
		}
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep, err := Run(ctx, testServer(t, flawNone), Options{Cases: []string{"2.*"}, Parallel: 1})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if len(rep.Results) > 1 {
		t.Errorf("%d cases ran after cancel", len(rep.Results))
	}
}

func TestEncodeLengthForms(t *testing.T) {
	tests := []struct {
		n, form int
		hdr     int // header length without mask key
	}{
		{0, 0, 2}, {125, 0, 2}, {126, 0, 4}, {65535, 0, 4}, {65536, 0, 10},
		{5, 2, 4}, {5, 3, 10}, {200, 1, 4},
	}
	for _, tt := range tests {
		p := bytes.Repeat([]byte{'a'}, tt.n)
		b := wframe{fin: true, op: opText, payload: p, lenForm: tt.form}.encode(nil)
		if len(b) != tt.hdr+4+tt.n {
			t.Errorf("n=%d form=%d: %d bytes, want %d", tt.n, tt.form, len(b), tt.hdr+4+tt.n)
		}
		var key [4]byte
		copy(key[:], b[tt.hdr:])
		body := bytes.Clone(b[tt.hdr+4:])
		maskBytes(key, body)
		if !bytes.Equal(body, p) {
			t.Errorf("n=%d: payload does not unmask", tt.n)
		}
	}
}

func TestUTF8Certain(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"", -1}, {"κόσμε", -1}, {"\xf4\x8f\xbf\xbf", -1},
		{"\x80", 0}, {"ab\xc0", 2}, {"\xed\xa0\x80", 1}, {"\xe0\x9f\xbf", 1},
		{"\xf4\x90\x80\x80", 1}, {"\xf0\x8f", 1}, {"ab\xe2\x82", 4}, {"\xe2\x82a", 2},
	}
	for _, tt := range tests {
		if got := utf8Certain([]byte(tt.in)); got != tt.want {
			t.Errorf("utf8Certain(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// FuzzUTF8Certain checks the validator that places the fail-fast barrier
// against the standard library: same verdict, and the bytes before the
// reported index can still be completed into valid text.
func FuzzUTF8Certain(f *testing.F) {
	for _, s := range []string{"", "a", "κόσμε", "\xed\xa0\x80", "\xf4\x90", "\xe2\x82", "\xc0\xaf"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		k := utf8Certain(b)
		if (k == -1) != utf8.Valid(b) {
			t.Fatalf("utf8Certain(%x) = %d, utf8.Valid = %v", b, k, utf8.Valid(b))
		}
		if k < 0 {
			return
		}
		if utf8Certain(b[:k]) >= 0 && utf8Certain(b[:k]) < k {
			t.Fatalf("prefix %x already invalid at %d", b[:k], utf8Certain(b[:k]))
		}
		if k < len(b) && textState(b[:k+1]) {
			t.Fatalf("%x: stdlib says the prefix through %d can still be valid", b, k)
		}
	})
}

// TestTimedEcho covers the size-and-speed cases' timing path, which the
// other tests leave out for speed.
func TestTimedEcho(t *testing.T) {
	rep, err := Run(context.Background(), testServer(t, flawNone), Options{Cases: []string{"9.1.1", "9.7.2"}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"9.1.1": "MB/s", "9.7.2": "per round trip"}
	for _, r := range rep.Results {
		if r.Verdict != OK || !strings.Contains(r.Detail, want[r.ID]) {
			t.Errorf("%s: %s %q, want OK with %q", r.ID, r.Verdict, r.Detail, want[r.ID])
		}
	}
	if len(rep.Results) != 2 {
		t.Errorf("%d results", len(rep.Results))
	}
}

// FuzzFrameRoundTrip: whatever the runner encodes (any opcode, bits,
// length form) its reader decodes back unchanged, masked or not.
func FuzzFrameRoundTrip(f *testing.F) {
	f.Add([]byte("hello"), byte(0x81), uint8(0), false)
	f.Add([]byte{}, byte(0x09), uint8(3), true)
	f.Add(bytes.Repeat([]byte{0xff}, 300), byte(0x72), uint8(2), false)
	f.Fuzz(func(t *testing.T, p []byte, b0 byte, form uint8, unmasked bool) {
		w := wframe{fin: b0&0x80 != 0, rsv: b0 & 0x70, op: b0 & 0x0f, payload: p, unmasked: unmasked, lenForm: int(form % 4)}
		enc := w.encode(nil)
		got, err := readFrame(bufio.NewReader(bytes.NewReader(enc)))
		if err != nil {
			t.Fatalf("readFrame(%x): %v", enc, err)
		}
		if got.fin != w.fin || got.rsv != w.rsv || got.op != w.op || got.masked == unmasked || !bytes.Equal(got.payload, p) {
			t.Fatalf("round trip of %+v gave %+v", w, got)
		}
		// Every prefix is a truncated frame, never a clean one.
		for _, n := range []int{1, len(enc) / 2, len(enc) - 1} {
			if n <= 0 || n >= len(enc) {
				continue
			}
			if _, err := readFrame(bufio.NewReader(bytes.NewReader(enc[:n]))); err == nil {
				t.Fatalf("prefix %d of %x decoded", n, enc)
			}
		}
	})
}
