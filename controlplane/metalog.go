package controlplane

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"github.com/ringtail/ringtail/vfs"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// The raft storage lives in <data_dir>/__cluster_metadata-0/ as three files:
//
//	entries.log   append-only raft entries
//	hardstate     the raft HardState, rewritten atomically (tmp, fsync, rename)
//	snapshot      the last snapshot of the Image, rewritten atomically
//
// entries.log starts with an 8-byte magic and then holds frames; hardstate
// and snapshot hold exactly one frame each:
//
//	+--------------+
//	| "RTRAFT01"   |  8 bytes, entries.log only
//	+-----------+-----------+---------------------------------+
//	| length u32| crc32c u32| protobuf raftpb.Entry /         |
//	|           |           | HardState / Snapshot            |
//	+-----------+-----------+---------------------------------+
//	  big endian  over the payload   (length bytes)
//
// A snapshot's Data is the JSON-encoded Image (snapshotImage). Entries are
// contiguous; one at or below the snapshot index is skipped on load. When
// raft overwrites a suffix (a new leader's log wins), the file is truncated
// at the first replaced entry before the new ones are appended. After a
// snapshot the log is compacted by rewriting it (tmp, fsync, rename) with
// only the entries after the snapshot. A torn or corrupt frame (a crash
// mid-append: unsynced pages come back in any mix, so valid frames may
// follow a bad one) is truncated on open with all that follows it, unless
// that would cut entries at or below the hardstate's commit index, which
// were fsynced before it: that is ErrCorruptLog.
const (
	metadataDirName = "__cluster_metadata-0"
	// metadataLogName is the raft entry log.
	metadataLogName = "entries.log"
	hardStateName   = "hardstate"
	snapshotName    = "snapshot"
	// legacyLogName is the pre-raft local log (one JSON Record per frame).
	legacyLogName    = "00000000000000000000.log"
	entryLogMagic    = "RTRAFT01"
	frameHeaderBytes = 8
	// maxRecordBytes bounds one frame; larger means corruption.
	maxRecordBytes = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorruptLog means the metadata log is damaged beyond a torn tail.
var ErrCorruptLog = errors.New("controlplane: metadata log corrupt")

func appendFrame(buf, payload []byte) []byte {
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(payload)))
	buf = binary.BigEndian.AppendUint32(buf, crc32.Checksum(payload, castagnoli))
	return append(buf, payload...)
}

// readFrames calls fn with each frame's payload and returns the byte length
// of the good prefix (after start) and how many tail bytes are torn.
func readFrames(r io.Reader, start, fileSize int64, fn func(payload []byte) error) (good, torn int64, err error) {
	good = start
	var hdr [frameHeaderBytes]byte
	for n := 0; ; n++ {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if err == io.EOF {
				return good, 0, nil
			}
			return good, fileSize - good, nil // torn header
		}
		size := binary.BigEndian.Uint32(hdr[0:4])
		sum := binary.BigEndian.Uint32(hdr[4:8])
		if size == 0 || size > maxRecordBytes || good+frameHeaderBytes+int64(size) > fileSize {
			return good, fileSize - good, nil // torn or garbage tail
		}
		buf := make([]byte, size)
		if _, err := io.ReadFull(r, buf); err != nil {
			return good, fileSize - good, nil
		}
		end := good + frameHeaderBytes + int64(size)
		if crc32.Checksum(buf, castagnoli) != sum {
			// A torn write: pages after the last fsync may come back in
			// any mix, so good frames can follow a bad one. The caller
			// refuses the cut when it would lose committed entries.
			return good, fileSize - good, nil
		}
		if err := fn(buf); err != nil {
			return good, 0, fmt.Errorf("%w: frame %d at byte %d: %v", ErrCorruptLog, n, good, err)
		}
		good = end
	}
}

// raftDisk is the durable half of the raft storage. raft reads through a
// raft.MemoryStorage that Open fills from it and the controller loop keeps
// in step (the way etcd's server pairs its WAL with MemoryStorage): the
// metadata log is small and bounded by snapshots, so holding it in memory is
// cheap, and MemoryStorage's index arithmetic is etcd's, well tested.
// raftDisk is used only by the controller loop.
type raftDisk struct {
	fsys vfs.FS // the file-system seam (vfs.OS but in power-loss tests)
	dir  string
	f    *os.File
	size int64
	// pos[i] is the file position of entry first+i.
	first uint64
	pos   []int64
}

// loaded is what openRaftDisk found.
type loaded struct {
	hs        *pb.HardState
	snap      *pb.Snapshot
	entries   []*pb.Entry
	tornBytes int64
}

