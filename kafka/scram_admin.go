package kafka

// DescribeUserScramCredentials (key 50, v0) and AlterUserScramCredentials
// (key 51, v0), KIP-554: the SCRAM users, kept as metadata records
// (controlplane/scram.go) so that every node authenticates them.
//
// Behavior (Kafka's checks and messages):
//   - Alter: one result per user named, in request order. A user with the
//     same mechanism twice among deletions and upsertions gets
//     DUPLICATE_RESOURCE; an empty name UNACCEPTABLE_CREDENTIAL; a mechanism
//     other than SCRAM-SHA-256 (1) and SCRAM-SHA-512 (2)
//     UNSUPPORTED_SASL_MECHANISM; iterations outside 4096..16384, an empty
//     salt or a salted password of the wrong size UNACCEPTABLE_CREDENTIAL;
//     deleting a credential that does not exist RESOURCE_NOT_FOUND. A user
//     with an error has none of its changes made; the others' are committed
//     together, StoredKey and ServerKey derived here from the salted
//     password, which is not kept.
//   - Describe: no users (null or empty) lists every user with a
//     credential; a user named twice gets DUPLICATE_RESOURCE, one without
//     credentials RESOURCE_NOT_FOUND; each credential shows its mechanism
//     and iterations, never the salt or keys.
//
// Skipped on purpose: authorization (ALTER/DESCRIBE on the cluster) is the
// authorizer's.

import (
	"context"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/sasl"
)

// scramMechanisms maps Kafka's ScramMechanism codes to names.
var scramMechanisms = map[int8]string{1: sasl.ScramSHA256, 2: sasl.ScramSHA512}

func scramMechanismCode(name string) int8 {
	for c, n := range scramMechanisms {
		if n == name {
			return c
		}
	}
	return 0
}

type scramUserResult struct {
	err  *kerr.Error
	msg  string
	recs []controlplane.ScramRecord
}

func handleAlterUserScramCredentials(s *Server, cx *reqCtx, req *kmsg.AlterUserSCRAMCredentialsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	var order []string
	users := map[string]*scramUserResult{}
	pairs := map[[2]string]int{}
	note := func(name string, mech int8) {
		if _, ok := users[name]; !ok {
			users[name] = &scramUserResult{}
			order = append(order, name)
		}
		pairs[[2]string{name, string(rune(mech))}]++
	}
	for _, d := range req.Deletions {
		note(d.Name, d.Mechanism)
	}
	for _, u := range req.Upsertions {
		note(u.Name, u.Mechanism)
	}
	fail := func(name string, e *kerr.Error, msg string) {
		if r := users[name]; r.err == nil {
			r.err, r.msg = e, msg
		}
	}
	for p, n := range pairs {
		if n > 1 {
			fail(p[0], kerr.DuplicateResource, "A user credential cannot be altered twice in the same request")
		}
	}
	im := s.ctrl.Image()
	check := func(name string, code int8) (string, bool) {
		mech, ok := scramMechanisms[code]
		switch {
		case name == "":
			fail(name, kerr.UnacceptableCredential, "Username must not be empty")
		case !ok:
			fail(name, kerr.UnsupportedSaslMechanism, "Unknown SCRAM mechanism")
		}
		return mech, name != "" && ok
	}
	for _, d := range req.Deletions {
		mech, ok := check(d.Name, d.Mechanism)
		if !ok {
			continue
		}
		if _, exists := im.ScramCredentialFor(d.Name, mech); !exists {
			fail(d.Name, kerr.ResourceNotFound, "Attempt to delete a user credential that does not exist")
			continue
		}
		users[d.Name].recs = append(users[d.Name].recs, controlplane.ScramRecord{User: d.Name, Mechanism: mech, Delete: true})
	}
	for _, u := range req.Upsertions {
		mech, ok := check(u.Name, u.Mechanism)
		if !ok {
			continue
		}
		switch {
		case u.Iterations < sasl.MinIterations:
			fail(u.Name, kerr.UnacceptableCredential, "Too few iterations")
			continue
		case u.Iterations > sasl.MaxIterations:
			fail(u.Name, kerr.UnacceptableCredential, "Too many iterations")
			continue
		case len(u.Salt) == 0:
			fail(u.Name, kerr.UnacceptableCredential, "Salt must not be empty")
			continue
		}
		cred, err := sasl.DeriveCredential(mech, u.Salt, u.SaltedPassword, int(u.Iterations))
		if err != nil {
			fail(u.Name, kerr.UnacceptableCredential, err.Error())
			continue
		}
		users[u.Name].recs = append(users[u.Name].recs, controlplane.ScramRecord{User: u.Name, Mechanism: mech,
			Salt: cred.Salt, Iterations: u.Iterations, StoredKey: cred.StoredKey, ServerKey: cred.ServerKey})
	}
	var recs []controlplane.ScramRecord
	for _, name := range order {
		if r := users[name]; r.err == nil {
			recs = append(recs, r.recs...)
		}
	}
	var commitErr error
	if len(recs) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeoutDefault)
		commitErr = s.ctrl.AlterUserScramCredentials(ctx, recs)
		cancel()
	}
	for _, name := range order {
		r := users[name]
		res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		res.User = name
		switch {
		case r.err != nil:
			res.ErrorCode = r.err.Code
			msg := r.msg
			res.ErrorMessage = &msg
		case commitErr != nil:
			res.ErrorCode = errorCode(s.log, commitErr)
			res.ErrorMessage = errorMessage(commitErr)
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}

// requestTimeoutDefault bounds a SCRAM credential commit.
const requestTimeoutDefault = 30 * time.Second

func handleDescribeUserScramCredentials(s *Server, cx *reqCtx, req *kmsg.DescribeUserSCRAMCredentialsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	im := s.ctrl.Image()
	var names []string
	if len(req.Users) == 0 {
		for name := range im.Scram {
			names = append(names, name)
		}
		sort.Strings(names)
	} else {
		seen := map[string]int{}
		for _, u := range req.Users {
			seen[u.Name]++
			if seen[u.Name] == 1 {
				names = append(names, u.Name)
			}
		}
		for _, name := range names {
			if seen[name] > 1 {
				res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
				res.User = name
				res.ErrorCode = kerr.DuplicateResource.Code
				msg := "Cannot describe SCRAM credentials for the same user twice in a single request"
				res.ErrorMessage = &msg
				resp.Results = append(resp.Results, res)
			}
		}
		names = slices.DeleteFunc(names, func(n string) bool { return seen[n] > 1 })
	}
	for _, name := range names {
		res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		res.User = name
		creds := im.Scram[name]
		if len(creds) == 0 {
			res.ErrorCode = kerr.ResourceNotFound.Code
			msg := "Attempt to describe a user credential that does not exist"
			res.ErrorMessage = &msg
		}
		mechs := make([]string, 0, len(creds))
		for m := range creds {
			mechs = append(mechs, m)
		}
		sort.Strings(mechs)
		for _, m := range mechs {
			ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
			ci.Mechanism = scramMechanismCode(m)
			ci.Iterations = creds[m].Iterations
			res.CredentialInfos = append(res.CredentialInfos, ci)
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}
