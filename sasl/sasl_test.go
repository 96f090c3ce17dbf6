package sasl

import (
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/xdg-go/scram"
)

type memStore struct {
	plain map[string]string
	scram map[string]map[string]Credential // mech -> user
}

func (m *memStore) PlainPassword(u string) (string, bool) { p, ok := m.plain[u]; return p, ok }
func (m *memStore) ScramCredential(mech, u string) (Credential, bool) {
	c, ok := m.scram[mech][u]
	return c, ok
}

func TestParsePlain(t *testing.T) {
	for _, tc := range []struct {
		in               string
		z, u, p, wantErr string
	}{
		{"\x00alice\x00pw", "", "alice", "pw", ""},
		{"alice\x00alice\x00pw", "alice", "alice", "pw", ""},
		{"\x00alice\x00p\xffw", "", "alice", "p\xffw", ""},
		{"alice\x00pw", "", "", "", "not authzid"},
		{"\x00\x00pw", "", "", "", "empty username"},
		{"\x00alice\x00", "", "", "", "empty password"},
		{"\x00a\x00b\x00c", "", "", "", "not authzid"},
		{"", "", "", "", "not authzid"},
		{strings.Repeat("x", maxPlainBytes+1), "", "", "", "too long"},
	} {
		z, u, p, err := ParsePlain([]byte(tc.in))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParsePlain(%q) = err %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || z != tc.z || u != tc.u || p != tc.p {
			t.Errorf("ParsePlain(%q) = %q %q %q %v", tc.in, z, u, p, err)
		}
	}
}

func TestPlainConversation(t *testing.T) {
	st := &memStore{plain: map[string]string{"alice": "secret"}}
	for _, tc := range []struct {
		in   string
		ok   bool
		user string
	}{
		{"\x00alice\x00secret", true, "alice"},
		{"alice\x00alice\x00secret", true, "alice"},
		{"bob\x00alice\x00secret", false, ""},
		{"\x00alice\x00wrong", false, ""},
		{"\x00alice\x00secretx", false, ""},
		{"\x00mallory\x00secret", false, ""},
		{"garbage", false, ""},
	} {
		c, err := New(Plain, st)
		if err != nil {
			t.Fatal(err)
		}
		_, done, err := c.Step([]byte(tc.in))
		if !done {
			t.Errorf("%q: not done after one step", tc.in)
		}
		if tc.ok != (err == nil) || c.Username() != tc.user {
			t.Errorf("%q: err %v user %q; want ok=%v user %q", tc.in, err, c.Username(), tc.ok, tc.user)
		}
		var se *Error
		if err != nil && (!errors.As(err, &se) || !strings.HasPrefix(se.Msg, "Authentication failed")) {
			t.Errorf("%q: error %v is not a client-facing *Error", tc.in, err)
		}
		if _, _, err := c.Step([]byte(tc.in)); err == nil {
			t.Errorf("%q: a second step succeeded", tc.in)
		}
	}
}

// scramStore holds alice's credential for both mechanisms, derived as the
// broker derives it from AlterUserScramCredentials's salted password.
func scramStore(t testing.TB) *memStore {
	st := &memStore{scram: map[string]map[string]Credential{}}
	for _, mech := range []string{ScramSHA256, ScramSHA512} {
		gen := scram.SHA256
		if mech == ScramSHA512 {
			gen = scram.SHA512
		}
		cl, err := gen.NewClient("alice", "secret", "")
		if err != nil {
			t.Fatal(err)
		}
		salt := []byte("0123456789abcdef")
		want := cl.GetStoredCredentials(scram.KeyFactors{Salt: string(salt), Iters: 4096})
		sp := saltedPassword(t, mech, "secret", salt, 4096)
		cred, err := DeriveCredential(mech, salt, sp, 4096)
		if err != nil {
			t.Fatal(err)
		}
		if string(cred.StoredKey) != string(want.StoredKey) || string(cred.ServerKey) != string(want.ServerKey) {
			t.Fatalf("%s: DeriveCredential disagrees with xdg-go/scram", mech)
		}
		st.scram[mech] = map[string]Credential{"alice": cred}
	}
	return st
}

func saltedPassword(t testing.TB, mech, pw string, salt []byte, iters int) []byte {
	h, _, err := hashFor(mech)
	if err != nil {
		t.Fatal(err)
	}
	return pbkdf2Key(h, []byte(pw), salt, iters, h().Size())
}

func TestScramExchange(t *testing.T) {
	st := scramStore(t)
	for _, mech := range []string{ScramSHA256, ScramSHA512} {
		gen := scram.SHA256
		if mech == ScramSHA512 {
			gen = scram.SHA512
		}
		for _, tc := range []struct {
			name, user, pw string
			ok             bool
		}{
			{"good", "alice", "secret", true},
			{"wrong password", "alice", "nope", false},
			{"unknown user", "mallory", "secret", false},
		} {
			t.Run(mech+"/"+tc.name, func(t *testing.T) {
				cl, _ := gen.NewClient(tc.user, tc.pw, "")
				cc := cl.NewConversation()
				sc, err := New(mech, st)
				if err != nil {
					t.Fatal(err)
				}
				var in string
				var done bool
				for !done {
					out, err := cc.Step(in)
					if err != nil {
						t.Fatalf("client: %v", err)
					}
					var resp []byte
					resp, done, err = sc.Step([]byte(out))
					if err != nil {
						if tc.ok {
							t.Fatalf("server: %v", err)
						}
						return
					}
					in = string(resp)
				}
				if !tc.ok {
					t.Fatal("authenticated with bad credentials")
				}
				if _, err := cc.Step(in); err != nil || !cc.Valid() {
					t.Fatalf("client does not accept the server's signature: %v", err)
				}
				if sc.Username() != "alice" {
					t.Fatalf("user %q", sc.Username())
				}
			})
		}
	}
}

