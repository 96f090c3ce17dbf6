package connect

// The file source returns only complete lines with their byte positions
// and resumes at a committed one; the file sink truncates what was written
// after its last recorded flush and starts partitions at the sidecar's
// offsets when they are ahead of the group's commit.

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

type mapReader map[string]map[string]any

func (m mapReader) Offset(p map[string]any) map[string]any { return m[p["filename"].(string)] }

func polledLines(t *testing.T, s *fileSource) ([]string, []int64) {
	t.Helper()
	recs, err := s.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	var pos []int64
	for _, r := range recs {
		lines = append(lines, r.Value.Value.(string))
		pos = append(pos, r.Offset["position"].(int64))
		if r.Partition["filename"] != s.path || r.Topic != "t" {
			t.Fatalf("record %+v", r)
		}
	}
	return lines, pos
}

func TestFileSourceTailsCompleteLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(path, []byte("one\r\ntwo\nthr"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &fileSource{}
	if err := s.Start(map[string]string{"file": path, "topic": "t", "batch.size": "10"}, mapReader{}, discardLogger()); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	lines, pos := polledLines(t, s)
	if !reflect.DeepEqual(lines, []string{"one", "two"}) || !reflect.DeepEqual(pos, []int64{5, 9}) {
		t.Fatalf("got %q at %v", lines, pos)
	}
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("ee\nfour\n")
	f.Close()
	lines, pos = polledLines(t, s)
	if !reflect.DeepEqual(lines, []string{"three", "four"}) || !reflect.DeepEqual(pos, []int64{15, 20}) {
		t.Fatalf("after the append: %q at %v", lines, pos)
	}

	// A new task resumes at a committed position; batch.size bounds a poll.
	s2 := &fileSource{}
	if err := s2.Start(map[string]string{"file": path, "topic": "t", "batch.size": "1"},
		mapReader{path: {"position": int64(5)}}, discardLogger()); err != nil {
		t.Fatal(err)
	}
	defer s2.Stop()
	if lines, _ := polledLines(t, s2); !reflect.DeepEqual(lines, []string{"two"}) {
		t.Fatalf("resumed: %q", lines)
	}
	if lines, _ := polledLines(t, s2); !reflect.DeepEqual(lines, []string{"three"}) {
		t.Fatalf("resumed, second poll: %q", lines)
	}
}

func TestFileSinkSidecar(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.txt")
	cfg := map[string]string{"file": path}
	tp := TopicPartition{"t", 0}
	s := &fileSink{}
	if err := s.Start(cfg, discardLogger()); err != nil {
		t.Fatal(err)
	}
	if got := s.Open(map[TopicPartition]int64{tp: -1}); len(got) != 0 {
		t.Fatalf("no sidecar: Open %v", got)
	}
	s.Put([]SinkRecord{{TopicPartition: tp, Offset: 0, Value: Data{Value: "a"}}, {TopicPartition: tp, Offset: 1, Value: Data{Value: "b"}}})
	offs, err := s.Flush()
	if err != nil || offs[tp] != 2 {
		t.Fatalf("flush: %v %v", offs, err)
	}
	s.Stop()
	// A crash after writing "c" but before the sidecar moved.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("c\npartial")
	f.Close()

	s2 := &fileSink{}
	if err := s2.Start(cfg, discardLogger()); err != nil {
		t.Fatal(err)
	}
	defer s2.Stop()
	if b, _ := os.ReadFile(path); string(b) != "a\nb\n" {
		t.Fatalf("after restart the file is %q, want the recorded part", b)
	}
	// The group committed 1 (the commit after the flush was lost): the
	// sidecar's 2 wins; a commit ahead of the sidecar is kept.
	if got := s2.Open(map[TopicPartition]int64{tp: 1, {"t", 1}: 5}); !reflect.DeepEqual(got, map[TopicPartition]int64{tp: 2}) {
		t.Fatalf("Open: %v", got)
	}
	if got := s2.Open(map[TopicPartition]int64{tp: 3}); len(got) != 0 {
		t.Fatalf("Open with the commit ahead: %v", got)
	}
	s2.Put([]SinkRecord{{TopicPartition: tp, Offset: 2, Value: Data{Value: "c"}}, {TopicPartition: tp, Offset: 3}})
	if _, err := s2.Flush(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "a\nb\nc\nnull\n" {
		t.Fatalf("file %q", b)
	}
	sc, err := readSidecar(path + ".offsets")
	if err != nil || sc.Size != 11 || sc.Offsets["t"]["0"] != 4 {
		t.Fatalf("sidecar %+v %v", sc, err)
	}
	os.WriteFile(path+".offsets", []byte("{nope"), 0o644)
	if err := (&fileSink{}).Start(cfg, discardLogger()); err == nil {
		t.Fatal("a corrupt sidecar: want an error naming it")
	}
}
