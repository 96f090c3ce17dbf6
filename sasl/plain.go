package sasl

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
)

// maxPlainBytes bounds a PLAIN message (RFC 4616 allows 255 UTF-8
// characters per field).
const maxPlainBytes = 3 * 1024

// ParsePlain splits a PLAIN message, [authzid] NUL authcid NUL passwd
// (RFC 4616). authcid and passwd must not be empty.
func ParsePlain(msg []byte) (authzid, user, password string, err error) {
	if len(msg) > maxPlainBytes {
		return "", "", "", errors.New("PLAIN message too long")
	}
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 {
		return "", "", "", errors.New("PLAIN message is not authzid NUL authcid NUL passwd")
	}
	if len(parts[1]) == 0 {
		return "", "", "", errors.New("PLAIN message has an empty username")
	}
	if len(parts[2]) == 0 {
		return "", "", "", errors.New("PLAIN message has an empty password")
	}
	return string(parts[0]), string(parts[1]), string(parts[2]), nil
}

// plainFailed is Kafka's PlainServerCallbackHandler answer.
const plainFailed = "Authentication failed: Invalid username or password"

type plainConv struct {
	st   Store
	user string
	done bool
}

func (c *plainConv) Username() string { return c.user }

func (c *plainConv) Step(in []byte) ([]byte, bool, error) {
	if c.done {
		return nil, true, &Error{Msg: plainFailed, Reason: "PLAIN exchange already finished"}
	}
	c.done = true
	authzid, user, pw, err := ParsePlain(in)
	if err != nil {
		return nil, true, &Error{Msg: "Authentication failed: Invalid SASL/PLAIN response", Reason: err.Error()}
	}
	if authzid != "" && authzid != user {
		return nil, true, &Error{Msg: "Authentication failed: Client requested an authorization id that is different from username",
			Reason: "user " + user + " asked for authorization id " + authzid, User: user}
	}
	want, ok := c.st.PlainPassword(user)
	// Compare digests so that the time taken says nothing about the
	// password's length, and an unknown user costs what a known one does.
	a, b := sha256.Sum256([]byte(pw)), sha256.Sum256([]byte(want))
	if subtle.ConstantTimeCompare(a[:], b[:]) != 1 || !ok {
		why := "wrong password for user " + user
		if !ok {
			why = "unknown user " + user
		}
		return nil, true, &Error{Msg: plainFailed, Reason: why, User: user}
	}
	c.user = user
	return []byte{}, true, nil
}
