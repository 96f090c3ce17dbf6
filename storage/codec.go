package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

	"github.com/ringtail/ringtail/model"
)

// The record-batch codecs (attributes bits 0-2), for the log cleaner,
// which must read keys inside compressed batches and write back the
// records it keeps with the codec they came in.
const (
	codecNone   = 0
	codecGzip   = 1
	codecSnappy = 2
	codecLZ4    = 3
	codecZstd   = 4
)

// maxDecompressed bounds one batch's decompressed records: a batch is at
// most message.max.bytes compressed, and no sane codec inflates past this.
const maxDecompressed = 256 << 20

// xerialHeader starts snappy data framed the way the Java client writes it
// (xerial snappy-java): magic, version 1, compatible version 1, then
// chunks of (big-endian length, snappy block).
var xerialHeader = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}

const xerialChunk = 32 << 10

var (
	zstdDec = sync.OnceValues(func() (*zstd.Decoder, error) {
		return zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxDecompressed))
	})
	zstdEnc = sync.OnceValues(func() (*zstd.Encoder, error) {
		return zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	})
)

// decompress returns the plain records section of a batch.
func decompress(codec int, b []byte) ([]byte, error) {
	var out []byte
	var err error
	switch codec {
	case codecNone:
		return b, nil
	case codecGzip:
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(bytes.NewReader(b)); err == nil {
			out, err = readLimited(zr)
		}
	case codecSnappy:
		out, err = unsnappy(b)
	case codecLZ4:
		out, err = readLimited(lz4.NewReader(bytes.NewReader(b)))
	case codecZstd:
		var d *zstd.Decoder
		if d, err = zstdDec(); err == nil {
			out, err = d.DecodeAll(b, nil)
		}
	default:
		return nil, fmt.Errorf("%w: unknown compression codec %d", model.ErrCorruptRecord, codec)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: decompressing (codec %d): %v", model.ErrCorruptRecord, codec, err)
	}
	return out, nil
}

func readLimited(r io.Reader) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(r, maxDecompressed+1))
	if err == nil && len(out) > maxDecompressed {
		err = fmt.Errorf("more than %d bytes decompressed", maxDecompressed)
	}
	return out, err
}

// unsnappy decodes raw snappy or xerial-framed snappy.
func unsnappy(b []byte) ([]byte, error) {
	if !bytes.HasPrefix(b, xerialHeader[:8]) {
		if n, err := snappy.DecodedLen(b); err != nil || n > maxDecompressed {
			return nil, fmt.Errorf("snappy block of %d bytes decompressed: %v", n, err)
		}
		return snappy.Decode(nil, b)
	}
	if len(b) < len(xerialHeader) {
		return nil, fmt.Errorf("short xerial header")
	}
	var out []byte
	for b = b[len(xerialHeader):]; len(b) > 0; {
		if len(b) < 4 {
			return nil, fmt.Errorf("torn xerial chunk length")
		}
		n := binary.BigEndian.Uint32(b)
		if uint64(n) > uint64(len(b)-4) {
			return nil, fmt.Errorf("xerial chunk of %d bytes past the end", n)
		}
		chunk := b[4 : 4+n]
		if dl, err := snappy.DecodedLen(chunk); err != nil || len(out)+dl > maxDecompressed {
			return nil, fmt.Errorf("xerial chunk: %v", err)
		}
		d, err := snappy.Decode(nil, chunk)
		if err != nil {
			return nil, err
		}
		out = append(out, d...)
		b = b[4+n:]
	}
	return out, nil
}

// compress encodes plain records with codec (snappy xerial-framed, as the
// Java client writes it, which every client reads).
func compress(codec int, plain []byte) ([]byte, error) {
	switch codec {
	case codecNone:
		return plain, nil
	case codecGzip:
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		if _, err := w.Write(plain); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case codecSnappy:
		out := append([]byte(nil), xerialHeader...)
		for len(plain) > 0 {
			n := min(len(plain), xerialChunk)
			block := snappy.Encode(nil, plain[:n])
			out = binary.BigEndian.AppendUint32(out, uint32(len(block)))
			out = append(out, block...)
			plain = plain[n:]
		}
		return out, nil
	case codecLZ4:
		var buf bytes.Buffer
		w := lz4.NewWriter(&buf)
		if _, err := w.Write(plain); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case codecZstd:
		e, err := zstdEnc()
		if err != nil {
			return nil, err
		}
		return e.EncodeAll(plain, nil), nil
	}
	return nil, fmt.Errorf("%w: unknown compression codec %d", model.ErrCorruptRecord, codec)
}
