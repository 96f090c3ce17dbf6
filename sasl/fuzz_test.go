package sasl

import (
	"testing"

	"github.com/xdg-go/scram"
)

func FuzzParsePlain(f *testing.F) {
	for _, s := range []string{"\x00alice\x00pw", "z\x00u\x00p", "", "\x00\x00", "a\x00b"} {
		f.Add([]byte(s))
	}
	st := &memStore{plain: map[string]string{"alice": "pw"}}
	f.Fuzz(func(t *testing.T, b []byte) {
		z, u, p, err := ParsePlain(b)
		if err == nil && (u == "" || p == "" || len(z)+len(u)+len(p)+2 != len(b)) {
			t.Fatalf("ParsePlain(%q) = %q %q %q", b, z, u, p)
		}
		c, _ := New(Plain, st)
		if _, _, err := c.Step(b); err == nil && (string(b) != "\x00alice\x00pw" && string(b) != "alice\x00alice\x00pw") {
			t.Fatalf("authenticated with %q", b)
		}
	})
}

// FuzzScramServer feeds arbitrary client-first and client-final messages
// to the SCRAM server: it must never panic nor authenticate.
func FuzzScramServer(f *testing.F) {
	st := scramStore(f)
	cl, _ := scram.SHA256.NewClient("alice", "secret", "")
	cc := cl.NewConversation()
	first, _ := cc.Step("")
	f.Add([]byte(first), []byte("c=biws,r=abc,p=AAAA"))
	f.Add([]byte("n,,n=alice,r=x"), []byte("c=biws,r=x,p="))
	f.Add([]byte("y,a=bob,n=alice,r=x,m=ext"), []byte(""))
	f.Add([]byte("n,,n=al=2Cice,r=1"), []byte("c=,r=1,p=!!"))
	f.Fuzz(func(t *testing.T, c1, c2 []byte) {
		sc, _ := New(ScramSHA256, st)
		if _, done, err := sc.Step(c1); done || err != nil {
			return
		}
		if _, _, err := sc.Step(c2); err == nil {
			t.Fatalf("authenticated with %q, %q", c1, c2)
		}
	})
}
