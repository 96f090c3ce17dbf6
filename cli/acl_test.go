package cli

// Tests that `ringtail acl` turns kafka-acls.sh-style flags into the
// bindings and filters Kafka's tool would send, and refuses bad flags with
// one line before dialing anything.

import (
	"fmt"
	"testing"

	"github.com/ringtail/ringtail/acl"
)

func TestACLCreations(t *testing.T) {
	f := aclFlags{allowPrincipals: []string{"User:a"}, denyPrincipals: []string{"User:b"}, denyHosts: []string{"10.0.0.1"},
		operations: []string{"Read", "DescribeConfigs"}, topics: []string{"t"}, cluster: true, patternType: "prefixed"}
	bs, err := f.creations()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"(resource=TOPIC:PREFIXED:t, principal=User:a, host=*, operation=READ, permission=ALLOW)",
		"(resource=TOPIC:PREFIXED:t, principal=User:a, host=*, operation=DESCRIBE_CONFIGS, permission=ALLOW)",
		"(resource=TOPIC:PREFIXED:t, principal=User:b, host=10.0.0.1, operation=READ, permission=DENY)",
		"(resource=TOPIC:PREFIXED:t, principal=User:b, host=10.0.0.1, operation=DESCRIBE_CONFIGS, permission=DENY)",
		"(resource=CLUSTER:LITERAL:kafka-cluster, principal=User:a, host=*, operation=READ, permission=ALLOW)",
		"(resource=CLUSTER:LITERAL:kafka-cluster, principal=User:a, host=*, operation=DESCRIBE_CONFIGS, permission=ALLOW)",
		"(resource=CLUSTER:LITERAL:kafka-cluster, principal=User:b, host=10.0.0.1, operation=READ, permission=DENY)",
		"(resource=CLUSTER:LITERAL:kafka-cluster, principal=User:b, host=10.0.0.1, operation=DESCRIBE_CONFIGS, permission=DENY)",
	}
	if fmt.Sprint(bs) != fmt.Sprint(want) {
		t.Fatalf("bindings:\n%v\nwant\n%v", bs, want)
	}
	f = aclFlags{allowPrincipals: []string{"User:c"}, consumer: true, topics: []string{"logs-"}, groups: []string{"g"}, patternType: "literal"}
	if bs, err = f.creations(); err != nil || len(bs) != 3 {
		t.Fatalf("--consumer: %v %v", bs, err)
	}
	f = aclFlags{allowPrincipals: []string{"User:p"}, producer: true, topics: []string{"o"}, txnIDs: []string{"tx"}, patternType: "literal"}
	if bs, err = f.creations(); err != nil || len(bs) != 5 {
		t.Fatalf("--producer: %v %v", bs, err)
	}
	for name, bad := range map[string]aclFlags{
		"no principal":  {operations: []string{"Read"}, topics: []string{"t"}, patternType: "literal"},
		"bad op":        {allowPrincipals: []string{"User:a"}, operations: []string{"Launch"}, topics: []string{"t"}, patternType: "literal"},
		"bad pattern":   {allowPrincipals: []string{"User:a"}, operations: []string{"Read"}, topics: []string{"t"}, patternType: "match"},
		"no resource":   {allowPrincipals: []string{"User:a"}, operations: []string{"Read"}, patternType: "literal"},
		"bad principal": {allowPrincipals: []string{"alice"}, operations: []string{"Read"}, topics: []string{"t"}, patternType: "literal"},
	} {
		if _, err := bad.creations(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestACLFilters(t *testing.T) {
	fs, err := (&aclFlags{}).filters(nil)
	if err != nil || len(fs) != 1 || fs[0].ResourceType != acl.ResourceAny || fs[0].PatternType != acl.PatternAny || fs[0].Operation != acl.OpAny {
		t.Fatalf("no flags: %+v %v", fs, err)
	}
	fs, err = (&aclFlags{topics: []string{"t"}, patternType: "match"}).filters([]string{"User:a"})
	if err != nil || len(fs) != 1 || *fs[0].ResourceName != "t" || fs[0].PatternType != acl.PatternMatch || *fs[0].Principal != "User:a" {
		t.Fatalf("match: %+v %v", fs, err)
	}
	fs, _ = (&aclFlags{groups: []string{"g"}}).filters(nil)
	if fs[0].PatternType != acl.PatternLiteral {
		t.Fatalf("a named resource defaults to literal: %+v", fs[0])
	}
}

func TestACLCommandUsageErrors(t *testing.T) {
	addr := closedPort(t)
	wantOneLineError(t, run(t, "", nil, "acl", "add", "-b", addr, "--topic", "t", "--operation", "Read"), "--allow-principal")
	wantOneLineError(t, run(t, "", nil, "acl", "add", "-b", addr, "--allow-principal", "User:a", "--topic", "t", "--operation", "Fly"), "Fly")
	wantOneLineError(t, run(t, "", nil, "acl", "remove", "-b", addr), "give a resource")
	wantOneLineError(t, run(t, "", nil, "acl", "list", "-b", addr, "--resource-pattern-type", "odd"), "odd")
	wantOneLineError(t, run(t, "", nil, "acl", "nope"), "unknown command")
}
