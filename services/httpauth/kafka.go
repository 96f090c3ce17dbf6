package httpauth

// What the authenticator asks the broker over the Kafka protocol: whether
// a user and password authenticate (a SASL connection as that user), what
// that user may do to a resource (the authorized_operations fields the
// broker's own authorizer fills in, KIP-430), and, for mTLS callers, which
// ACLs exist (DescribeAcls with the service's own identity).

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/sasl"
)

// SASLOpt is the franz-go option authenticating as user with mechanism
// mech (sasl.Plain, sasl.ScramSHA256 or sasl.ScramSHA512).
func SASLOpt(mech, user, password string) kgo.Opt {
	switch mech {
	case sasl.Plain:
		return kgo.SASL(plain.Auth{User: user, Pass: password}.AsMechanism())
	case sasl.ScramSHA512:
		return kgo.SASL(scram.Auth{User: user, Pass: password}.AsSha512Mechanism())
	}
	return kgo.SASL(scram.Auth{User: user, Pass: password}.AsSha256Mechanism())
}

func newSASLClient(brokers []string, mech string, tc *tls.Config, service, user, password string, extra []kgo.Opt) (*kgo.Client, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(brokers...), SASLOpt(mech, user, password),
		kgo.ClientID("ringtail-" + service), kgo.DialTimeout(5 * time.Second), kgo.RequestRetries(2)}
	if tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc.Clone()))
	}
	return kgo.NewClient(append(opts, extra...)...)
}

// kafkaVerifier checks credentials by authenticating to this node's SASL
// listener as the user: the broker's SASL code and user store decide.
type kafkaVerifier struct {
	brokers []string
	mech    string
	tls     *tls.Config
	service string
	opts    []kgo.Opt // Config.ClientOpts: the client is kept for Client
}

func (v *kafkaVerifier) Verify(ctx context.Context, user, password string) (*kgo.Client, error) {
	cl, err := newSASLClient(v.brokers, v.mech, v.tls, v.service, user, password, v.opts)
	if err != nil {
		return nil, err
	}
	// A Metadata request of no topics is the cheapest one that needs an
	// authenticated connection.
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}
	if _, err := cl.Request(ctx, req); err != nil {
		cl.Close()
		if errors.Is(err, kerr.SaslAuthenticationFailed) || errors.Is(err, kerr.IllegalSaslState) {
			return nil, fmt.Errorf("%w: %v", ErrBadCredentials, err)
		}
		return nil, err
	}
	return cl, nil
}

// How long Authorize waits for a topic that does not exist yet.
const (
	unknownWait     = 250 * time.Millisecond
	maxUnknownWaits = 40
)

// authzKey is one cached decision.
type authzKey struct {
	who  string // the principal (and, for http_basic, its credentials)
	host string
	rt   acl.ResourceType
	name string
	op   acl.Operation
}

// Authorize reports whether the request's caller may do op on the resource
// (TOPIC, GROUP or CLUSTER; the cluster's name is kafka-cluster): nil,
// a *DeniedError (errors.Is ErrDenied), or an error saying why it could
// not be decided.
//
// How it decides, by mode:
//   - none: allowed (the HTTP side authenticates nobody).
//   - http_basic: the broker's authorizer, asked as the user: a client
//     authenticated as the user sends Metadata (TOPIC), DescribeGroups
//     (GROUP) or DescribeCluster (CLUSTER) with the authorized operations
//     included, and op must be among them. Super users, DENY over ALLOW,
//     implied operations and allow.everyone.if.no.acl.found all come from
//     the broker. The broker sees the service's connection, so an ACL
//     limited to a host is matched against this node's loopback address,
//     not the HTTP client's.
//   - mtls: the service cannot act as the certificate's owner, so it
//     fetches the ACLs (DescribeAcls, with the service's own identity,
//     which needs DESCRIBE on the cluster) and applies the acl package's
//     rules with the broker's super.users and
//     allow.everyone.if.no.acl.found, the caller's certificate principal
//     and address.
//
// Decisions are reused for authzTTL, fetched ACLs for aclTTL.
func (a *Authenticator) Authorize(ctx context.Context, rt acl.ResourceType, name string, op acl.Operation) error {
	return a.authorize(ctx, rt, name, op, true)
}

// AuthorizeQuiet is Authorize for filtering a list: a refusal only hides
// the resource, so it is not counted in
// ringtail_services_authorization_denied_total, as Kafka's Metadata hides
// the topics a caller may not describe without logging a denial.
func (a *Authenticator) AuthorizeQuiet(ctx context.Context, rt acl.ResourceType, name string, op acl.Operation) error {
	return a.authorize(ctx, rt, name, op, false)
}

func (a *Authenticator) authorize(ctx context.Context, rt acl.ResourceType, name string, op acl.Operation, count bool) error {
	id, ok := ctx.Value(ctxKey{}).(*identity)
	if a.cfg.Mode == ModeNone || (a.cfg.Mode == ModeMTLS && !a.cfg.AuthzOn) {
		return nil
	}
	if !ok {
		id = &identity{principal: Anonymous}
	}
	who := id.principal
	if a.cfg.Mode == ModeHTTPBasic {
		who += "\x00" + string(id.key.mac[:])
	}
	k := authzKey{who: who, host: id.host, rt: rt, name: name, op: op}
	now := a.now()
	allowed, hit := a.authz.get(k, now)
	if !hit {
		var err error
		if a.cfg.Mode == ModeHTTPBasic {
			allowed, err = a.brokerAllows(ctx, rt, name, op)
		} else {
			allowed, err = a.aclAllows(ctx, id, rt, name, op)
		}
		if err != nil {
			return err
		}
		a.authz.put(k, allowed, now, authzTTL)
	}
	if allowed {
		return nil
	}
	if count {
		a.metrics.denied.WithLabelValues(a.cfg.Service, op.String(), rt.String()).Inc()
	}
	return &DeniedError{Principal: id.principal, Resource: rt, Name: name, Op: op}
}