// TestScramBadNonceAndProof tampers with the client-final message.
func TestScramBadNonceAndProof(t *testing.T) {
	st := scramStore(t)
	for _, tc := range []struct {
		name   string
		tamper func(final string) string
	}{
		{"bad nonce", func(f string) string {
			// Change the nonce's first character (the nonce is random: it
			// may already be the replacement, so pick another then).
			i := strings.Index(f, ",r=") + 3
			c := "X"
			if f[i] == 'X' {
				c = "Y"
			}
			return f[:i] + c + f[i+1:]
		}},
		{"bad proof", func(f string) string {
			i := strings.Index(f, ",p=") + 3
			b := []byte(f)
			if b[i] == 'A' {
				b[i] = 'B'
			} else {
				b[i] = 'A'
			}
			return string(b)
		}},
		{"no proof", func(f string) string { return f[:strings.Index(f, ",p=")] }},
		{"garbage", func(string) string { return "\x00\xff,,=" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, _ := scram.SHA256.NewClient("alice", "secret", "")
			cc := cl.NewConversation()
			first, _ := cc.Step("")
			sc, _ := New(ScramSHA256, st)
			s1, done, err := sc.Step([]byte(first))
			if err != nil || done {
				t.Fatalf("first step: %v %v", done, err)
			}
			final, err := cc.Step(string(s1))
			if err != nil {
				t.Fatal(err)
			}
			_, done, err = sc.Step([]byte(tc.tamper(final)))
			var se *Error
			if !done || !errors.As(err, &se) || !strings.Contains(se.Msg, "invalid credentials with SASL mechanism SCRAM-SHA-256") {
				t.Fatalf("tampered final: done %v err %v", done, err)
			}
			if sc.Username() != "" {
				t.Fatal("username set after a failure")
			}
		})
	}
}

func TestScramAuthzID(t *testing.T) {
	st := scramStore(t)
	cl, _ := scram.SHA256.NewClient("alice", "secret", "bob")
	first, _ := cl.NewConversation().Step("")
	sc, _ := New(ScramSHA256, st)
	if _, _, err := sc.Step([]byte(first)); err == nil {
		t.Fatal("authzid bob accepted for alice")
	}
}

func TestDeriveCredentialChecksLength(t *testing.T) {
	if _, err := DeriveCredential(ScramSHA512, []byte("s"), make([]byte, 32), 4096); err == nil {
		t.Fatal("32-byte salted password accepted for SHA-512")
	}
	if _, err := DeriveCredential("PLAIN", nil, nil, 0); err == nil {
		t.Fatal("PLAIN accepted as SCRAM")
	}
	if _, err := New("GSSAPI", &memStore{}); err == nil {
		t.Fatal("GSSAPI accepted")
	}
}

func TestLogLimiter(t *testing.T) {
	l := &LogLimiter{Interval: time.Second}
	t0 := time.Unix(1000, 0)
	if ok, n := l.Allow(t0); !ok || n != 0 {
		t.Fatal("first event held")
	}
	for i := 0; i < 5; i++ {
		if ok, _ := l.Allow(t0.Add(time.Duration(i) * 100 * time.Millisecond)); ok {
			t.Fatal("event within the interval let through")
		}
	}
	if ok, n := l.Allow(t0.Add(time.Second)); !ok || n != 5 {
		t.Fatalf("after the interval: ok %v suppressed %d, want 5", ok, n)
	}
}

// librdkafka sends its own nonce again in front of the server's in the
// client-final message; Kafka accepts a nonce that ends with the server's,
// and so does Ringtail (but not one that merely contains it).
func TestScramLibrdkafkaNonce(t *testing.T) {
	st := scramStore(t)
	for _, tc := range []struct {
		prefix, suffix string
		ok             bool
	}{{"", "", true}, {"CNONCE", "", true}, {"", "X", false}} {
		sc, _ := New(ScramSHA512, st)
		c1 := "n,,n=alice,r=CNONCE"
		s1, _, err := sc.Step([]byte(c1))
		if err != nil {
			t.Fatal(err)
		}
		fields := strings.Split(string(s1), ",")
		snonce := strings.TrimPrefix(fields[0], "r=")
		salt, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(fields[1], "s="))
		wop := "c=biws,r=" + tc.prefix + snonce + tc.suffix
		final := wop + ",p=" + clientProof(t, ScramSHA512, "secret", salt, 4096, "n=alice,r=CNONCE,"+string(s1)+","+wop)
		v, done, err := sc.Step([]byte(final))
		if !done || (err == nil) != tc.ok {
			t.Fatalf("nonce %q+server+%q: done %v err %v", tc.prefix, tc.suffix, done, err)
		}
		if tc.ok && !strings.HasPrefix(string(v), "v=") {
			t.Fatalf("server-final %q", v)
		}
	}
}

func clientProof(t *testing.T, mech, pw string, salt []byte, iters int, authMsg string) string {
	h, _, _ := hashFor(mech)
	sp := saltedPassword(t, mech, pw, salt, iters)
	mac := func(k []byte, m string) []byte {
		x := hmac.New(h, k)
		x.Write([]byte(m))
		return x.Sum(nil)
	}
	ck := mac(sp, "Client Key")
	d := h()
	d.Write(ck)
	sig := mac(d.Sum(nil), authMsg)
	for i := range ck {
		ck[i] ^= sig[i]
	}
	return base64.StdEncoding.EncodeToString(ck)
}
