package sasl

import (
	"crypto/pbkdf2"
	"hash"
)

func pbkdf2Key(h func() hash.Hash, pw, salt []byte, iters, n int) []byte {
	k, err := pbkdf2.Key(h, string(pw), salt, iters, n)
	if err != nil {
		panic(err)
	}
	return k
}