func openRaftDisk(dataDir string) (*raftDisk, *loaded, error) { return openRaftDiskFS(vfs.OS, dataDir) }

// openRaftDiskFS is openRaftDisk through a file-system seam.
func openRaftDiskFS(fsys vfs.FS, dataDir string) (*raftDisk, *loaded, error) {
	dir := filepath.Join(dataDir, metadataDirName)
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("controlplane: %w", err)
	}
	// The dir's own entry in the data dir must be durable before anything
	// in it counts as durable: a vote saved in a dir that a power loss
	// unmakes is a vote forgotten (found by TestRaftLogPowerLoss).
	if err := fsys.SyncDir(dataDir); err != nil {
		return nil, nil, fmt.Errorf("controlplane: sync %s: %w", dataDir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, legacyLogName)); err == nil {
		return nil, nil, fmt.Errorf("controlplane: %s holds %s, a metadata log in the pre-raft local format, which this version does not read "+
			"(the metadata log is now a raft log: %s, %s, %s); nothing was released with the old format, so move the data dir aside and start again",
			dir, legacyLogName, metadataLogName, hardStateName, snapshotName)
	}
	d := &raftDisk{fsys: fsys, dir: dir}
	ld := &loaded{}
	var err error
	if ld.hs, err = readOneFrame(filepath.Join(dir, hardStateName), &pb.HardState{}); err != nil {
		return nil, nil, err
	}
	if ld.snap, err = readOneFrame(filepath.Join(dir, snapshotName), &pb.Snapshot{}); err != nil {
		return nil, nil, err
	}
	path := filepath.Join(dir, metadataLogName)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := d.rewrite(nil); err != nil {
			return nil, nil, err
		}
		return d, ld, nil
	}
	f, err := fsys.OpenFile(path, os.O_RDWR, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("controlplane: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("controlplane: %w", err)
	}
	br := bufio.NewReaderSize(f, 1<<16)
	magic := make([]byte, len(entryLogMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != entryLogMagic {
		f.Close()
		return nil, nil, fmt.Errorf("%w: %s does not start with %q; not a ringtail raft entry log", ErrCorruptLog, path, entryLogMagic)
	}
	d.f = f
	snapIndex := ld.snap.GetMetadata().GetIndex()
	pos := int64(len(entryLogMagic))
	good, torn, err := readFrames(br, pos, st.Size(), func(p []byte) error {
		e := &pb.Entry{}
		if err := proto.Unmarshal(p, e); err != nil {
			return err
		}
		if len(d.pos) == 0 {
			d.first = e.GetIndex()
		} else if e.GetIndex() != d.first+uint64(len(d.pos)) {
			return fmt.Errorf("entry %d follows entry %d", e.GetIndex(), d.first+uint64(len(d.pos))-1)
		}
		d.pos = append(d.pos, pos)
		pos += frameHeaderBytes + int64(len(p))
		if e.GetIndex() > snapIndex {
			ld.entries = append(ld.entries, e)
		}
		return nil
	})
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("controlplane: %s: %w", path, err)
	}
	if last := snapIndex + uint64(len(ld.entries)); torn > 0 && last < ld.hs.GetCommit() {
		f.Close()
		return nil, nil, fmt.Errorf("%w: %s: a bad frame at byte %d cuts the log at entry %d, below the commit index %d",
			ErrCorruptLog, path, good, last, ld.hs.GetCommit())
	}
	if torn > 0 {
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("controlplane: truncate torn tail of %s: %w", path, err)
		}
		if err := fsys.Sync(f); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("controlplane: %w", err)
		}
	}
	if len(ld.entries) > 0 && ld.entries[0].GetIndex() > snapIndex+1 {
		f.Close()
		return nil, nil, fmt.Errorf("%w: %s starts at entry %d but the snapshot ends at %d", ErrCorruptLog, path, ld.entries[0].GetIndex(), snapIndex)
	}
	d.size = good
	ld.tornBytes = torn
	return d, ld, nil
}

// readOneFrame reads a file of one frame; a missing file gives nil.
func readOneFrame[T proto.Message](path string, m T) (T, error) {
	var zero T
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return zero, nil
	}
	if err != nil {
		return zero, fmt.Errorf("controlplane: %w", err)
	}
	var payload []byte
	n := 0
	_, torn, err := readFrames(bytesReader(b), 0, int64(len(b)), func(p []byte) error {
		payload = p
		n++
		return nil
	})
	// These files are replaced atomically, so any damage is corruption.
	if err != nil || torn > 0 || n != 1 {
		return zero, fmt.Errorf("%w: %s is damaged (%d frames, %d torn bytes, %v)", ErrCorruptLog, path, n, torn, err)
	}
	if err := proto.Unmarshal(payload, m); err != nil {
		return zero, fmt.Errorf("%w: %s: %v", ErrCorruptLog, path, err)
	}
	return m, nil
}

