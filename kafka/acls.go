package kafka

// DescribeAcls (key 29), CreateAcls (key 30), DeleteAcls (key 31):
// versions 0-3.
//
// Behavior:
//   - Without an authorizer (authorizer.class.name unset) every answer is
//     SECURITY_DISABLED, as Kafka's.
//   - DescribeAcls needs DESCRIBE on the cluster, CreateAcls and DeleteAcls
//     ALTER; otherwise CLUSTER_AUTHORIZATION_FAILED (for the whole
//     response, or each creation / filter).
//   - A creation with an ANY/MATCH/UNKNOWN field, an empty resource name,
//     or a principal not of the form Type:name is INVALID_REQUEST on its
//     own; the others are stored (Kafka's AclControlManager rules).
//   - One request creates or deletes at most 10,000 bindings (Kafka's
//     MAX_RECORDS_PER_USER_OP); past that it is INVALID_REQUEST. Creating a binding that exists
//     already succeeds and stores nothing.
//   - Filters follow Kafka's matching (acl.Filter, the MATCH pattern type
//     included); a filter with an UNKNOWN field is INVALID_REQUEST (the
//     whole DescribeAcls, or that DeleteAcls filter).
//   - v0 has no pattern type: creations are LITERAL, filters LITERAL (kmsg's
//     defaults), as in Kafka.
//   - Bindings are records in the metadata quorum (controlplane/acls.go):
//     created on any node, enforced on every node once applied there.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
)

// aclCommandTimeout bounds an ACL change through the quorum.
const aclCommandTimeout = 30 * time.Second

func handleDescribeAcls(s *Server, cx *reqCtx, req *kmsg.DescribeACLsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	fail := func(e *kerr.Error, msg string) (kmsg.Response, error) {
		resp.ErrorCode, resp.ErrorMessage = e.Code, &msg
		return resp, nil
	}
	if !s.AuthorizationEnabled() {
		return fail(kerr.SecurityDisabled, "no authorizer is configured on the broker (authorizer.class.name)")
	}
	if !cx.authorizeCluster(acl.OpDescribe) {
		return fail(kerr.ClusterAuthorizationFailed, "DESCRIBE on the cluster is needed to describe ACLs")
	}
	f := acl.Filter{ResourceType: acl.ResourceType(req.ResourceType), ResourceName: req.ResourceName,
		PatternType: acl.PatternType(req.ResourcePatternType), Principal: req.Principal, Host: req.Host,
		Operation: acl.Operation(req.Operation), Permission: acl.Permission(req.PermissionType)}
	if err := f.Validate(); err != nil {
		return fail(kerr.InvalidRequest, err.Error())
	}
	type res struct {
		rt   acl.ResourceType
		name string
		pt   acl.PatternType
	}
	idx := map[res]int{}
	for _, b := range s.ctrl.Image().ACLBindings(f) {
		k := res{b.ResourceType, b.ResourceName, b.PatternType}
		i, ok := idx[k]
		if !ok {
			i = len(resp.Resources)
			idx[k] = i
			r := kmsg.NewDescribeACLsResponseResource()
			r.ResourceType, r.ResourceName, r.ResourcePatternType = kmsg.ACLResourceType(k.rt), k.name, kmsg.ACLResourcePatternType(k.pt)
			resp.Resources = append(resp.Resources, r)
		}
		a := kmsg.NewDescribeACLsResponseResourceACL()
		a.Principal, a.Host = b.Principal, b.Host
		a.Operation, a.PermissionType = kmsg.ACLOperation(b.Operation), kmsg.ACLPermissionType(b.Permission)
		resp.Resources[i].ACLs = append(resp.Resources[i].ACLs, a)
	}
	return resp, nil
}

