package kafka

// SaslHandshake (key 17, v0-1) and SaslAuthenticate (key 36, v0-2) on the
// SASL_PLAINTEXT and SASL_SSL listeners (Config.SASL).
//
// Behavior:
//   - Until a connection has authenticated it may send only ApiVersions,
//     SaslHandshake and then SaslAuthenticate; anything else (a Produce
//     before SaslHandshake, SaslAuthenticate before SaslHandshake, a second
//     SaslHandshake mid-exchange) closes the connection, as Kafka does.
//   - SaslHandshake names a mechanism the listener enables, else
//     UNSUPPORTED_SASL_MECHANISM with the enabled list, then a close.
//     Handshake v0 switches the connection to raw SASL tokens, each framed
//     by a 4-byte length without a Kafka header, both ways (old clients);
//     v1 has the tokens carried by SaslAuthenticate.
//   - A failed authentication (wrong password, unknown user, bad SCRAM
//     nonce or proof) answers SASL_AUTHENTICATION_FAILED with Kafka's
//     message (raw v0: no answer) after connection.failed.authentication.
//     delay.ms, then closes; so does any refused request above. Failures are
//     counted (Config.SASL.Observe) and logged with the user and the
//     client address, at most one line a second plus a count of those held
//     back.
//   - Success sets the connection's principal to User:<name>. With
//     connections.max.reauth.ms set, SaslAuthenticate v1+ tells the client
//     its session_lifetime_ms (KIP-368); the client re-authenticates with a
//     new SaslHandshake and SaslAuthenticate on the same connection (same
//     mechanism, same principal, or it fails), and a connection whose
//     session expired is closed on its next request other than those.
//   - On a listener without SASL both answer ILLEGAL_SASL_STATE, as Kafka.
//
// Skipped on purpose: GSSAPI and OAUTHBEARER; SCRAM delegation tokens
// (the tokenauth extension); SASL between brokers.

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/sasl"
)

const (
	saslHandshakeKey    = 17
	saslAuthenticateKey = 36
)

// SASLConfig makes a listener a SASL one.
type SASLConfig struct {
	// Mechanisms are the enabled mechanisms (sasl.enabled.mechanisms).
	Mechanisms []string
	// PlainUsers are the PLAIN users and their passwords.
	PlainUsers map[string]string
	// Reauth is connections.max.reauth.ms; 0: sessions do not expire.
	Reauth time.Duration
	// FailureDelay is connection.failed.authentication.delay.ms.
	FailureDelay time.Duration
	// Observe, when set, is told of each authentication's outcome:
	// mechanism ("" when the client failed before choosing one), ok, and
	// whether it was a re-authentication.
	Observe func(mechanism string, ok, reauth bool)

	logLimit sasl.LogLimiter
}

// connSASL is a SASL connection's authentication state; only the
// connection's reader touches it.
type connSASL struct {
	mech string            // mechanism of the handshake (kept across re-authentications)
	conv sasl.Conversation // the exchange in progress, nil when none
	raw  bool              // handshake v0: the next frames are raw SASL tokens
	// authenticated: at least once; expiry is when the session ends (zero:
	// never); failed: the connection waits for its delayed close and
	// reads nothing more.
	authenticated bool
	expiry        time.Time
	failed        bool
}

// saslStore looks credentials up for the mechanisms: PLAIN users from the
// config, SCRAM credentials from the metadata image.
type saslStore struct{ s *Server }

func (st saslStore) PlainPassword(user string) (string, bool) {
	pw, ok := st.s.cfg.SASL.PlainUsers[user]
	return pw, ok
}

func (st saslStore) ScramCredential(mech, user string) (sasl.Credential, bool) {
	c, ok := st.s.ctrl.Image().ScramCredentialFor(user, mech)
	if !ok {
		return sasl.Credential{}, false
	}
	return sasl.Credential{Salt: c.Salt, Iterations: int(c.Iterations), StoredKey: c.StoredKey, ServerKey: c.ServerKey}, true
}

// saslGate decides whether a request may go on to its handler. It returns
// nil to go on, or the slot that answers it instead: a close, delayed by
// connection.failed.authentication.delay.ms for a request an
// unauthenticated client may not send, at once for an expired session.
func (c *conn) saslGate(cx *reqCtx) *slot {
	st := c.sasl
	switch cx.key {
	case apiVersionsKey:
		if st.conv == nil || st.authenticated {
			return nil
		}
	case saslHandshakeKey:
		if st.conv == nil {
			return nil
		}
	case saslAuthenticateKey:
		if st.conv != nil {
			return nil
		}
	default:
		if st.authenticated && (st.expiry.IsZero() || c.s.cfg.Now().Before(st.expiry)) {
			return nil
		}
		if st.authenticated {
			sl := &slot{done: make(chan struct{}), closeConn: true}
			sl.finished.Store(true)
			close(sl.done)
			c.s.log.Info("closing connection: SASL session expired without re-authentication", "remote", c.remote, "principal", c.principal, "key", cx.key)
			st.failed = true
			return sl
		}
	}
	c.authFailed(st.mech, c.principal, "request "+kmsg.NameForKey(cx.key)+" not allowed in this SASL state")
	sl := &slot{done: make(chan struct{})}
	time.AfterFunc(c.s.cfg.SASL.FailureDelay, func() {
		sl.closeConn = true
		sl.finished.Store(true)
		close(sl.done)
	})
	return sl
}

// authFailed marks the connection failed (its reader stops), counts the
// failure and logs it, rate-limited.
func (c *conn) authFailed(mech, user, why string) {
	c.sasl.failed = true
	cfg := c.s.cfg.SASL
	if cfg.Observe != nil {
		cfg.Observe(mech, false, c.sasl.authenticated)
	}
	if ok, held := cfg.logLimit.Allow(time.Now()); ok {
		c.s.log.Warn("SASL authentication failed", "listener", c.s.cfg.ListenerName, "remote", c.remote, "mechanism", mech,
			"user", strings.TrimPrefix(user, "User:"), "reason", why, "failures_not_logged", held)
	}
}

