package controlplane

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// The local metadata log is one append-only file of frames:
//
//	+-----------+-----------+--------------------------+
//	| length u32| crc32c u32| JSON-encoded Record      |
//	+-----------+-----------+--------------------------+
//	  big endian  over the payload   (length bytes)
//
// Each append is fsynced before the change is applied. A torn or corrupt
// frame at the tail (a crash mid-append) is truncated on open; a corrupt frame
// followed by valid ones is reported as corruption.
const (
	metadataDirName  = "__cluster_metadata-0"
	metadataLogName  = "00000000000000000000.log"
	frameHeaderBytes = 8
	// maxRecordBytes bounds one metadata record; larger means corruption.
	maxRecordBytes = 16 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorruptLog means the metadata log is damaged beyond a torn tail.
var ErrCorruptLog = errors.New("controlplane: metadata log corrupt")

type metaLog struct {
	f    *os.File
	size int64
	next int64 // index of the next record
}

// openMetaLog opens (creating) the log in dir and replays every record into
// fn, truncating a torn tail.
func openMetaLog(dir string, fn func(index int64, r *Record) error) (*metaLog, int64, error) {
	d := filepath.Join(dir, metadataDirName)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return nil, 0, fmt.Errorf("controlplane: %w", err)
	}
	path := filepath.Join(d, metadataLogName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, 0, fmt.Errorf("controlplane: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("controlplane: %w", err)
	}
	l := &metaLog{f: f}
	good, truncated, err := l.replay(bufio.NewReaderSize(f, 1<<16), st.Size(), fn)
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("controlplane: %s: %w", path, err)
	}
	if truncated > 0 {
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("controlplane: truncate torn tail of %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("controlplane: %w", err)
		}
	}
	l.size = good
	return l, truncated, nil
}

func (l *metaLog) replay(r io.Reader, fileSize int64, fn func(int64, *Record) error) (good, truncated int64, err error) {
	var hdr [frameHeaderBytes]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if err == io.EOF {
				return good, 0, nil
			}
			return good, fileSize - good, nil // torn header
		}
		n := binary.BigEndian.Uint32(hdr[0:4])
		sum := binary.BigEndian.Uint32(hdr[4:8])
		if n == 0 || n > maxRecordBytes || good+frameHeaderBytes+int64(n) > fileSize {
			return good, fileSize - good, nil // torn or garbage tail
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return good, fileSize - good, nil
		}
		end := good + frameHeaderBytes + int64(n)
		if crc32.Checksum(buf, castagnoli) != sum {
			if end == fileSize {
				return good, fileSize - good, nil // corrupt last frame: a torn write
			}
			return good, 0, fmt.Errorf("%w: record %d at byte %d fails its CRC", ErrCorruptLog, l.next, good)
		}
		var rec Record
		if err := json.Unmarshal(buf, &rec); err != nil {
			return good, 0, fmt.Errorf("%w: record %d at byte %d: %v", ErrCorruptLog, l.next, good, err)
		}
		if err := fn(l.next, &rec); err != nil {
			return good, 0, err
		}
		l.next++
		good = end
	}
}

// append writes and fsyncs records, returning the index of the first.
func (l *metaLog) append(recs []Record) (int64, error) {
	var buf []byte
	for i := range recs {
		payload, err := json.Marshal(&recs[i])
		if err != nil {
			return 0, fmt.Errorf("controlplane: encode record: %w", err)
		}
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(payload)))
		buf = binary.BigEndian.AppendUint32(buf, crc32.Checksum(payload, castagnoli))
		buf = append(buf, payload...)
	}
	if _, err := l.f.WriteAt(buf, l.size); err != nil {
		// Cut back whatever part was written so the next append starts clean.
		_ = l.f.Truncate(l.size)
		return 0, fmt.Errorf("controlplane: append metadata: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		_ = l.f.Truncate(l.size)
		return 0, fmt.Errorf("controlplane: sync metadata: %w", err)
	}
	first := l.next
	l.size += int64(len(buf))
	l.next += int64(len(recs))
	return first, nil
}

func (l *metaLog) close() error { return l.f.Close() }