// aclAlterRefusal is why cx may not change ACLs (verb: create, delete),
// or code 0.
func aclAlterRefusal(s *Server, cx *reqCtx, verb string) (code int16, msg string) {
	switch {
	case !s.AuthorizationEnabled():
		return kerr.SecurityDisabled.Code, "no authorizer is configured on the broker (authorizer.class.name)"
	case !cx.authorizeCluster(acl.OpAlter):
		return kerr.ClusterAuthorizationFailed.Code, "ALTER on the cluster is needed to " + verb + " ACLs"
	}
	return 0, ""
}

func handleCreateAcls(s *Server, cx *reqCtx, req *kmsg.CreateACLsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	resp.Results = make([]kmsg.CreateACLsResponseResult, len(req.Creations))
	code, msg := aclAlterRefusal(s, cx, "create")
	if code != 0 {
		for i := range resp.Results {
			resp.Results[i] = kmsg.NewCreateACLsResponseResult()
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code, &msg
		}
		return resp, nil
	}
	bindings := make([]acl.Binding, len(req.Creations))
	for i, c := range req.Creations {
		bindings[i] = acl.Binding{ResourceType: acl.ResourceType(c.ResourceType), ResourceName: c.ResourceName,
			PatternType: acl.PatternType(c.ResourcePatternType), Principal: c.Principal, Host: c.Host,
			Operation: acl.Operation(c.Operation), Permission: acl.Permission(c.PermissionType)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), aclCommandTimeout)
	defer cancel()
	errs := s.ctrl.CreateACLs(ctx, bindings)
	for i, err := range errs {
		resp.Results[i] = kmsg.NewCreateACLsResponseResult()
		resp.Results[i].ErrorCode = errorCode(s.log, err)
		resp.Results[i].ErrorMessage = errorMessage(err)
		if err == nil {
			s.log.Info("acl created", "binding", bindings[i].String(), "by", cx.conn.kafkaPrincipal())
		}
	}
	return resp, nil
}

func handleDeleteAcls(s *Server, cx *reqCtx, req *kmsg.DeleteACLsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	resp.Results = make([]kmsg.DeleteACLsResponseResult, len(req.Filters))
	code, msg := aclAlterRefusal(s, cx, "delete")
	var filters []acl.Filter
	var at []int // filters[j] is req.Filters[at[j]]
	for i, rf := range req.Filters {
		r := &resp.Results[i]
		*r = kmsg.NewDeleteACLsResponseResult()
		if code != 0 {
			r.ErrorCode, r.ErrorMessage = code, &msg
			continue
		}
		f := acl.Filter{ResourceType: acl.ResourceType(rf.ResourceType), ResourceName: rf.ResourceName,
			PatternType: acl.PatternType(rf.ResourcePatternType), Principal: rf.Principal, Host: rf.Host,
			Operation: acl.Operation(rf.Operation), Permission: acl.Permission(rf.PermissionType)}
		if err := f.Validate(); err != nil {
			r.ErrorCode, r.ErrorMessage = kerr.InvalidRequest.Code, errorMessage(err)
			continue
		}
		filters = append(filters, f)
		at = append(at, i)
	}
	if len(filters) == 0 {
		return resp, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), aclCommandTimeout)
	defer cancel()
	matched, err := s.ctrl.DeleteACLs(ctx, filters)
	for j, i := range at {
		r := &resp.Results[i]
		if err != nil {
			r.ErrorCode, r.ErrorMessage = errorCode(s.log, err), errorMessage(err)
			continue
		}
		for _, b := range matched[j] {
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName, m.ResourcePatternType = kmsg.ACLResourceType(b.ResourceType), b.ResourceName, kmsg.ACLResourcePatternType(b.PatternType)
			m.Principal, m.Host = b.Principal, b.Host
			m.Operation, m.PermissionType = kmsg.ACLOperation(b.Operation), kmsg.ACLPermissionType(b.Permission)
			r.MatchingACLs = append(r.MatchingACLs, m)
			s.log.Info("acl deleted", "binding", b.String(), "by", cx.conn.kafkaPrincipal())
		}
	}
	return resp, nil
}
