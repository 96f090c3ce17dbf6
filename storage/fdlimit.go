package storage

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
)

// Open files. Segment files are opened on demand and closed by a bound,
// ringtail.max_open_files (fdcache.go), so the partitions a broker holds
// need at most that many descriptors whatever their number; the rest of
// RLIMIT_NOFILE is left to client connections, checkpoint and snapshot
// writes and the metadata log. Go (1.19 and later) already raises the soft
// limit to the hard one when the process starts, so what is left to do is
// to say what the limit is (RaiseFileLimit, logged by the daemon), to
// derive the bound from it (ResolveMaxOpenFiles), and to refuse partitions
// the limit cannot hold (Manager.CheckFileLimit) rather than create half of
// them and fail the rest, and every later accept, with EMFILE.

// FilesPerPartition is how many descriptors a new partition opens (its
// active segment's .log, .index and .timeindex), until the bound closes
// them.
const FilesPerPartition = 3

// fileHeadroom is what CheckFileLimit keeps free, without a bound, for
// everything that is not a partition yet: client connections, segment
// rolls, checkpoint and snapshot writes, the metadata log.
const fileHeadroom = 1024

// MinOpenFiles is the smallest ringtail.max_open_files: a roll pins a
// partition's old and new segment files at once, and a shard's drain the
// files of every partition it writes.
const MinOpenFiles = 16

// minFileReserve is the least a bound must leave of RLIMIT_NOFILE for
// connections and everything else.
const minFileReserve = 64

// maxOpenFilesKey names the setting in errors.
const maxOpenFilesKey = "ringtail.max_open_files"

// DefaultFileReserve is what the derived bound leaves of a soft limit for
// connections and other files: a quarter, between 256 and 4096.
func DefaultFileReserve(soft uint64) uint64 {
	return min(max(soft/4, 256), 4096)
}

// ResolveMaxOpenFiles returns the segment file bound for a setting of
// ringtail.max_open_files under the soft RLIMIT_NOFILE: 0 derives it (the
// limit less DefaultFileReserve), -1 is unbounded; a setting that leaves
// fewer than 64 descriptors of the limit, or a limit too low to derive
// one, is an error naming the key.
func ResolveMaxOpenFiles(setting int64, soft uint64) (int, error) {
	switch {
	case setting < 0:
		return -1, nil
	case setting > 0 && setting < MinOpenFiles:
		return 0, fmt.Errorf("%s is %d: must be 0 (derived from the open file limit), -1 (unbounded) or at least %d", maxOpenFilesKey, setting, MinOpenFiles)
	case setting > 0 && soft > 0 && uint64(setting)+minFileReserve > soft:
		return 0, fmt.Errorf("%w: %s is %d, but the open file limit (RLIMIT_NOFILE) is %d and at least %d must stay free for connections; "+
			"set it to at most %d, or 0 to derive it, or raise the limit (LimitNOFILE= in the systemd unit, `ulimit -n` in a shell)",
			ErrFileLimit, maxOpenFilesKey, setting, soft, minFileReserve, int64(soft)-minFileReserve)
	case setting > 0:
		return int(setting), nil
	case soft == 0:
		return -1, nil
	}
	reserve := DefaultFileReserve(soft)
	if soft < reserve+MinOpenFiles {
		return 0, fmt.Errorf("%w: the open file limit (RLIMIT_NOFILE) is %d; %s derived from it leaves %d for connections and needs %d for segment files; "+
			"raise the limit to at least %d (LimitNOFILE= in the systemd unit, `ulimit -n` in a shell)",
			ErrFileLimit, soft, maxOpenFilesKey, reserve, MinOpenFiles, reserve+MinOpenFiles)
	}
	return int(min(soft-reserve, math.MaxInt32)), nil
}

// ErrFileLimit means that creating partitions would exceed the open file
// limit (RLIMIT_NOFILE).
var ErrFileLimit = errors.New("open file limit (RLIMIT_NOFILE) too low")

// RaiseFileLimit raises the soft RLIMIT_NOFILE to the hard limit (a no-op
// when Go already did) and returns both.
func RaiseFileLimit() (soft, hard uint64, err error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, err
	}
	if rl.Cur < rl.Max {
		want := rl
		want.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			return rl.Cur, rl.Max, err
		}
		rl = want
	}
	return rl.Cur, rl.Max, nil
}

// OpenFiles counts the descriptors this process has open.
func OpenFiles() (int, error) {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return 0, err
	}
	return len(names) - 1, nil // less the one reading the directory
}

// fileLimitFn returns the soft RLIMIT_NOFILE (a variable for tests).
var fileLimitFn = func() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	return rl.Cur, nil
}

// CheckFileLimit says whether this process can hold add more partitions.
// With a bound on segment files it counts the bound, not the partitions:
// the descriptors open now that are not segment files, plus the segment
// files open once the new partitions' are (at most the bound), must leave
// 64 free. Without a bound it is the package's CheckFileLimit. When the
// limit or the open count cannot be read it does not refuse.
func (m *Manager) CheckFileLimit(add int) error {
	if m.files.max <= 0 {
		return CheckFileLimit(add)
	}
	if add <= 0 {
		return nil
	}
	limit, err := fileLimitFn()
	if err != nil || limit == 0 {
		return nil
	}
	open, err := OpenFiles()
	if err != nil {
		return nil
	}
	st := m.files.stats()
	other := max(open-st.Open, 0)
	segFiles := min(st.Max, st.Open+add*FilesPerPartition)
	need := uint64(other) + uint64(segFiles) + minFileReserve
	if need <= limit {
		return nil
	}
	return fmt.Errorf("%w: %d new partitions: %d files other than segment files are open and %s allows %d segment files, "+
		"%d must stay free, but the limit is %d; raise it (LimitNOFILE= in the systemd unit, `ulimit -n` in a shell) or lower %s",
		ErrFileLimit, add, other, maxOpenFilesKey, st.Max, minFileReserve, limit, maxOpenFilesKey)
}

// FileCache returns what the segment file cache holds and did.
func (m *Manager) FileCache() FileCacheStats { return m.files.stats() }

// CheckFileLimit says whether this process can open add more partitions
// each holding FilesPerPartition descriptors (no bound on segment files)
// and keep fileHeadroom descriptors free. When the limit or the open count
// cannot be read it does not refuse.
func CheckFileLimit(add int) error {
	if add <= 0 {
		return nil
	}
	limit, err := fileLimitFn()
	if err != nil || limit == 0 {
		return nil
	}
	open, err := OpenFiles()
	if err != nil {
		return nil
	}
	need := uint64(open) + uint64(add)*FilesPerPartition + fileHeadroom
	if need <= limit {
		return nil
	}
	return fmt.Errorf("%w: %d new partitions need %d open files (%d each), %d are open and %d are kept free for connections, "+
		"but the limit is %d; raise it to at least %d (LimitNOFILE= in the systemd unit, `ulimit -n` in a shell; "+
		"the packaged unit sets LimitNOFILE=1048576)",
		ErrFileLimit, add, uint64(add)*FilesPerPartition, FilesPerPartition, open, fileHeadroom, limit, need)
}

// parallel runs fn(0..n-1) on up to workers goroutines and waits.
func parallel(n, workers int, fn func(i int)) {
	if n <= 0 {
		return
	}
	if workers > n {
		workers = n
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}