func bytesReader(b []byte) io.Reader { return &sliceReader{b: b} }

type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// writeAtomic replaces name in the dir with data: tmp file, fsync, rename,
// fsync of the dir.
func (d *raftDisk) writeAtomic(name string, data []byte) error {
	path := filepath.Join(d.dir, name)
	tmp := path + ".tmp"
	f, err := d.fsys.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("controlplane: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("controlplane: write %s: %w", tmp, err)
	}
	if err := d.fsys.Sync(f); err != nil {
		f.Close()
		return fmt.Errorf("controlplane: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("controlplane: %w", err)
	}
	if err := d.fsys.Rename(tmp, path); err != nil {
		return fmt.Errorf("controlplane: %w", err)
	}
	if err := d.fsys.SyncDir(d.dir); err != nil {
		return fmt.Errorf("controlplane: sync %s: %w", d.dir, err)
	}
	return nil
}

func (d *raftDisk) saveOne(name string, m proto.Message) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("controlplane: encode %s: %w", name, err)
	}
	return d.writeAtomic(name, appendFrame(nil, b))
}

func (d *raftDisk) saveHardState(hs *pb.HardState) error { return d.saveOne(hardStateName, hs) }
func (d *raftDisk) saveSnapshot(s *pb.Snapshot) error    { return d.saveOne(snapshotName, s) }

// append writes and fsyncs entries, first cutting off any entries at or
// after the first new index (raft replacing a suffix).
func (d *raftDisk) append(ents []*pb.Entry) error {
	if len(ents) == 0 {
		return nil
	}
	idx := ents[0].GetIndex()
	end := d.first + uint64(len(d.pos))
	switch {
	case len(d.pos) == 0:
		d.first = idx
	case idx < d.first:
		// Replaces everything we hold (after a snapshot from the leader).
		d.pos = d.pos[:0]
		d.first = idx
		d.size = int64(len(entryLogMagic))
	case idx < end:
		d.size = d.pos[idx-d.first]
		d.pos = d.pos[:idx-d.first]
	case idx > end:
		// A gap: only after a snapshot, which reset the log via compact.
		return fmt.Errorf("controlplane: append entry %d after entry %d leaves a gap", idx, end-1)
	}
	var buf []byte
	pos := d.size
	for _, e := range ents {
		p, err := proto.Marshal(e)
		if err != nil {
			return fmt.Errorf("controlplane: encode entry: %w", err)
		}
		d.pos = append(d.pos, pos+int64(len(buf)))
		buf = appendFrame(buf, p)
	}
	if err := d.f.Truncate(d.size); err != nil {
		return fmt.Errorf("controlplane: truncate metadata log: %w", err)
	}
	if _, err := d.f.WriteAt(buf, d.size); err != nil {
		return fmt.Errorf("controlplane: append metadata log: %w", err)
	}
	if err := d.fsys.Sync(d.f); err != nil {
		return fmt.Errorf("controlplane: sync metadata log: %w", err)
	}
	d.size += int64(len(buf))
	return nil
}

// compact rewrites the log without entries at or below index, which a
// durable snapshot now covers. keep are the entries after index, from
// MemoryStorage.
func (d *raftDisk) compact(keep []*pb.Entry) error { return d.rewrite(keep) }

// rewrite replaces the log file atomically with ents.
func (d *raftDisk) rewrite(ents []*pb.Entry) error {
	buf := []byte(entryLogMagic)
	var pos []int64
	for _, e := range ents {
		p, err := proto.Marshal(e)
		if err != nil {
			return fmt.Errorf("controlplane: encode entry: %w", err)
		}
		pos = append(pos, int64(len(buf)))
		buf = appendFrame(buf, p)
	}
	if err := d.writeAtomic(metadataLogName, buf); err != nil {
		return err
	}
	f, err := d.fsys.OpenFile(filepath.Join(d.dir, metadataLogName), os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("controlplane: %w", err)
	}
	if d.f != nil {
		d.f.Close()
	}
	d.f = f
	d.size = int64(len(buf))
	d.pos = pos
	d.first = 0
	if len(ents) > 0 {
		d.first = ents[0].GetIndex()
	}
	return nil
}

func (d *raftDisk) close() error {
	if d.f == nil {
		return nil
	}
	err := d.f.Close()
	d.f = nil
	return err
}