// delayed calls finish with resp (nil: a close) after the failure delay.
func (c *conn) delayed(finish func(kmsg.Response, error), resp kmsg.Response) {
	time.AfterFunc(c.s.cfg.SASL.FailureDelay, func() {
		if resp == nil {
			finish(nil, errCloseConn)
			return
		}
		finish(resp, nil)
	})
}

func handleSaslHandshake(s *Server, cx *reqCtx, req kmsg.Request, finish func(kmsg.Response, error)) {
	r := req.(*kmsg.SASLHandshakeRequest)
	resp := r.ResponseKind().(*kmsg.SASLHandshakeResponse)
	c := cx.conn
	if c.sasl == nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		finish(resp, nil)
		return
	}
	st := c.sasl
	resp.SupportedMechanisms = slices.Clone(s.cfg.SASL.Mechanisms)
	switch {
	case !slices.Contains(s.cfg.SASL.Mechanisms, r.Mechanism):
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		c.authFailed("", c.principal, "mechanism "+r.Mechanism+" is not enabled")
		c.delayed(finish, resp)
		return
	case st.authenticated && r.Mechanism != st.mech:
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		c.authFailed(st.mech, c.principal, "re-authentication with mechanism "+r.Mechanism+" instead of "+st.mech)
		c.delayed(finish, resp)
		return
	case st.authenticated && r.Version == 0:
		c.authFailed(st.mech, c.principal, "re-authentication with SaslHandshake v0")
		c.delayed(finish, nil)
		return
	}
	conv, err := sasl.New(r.Mechanism, saslStore{s})
	if err != nil { // enabled but not implemented: config refuses this
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		finish(resp, nil)
		return
	}
	st.mech, st.conv, st.raw = r.Mechanism, conv, r.Version == 0
	finish(resp, nil)
}

func handleSaslAuthenticate(s *Server, cx *reqCtx, req kmsg.Request, finish func(kmsg.Response, error)) {
	r := req.(*kmsg.SASLAuthenticateRequest)
	resp := r.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	c := cx.conn
	if c.sasl == nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "SaslAuthenticate on a listener without SASL"
		resp.ErrorMessage = &msg
		finish(resp, nil)
		return
	}
	out, done, err := c.saslStep(r.SASLAuthBytes)
	if err != nil {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := err.Error()
		var se *sasl.Error
		if errors.As(err, &se) {
			msg = se.Msg
		}
		resp.ErrorMessage = &msg
		c.delayed(finish, resp)
		return
	}
	resp.SASLAuthBytes = out
	if done && !c.sasl.expiry.IsZero() && r.Version >= 1 {
		resp.SessionLifetimeMillis = s.cfg.SASL.Reauth.Milliseconds()
	}
	finish(resp, nil)
}

// saslStep feeds the client's token to the exchange in progress; on its
// successful end the connection is authenticated (again).
func (c *conn) saslStep(token []byte) ([]byte, bool, error) {
	st := c.sasl
	out, done, err := st.conv.Step(token)
	if err != nil {
		why, user := err.Error(), c.principal
		var se *sasl.Error
		if errors.As(err, &se) {
			why = se.Reason
			if se.User != "" {
				user = se.User
			}
		}
		st.conv = nil
		c.authFailed(st.mech, user, why)
		return nil, true, err
	}
	if !done {
		return out, false, nil
	}
	principal := "User:" + st.conv.Username()
	st.conv = nil
	reauth := st.authenticated
	if reauth && principal != c.principal {
		c.authFailed(st.mech, principal, "re-authentication as "+principal+" on a connection of "+c.principal)
		return nil, true, &sasl.Error{Msg: "Cannot change principals during re-authentication from " + c.principal + ": " + principal, Reason: "principal changed"}
	}
	c.principal = principal
	st.authenticated = true
	if d := c.s.cfg.SASL.Reauth; d > 0 {
		st.expiry = c.s.cfg.Now().Add(d)
	}
	if o := c.s.cfg.SASL.Observe; o != nil {
		o(st.mech, true, reauth)
	}
	c.s.log.Debug("SASL authenticated", "listener", c.s.cfg.ListenerName, "remote", c.remote, "principal", principal, "mechanism", st.mech, "reauth", reauth)
	return out, true, nil
}

// handleRawSASL serves a frame of a connection in raw mode (after
// SaslHandshake v0): the frame is a SASL token, the answer the server's
// token framed by its length alone. A failure closes the connection
// after the failure delay, without an answer.
func (c *conn) handleRawSASL(frame []byte) *slot {
	sl := &slot{done: make(chan struct{})}
	out, done, err := c.saslStep(frame)
	if err != nil {
		c.sasl.raw = false
		time.AfterFunc(c.s.cfg.SASL.FailureDelay, func() {
			sl.closeConn = true
			sl.finished.Store(true)
			close(sl.done)
		})
		return sl
	}
	if done {
		c.sasl.raw = false
	}
	sl.out = binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(out)), uint32(len(out)))
	sl.out = append(sl.out, out...)
	sl.finished.Store(true)
	close(sl.done)
	return sl
}

// saslStopped reports whether the reader must stop: the connection failed
// authentication and waits for its delayed answer and close.
func (c *conn) saslStopped() bool { return c.sasl != nil && c.sasl.failed }

// saslRaw reports whether the next frame is a raw SASL token.
func (c *conn) saslRaw() bool { return c.sasl != nil && c.sasl.raw }
