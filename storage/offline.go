package storage

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/vfs"
)

// A log dir goes offline, as Kafka's does, the first time an operation on
// its files fails with an error of the disk under it (IsDiskError): from
// then on every partition of the Manager refuses appends, reads,
// truncations and record deletions with model.ErrStorage, the retention
// loop and the cleaner leave it alone, no checkpoint is written and Close
// writes no clean-shutdown marker, so the next start recovers it from what
// is on the disk. Nothing that failed was acknowledged (the failed append
// and every append of the same flush fail, as for any write error).
// A full disk (ENOSPC, EDQUOT) is not a disk error: appends fail until
// space is freed and the dir stays online (enospc_test.go).

// IsDiskError reports whether err is an I/O error of the device holding
// the file: EIO and its kin (read-only remount after an error, a device
// gone, file system corruption). A full disk is not one.
func IsDiskError(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	switch errno {
	case syscall.EIO, syscall.EROFS, syscall.ENXIO, syscall.ENODEV, syscall.EREMOTEIO, syscall.EUCLEAN:
		return true
	}
	return false
}

// Offline returns the error that took the dir offline, or nil.
func (m *Manager) Offline() error {
	if e := m.offline.Load(); e != nil {
		return *e
	}
	return nil
}

// noteErr takes the dir offline when err is a disk error, and returns err.
func (m *Manager) noteErr(err error) error {
	if err != nil && IsDiskError(err) {
		m.goOffline(err)
	}
	return err
}

// maxLoggedPartitions bounds the partitions named in the offline log line.
const maxLoggedPartitions = 200

// goOffline takes the dir offline (once): it logs one ERROR line naming
// the dir, the error and the partitions, wakes the readers waiting on
// them, and calls ManagerConfig.OnOffline. It may run on a shard.
func (m *Manager) goOffline(cause error) {
	if !m.offline.CompareAndSwap(nil, &cause) {
		return
	}
	parts := m.Partitions()
	names := make([]string, 0, min(len(parts), maxLoggedPartitions))
	for i, tp := range parts {
		if i == maxLoggedPartitions {
			names = append(names, fmt.Sprintf("... %d more", len(parts)-i))
			break
		}
		names = append(names, tp.String())
	}
	m.logger.Error("log dir offline after an I/O error: its partitions answer KAFKA_STORAGE_ERROR until the disk is replaced or repaired and the broker restarted",
		"dir", m.cfg.Dir, "err", cause, "partitions", len(parts), "offline_partitions", strings.Join(names, ","))
	for _, p := range m.all() {
		p.notifyChanged()
	}
	if m.cfg.OnOffline != nil {
		m.cfg.OnOffline(cause, parts)
	}
}

// checkOnline is the gate of a partition's operations: ErrStorage when
// its dir is offline, or when the test fault hook fails the dir (which
// takes it offline: the I/O that bypasses the vfs seam starts here).
func (p *Partition) checkOnline(op string, off model.Offset) error {
	if err := p.m.Offline(); err != nil {
		return p.errf(nil, off, "%s: %w: log dir %s is offline: %w", op, model.ErrStorage, p.m.cfg.Dir, err)
	}
	if p.m.faulty {
		if err := vfs.TestFault(p.m.fsys, op, p.dir); err != nil {
			return p.storageErr(nil, off, op, err)
		}
	}
	return nil
}
