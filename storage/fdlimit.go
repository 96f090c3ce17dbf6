package storage

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
)

// Open files. A partition holds FilesPerPartition descriptors for its
// active segment (.log, .index, .timeindex) and one for every older
// segment (recovery closes their index files). The process limit is
// RLIMIT_NOFILE: Go (1.19 and later) already raises the soft limit to the
// hard one when the process starts, so what is left to do is to say what
// the limit is (RaiseFileLimit, logged by the daemon) and to refuse to
// create partitions that would run the process out of descriptors
// (CheckFileLimit) rather than create half of them and fail the rest, and
// every later accept, with EMFILE.

// FilesPerPartition is how many descriptors a new partition holds open.
const FilesPerPartition = 3

// fileHeadroom is what CheckFileLimit keeps free for everything that is
// not a partition yet: client connections, segment rolls, checkpoint and
// snapshot writes, the metadata log.
const fileHeadroom = 1024

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

// CheckFileLimit says whether this process can open add more partitions
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
