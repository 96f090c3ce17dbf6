package connect

// The FileStream connectors of Kafka's quickstart: the source tails a file
// (lines appended later included) and the sink appends each record's value
// as a line. The sink's sidecar offsets file makes it exactly-once (doc.go).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const (
	keyFile      = "file"
	keyTopic     = "topic"
	keyBatchSize = "batch.size"

	fileSourceClass = "org.apache.kafka.connect.file.FileStreamSourceConnector"
	fileSinkClass   = "org.apache.kafka.connect.file.FileStreamSinkConnector"

	// sourcePollWait is how long a source poll waits for new lines
	// before answering none; Kafka's task waits 1 s.
	sourcePollWait = 100 * time.Millisecond
	readChunkBytes = 64 << 10
	// maxLineBytes bounds a line held while its end has not arrived.
	maxLineBytes = 16 << 20
)

var fileSourcePlugin = &Plugin{
	Class:   fileSourceClass,
	Aliases: []string{"FileStreamSourceConnector", "FileStreamSource"},
	Type:    TypeSource,
	Keys: []ConfigKey{
		{Name: keyFile, Type: "STRING", Default: strp(""), Importance: "HIGH", Group: "Common", Order: 10,
			Doc: "Source filename. If not specified, the standard input will be used"},
		{Name: keyTopic, Type: "STRING", Required: true, Importance: "HIGH", Group: "Common", Order: 11,
			Doc: "The topic to publish data to",
			Check: func(v string) string {
				if strings.TrimSpace(v) == "" {
					return "String must be non-empty"
				}
				if strings.Contains(v, ",") {
					return "Invalid value " + v + " for configuration topic: a single topic, not a list"
				}
				return ""
			}},
		{Name: keyBatchSize, Type: "INT", Default: strp("2000"), Importance: "LOW", Group: "Common", Order: 12,
			Doc: "The maximum number of records the source task can read from the file each time it is polled", Check: checkPositiveInt},
	},
	// Kafka's file source runs one task whatever tasks.max says.
	TaskConfigs: func(cfg map[string]string, _ int) []map[string]string { return []map[string]string{cfg} },
	NewSource:   func() SourceTask { return &fileSource{} },
}

var fileSinkPlugin = &Plugin{
	Class:   fileSinkClass,
	Aliases: []string{"FileStreamSinkConnector", "FileStreamSink"},
	Type:    TypeSink,
	Keys: []ConfigKey{
		{Name: keyFile, Type: "STRING", Default: strp(""), Importance: "HIGH", Group: "Common", Order: 10,
			Doc: "Destination filename. If not specified, the standard output will be used"},
	},
	// One task: two tasks appending to one file would interleave lines
	// and could not share the sidecar (Kafka runs tasks.max copies).
	TaskConfigs: func(cfg map[string]string, _ int) []map[string]string { return []map[string]string{cfg} },
	NewSink:     func() SinkTask { return &fileSink{} },
}

// fileSource tails a file from a byte position. Only complete lines
// (ending in \n or \r\n) become records, so a line being written is never
// cut; the position after a line is its source offset.
type fileSource struct {
	path  string
	topic string
	batch int
	log   *slog.Logger
	f     *os.File
	// in carries stdin's chunks when there is no file: a goroutine reads
	// it, so a stop is not stuck in a read.
	in  chan []byte
	pos int64 // file position of pending[0]
	// pending holds read bytes not yet returned as lines.
	pending []byte
	warned  bool
}

func (s *fileSource) partition() map[string]any { return map[string]any{"filename": s.path} }

func (s *fileSource) Start(cfg map[string]string, offsets OffsetReader, log *slog.Logger) error {
	s.path = cfg[keyFile]
	s.topic = strings.TrimSpace(cfg[keyTopic])
	s.batch, _ = strconv.Atoi(configValue(cfg, fileSourcePlugin, keyBatchSize))
	s.log = log
	if s.path == "" {
		s.in = make(chan []byte, 16)
		go func(in chan<- []byte) {
			for {
				buf := make([]byte, readChunkBytes)
				n, err := os.Stdin.Read(buf)
				if n > 0 {
					in <- buf[:n]
				}
				if err != nil {
					return // end of input: the task idles
				}
			}
		}(s.in)
		return nil
	}
	if off := offsets.Offset(s.partition()); off != nil {
		switch p := off["position"].(type) {
		case json.Number:
			s.pos, _ = p.Int64()
		case float64:
			s.pos = int64(p)
		case int64:
			s.pos = p
		}
		log.Info("connect: file source resumes at the committed position", "file", s.path, "position", s.pos)
	}
	return nil
}

