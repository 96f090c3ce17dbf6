package storage

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/vfs"
)

var tp1 = model.TopicPartition{Topic: "orders", Partition: 1}

func TestPartitionMetadataRoundTrip(t *testing.T) {
	id := TopicID{0: 1, 7: 0xfe, 15: 0x80}
	data := encodePartitionMetadata(id)
	if got := string(data); got != "version: 0\ntopic_id: AQAAAAAAAP4AAAAAAAAAgA\n" {
		t.Fatalf("encoded %q", got)
	}
	back, err := decodePartitionMetadata(data)
	if err != nil || back != id {
		t.Fatalf("decode: %v %v", back, err)
	}
	for _, bad := range []string{"", "version: 1\ntopic_id: AQAAAAAAAP4AAAAAAAAAgA\n", "version: 0\n",
		"version: 0\ntopic_id: AQAA\n", "topic_id: AQAAAAAAAP4AAAAAAAAAgA\nversion: 0\n", "version: 0\ntopic_id: AQAAAAAAAP4AAAAAAAAAgA\nextra: 1\n"} {
		if _, err := decodePartitionMetadata([]byte(bad)); err == nil {
			t.Errorf("decoded %q without an error", bad)
		}
	}
}

// FuzzPartitionMetadata: the decoder never panics, and whatever it accepts
// encodes back to a file that decodes to the same id.
func FuzzPartitionMetadata(f *testing.F) {
	f.Add(encodePartitionMetadata(TopicID{1, 2, 3}))
	f.Add([]byte("version: 0\ntopic_id: \n"))
	f.Add([]byte("version:0\r\ntopic_id:AQAAAAAAAP4AAAAAAAAAgA"))
	f.Fuzz(func(t *testing.T, data []byte) {
		id, err := decodePartitionMetadata(data)
		if err != nil {
			return
		}
		back, err := decodePartitionMetadata(encodePartitionMetadata(id))
		if err != nil || back != id {
			t.Fatalf("accepted %q as %v but its encoding decodes to %v, %v", data, id, back, err)
		}
	})
}

// A deleted partition's name is free at once for a new log of another
// topic id, which starts empty; the old files go in the background and a
// restart finds the new log with its id.
func TestDeleteThenRecreateSameName(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		m := e.open()
		oldID, newID := TopicID{1}, TopicID{2}
		if errs := m.CreatePartitions(context.Background(), []NewPartition{{TP: tp0, Config: e.cfg, TopicID: oldID}}); errs[0] != nil {
			t.Fatal(errs[0])
		}
		p, _ := m.Partition(tp0)
		for i := 0; i < 3; i++ {
			mustAppend(t, p, simpleBatch(2, 100, 1))
		}
		if err := m.DeletePartition(tp0); err != nil {
			t.Fatal(err)
		}
		if errs := m.CreatePartitions(context.Background(), []NewPartition{{TP: tp0, Config: e.cfg, TopicID: newID}}); errs[0] != nil {
			t.Fatal(errs[0])
		}
		p, _ = m.Partition(tp0)
		if start, hw, end := p.Offsets(); start != 0 || hw != 0 || end != 0 {
			t.Fatalf("re-created partition has offsets %d/%d/%d, want an empty log", start, hw, end)
		}
		if p.TopicID() != newID {
			t.Fatalf("topic id %v, want %v", p.TopicID(), newID)
		}
		mustAppend(t, p, simpleBatch(1, 10, 1))
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		ents, _ := os.ReadDir(e.dir)
		for _, ent := range ents {
			if strings.HasSuffix(ent.Name(), deleteDirSuffix) {
				t.Fatalf("%s still there after Close", ent.Name())
			}
		}
		m = e.open()
		defer m.Close()
		p, ok := m.Partition(tp0)
		if !ok {
			t.Fatal("partition gone after restart")
		}
		if _, hw, _ := p.Offsets(); hw != 1 || p.TopicID() != newID {
			t.Fatalf("after restart: high watermark %d topic id %v; want 1 and %v", hw, p.TopicID(), newID)
		}
	})
}

// A "-delete" dir left by a crash is removed at the next start and not
// opened as a partition; a partition dir holding another topic id is not
// taken over by CreatePartitions.
func TestLeftoversOfDeletion(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		doomed := filepath.Join(e.dir, tp0.String()+".0123abcd"+deleteDirSuffix)
		if err := os.MkdirAll(doomed, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(doomed, "00000000000000000000.log"), []byte("old"), 0o644)
		other := filepath.Join(e.dir, "orders-1")
		os.MkdirAll(other, 0o755)
		if err := writePartitionMetadata(vfs.OS, other, TopicID{9}); err != nil {
			t.Fatal(err)
		}
		m := e.open()
		defer m.Close()
		waitFor(t, "the -delete dir removed", func() bool {
			_, err := os.Stat(doomed)
			return os.IsNotExist(err)
		})
		if _, ok := m.Partition(tp0); ok {
			t.Fatal("a -delete dir was opened as a partition")
		}
		p1, ok := m.Partition(tp1)
		if !ok || p1.TopicID() != (TopicID{9}) {
			t.Fatalf("orders-1 opened=%v, want it open with id 9", ok)
		}
		if err := p1.SetTopicID(TopicID{8}); err == nil {
			t.Fatal("SetTopicID changed a known topic id")
		}
		// A log without an id (written before ids were recorded) is
		// adopted, and the id survives a restart.
		legacy := e.create(m, model.TopicPartition{Topic: "legacy", Partition: 0})
		if legacy.TopicID() != (TopicID{}) {
			t.Fatal("CreatePartition without an id recorded one")
		}
		if err := legacy.SetTopicID(TopicID{7}); err != nil {
			t.Fatal(err)
		}
		if id, err := readPartitionMetadata(filepath.Join(e.dir, "legacy-0")); err != nil || id != (TopicID{7}) {
			t.Fatalf("partition.metadata after adoption: %v %v", id, err)
		}
		if err := m.DeletePartition(tp1); err != nil {
			t.Fatal(err)
		}
		// Recreate the dir with the old id by hand, as if a deletion had
		// not happened: CreatePartitions must refuse to reuse it.
		os.MkdirAll(other, 0o755)
		writePartitionMetadata(vfs.OS, other, TopicID{9})
		errs := m.CreatePartitions(context.Background(), []NewPartition{{TP: tp1, Config: e.cfg, TopicID: TopicID{10}}})
		if errs[0] == nil {
			t.Fatal("CreatePartitions reused a dir of another topic id")
		}
	})
}
