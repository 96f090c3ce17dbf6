package kafka

// Authorization of requests: one check, cx.authorize, that handlers call
// with the resource and operation Kafka's KafkaApis checks for the request.
// Decisions come from the connection's cache (acl.Cache) against the
// image's ACL snapshot, so a client repeating a request pays a map lookup;
// the cache starts over whenever an ACL change is applied. Denials are
// counted (DeniedCounts, for ringtail_authorization_denied_total) and
// logged with the principal, client address, operation and resource, at
// most one line a second plus the count of lines suppressed.

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/config"
	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/group"
)

// denyLogInterval is the least time between two logged denials.
const denyLogInterval = time.Second

// authz is a Server's authorization state.
type authz struct {
	// az is nil when authorization is off (authorizer.class.name unset).
	az     *acl.Authorizer
	denied sync.Map // deniedKey -> *atomic.Int64
	log    struct {
		sync.Mutex
		last       time.Time
		suppressed int
	}
}

type deniedKey struct {
	op acl.Operation
	rt acl.ResourceType
}

// DeniedCount is how many requests were refused one operation on one
// resource type.
type DeniedCount struct {
	Operation, ResourceType string
	Count                   int64
}

func newAuthz(c config.AuthorizerConfig) *authz {
	a := &authz{}
	if !c.Enabled() {
		return a
	}
	a.az = &acl.Authorizer{SuperUsers: map[string]bool{}, AllowIfNoACL: c.AllowEveryoneIfNoACLFound}
	for _, p := range c.SuperUserList() {
		a.az.SuperUsers[p] = true
	}
	return a
}

// AuthorizationEnabled reports whether the server checks ACLs.
func (s *Server) AuthorizationEnabled() bool { return s.authz != nil && s.authz.az != nil }

// DeniedCounts lists the denials so far by operation and resource type.
func (s *Server) DeniedCounts() []DeniedCount {
	var out []DeniedCount
	s.authz.denied.Range(func(k, v any) bool {
		dk := k.(deniedKey)
		out = append(out, DeniedCount{Operation: dk.op.String(), ResourceType: dk.rt.String(), Count: v.(*atomic.Int64).Load()})
		return true
	})
	return out
}

// principal is the connection's Kafka principal; a PLAINTEXT connection
// has authenticated nothing and is User:ANONYMOUS.
func (c *conn) kafkaPrincipal() string {
	if c.principal == "" {
		return acl.Anonymous
	}
	return c.principal
}

// clientHost is the client's IP address, as ACL hosts name it.
func (c *conn) clientHost() string {
	if h, _, err := net.SplitHostPort(c.remote); err == nil {
		return h
	}
	return c.remote
}

// authorize reports whether the request's principal may do op on the
// resource; a refusal is counted and logged. Always true with no
// authorizer.
func (cx *reqCtx) authorize(rt acl.ResourceType, name string, op acl.Operation) bool {
	if cx.allowed(rt, name, op) {
		return true
	}
	cx.conn.s.authz.deny(cx, rt, name, op)
	return false
}

// allowed is authorize without the audit: for filtering what a listing
// shows (Metadata of all topics, ListGroups), where Kafka logs nothing.
func (cx *reqCtx) allowed(rt acl.ResourceType, name string, op acl.Operation) bool {
	if !cx.authzOn() {
		return true
	}
	s := cx.conn.s
	c := cx.conn
	return c.acls.Authorize(s.authz.az, s.ctrl.Image().ACLSnapshot(),
		acl.Action{Principal: c.kafkaPrincipal(), Host: c.hostIP, Resource: rt, Name: name, Op: op})
}

// authzOn reports whether requests on cx are authorized. A request
// without a connection (handler unit tests) is not.
func (cx *reqCtx) authzOn() bool {
	return cx != nil && cx.conn != nil && cx.conn.s.authz != nil && cx.conn.s.authz.az != nil
}

// authorizeCluster is authorize on the cluster resource.
func (cx *reqCtx) authorizeCluster(op acl.Operation) bool {
	return cx.authorize(acl.ResourceCluster, acl.ClusterName, op)
}

