// These tests prove that SendFile and CopyRange deliver exactly the asked-for
// byte range of a file over a real loopback TCP connection, including ranges
// far larger than the (deliberately small) socket buffers, that SendFile
// honors the connection's write deadline, and that a source file ending
// early is reported as io.ErrUnexpectedEOF.
package iocore

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan *net.TCPConn, 1)
	go func() {
		c, err := ln.AcceptTCP()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	client, err = net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.FailNow()
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	// Small buffers, so that large ranges fill the socket and the sender
	// has to wait for the reader (EAGAIN, then the netpoller).
	if err := client.SetWriteBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	if err := server.SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	return client, server
}

// receiveAll reads src until EOF in the background.
func receiveAll(src io.Reader) <-chan []byte {
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(src)
		got <- b
	}()
	return got
}

func sourceFile(t *testing.T, size int) (*os.File, []byte) {
	t.Helper()
	data := pattern(42, size)
	f := createFile(t, t.TempDir(), "00000000000000000000.log")
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	return f, data
}

type copyFunc func(dst *net.TCPConn, src *os.File, off int64, count int) (int64, error)

var copiers = []struct {
	name string
	copy copyFunc
}{
	{"SendFile", func(dst *net.TCPConn, src *os.File, off int64, n int) (int64, error) {
		return SendFile(dst, src, off, n)
	}},
	{"CopyRange", func(dst *net.TCPConn, src *os.File, off int64, n int) (int64, error) {
		return CopyRange(dst, src, off, n)
	}},
}

func TestCopyFileRangeOverTCP(t *testing.T) {
	const size = 6<<20 + 12345
	for _, c := range copiers {
		t.Run(c.name, func(t *testing.T) {
			src, data := sourceFile(t, size)
			for _, r := range []struct{ off, count int }{
				{0, size},
				{777, 3<<20 + 5},
				{size - 10, 10},
				{100, 0},
			} {
				client, server := tcpPair(t)
				got := receiveAll(server)
				n, err := c.copy(client, src, int64(r.off), r.count)
				if err != nil || n != int64(r.count) {
					t.Fatalf("range %+v: wrote %d, %v; want %d, nil", r, n, err, r.count)
				}
				if err := client.CloseWrite(); err != nil {
					t.Fatal(err)
				}
				if b := <-got; !bytes.Equal(b, data[r.off:r.off+r.count]) {
					t.Fatalf("range %+v: received %d bytes that differ from the file's", r, len(b))
				}
			}
			// The file offset is untouched: ranges are read at explicit offsets.
			if pos, err := src.Seek(0, io.SeekCurrent); err != nil || pos != size {
				t.Fatalf("file offset %d, %v; want %d (where the test's write left it)", pos, err, size)
			}
		})
	}
}

func TestCopyFileRangeShortSource(t *testing.T) {
	const size = 100 << 10
	for _, c := range copiers {
		t.Run(c.name, func(t *testing.T) {
			src, data := sourceFile(t, size)
			client, server := tcpPair(t)
			got := receiveAll(server)
			n, err := c.copy(client, src, 1000, size) // asks for 1000 bytes past the end
			if !errors.Is(err, io.ErrUnexpectedEOF) || n != size-1000 {
				t.Fatalf("wrote %d, %v; want %d, io.ErrUnexpectedEOF", n, err, size-1000)
			}
			client.CloseWrite()
			if b := <-got; !bytes.Equal(b, data[1000:]) {
				t.Fatalf("received %d bytes that differ from the file's tail", len(b))
			}
		})
	}
}

func TestSendFileHonorsWriteDeadline(t *testing.T) {
	src, _ := sourceFile(t, 1<<20)
	client, _ := tcpPair(t)
	if err := client.SetWriteDeadline(time.Unix(1, 0)); err != nil { // long past
		t.Fatal(err)
	}
	n, err := SendFile(client, src, 0, 1<<20)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("wrote %d, %v; want os.ErrDeadlineExceeded", n, err)
	}
}

// TestWriteMoreThenSendFile: header bytes written with MSG_MORE, larger than
// the socket buffer, then a file range by sendfile, arrive whole and in
// order: the held-back bytes are pushed by the range's last chunk.
func TestWriteMoreThenSendFile(t *testing.T) {
	client, server := tcpPair(t)
	server.SetWriteBuffer(16 << 10)
	head := bytes.Repeat([]byte("header"), 50<<10)
	body := bytes.Repeat([]byte("0123456789"), 1000)
	f, err := os.CreateTemp(t.TempDir(), "range")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(body); err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, len(head)+len(body)-10)
		client.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.ReadFull(client, b); err != nil {
			t.Error(err)
		}
		got <- b
	}()
	server.SetWriteDeadline(time.Now().Add(20 * time.Second))
	mw, err := NewMoreWriter(server)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := mw.Write(head); err != nil || n != len(head) {
		t.Fatalf("WriteMore: %d of %d bytes, %v", n, len(head), err)
	}
	if _, err := SendFile(server, f, 10, len(body)-10); err != nil {
		t.Fatal(err)
	}
	want := append(bytes.Clone(head), body[10:]...)
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatal("bytes differ from the header and the range")
	}
}