// brokerAllows asks the broker, as the caller, which operations it has on
// the resource.
func (a *Authenticator) brokerAllows(ctx context.Context, rt acl.ResourceType, name string, op acl.Operation) (bool, error) {
	cl, err := a.Client(ctx)
	if err != nil {
		return false, err
	}
	ops, err := authorizedOps(ctx, cl, rt, name)
	// A service's own topic may not exist yet (it creates it at start):
	// the broker then cannot say what may be done to it, so wait a while.
	for i := 0; i < maxUnknownWaits && errors.Is(err, kerr.UnknownTopicOrPartition); i++ {
		t := time.NewTimer(unknownWait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, ctx.Err()
		case <-t.C:
		}
		ops, err = authorizedOps(ctx, cl, rt, name)
	}
	if err != nil {
		return false, fmt.Errorf("asking the broker what %s may do on %s %s: %w", Principal(ctx), rt, name, err)
	}
	return ops&(1<<op) != 0, nil
}

// authorizedOps is the caller's authorized_operations bitfield for the
// resource; a resource it may not describe has none.
func authorizedOps(ctx context.Context, cl *kgo.Client, rt acl.ResourceType, name string) (int32, error) {
	switch rt {
	case acl.ResourceTopic:
		req := kmsg.NewPtrMetadataRequest()
		t := kmsg.NewMetadataRequestTopic()
		t.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, t)
		req.IncludeTopicAuthorizedOperations = true
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return 0, err
		}
		for _, t := range resp.Topics {
			if t.Topic == nil || *t.Topic != name {
				continue
			}
			if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
				if errors.Is(err, kerr.TopicAuthorizationFailed) {
					return 0, nil
				}
				return 0, err
			}
			return t.AuthorizedOperations, nil
		}
		return 0, fmt.Errorf("topic %s missing from the Metadata response", name)
	case acl.ResourceGroup:
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Groups = []string{name}
		req.IncludeAuthorizedOperations = true
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return 0, err
		}
		for _, g := range resp.Groups {
			if g.Group != name {
				continue
			}
			if err := kerr.ErrorForCode(g.ErrorCode); err != nil {
				if errors.Is(err, kerr.GroupAuthorizationFailed) {
					return 0, nil
				}
				return 0, err
			}
			return g.AuthorizedOperations, nil
		}
		return 0, fmt.Errorf("group %s missing from the DescribeGroups response", name)
	case acl.ResourceCluster:
		req := kmsg.NewPtrDescribeClusterRequest()
		req.IncludeClusterAuthorizedOperations = true
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return 0, err
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			if errors.Is(err, kerr.ClusterAuthorizationFailed) {
				return 0, nil
			}
			return 0, err
		}
		return resp.ClusterAuthorizedOperations, nil
	}
	return 0, fmt.Errorf("authorizing %s resources over HTTP is not supported", rt)
}

// aclAllows decides with the broker's ACLs, fetched at most every aclTTL.
func (a *Authenticator) aclAllows(ctx context.Context, id *identity, rt acl.ResourceType, name string, op acl.Operation) (bool, error) {
	if a.cfg.ACLs == nil {
		return true, nil
	}
	a.aclSnap.Lock()
	defer a.aclSnap.Unlock() // one fetch at a time; the others wait for it
	now := a.now()
	if a.aclSnap.snap == nil || !now.Before(a.aclSnap.until) {
		bs, err := a.cfg.ACLs(ctx)
		if err != nil {
			return false, fmt.Errorf("fetching the broker's ACLs: %w", err)
		}
		a.aclSnap.snap = acl.NewSnapshot(now.UnixNano(), bs)
		a.aclSnap.until = now.Add(aclTTL)
	}
	host := id.host
	if ip := net.ParseIP(host); ip == nil {
		host = ""
	}
	return a.az.Authorize(a.aclSnap.snap, acl.Action{Principal: id.principal, Host: host, Resource: rt, Name: name, Op: op}), nil
}

// DescribeAllACLs is a Config.ACLs that lists every ACL with cl
// (DescribeAcls matching any resource, principal, host and operation).
func DescribeAllACLs(cl *kgo.Client) func(ctx context.Context) ([]acl.Binding, error) {
	return func(ctx context.Context) ([]acl.Binding, error) {
		req := kmsg.NewPtrDescribeACLsRequest()
		req.ResourceType = kmsg.ACLResourceTypeAny
		req.ResourcePatternType = kmsg.ACLResourcePatternTypeAny
		req.Operation = kmsg.ACLOperationAny
		req.PermissionType = kmsg.ACLPermissionTypeAny
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return nil, err
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			msg := ""
			if resp.ErrorMessage != nil {
				msg = ": " + *resp.ErrorMessage
			}
			return nil, fmt.Errorf("DescribeAcls: %w%s", err, msg)
		}
		var out []acl.Binding
		for _, r := range resp.Resources {
			for _, e := range r.ACLs {
				out = append(out, acl.Binding{ResourceType: acl.ResourceType(r.ResourceType), ResourceName: r.ResourceName,
					PatternType: acl.PatternType(r.ResourcePatternType), Principal: e.Principal, Host: e.Host,
					Operation: acl.Operation(e.Operation), Permission: acl.Permission(e.PermissionType)})
			}
		}
		return out, nil
	}
}
