package deflate

// This file is the only one that names the DEFLATE implementation, so that
// switching to github.com/klauspost/compress/flate (same API: NewWriter,
// Writer.Reset/Flush, NewReaderDict, Resetter) is a change of this import.
// bench/deflate measures both; see bench/RESULTS.md. klauspost compresses
// larger JSON faster, but at v1.20.3 it writes a small message that is
// already in the window (context takeover) as a stored block instead of a
// back-reference (TestRFC7692Examples catches it), which loses takeover's
// point for the small repeated messages WebSocket servers mostly send.

import (
	"compress/flate"
	"io"
)

// flateWriter is what the compressor needs of a DEFLATE writer.
type flateWriter interface {
	io.Writer
	// Flush emits a sync flush: the pending data, then an empty stored
	// block ending in 0x00 0x00 0xff 0xff (RFC 7692 §7.2.1).
	Flush() error
	// Reset drops all state (the LZ77 window included) and writes to w.
	Reset(w io.Writer)
}

// flateReader is what the decompressor needs of a DEFLATE reader.
type flateReader interface {
	io.Reader
	// Reset starts a new stream from r with dict as the preceding output
	// (the LZ77 window a context-takeover peer refers back into).
	Reset(r io.Reader, dict []byte) error
}

// Level bounds accepted by newFlateWriter.
const (
	huffmanOnly  = flate.HuffmanOnly
	bestSpeed    = flate.BestSpeed
	bestCompress = flate.BestCompression
	levelDefault = flate.DefaultCompression
)

func newFlateWriter(w io.Writer, level int) (flateWriter, error) {
	return flate.NewWriter(w, level)
}

// newFlateReader returns a reader over r; r must implement io.ByteReader
// (else the implementation wraps it in a buffer of its own).
func newFlateReader(r io.Reader, dict []byte) flateReader {
	return flate.NewReaderDict(r, dict).(flateReader)
}

// maxInflateAllocs is what the implementation allocates to inflate one
// dynamic-Huffman block (tests check that we add nothing to it).
const maxInflateAllocs = 6
