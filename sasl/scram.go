package sasl

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"

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
	conv *scram.ServerConversation
	user string
	done bool
}

func newScram(mech string, st Store) (*scramConv, error) {
	_, gen, err := hashFor(mech)
	if err != nil {
		return nil, err
	}
	srv, err := gen.NewServer(func(user string) (scram.StoredCredentials, error) {
		cred, ok := st.ScramCredential(mech, user)
		if !ok {
			return scram.StoredCredentials{}, fmt.Errorf("unknown user %s", user)
		}
		return scram.StoredCredentials{KeyFactors: scram.KeyFactors{Salt: string(cred.Salt), Iters: cred.Iterations},
			StoredKey: cred.StoredKey, ServerKey: cred.ServerKey}, nil
	})
	if err != nil {
		return nil, err
	}
	return &scramConv{mech: mech, conv: srv.NewConversation()}, nil
}

func (c *scramConv) Username() string { return c.user }

func (c *scramConv) Step(in []byte) ([]byte, bool, error) {
	if c.done {
		return nil, true, &Error{Msg: scramFailed(c.mech), Reason: "SCRAM exchange already finished"}
	}
	out, err := c.conv.Step(string(in))
	if err != nil {
		c.done = true
		who := c.conv.Username()
		why := err.Error()
		if who != "" {
			why = "user " + who + ": " + why
		}
		return nil, true, &Error{Msg: scramFailed(c.mech), Reason: why}
	}
	if z := c.conv.AuthzID(); z != "" && z != c.conv.Username() {
		c.done = true
		return nil, true, &Error{Msg: "Authentication failed: Client requested an authorization id that is different from username",
			Reason: "user " + c.conv.Username() + " asked for authorization id " + z}
	}
	if !c.conv.Done() {
		return []byte(out), false, nil
	}
	c.done = true
	if !c.conv.Valid() {
		return nil, true, &Error{Msg: scramFailed(c.mech), Reason: "user " + c.conv.Username() + ": invalid proof"}
	}
	c.user = c.conv.Username()
	return []byte(out), true, nil
}
