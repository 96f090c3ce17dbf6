package storage

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ringtail/ringtail/vfs"
)

// partition.metadata names the topic a partition dir belongs to, as Kafka
// writes it (KIP-516):
//
//	version: 0
//	topic_id: <the topic id in URL-safe base64 without padding>
//
// A topic deleted and re-created under the same name gets a new id, so a
// log left from the old topic (a node that was down while it happened, or
// a deletion not finished yet) is never taken for the new one's.
const partitionMetadataFile = "partition.metadata"

// TopicID is a topic's 16-byte id; the zero value means unknown (a dir
// written before partition.metadata existed).
type TopicID [16]byte

// String is Kafka's form of the id.
func (id TopicID) String() string { return base64.RawURLEncoding.EncodeToString(id[:]) }

var errBadPartitionMetadata = errors.New("storage: malformed partition.metadata")

// encodePartitionMetadata renders the file.
func encodePartitionMetadata(id TopicID) []byte {
	return []byte("version: 0\ntopic_id: " + id.String() + "\n")
}

// decodePartitionMetadata parses the file: a version line (0) and a
// topic_id line, in that order, nothing else but blank lines.
func decodePartitionMetadata(data []byte) (TopicID, error) {
	var id TopicID
	var fields []string
	for _, line := range bytes.Split(data, []byte("\n")) {
		if s := strings.TrimSpace(string(line)); s != "" {
			fields = append(fields, s)
		}
	}
	if len(fields) != 2 {
		return id, fmt.Errorf("%w: %d lines, want 2", errBadPartitionMetadata, len(fields))
	}
	k, v, ok := strings.Cut(fields[0], ":")
	if !ok || strings.TrimSpace(k) != "version" || strings.TrimSpace(v) != "0" {
		return id, fmt.Errorf("%w: first line %q is not \"version: 0\"", errBadPartitionMetadata, fields[0])
	}
	k, v, ok = strings.Cut(fields[1], ":")
	if !ok || strings.TrimSpace(k) != "topic_id" {
		return id, fmt.Errorf("%w: second line %q is not a topic_id", errBadPartitionMetadata, fields[1])
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(v))
	if err != nil || len(raw) != len(id) {
		return id, fmt.Errorf("%w: topic_id %q is not 16 bytes of URL-safe base64", errBadPartitionMetadata, strings.TrimSpace(v))
	}
	copy(id[:], raw)
	return id, nil
}

// readPartitionMetadata returns the dir's topic id; a missing file is the
// zero id and no error.
func readPartitionMetadata(dir string) (TopicID, error) {
	data, err := os.ReadFile(filepath.Join(dir, partitionMetadataFile))
	if errors.Is(err, os.ErrNotExist) {
		return TopicID{}, nil
	}
	if err != nil {
		return TopicID{}, err
	}
	return decodePartitionMetadata(data)
}

// writePartitionMetadata writes the file durably (file and dir fsynced).
func writePartitionMetadata(fsys vfs.FS, dir string, id TopicID) error {
	return writeFileAtomic(fsys, filepath.Join(dir, partitionMetadataFile), encodePartitionMetadata(id), true)
}

// TopicID is the id of the topic this log belongs to (zero: unknown, a
// log written before topic ids were recorded).
func (p *Partition) TopicID() TopicID {
	if id := p.topicID.Load(); id != nil {
		return *id
	}
	return TopicID{}
}

// SetTopicID records the topic id of a log that has none yet (adopted by
// the topic of the same name after an upgrade). It refuses to change a
// known id: such a log belongs to another topic and must be deleted.
func (p *Partition) SetTopicID(id TopicID) error {
	if cur := p.TopicID(); cur == id {
		return nil
	} else if cur != (TopicID{}) {
		return fmt.Errorf("storage: %s belongs to topic id %s, not %s", p.tp, cur, id)
	}
	if err := writePartitionMetadata(p.m.fsys, p.dir, id); err != nil {
		return fmt.Errorf("storage: %s: write %s: %w", p.tp, partitionMetadataFile, err)
	}
	p.topicID.Store(&id)
	return nil
}
