package controlplane

import (
	"context"
	"fmt"

	"github.com/ringtail/ringtail/model"
)

// SCRAM credentials (KIP-554): each user's salted and hashed credential per
// SCRAM mechanism, as records in the metadata log, so that every node can
// authenticate a user created through any one of them.

// ScramRecord sets (or, with Delete, removes) user's credential
// for one SCRAM mechanism. It holds what RFC 5802 has the server store,
// never the password.
type ScramRecord struct {
	User       string `json:"user"`
	Mechanism  string `json:"mechanism"` // "SCRAM-SHA-256" or "SCRAM-SHA-512"
	Delete     bool   `json:"delete,omitempty"`
	Salt       []byte `json:"salt,omitempty"`
	Iterations int32  `json:"iterations,omitempty"`
	StoredKey  []byte `json:"stored_key,omitempty"`
	ServerKey  []byte `json:"server_key,omitempty"`
}

// ScramUsers are the SCRAM credentials by user, then mechanism.
type ScramUsers map[string]map[string]ScramCredential

// ScramCredential is one user's credential for one mechanism in the Image.
type ScramCredential struct {
	Salt       []byte
	Iterations int32
	StoredKey  []byte
	ServerKey  []byte
}

// ScramCredentialFor returns user's credential for mechanism mech.
func (im *Image) ScramCredentialFor(user, mech string) (ScramCredential, bool) {
	c, ok := im.Scram[user][mech]
	return c, ok
}

// applyScram applies one credential record. The image's map is copied, as
// earlier images share it; deleting a credential that is not there is a
// no-op (the command checked it against its own image).
func (n *Image) applyScram(offset int64, r *ScramRecord) error {
	if r == nil || r.User == "" || (r.Mechanism != "SCRAM-SHA-256" && r.Mechanism != "SCRAM-SHA-512") {
		return fmt.Errorf("%w: bad SCRAM credential record (entry %d)", model.ErrInvalidRequest, offset)
	}
	m := cloneMap(n.Scram)
	user := cloneMap(m[r.User])
	if r.Delete {
		delete(user, r.Mechanism)
	} else {
		user[r.Mechanism] = ScramCredential{Salt: r.Salt, Iterations: r.Iterations, StoredKey: r.StoredKey, ServerKey: r.ServerKey}
	}
	if len(user) == 0 {
		delete(m, r.User)
	} else {
		m[r.User] = user
	}
	n.Scram = m
	return nil
}

// AlterUserScramCredentials commits recs, all or none, from any node.
func (c *Controller) AlterUserScramCredentials(ctx context.Context, recs []ScramRecord) error {
	if len(recs) == 0 {
		return nil
	}
	out := make([]Record, len(recs))
	for i := range recs {
		out[i] = Record{Type: RecScram, Scram: &recs[i]}
	}
	return c.commitAnywhere(ctx, out)
}
