package sasl

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"hash"
	"strings"

	"github.com/xdg-go/scram"
)

// Iteration limits of a SCRAM credential, Kafka's (ScramMechanism's
// minIterations and maxIterations).
const (
	MinIterations = 4096
	MaxIterations = 16384
)

// Credential is what the server keeps of a SCRAM password (RFC 5802): the
// salt and iteration count the client derives its key with, StoredKey to
// check the client's proof, ServerKey to prove itself. Never the password.
type Credential struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

func hashFor(mech string) (func() hash.Hash, scram.HashGeneratorFcn, error) {
	switch mech {
	case ScramSHA256:
		return sha256.New, scram.SHA256, nil
	case ScramSHA512:
		return sha512.New, scram.SHA512, nil
	}
	return nil, nil, fmt.Errorf("sasl: %q is not a SCRAM mechanism: valid are %s, %s", mech, ScramSHA256, ScramSHA512)
}

// HashSize is the digest size of SCRAM mechanism mech (0 if not SCRAM):
// the length of a SaltedPassword, StoredKey and ServerKey.
func HashSize(mech string) int {
	h, _, err := hashFor(mech)
	if err != nil {
		return 0
	}
	return h().Size()
}

// DeriveCredential makes the stored credential from a salted password,
// Hi(password, salt, iterations), as AlterUserScramCredentials carries it:
// StoredKey = H(HMAC(SaltedPassword, "Client Key")), ServerKey =
// HMAC(SaltedPassword, "Server Key").
func DeriveCredential(mech string, salt, saltedPassword []byte, iterations int) (Credential, error) {
	h, _, err := hashFor(mech)
	if err != nil {
		return Credential{}, err
	}
	if len(saltedPassword) != h().Size() {
		return Credential{}, fmt.Errorf("salted password of %d bytes; %s wants %d", len(saltedPassword), mech, h().Size())
	}
	mac := func(key []byte, s string) []byte {
		m := hmac.New(h, key)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	clientKey := mac(saltedPassword, "Client Key")
	d := h()
	d.Write(clientKey)
	return Credential{Salt: append([]byte(nil), salt...), Iterations: iterations, StoredKey: d.Sum(nil), ServerKey: mac(saltedPassword, "Server Key")}, nil
}

// scramFailed is Kafka's answer to any failed SCRAM exchange.
func scramFailed(mech string) string {
	return "Authentication failed during authentication due to invalid credentials with SASL mechanism " + mech
}

type scramConv struct {
	mech string
	st   Store
	conv *scram.ServerConversation
	hash func() hash.Hash
	// From the first exchange: the client's credential, and what the
	// final one is checked against.
	cred                    Credential
	gs2, c1bare, s1, snonce string
	user                    string
	step                    int
}

func newScram(mech string, st Store) (*scramConv, error) {
	h, gen, err := hashFor(mech)
	if err != nil {
		return nil, err
	}
	c := &scramConv{mech: mech, st: st, hash: h}
	srv, err := gen.NewServer(func(user string) (scram.StoredCredentials, error) {
		cred, ok := st.ScramCredential(mech, user)
		if !ok {
			return scram.StoredCredentials{}, fmt.Errorf("unknown user %s", user)
		}
		c.cred = cred
		return scram.StoredCredentials{KeyFactors: scram.KeyFactors{Salt: string(cred.Salt), Iters: cred.Iterations},
			StoredKey: cred.StoredKey, ServerKey: cred.ServerKey}, nil
	})
	if err != nil {
		return nil, err
	}
	c.conv = srv.NewConversation()
	return c, nil
}

func (c *scramConv) Username() string { return c.user }

func (c *scramConv) fail(who, why string) ([]byte, bool, error) {
	c.step = 2
	if who != "" {
		why = "user " + who + ": " + why
	}
	return nil, true, &Error{Msg: scramFailed(c.mech), Reason: why, User: who}
}

// Step runs the client-first message through xdg-go/scram (parsing,
// credential lookup, server-first), and checks the client-final message
// itself: as Kafka's ScramSaslServer, it accepts a nonce that ends with the
// server's (librdkafka repeats its own nonce in front), which xdg-go/scram
// refuses.
func (c *scramConv) Step(in []byte) ([]byte, bool, error) {
	switch c.step {
	case 0:
		c.step = 1
		out, err := c.conv.Step(string(in))
		if err != nil {
			return c.fail(c.conv.Username(), err.Error())
		}
		if z := c.conv.AuthzID(); z != "" && z != c.conv.Username() {
			c.step = 2
			return nil, true, &Error{Msg: "Authentication failed: Client requested an authorization id that is different from username",
				Reason: "user " + c.conv.Username() + " asked for authorization id " + z, User: c.conv.Username()}
		}
		// xdg-go/scram accepted c1, so it has a GS2 header "flag,[a=authzid],".
		c1 := string(in)
		i := strings.IndexByte(c1, ',')
		j := i + 1 + strings.IndexByte(c1[i+1:], ',')
		c.gs2, c.c1bare, c.s1 = c1[:j+1], c1[j+1:], out
		c.snonce, _, _ = strings.Cut(strings.TrimPrefix(out, "r="), ",")
		return []byte(out), false, nil
	case 1:
		c.step = 2
		return c.final(string(in))
	}
	return nil, true, &Error{Msg: scramFailed(c.mech), Reason: "SCRAM exchange already finished"}
}

// final checks client-final-message (RFC 5802 section 7):
// c=<base64 GS2 header>,r=<nonce>[,extensions],p=<base64 proof>.
func (c *scramConv) final(c2 string) ([]byte, bool, error) {
	who := c.conv.Username()
	i := strings.LastIndex(c2, ",p=")
	if i < 0 {
		return c.fail(who, "client-final message has no proof")
	}
	wop, proofB64 := c2[:i], c2[i+3:]
	fields := strings.Split(wop, ",")
	if len(fields) < 2 || !strings.HasPrefix(fields[0], "c=") || !strings.HasPrefix(fields[1], "r=") {
		return c.fail(who, "client-final message is not c=...,r=...,p=...")
	}
	if cb, err := base64.StdEncoding.DecodeString(fields[0][2:]); err != nil || string(cb) != c.gs2 {
		return c.fail(who, "channel binding does not match the GS2 header")
	}
	if nonce := fields[1][2:]; !strings.HasSuffix(nonce, c.snonce) {
		return c.fail(who, "nonce received did not match nonce sent")
	}
	proof, err := base64.StdEncoding.DecodeString(proofB64)
	if err != nil || len(proof) != c.hash().Size() {
		return c.fail(who, "malformed client proof")
	}
	authMsg := []byte(c.c1bare + "," + c.s1 + "," + wop)
	mac := func(key, msg []byte) []byte {
		m := hmac.New(c.hash, key)
		m.Write(msg)
		return m.Sum(nil)
	}
	sig := mac(c.cred.StoredKey, authMsg)
	clientKey := make([]byte, len(proof))
	for k := range proof {
		clientKey[k] = proof[k] ^ sig[k]
	}
	d := c.hash()
	d.Write(clientKey)
	if !hmac.Equal(d.Sum(nil), c.cred.StoredKey) {
		return c.fail(who, "invalid proof")
	}
	c.user = who
	return []byte("v=" + base64.StdEncoding.EncodeToString(mac(c.cred.ServerKey, authMsg))), true, nil
}
