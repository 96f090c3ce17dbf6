package console

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestACLRowsSortAndFilter: a DescribeAcls response flattens into rows
// sorted by resource type, name, then principal, and the search matches a
// principal or a resource name regardless of case.
func TestACLRowsSortAndFilter(t *testing.T) {
	resp := kmsg.NewPtrDescribeACLsResponse()
	acl := func(principal string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) kmsg.DescribeACLsResponseResourceACL {
		a := kmsg.NewDescribeACLsResponseResourceACL()
		a.Principal, a.Host, a.Operation, a.PermissionType = principal, "*", op, perm
		return a
	}
	topic := kmsg.NewDescribeACLsResponseResource()
	topic.ResourceType, topic.ResourceName, topic.ResourcePatternType = kmsg.ACLResourceTypeTopic, "orders", kmsg.ACLResourcePatternTypeLiteral
	topic.ACLs = append(topic.ACLs, acl("User:zed", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow), acl("User:alice", kmsg.ACLOperationWrite, kmsg.ACLPermissionTypeAllow))
	group := kmsg.NewDescribeACLsResponseResource()
	group.ResourceType, group.ResourceName, group.ResourcePatternType = kmsg.ACLResourceTypeGroup, "billing", kmsg.ACLResourcePatternTypePrefixed
	group.ACLs = append(group.ACLs, acl("User:Mallory", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeDeny))
	resp.Resources = append(resp.Resources, topic, group)

	rows := aclRows(resp)
	var got []string
	for _, r := range rows {
		got = append(got, r.ResourceType+" "+r.ResourceName+" "+r.Pattern+" "+r.Principal+" "+r.Operation+" "+r.Permission)
	}
	want := []string{
		"GROUP billing PREFIXED User:Mallory READ DENY",
		"TOPIC orders LITERAL User:alice WRITE ALLOW",
		"TOPIC orders LITERAL User:zed READ ALLOW",
	}
	if len(got) != len(want) {
		t.Fatalf("rows %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("rows %q, want %q", got, want)
		}
	}
	if f := filterACLs(rows, "mallory"); len(f) != 1 || f[0].Principal != "User:Mallory" {
		t.Errorf("filter mallory: %+v", f)
	}
	if f := filterACLs(rows, "ORD"); len(f) != 2 {
		t.Errorf("filter ORD: %+v", f)
	}
	if f := filterACLs(rows, ""); len(f) != 3 {
		t.Errorf("no filter: %+v", f)
	}
}
