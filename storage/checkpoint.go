package storage

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/vfs"
)

// Names of the files at the log-dir level and in a partition dir.
const (
	recoveryPointFile   = "recovery-point-offset-checkpoint"
	logStartFile        = "log-start-offset-checkpoint"
	cleanShutdownFile   = ".kafka_cleanshutdown"
	leaderEpochFile     = "leader-epoch-checkpoint"
	checkpointVersion   = 0
	tmpSuffix           = ".tmp"
	partitionDirPerm    = 0o755
	metadataPartitionID = "__cluster_metadata-0"
)

// writeFileAtomic writes data to path via path.tmp and a rename. With
// durable set it fsyncs the file before the rename and the directory after.
func writeFileAtomic(fsys vfs.FS, path string, data []byte, durable bool) error {
	tmp := path + tmpSuffix
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		fsys.Remove(tmp)
		return err
	}
	if durable {
		if err := fsys.Sync(f); err != nil {
			f.Close()
			fsys.Remove(tmp)
			return err
		}
	}
	if err := f.Close(); err != nil {
		fsys.Remove(tmp)
		return err
	}
	if err := fsys.Rename(tmp, path); err != nil {
		fsys.Remove(tmp)
		return err
	}
	if durable {
		return fsys.SyncDir(filepath.Dir(path))
	}
	return nil
}

// encodeOffsetCheckpoint renders Kafka's offset checkpoint text format:
// "0\n<count>\n<topic> <partition> <offset>\n...".
func encodeOffsetCheckpoint(m map[model.TopicPartition]model.Offset) []byte {
	tps := make([]model.TopicPartition, 0, len(m))
	for tp := range m {
		tps = append(tps, tp)
	}
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n%d\n", checkpointVersion, len(tps))
	for _, tp := range tps {
		fmt.Fprintf(&b, "%s %d %d\n", tp.Topic, tp.Partition, int64(m[tp]))
	}
	return b.Bytes()
}

// readOffsetCheckpoint parses an offset checkpoint; a missing file is empty.
func readOffsetCheckpoint(path string) (map[model.TopicPartition]model.Offset, error) {
	out := map[model.TopicPartition]model.Offset{}
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	lines, err := checkpointLines(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 3 {
			return nil, fmt.Errorf("%s: malformed line %q", path, l)
		}
		p, err1 := strconv.ParseInt(f[1], 10, 32)
		o, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s: malformed line %q", path, l)
		}
		out[model.TopicPartition{Topic: f[0], Partition: int32(p)}] = model.Offset(o)
	}
	return out, nil
}

// checkpointLines checks the version and count header and returns the
// entry lines.
func checkpointLines(data []byte) ([]string, error) {
	// Every line ends in a newline: a file cut short by a power loss (these
	// have no checksum, and some are written without fsync) is caught
	// even when the cut falls inside the last number.
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return nil, fmt.Errorf("truncated checkpoint (no final newline)")
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) < 2 {
		return nil, fmt.Errorf("truncated checkpoint")
	}
	if v, err := strconv.Atoi(strings.TrimSpace(lines[0])); err != nil || v != checkpointVersion {
		return nil, fmt.Errorf("unsupported checkpoint version %q", lines[0])
	}
	n, err := strconv.Atoi(strings.TrimSpace(lines[1]))
	if err != nil || n != len(lines)-2 {
		return nil, fmt.Errorf("checkpoint count %q does not match %d entries", lines[1], len(lines)-2)
	}
	return lines[2:], nil
}

// epochEntry is one line of the leader-epoch-checkpoint: the first offset
// written under a leader epoch.
type epochEntry struct {
	epoch model.Epoch
	start model.Offset
}

func encodeEpochs(es []epochEntry) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n%d\n", checkpointVersion, len(es))
	for _, e := range es {
		fmt.Fprintf(&b, "%d %d\n", int32(e.epoch), int64(e.start))
	}
	return b.Bytes()
}

func readEpochs(path string) ([]epochEntry, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	lines, err := checkpointLines(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []epochEntry
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 2 {
			return nil, fmt.Errorf("%s: malformed line %q", path, l)
		}
		e, err1 := strconv.ParseInt(f[0], 10, 32)
		o, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s: malformed line %q", path, l)
		}
		if e < 0 || o < 0 {
			return nil, fmt.Errorf("%s: negative entry %q", path, l)
		}
		if n := len(out); n > 0 && (model.Epoch(e) <= out[n-1].epoch || model.Offset(o) < out[n-1].start) {
			return nil, fmt.Errorf("%s: entry %q does not follow %d %d", path, l, out[n-1].epoch, out[n-1].start)
		}
		out = append(out, epochEntry{epoch: model.Epoch(e), start: model.Offset(o)})
	}
	return out, nil
}

// truncateEpochsFromEnd drops entries starting at or after end.
func truncateEpochsFromEnd(es []epochEntry, end model.Offset) []epochEntry {
	i := len(es)
	for i > 0 && es[i-1].start >= end {
		i--
	}
	return es[:i:i]
}

// truncateEpochsFromStart drops entries wholly below start and moves the
// one covering start to begin there.
func truncateEpochsFromStart(es []epochEntry, start model.Offset) []epochEntry {
	i := 0
	for i+1 < len(es) && es[i+1].start <= start {
		i++
	}
	out := append([]epochEntry(nil), es[i:]...)
	if len(out) > 0 && out[0].start < start {
		out[0].start = start
	}
	return out
}

// parsePartitionDir splits "<topic>-<partition>".
func parsePartitionDir(name string) (model.TopicPartition, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 || i == len(name)-1 {
		return model.TopicPartition{}, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || p < 0 || strconv.FormatInt(p, 10) != name[i+1:] {
		return model.TopicPartition{}, false
	}
	return model.TopicPartition{Topic: name[:i], Partition: int32(p)}, true
}