// open opens the file at the position once it exists. A file shorter than
// the position was truncated or replaced: it is read from the start.
func (s *fileSource) open() error {
	f, err := os.Open(s.path)
	if err != nil {
		if !s.warned {
			s.log.Warn("connect: cannot open the source file yet; waiting for it", "file", s.path, "err", err)
			s.warned = true
		}
		return nil
	}
	st, err := f.Stat()
	if err == nil && st.Size() < s.pos {
		s.log.Warn("connect: source file is shorter than the committed position; reading it from the start",
			"file", s.path, "size", st.Size(), "position", s.pos)
		s.pos = 0
	}
	if _, err := f.Seek(s.pos, io.SeekStart); err != nil {
		f.Close()
		return fmt.Errorf("seek %s to %d: %w", s.path, s.pos, err)
	}
	s.f = f
	return nil
}

func (s *fileSource) Poll(ctx context.Context) ([]SourceRecord, error) {
	if s.in == nil && s.f == nil {
		if err := s.open(); err != nil {
			return nil, err
		}
	}
	recs := s.lines()
	if len(recs) == 0 {
		if err := s.fill(); err != nil {
			return nil, err
		}
		recs = s.lines()
	}
	if len(recs) == 0 {
		select {
		case <-ctx.Done():
		case <-time.After(sourcePollWait):
		}
	}
	return recs, nil
}

// fill reads what the file has beyond pending; at the end of the file it
// reads nothing and the next poll tries again (tailing).
func (s *fileSource) fill() error {
	if len(s.pending) > maxLineBytes {
		return fmt.Errorf("file %s: a line longer than %d bytes at position %d", s.path, maxLineBytes, s.pos)
	}
	if s.in != nil {
		select {
		case b := <-s.in:
			s.pending = append(s.pending, b...)
		default:
		}
		return nil
	}
	if s.f == nil {
		return nil
	}
	buf := make([]byte, readChunkBytes)
	n, err := s.f.Read(buf)
	s.pending = append(s.pending, buf[:n]...)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read %s: %w", s.path, err)
	}
	return nil
}

// lines cuts up to batch complete lines off pending.
func (s *fileSource) lines() []SourceRecord {
	var recs []SourceRecord
	for len(recs) < s.batch {
		i := bytes.IndexByte(s.pending, '\n')
		if i < 0 {
			break
		}
		line := s.pending[:i]
		line = bytes.TrimSuffix(line, []byte("\r"))
		s.pos += int64(i + 1)
		rec := SourceRecord{Topic: s.topic, Value: Data{Schema: stringSchema, Value: string(line)}}
		if s.in == nil {
			rec.Partition = s.partition()
			rec.Offset = map[string]any{"position": s.pos}
		}
		recs = append(recs, rec)
		s.pending = s.pending[i+1:]
	}
	if len(s.pending) == 0 {
		s.pending = nil
	}
	return recs
}

func (s *fileSource) Stop() error {
	if s.f != nil {
		return s.f.Close()
	}
	return nil
}

// sinkSidecar is <file>.offsets: how much of the file is durable, and the
// next offset of each partition whose records that covers.
type sinkSidecar struct {
	Size    int64                       `json:"size"`
	Offsets map[string]map[string]int64 `json:"offsets"` // topic -> partition -> next offset
}

// fileSink appends values as lines; with a file it keeps the sidecar.
type fileSink struct {
	path string
	log  *slog.Logger
	f    *os.File
	out  io.Writer // stdout when no file
	size int64
	buf  bytes.Buffer
	// next is the offset after the last record in the file (or buf), per
	// partition: the sidecar's at start.
	next map[TopicPartition]int64
}

func (s *fileSink) sidecarPath() string { return s.path + ".offsets" }