func (a *authz) deny(cx *reqCtx, rt acl.ResourceType, name string, op acl.Operation) {
	k := deniedKey{op, rt}
	v, ok := a.denied.Load(k)
	if !ok {
		v, _ = a.denied.LoadOrStore(k, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(1)

	a.log.Lock()
	now := cx.conn.s.cfg.Now()
	if now.Sub(a.log.last) < denyLogInterval {
		a.log.suppressed++
		a.log.Unlock()
		return
	}
	suppressed := a.log.suppressed
	a.log.last, a.log.suppressed = now, 0
	a.log.Unlock()
	cx.conn.s.log.Info("authorization denied", "principal", cx.conn.kafkaPrincipal(), "client", cx.conn.remote,
		"operation", op.String(), "resource_type", rt.String(), "resource", name, "api_key", cx.key, "suppressed", suppressed)
}

// authorize runs lk.check on the topic ref names; a topic id the image
// does not know is left to the lookup (UNKNOWN_TOPIC_ID).
func (lk *partLookup) authorize(im *controlplane.Image, ref topicRef) error {
	if lk.check == nil {
		return nil
	}
	name := ref.name
	if ref.byID {
		t := im.TopicsByID[ref.id]
		if t == nil {
			return nil
		}
		name = t.Name
	}
	return lk.check(name)
}

// topicCheck is a partLookup check: op on each topic, else
// TOPIC_AUTHORIZATION_FAILED. nil when authorization is off.
func (cx *reqCtx) topicCheck(op acl.Operation) func(string) error {
	if !cx.authzOn() {
		return nil
	}
	return func(topic string) error {
		if cx.authorize(acl.ResourceTopic, topic, op) {
			return nil
		}
		return fmt.Errorf("%w: %s on topic %q", kerr.TopicAuthorizationFailed, op, topic)
	}
}

// denyAll is a partLookup check refusing every topic: a follower fetch
// without CLUSTER_ACTION.
func denyAll(string) error {
	return fmt.Errorf("%w: CLUSTER_ACTION on the cluster is needed to fetch as a replica", kerr.TopicAuthorizationFailed)
}

// mayCreate splits topics to create into those the principal may create
// (CREATE on the cluster, or on the topic) and those it may not.
func (cx *reqCtx) mayCreate(topics []string) (ok []string, denied map[string]bool) {
	if !cx.authzOn() || cx.allowed(acl.ResourceCluster, acl.ClusterName, acl.OpCreate) {
		return topics, nil
	}
	for _, t := range topics {
		if cx.authorize(acl.ResourceTopic, t, acl.OpCreate) {
			ok = append(ok, t)
			continue
		}
		if denied == nil {
			denied = map[string]bool{}
		}
		denied[t] = true
	}
	return ok, denied
}

// authorizedOps narrows the bitfield of operations (1 << AclOperation)
// that apply to a resource to those the principal is allowed, for the
// authorized_operations fields. Everything applies with no authorizer.
func (cx *reqCtx) authorizedOps(rt acl.ResourceType, name string, applicable int32) int32 {
	if !cx.authzOn() {
		return applicable
	}
	var out int32
	for op := acl.OpRead; op <= acl.OpDescribeTokens; op++ {
		if applicable&(1<<op) != 0 && cx.allowed(rt, name, op) {
			out |= 1 << op
		}
	}
	return out
}

// canCreateTopic: CREATE on the cluster or on the topic.
func (cx *reqCtx) canCreateTopic(name string) bool {
	return cx.allowed(acl.ResourceCluster, acl.ClusterName, acl.OpCreate) || cx.authorize(acl.ResourceTopic, name, acl.OpCreate)
}

// configAuthz authorizes op (DESCRIBE_CONFIGS or ALTER_CONFIGS) on a
// config resource: a topic is the Topic resource, a broker (or broker
// logger, or client metrics subscription) the cluster. nil: allowed, or a resource type left to the
// handler to refuse.
func (cx *reqCtx) configAuthz(resourceType int8, name string, op acl.Operation) error {
	switch resourceType {
	case controlplane.ResourceTopic:
		if !cx.authorize(acl.ResourceTopic, name, op) {
			return kerr.TopicAuthorizationFailed
		}
	case controlplane.ResourceBroker, configResourceBrokerLogger, controlplane.ResourceClientMetrics:
		if !cx.authorizeCluster(op) {
			return kerr.ClusterAuthorizationFailed
		}
	case controlplane.ResourceGroup:
		if !cx.authorize(acl.ResourceGroup, name, op) {
			return kerr.GroupAuthorizationFailed
		}
	}
	return nil
}

// configResourceBrokerLogger is Kafka's BROKER_LOGGER config resource type.
const configResourceBrokerLogger = 8

// groupsAs is s.groups() for a request that needs op on group id:
// GROUP_AUTHORIZATION_FAILED first when the principal may not.
func (s *Server) groupsAs(cx *reqCtx, id string, op acl.Operation) (*group.Coordinator, error) {
	if !cx.authorize(acl.ResourceGroup, id, op) {
		return nil, fmt.Errorf("%w: %s on group %q", kerr.GroupAuthorizationFailed, op, id)
	}
	return s.groups()
}

// commitCheck is the planCommit check of an offset commit: the group
// (READ, else every partition is GROUP_AUTHORIZATION_FAILED), then READ on
// each topic (TOPIC_AUTHORIZATION_FAILED). txnID, when not "", needs WRITE
// first (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), for TxnOffsetCommit.
func (cx *reqCtx) commitCheck(txnID, groupID string) func(string) error {
	if !cx.authzOn() {
		return nil
	}
	if txnID != "" && !cx.authorize(acl.ResourceTransactionalID, txnID, acl.OpWrite) {
		return func(string) error { return kerr.TransactionalIDAuthorizationFailed }
	}
	if !cx.authorize(acl.ResourceGroup, groupID, acl.OpRead) {
		return func(string) error { return kerr.GroupAuthorizationFailed }
	}
	return cx.topicCheck(acl.OpRead)
}

// txnIDCheck is nil when the principal may WRITE transactional id id,
// else TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
func (cx *reqCtx) txnIDCheck(id string) error {
	if cx.authorize(acl.ResourceTransactionalID, id, acl.OpWrite) {
		return nil
	}
	return fmt.Errorf("%w: WRITE on transactional id %q", kerr.TransactionalIDAuthorizationFailed, id)
}

// idempotentCheck: IDEMPOTENT_WRITE on the cluster, or WRITE on any topic
// (KIP-679), else CLUSTER_AUTHORIZATION_FAILED.
func (cx *reqCtx) idempotentCheck() error {
	if !cx.authzOn() || cx.allowed(acl.ResourceCluster, acl.ClusterName, acl.OpIdempotentWrite) {
		return nil
	}
	s := cx.conn.s
	c := cx.conn
	if s.authz.az.AuthorizeAny(s.ctrl.Image().ACLSnapshot(), acl.Action{Principal: c.kafkaPrincipal(), Host: c.hostIP, Resource: acl.ResourceTopic, Op: acl.OpWrite}) {
		return nil
	}
	s.authz.deny(cx, acl.ResourceCluster, acl.ClusterName, acl.OpIdempotentWrite)
	return kerr.ClusterAuthorizationFailed
}

// coordinatorCheck authorizes FindCoordinator for one key: DESCRIBE on
// the group (type 0) or the transactional id (type 1).
func (cx *reqCtx) coordinatorCheck(typ int8, key string) error {
	switch typ {
	case 0:
		if !cx.authorize(acl.ResourceGroup, key, acl.OpDescribe) {
			return kerr.GroupAuthorizationFailed
		}
	case 1:
		if !cx.authorize(acl.ResourceTransactionalID, key, acl.OpDescribe) {
			return kerr.TransactionalIDAuthorizationFailed
		}
	case 2:
		if !cx.authorizeCluster(acl.OpClusterAction) {
			return kerr.ClusterAuthorizationFailed
		}
	}
	return nil
}

// heartbeatGroups is the ACL check of a KIP-848 or share group heartbeat,
// as Kafka's KafkaApis: READ on the group, then DESCRIBE on every topic
// it subscribes to by name (TOPIC_AUTHORIZATION_FAILED).
func (s *Server) heartbeatGroups(cx *reqCtx, id string, topics []string) (*group.Coordinator, error) {
	gc, err := s.groupsAs(cx, id, acl.OpRead)
	if err != nil {
		return nil, err
	}
	for _, t := range topics {
		if !cx.authorize(acl.ResourceTopic, t, acl.OpDescribe) {
			return nil, kerr.TopicAuthorizationFailed
		}
	}
	return gc, nil
}
