//go:build linux

package iocore

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// The fetch path streams segment file ranges to consumers with these two
// helpers: SendFile where the connection is a plain socket (the bytes on
// disk are the bytes on the wire, so they never enter user space), and
// CopyRange where it is not (TLS, or a kernel/file system that refuses
// sendfile). Both take an explicit offset and leave the file's own offset
// alone, so many fetches can read one shared *os.File at once; the standard
// library's io.Copy into a *net.TCPConn uses sendfile too, but only from the
// file's current offset.

const (
	// maxSendfileChunkBytes is the most one sendfile(2) call is asked to
	// move; Linux moves at most 0x7ffff000 bytes per call anyway.
	maxSendfileChunkBytes = 1 << 30
	// copyBufferBytes is the size of CopyRange's pooled buffers.
	copyBufferBytes = 128 << 10
)

// SendFile writes count bytes of src, starting at offset, to dst with
// sendfile(2). dst is a socket such as *net.TCPConn or *net.UnixConn.
// When the socket buffer is full it waits in the Go netpoller (so write
// deadlines on dst apply) and continues. It returns the bytes written; if
// src ends before offset+count the error wraps io.ErrUnexpectedEOF. If the
// kernel refuses sendfile for this pair before any byte moved, the error
// also wraps errors.ErrUnsupported: fall back to CopyRange.
func SendFile(dst syscall.Conn, src *os.File, offset int64, count int) (int64, error) {
	if count < 0 || offset < 0 {
		return 0, fmt.Errorf("iocore: sendfile: bad range offset %d count %d", offset, count)
	}
	if count == 0 {
		return 0, nil
	}
	dstRaw, err := dst.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("iocore: sendfile: %w", err)
	}
	srcRaw, err := src.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("iocore: sendfile: %w", err)
	}
	var (
		written int64
		sendErr error
	)
	ctlErr := srcRaw.Control(func(srcFD uintptr) {
		wErr := dstRaw.Write(func(dstFD uintptr) bool {
			for written < int64(count) {
				off := offset + written
				chunk := min(int64(count)-written, maxSendfileChunkBytes)
				n, err := unix.Sendfile(int(dstFD), int(srcFD), &off, int(chunk))
				if n > 0 {
					written += int64(n)
				}
				switch {
				case err == unix.EAGAIN:
					return false // socket buffer full: wait until writable
				case err == unix.EINTR:
					continue
				case err != nil:
					sendErr = err
					return true
				case n == 0:
					sendErr = io.ErrUnexpectedEOF
					return true
				}
			}
			return true
		})
		if sendErr == nil {
			sendErr = wErr // the connection's own error: closed, deadline
		}
	})
	if sendErr == nil {
		sendErr = ctlErr
	}
	if sendErr == nil {
		return written, nil
	}
	if written == 0 && isSendfileRefusal(sendErr) {
		return 0, fmt.Errorf("iocore: sendfile %s at %d: %w: %w", src.Name(), offset, errors.ErrUnsupported, sendErr)
	}
	return written, fmt.Errorf("iocore: sendfile %s at %d after %d of %d bytes: %w",
		src.Name(), offset, written, count, sendErr)
}

func isSendfileRefusal(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP)
}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, copyBufferBytes); return &b }}

// CopyRange writes count bytes of src, starting at offset, to dst by reading
// into a pooled buffer: the fallback for SendFile. It returns the bytes
// written; if src ends before offset+count the error wraps
// io.ErrUnexpectedEOF.
func CopyRange(dst io.Writer, src *os.File, offset int64, count int) (int64, error) {
	if count < 0 || offset < 0 {
		return 0, fmt.Errorf("iocore: copy range: bad range offset %d count %d", offset, count)
	}
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	var written int64
	for written < int64(count) {
		chunk := buf[:min(int64(len(buf)), int64(count)-written)]
		n, err := src.ReadAt(chunk, offset+written)
		if n > 0 {
			m, werr := dst.Write(chunk[:n])
			written += int64(m)
			if werr != nil {
				return written, fmt.Errorf("iocore: copy range %s at %d: %w", src.Name(), offset, werr)
			}
			if m < n {
				return written, fmt.Errorf("iocore: copy range %s at %d: %w", src.Name(), offset, io.ErrShortWrite)
			}
		}
		if err == io.EOF {
			if written < int64(count) {
				return written, fmt.Errorf("iocore: copy range %s at %d after %d of %d bytes: %w",
					src.Name(), offset, written, count, io.ErrUnexpectedEOF)
			}
			break
		}
		if err != nil {
			return written, fmt.Errorf("iocore: copy range %s at %d: %w", src.Name(), offset, err)
		}
	}
	return written, nil
}

// MoreWriter writes to one socket with send(2)'s MSG_MORE: the kernel
// holds the bytes back (up to the 200 ms cork limit) until a write without
// it, so that a Fetch response's header pieces and the sendfile range after
// them leave in the same TCP segments instead of a small segment per piece.
// The caller must end every run of Write calls with a plain write or a
// SendFile (whose last chunk pushes). Like SendFile it waits in the
// netpoller when the socket buffer is full, so write deadlines apply. It
// allocates once, in NewMoreWriter, not per Write. Not safe for concurrent
// use.
type MoreWriter struct {
	raw     syscall.RawConn
	fn      func(fd uintptr) bool
	b       []byte
	written int
	err     error
}

// NewMoreWriter returns a MoreWriter on dst, a socket.
func NewMoreWriter(dst syscall.Conn) (*MoreWriter, error) {
	raw, err := dst.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("iocore: send: %w", err)
	}
	w := &MoreWriter{raw: raw}
	w.fn = w.send
	return w, nil
}

func (w *MoreWriter) send(fd uintptr) bool {
	for w.written < len(w.b) {
		n, err := unix.SendmsgN(int(fd), w.b[w.written:], nil, nil, unix.MSG_MORE)
		if n > 0 {
			w.written += n
		}
		switch {
		case err == unix.EAGAIN:
			return false
		case err == unix.EINTR:
			continue
		case err != nil:
			w.err = err
			return true
		}
	}
	return true
}

// Write writes all of b with MSG_MORE. On a socket that refuses the flag
// (EOPNOTSUPP) it returns an error wrapping errors.ErrUnsupported before
// writing anything.
func (w *MoreWriter) Write(b []byte) (int, error) {
	w.b, w.written, w.err = b, 0, nil
	wErr := w.raw.Write(w.fn)
	written, err := w.written, w.err
	w.b = nil
	if err == nil {
		err = wErr
	}
	if err == nil {
		return written, nil
	}
	if written == 0 && errors.Is(err, unix.EOPNOTSUPP) {
		return 0, fmt.Errorf("iocore: send MSG_MORE: %w: %w", errors.ErrUnsupported, err)
	}
	return written, fmt.Errorf("iocore: send MSG_MORE after %d of %d bytes: %w", written, len(b), err)
}