func (s *fileSink) Start(cfg map[string]string, log *slog.Logger) error {
	s.path, s.log = cfg[keyFile], log
	s.next = map[TopicPartition]int64{}
	if s.path == "" {
		s.out = os.Stdout
		return nil
	}
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open sink file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	s.f, s.size = f, st.Size()
	sc, err := readSidecar(s.sidecarPath())
	if err != nil {
		f.Close()
		return err
	}
	if sc != nil {
		switch {
		case st.Size() > sc.Size:
			// Lines written after the last recorded flush: their records
			// are consumed again from the recorded offsets.
			log.Info("connect: truncating the sink file to its last recorded flush", "file", s.path,
				"size", st.Size(), "recorded", sc.Size)
			if err := f.Truncate(sc.Size); err != nil {
				f.Close()
				return fmt.Errorf("truncate sink file: %w", err)
			}
			if err := f.Sync(); err != nil {
				f.Close()
				return err
			}
			s.size = sc.Size
		case st.Size() < sc.Size:
			log.Warn("connect: the sink file is shorter than recorded (changed outside the worker); appending at its end",
				"file", s.path, "size", st.Size(), "recorded", sc.Size)
		}
		for topic, parts := range sc.Offsets {
			for p, off := range parts {
				n, err := strconv.ParseInt(p, 10, 32)
				if err != nil {
					continue
				}
				tp := TopicPartition{Topic: topic, Partition: int32(n)}
				s.next[tp] = off
			}
		}
	}
	if _, err := f.Seek(s.size, io.SeekStart); err != nil {
		f.Close()
		return err
	}
	return nil
}

func readSidecar(path string) (*sinkSidecar, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var sc sinkSidecar
	if err := json.Unmarshal(b, &sc); err != nil || sc.Size < 0 {
		// Written by rename, so never torn; a bad one was edited by hand.
		return nil, fmt.Errorf("%s is not a sink offsets file (remove it to start the sink from the group's committed offsets): %v", path, err)
	}
	return &sc, nil
}

func (s *fileSink) Open(committed map[TopicPartition]int64) map[TopicPartition]int64 {
	out := map[TopicPartition]int64{}
	for tp, c := range committed {
		if d, ok := s.next[tp]; ok && d > c {
			out[tp] = d
		}
	}
	return out
}

func (s *fileSink) Put(records []SinkRecord) error {
	for _, r := range records {
		s.buf.Write(text(r.Value.Value))
		s.buf.WriteByte('\n')
		s.next[r.TopicPartition] = r.Offset + 1
	}
	return nil
}

func (s *fileSink) Flush() (map[TopicPartition]int64, error) {
	if s.buf.Len() > 0 {
		w := s.out
		if s.f != nil {
			w = s.f
		}
		n, err := w.Write(s.buf.Bytes())
		s.size += int64(n)
		s.buf.Reset()
		if err != nil {
			return nil, fmt.Errorf("write %s: %w", s.path, err)
		}
		if s.f != nil {
			if err := s.f.Sync(); err != nil {
				return nil, fmt.Errorf("fsync %s: %w", s.path, err)
			}
			if err := s.writeSidecar(); err != nil {
				return nil, err
			}
		}
	}
	out := make(map[TopicPartition]int64, len(s.next))
	for tp, o := range s.next {
		out[tp] = o
	}
	return out, nil
}

// writeSidecar replaces the sidecar atomically: temp file, fsync, rename,
// fsync of the directory.
func (s *fileSink) writeSidecar() error {
	sc := sinkSidecar{Size: s.size, Offsets: map[string]map[string]int64{}}
	for tp, o := range s.next {
		if sc.Offsets[tp.Topic] == nil {
			sc.Offsets[tp.Topic] = map[string]int64{}
		}
		sc.Offsets[tp.Topic][strconv.Itoa(int(tp.Partition))] = o
	}
	b, _ := json.Marshal(sc)
	return writeFileAtomic(s.sidecarPath(), b, true)
}

// writeFileAtomic writes path through a temp file and a rename; with sync
// the data and the rename are fsynced.
func writeFileAtomic(path string, data []byte, sync bool) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if sync {
		if d, err := os.Open(filepath.Dir(path)); err == nil {
			_ = d.Sync()
			d.Close()
		}
	}
	return nil
}

func (s *fileSink) Stop() error {
	if s.f != nil {
		return s.f.Close()
	}
	return nil
}
