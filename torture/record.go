package torture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// ProducerID names one writer of a run (not Kafka's producer id).
type ProducerID uint32

// Seq numbers a producer's records from 1, in the order it sends them.
type Seq uint64

// TxnNum numbers a transactional producer's transactions from 1; 0 is no
// transaction.
type TxnNum uint64

// Rec is what a record's value says about itself.
type Rec struct {
	Producer ProducerID
	Seq      Seq
	Txn      TxnNum
}

const (
	recMagic     = "RTT1"
	recHeaderLen = 4 + 4 + 8 + 8 + 2
	recCRCLen    = 4
	// MaxPadBytes bounds a record's padding.
	MaxPadBytes = 4096
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is wrapped by every Decode error.
var ErrCorrupt = errors.New("torture: corrupt record value")

// Encode returns r's value with pad bytes of padding (a pattern derived
// from r, so a torn or shifted value fails the CRC).
func Encode(r Rec, pad int) []byte {
	pad = min(max(pad, 0), MaxPadBytes)
	b := make([]byte, 0, recHeaderLen+pad+recCRCLen)
	b = append(b, recMagic...)
	b = binary.BigEndian.AppendUint32(b, uint32(r.Producer))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Seq))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Txn))
	b = binary.BigEndian.AppendUint16(b, uint16(pad))
	for i := range pad {
		b = append(b, padByte(r, i))
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// Decode parses a value written by Encode; any mismatch of magic, length
// or CRC is an error wrapping ErrCorrupt.
func Decode(v []byte) (Rec, error) {
	if len(v) < recHeaderLen+recCRCLen {
		return Rec{}, fmt.Errorf("%w: %d bytes, want at least %d", ErrCorrupt, len(v), recHeaderLen+recCRCLen)
	}
	if string(v[:4]) != recMagic {
		return Rec{}, fmt.Errorf("%w: magic %q", ErrCorrupt, v[:4])
	}
	pad := int(binary.BigEndian.Uint16(v[24:26]))
	if want := recHeaderLen + pad + recCRCLen; len(v) != want {
		return Rec{}, fmt.Errorf("%w: %d bytes, header says %d", ErrCorrupt, len(v), want)
	}
	body := v[:len(v)-recCRCLen]
	if got, want := crc32.Checksum(body, castagnoli), binary.BigEndian.Uint32(v[len(v)-recCRCLen:]); got != want {
		return Rec{}, fmt.Errorf("%w: crc %08x, stored %08x", ErrCorrupt, got, want)
	}
	r := Rec{
		Producer: ProducerID(binary.BigEndian.Uint32(v[4:8])),
		Seq:      Seq(binary.BigEndian.Uint64(v[8:16])),
		Txn:      TxnNum(binary.BigEndian.Uint64(v[16:24])),
	}
	for i, c := range v[recHeaderLen : recHeaderLen+pad] {
		if c != padByte(r, i) {
			return Rec{}, fmt.Errorf("%w: padding byte %d is %#x, want %#x", ErrCorrupt, i, c, padByte(r, i))
		}
	}
	return r, nil
}

func padByte(r Rec, i int) byte { return byte(uint64(r.Seq)*31 + uint64(r.Producer)*7 + uint64(i)) }
