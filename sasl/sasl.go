// Package sasl is the server side of the SASL mechanisms Ringtail offers
// Kafka clients: PLAIN (RFC 4616) against users from the config, and
// SCRAM-SHA-256/512 (RFC 5802, RFC 7677) against credentials stored salted
// and hashed; github.com/xdg-go/scram reads the client-first message, the
// client-final one is checked here with Kafka's leniency on the nonce.
// Each authentication is a
// Conversation that the protocol layer (kafka/sasl.go) feeds with the
// client's tokens; this package knows nothing of Kafka's framing.
package sasl

import (
	"fmt"
	"slices"
	"strings"
)

// Mechanism names, as clients send them in SaslHandshake.
const (
	Plain       = "PLAIN"
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

// Supported lists the mechanisms this package implements.
var Supported = []string{Plain, ScramSHA256, ScramSHA512}

// IsSupported reports whether mech is one of Supported.
func IsSupported(mech string) bool { return slices.Contains(Supported, mech) }

// IsScram reports whether mech is a SCRAM mechanism.
func IsScram(mech string) bool { return mech == ScramSHA256 || mech == ScramSHA512 }

// Error is a failed authentication: Msg is what the client is told (Kafka's
// wording, never which of user or password was wrong), Reason what the
// server logs, User the user the client claimed to be ("" if unknown).
type Error struct {
	Msg, Reason, User string
}

func (e *Error) Error() string { return e.Msg + ": " + e.Reason }

// Store is where a conversation looks the client's credentials up. Both
// methods are called concurrently from many connections.
type Store interface {
	// PlainPassword is user's password for PLAIN; false if none.
	PlainPassword(user string) (string, bool)
	// ScramCredential is user's credential for SCRAM mechanism mech;
	// false if none.
	ScramCredential(mech, user string) (Credential, bool)
}

// Conversation is one authentication exchange on the server side.
type Conversation interface {
	// Step takes the client's next token and returns the server's answer.
	// done is set once the exchange is over: with err == nil the client
	// is authenticated as Username. An error (*Error) ends it failed; out
	// may then still hold a server-error message for the client.
	Step(in []byte) (out []byte, done bool, err error)
	// Username is the authenticated user once Step reported done.
	Username() string
}

// New starts a conversation of mechanism mech (one of Supported) against
// st.
func New(mech string, st Store) (Conversation, error) {
	switch mech {
	case Plain:
		return &plainConv{st: st}, nil
	case ScramSHA256, ScramSHA512:
		return newScram(mech, st)
	}
	return nil, fmt.Errorf("sasl: unsupported mechanism %q: valid are %s", mech, strings.Join(Supported, ", "))
}
