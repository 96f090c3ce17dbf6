package acl

// Tests that the Authorizer decides as Kafka's StandardAuthorizer does
// (docs: "Authorization and ACLs", KIP-290 prefixed ACLs) and that filters
// select bindings as DescribeAcls/DeleteAcls filters do.

import (
	"fmt"
	"math/rand"
	"testing"
)

func allow(rt ResourceType, pt PatternType, name, principal string, op Operation) Binding {
	return Binding{ResourceType: rt, ResourceName: name, PatternType: pt, Principal: principal, Host: "*", Operation: op, Permission: PermAllow}
}

func deny(rt ResourceType, pt PatternType, name, principal string, op Operation) Binding {
	b := allow(rt, pt, name, principal, op)
	b.Permission = PermDeny
	return b
}

func TestAuthorize(t *testing.T) {
	const alice, bob = "User:alice", "User:bob"
	type check struct {
		p    string
		host string
		rt   ResourceType
		name string
		op   Operation
		want bool
	}
	withHost := func(b Binding, h string) Binding { b.Host = h; return b }
	cases := []struct {
		name     string
		bindings []Binding
		az       Authorizer
		checks   []check
	}{
		{"no acls: denied by default", nil, Authorizer{}, []check{
			{alice, "1.2.3.4", ResourceTopic, "t", OpRead, false},
		}},
		{"no acls: allow.everyone.if.no.acl.found", nil, Authorizer{AllowIfNoACL: true}, []check{
			{alice, "1.2.3.4", ResourceTopic, "t", OpRead, true},
		}},
		{"acl on the resource for someone else denies even with allow.everyone", []Binding{allow(ResourceTopic, PatternLiteral, "t", bob, OpRead)}, Authorizer{AllowIfNoACL: true}, []check{
			{alice, "h", ResourceTopic, "t", OpRead, false},
			{bob, "h", ResourceTopic, "t", OpRead, true},
			{alice, "h", ResourceTopic, "other", OpRead, true},
		}},
		{"super users", []Binding{deny(ResourceTopic, PatternLiteral, "t", alice, OpAll)}, Authorizer{SuperUsers: map[string]bool{alice: true}}, []check{
			{alice, "h", ResourceTopic, "t", OpWrite, true},
			{alice, "h", ResourceCluster, ClusterName, OpAlter, true},
			{bob, "h", ResourceTopic, "t", OpWrite, false},
		}},
		{"literal", []Binding{allow(ResourceTopic, PatternLiteral, "t", alice, OpWrite)}, Authorizer{}, []check{
			{alice, "h", ResourceTopic, "t", OpWrite, true},
			{alice, "h", ResourceTopic, "t", OpRead, false},
			{alice, "h", ResourceTopic, "t2", OpWrite, false},
			{alice, "h", ResourceGroup, "t", OpWrite, false},
			{bob, "h", ResourceTopic, "t", OpWrite, false},
		}},
		{"implied describe", []Binding{
			allow(ResourceTopic, PatternLiteral, "r", alice, OpRead), allow(ResourceTopic, PatternLiteral, "w", alice, OpWrite),
			allow(ResourceTopic, PatternLiteral, "d", alice, OpDelete), allow(ResourceTopic, PatternLiteral, "a", alice, OpAlter),
			allow(ResourceTopic, PatternLiteral, "c", alice, OpCreate), allow(ResourceTopic, PatternLiteral, "ac", alice, OpAlterConfigs),
		}, Authorizer{}, []check{
			{alice, "h", ResourceTopic, "r", OpDescribe, true},
			{alice, "h", ResourceTopic, "w", OpDescribe, true},
			{alice, "h", ResourceTopic, "d", OpDescribe, true},
			{alice, "h", ResourceTopic, "a", OpDescribe, true},
			{alice, "h", ResourceTopic, "c", OpDescribe, false},
			{alice, "h", ResourceTopic, "ac", OpDescribeConfigs, true},
			{alice, "h", ResourceTopic, "ac", OpDescribe, false},
			{alice, "h", ResourceTopic, "r", OpDescribeConfigs, false},
			{alice, "h", ResourceTopic, "w", OpRead, false},
		}},
		{"all implies everything", []Binding{allow(ResourceCluster, PatternLiteral, ClusterName, alice, OpAll)}, Authorizer{}, []check{
			{alice, "h", ResourceCluster, ClusterName, OpClusterAction, true},
			{alice, "h", ResourceCluster, ClusterName, OpIdempotentWrite, true},
			{alice, "h", ResourceCluster, ClusterName, OpDescribeConfigs, true},
		}},
		{"deny wins", []Binding{
			allow(ResourceTopic, PatternLiteral, "*", WildcardPrincipal, OpAll), deny(ResourceTopic, PatternPrefixed, "secret", alice, OpRead),
		}, Authorizer{}, []check{
			{alice, "h", ResourceTopic, "secret-1", OpRead, false},
			{alice, "h", ResourceTopic, "secret-1", OpDescribe, true}, // a DENY of READ does not deny DESCRIBE
			{alice, "h", ResourceTopic, "public", OpRead, true},
			{bob, "h", ResourceTopic, "secret-1", OpRead, true},
		}},
		{"deny all", []Binding{allow(ResourceTopic, PatternLiteral, "t", alice, OpRead), deny(ResourceTopic, PatternLiteral, "*", alice, OpAll)}, Authorizer{}, []check{
			{alice, "h", ResourceTopic, "t", OpRead, false},
			{alice, "h", ResourceTopic, "t", OpDescribe, false},
		}},
		{"wildcard resource and principal", []Binding{allow(ResourceGroup, PatternLiteral, "*", WildcardPrincipal, OpRead)}, Authorizer{}, []check{
			{alice, "h", ResourceGroup, "g1", OpRead, true},
			{bob, "h", ResourceGroup, "anything", OpDescribe, true},
			{bob, "h", ResourceTopic, "anything", OpRead, false},
		}},
		{"prefixed", []Binding{allow(ResourceTopic, PatternPrefixed, "logs-", alice, OpRead)}, Authorizer{}, []check{
			{alice, "h", ResourceTopic, "logs-a", OpRead, true},
			{alice, "h", ResourceTopic, "logs-", OpRead, true},
			{alice, "h", ResourceTopic, "logs", OpRead, false},
			{alice, "h", ResourceTopic, "xlogs-a", OpRead, false},
		}},
		{"a prefixed '*' is a literal prefix, not a wildcard", []Binding{allow(ResourceTopic, PatternPrefixed, "*", alice, OpRead)}, Authorizer{}, []check{
			{alice, "h", ResourceTopic, "t", OpRead, false},
			{alice, "h", ResourceTopic, "*t", OpRead, true},
		}},
		{"hosts", []Binding{withHost(allow(ResourceTopic, PatternLiteral, "t", alice, OpRead), "10.0.0.1")}, Authorizer{}, []check{
			{alice, "10.0.0.1", ResourceTopic, "t", OpRead, true},
			{alice, "10.0.0.2", ResourceTopic, "t", OpRead, false},
		}},
		{"deny from one host", []Binding{allow(ResourceTopic, PatternLiteral, "t", WildcardPrincipal, OpRead), withHost(deny(ResourceTopic, PatternLiteral, "t", WildcardPrincipal, OpRead), "6.6.6.6")}, Authorizer{}, []check{
			{alice, "1.1.1.1", ResourceTopic, "t", OpRead, true},
			{alice, "6.6.6.6", ResourceTopic, "t", OpRead, false},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, b := range tc.bindings {
				if err := b.Validate(); err != nil {
					t.Fatal(err)
				}
			}
			snap := NewSnapshot(1, tc.bindings)
			var cache Cache
			for _, c := range tc.checks {
				a := Action{Principal: c.p, Host: c.host, Resource: c.rt, Name: c.name, Op: c.op}
				if got := tc.az.Authorize(snap, a); got != c.want {
					t.Errorf("%s %s on %s:%s from %s = %v, want %v", c.p, c.op, c.rt, c.name, c.host, got, c.want)
				}
				for range 2 { // miss, then hit
					if got := cache.Authorize(&tc.az, snap, a); got != c.want {
						t.Errorf("cached: %s %s on %s:%s = %v, want %v", c.p, c.op, c.rt, c.name, got, c.want)
					}
				}
			}
		})
	}
}

func TestCacheInvalidatedBySnapshot(t *testing.T) {
	az := &Authorizer{}
	a := Action{Principal: "User:a", Host: "h", Resource: ResourceTopic, Name: "t", Op: OpWrite}
	var c Cache
	s1 := NewSnapshot(1, nil)
	if c.Authorize(az, s1, a) {
		t.Fatal("allowed with no acls")
	}
	s2 := NewSnapshot(2, []Binding{allow(ResourceTopic, PatternLiteral, "t", "User:a", OpWrite)})
	if !c.Authorize(az, s2, a) {
		t.Fatal("new snapshot's acl ignored: cache not invalidated")
	}
	if c.Authorize(az, NewSnapshot(3, nil), a) {
		t.Fatal("removed acl still allows")
	}
}

func TestValidate(t *testing.T) {
	good := allow(ResourceTopic, PatternLiteral, "t", "User:a", OpRead)
	bad := map[string]func(*Binding){
		"any resource":     func(b *Binding) { b.ResourceType = ResourceAny },
		"unknown resource": func(b *Binding) { b.ResourceType = 99 },
		"match pattern":    func(b *Binding) { b.PatternType = PatternMatch },
		"empty name":       func(b *Binding) { b.ResourceName = "" },
		"any op":           func(b *Binding) { b.Operation = OpAny },
		"any permission":   func(b *Binding) { b.Permission = PermAny },
		"bad principal":    func(b *Binding) { b.Principal = "alice" },
	}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, f := range bad {
		b := good
		f(&b)
		if b.Validate() == nil {
			t.Errorf("%s: accepted %v", name, b)
		}
	}
}

func TestFilterMatches(t *testing.T) {
	str := func(s string) *string { return &s }
	lit := allow(ResourceTopic, PatternLiteral, "foo", "User:a", OpRead)
	wild := allow(ResourceTopic, PatternLiteral, "*", "User:a", OpRead)
	pre := allow(ResourceTopic, PatternPrefixed, "fo", "User:a", OpRead)
	other := allow(ResourceTopic, PatternPrefixed, "bar", "User:a", OpRead)
	grp := deny(ResourceGroup, PatternLiteral, "foo", "User:b", OpWrite)
	all := []Binding{lit, wild, pre, other, grp}
	anyF := Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermAny}
	cases := []struct {
		name string
		f    Filter
		want []Binding
	}{
		{"any", anyF, all},
		{"type", func() Filter { f := anyF; f.ResourceType = ResourceGroup; return f }(), []Binding{grp}},
		{"any pattern, exact name", func() Filter { f := anyF; f.ResourceName = str("foo"); return f }(), []Binding{lit, grp}},
		{"literal", func() Filter { f := anyF; f.PatternType = PatternLiteral; return f }(), []Binding{lit, wild, grp}},
		{"literal named '*'", func() Filter { f := anyF; f.PatternType = PatternLiteral; f.ResourceName = str("*"); return f }(), []Binding{wild}},
		{"prefixed", func() Filter { f := anyF; f.PatternType = PatternPrefixed; return f }(), []Binding{pre, other}},
		{"match", func() Filter {
			f := anyF
			f.ResourceType, f.PatternType, f.ResourceName = ResourceTopic, PatternMatch, str("foo")
			return f
		}(), []Binding{lit, wild, pre}},
		{"match without a name", func() Filter { f := anyF; f.PatternType = PatternMatch; return f }(), all},
		{"principal", func() Filter { f := anyF; f.Principal = str("User:b"); return f }(), []Binding{grp}},
		{"host", func() Filter { f := anyF; f.Host = str("1.1.1.1"); return f }(), nil},
		{"operation", func() Filter { f := anyF; f.Operation = OpWrite; return f }(), []Binding{grp}},
		{"permission", func() Filter { f := anyF; f.Permission = PermDeny; return f }(), []Binding{grp}},
	}
	for _, tc := range cases {
		var got []Binding
		for _, b := range all {
			if tc.f.Matches(b) {
				got = append(got, b)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
	bad := anyF
	bad.PatternType = PatternUnknown
	if bad.Validate() == nil {
		t.Error("filter with UNKNOWN pattern type accepted")
	}
	if anyF.Validate() != nil {
		t.Error("ANY filter refused")
	}
}

func TestParse(t *testing.T) {
	if op, err := ParseOperation("describe-configs"); err != nil || op != OpDescribeConfigs {
		t.Fatalf("describe-configs: %v %v", op, err)
	}
	if rt, err := ParseResourceType("Topic"); err != nil || rt != ResourceTopic {
		t.Fatalf("Topic: %v %v", rt, err)
	}
	if _, err := ParseOperation("launch"); err == nil {
		t.Fatal("unknown operation accepted")
	}
}

// benchSetup is 1,000 bindings: literal ACLs over many topics and users,
// some prefixed and wildcard ones, as a busy cluster's might be.
func benchSetup() (*Authorizer, *Snapshot, Action) {
	r := rand.New(rand.NewSource(1))
	var bs []Binding
	for i := 0; i < 1000; i++ {
		user := fmt.Sprintf("User:u%d", r.Intn(50))
		switch i % 10 {
		case 0, 1:
			bs = append(bs, allow(ResourceTopic, PatternPrefixed, fmt.Sprintf("team%d-", i), user, OpRead))
		case 2:
			bs = append(bs, allow(ResourceGroup, PatternLiteral, "*", user, OpRead))
		default:
			bs = append(bs, allow(ResourceTopic, PatternLiteral, fmt.Sprintf("topic-%d", i), user, OpWrite))
		}
	}
	bs = append(bs, allow(ResourceTopic, PatternLiteral, "orders", "User:producer", OpWrite))
	return &Authorizer{}, NewSnapshot(1, bs), Action{Principal: "User:producer", Host: "10.0.0.1", Resource: ResourceTopic, Name: "orders", Op: OpWrite}
}

// scan is the naive decision: every binding checked in turn.
func scan(az *Authorizer, bs []Binding, a Action) bool {
	allowed := false
	for _, b := range bs {
		f := Filter{ResourceType: a.Resource, ResourceName: &a.Name, PatternType: PatternMatch, Operation: OpAny, Permission: PermAny}
		if !f.Matches(b) || !principalMatches(b.Principal, a.Principal) || (b.Host != WildcardHost && b.Host != a.Host) {
			continue
		}
		if b.Permission == PermDeny && (b.Operation == a.Op || b.Operation == OpAll) {
			return false
		}
		allowed = allowed || (b.Permission == PermAllow && implies(b.Operation, a.Op))
	}
	return allowed
}

func BenchmarkAuthorizeScan(b *testing.B) {
	az, snap, a := benchSetup()
	var all []Binding
	for _, l := range snap.literal {
		all = append(all, l...)
	}
	for _, p := range snap.prefixed {
		all = append(all, p...)
	}
	for b.Loop() {
		if !scan(az, all, a) {
			b.Fatal("denied")
		}
	}
}

func BenchmarkAuthorizeIndexed(b *testing.B) {
	az, snap, a := benchSetup()
	for b.Loop() {
		if !az.Authorize(snap, a) {
			b.Fatal("denied")
		}
	}
}

func BenchmarkAuthorizeCached(b *testing.B) {
	az, snap, a := benchSetup()
	var c Cache
	for b.Loop() {
		if !c.Authorize(az, snap, a) {
			b.Fatal("denied")
		}
	}
}

func TestAuthorizeAny(t *testing.T) {
	const p = "User:p"
	a := Action{Principal: p, Host: "h", Resource: ResourceTopic, Op: OpWrite}
	cases := []struct {
		name string
		bs   []Binding
		want bool
	}{
		{"nothing", nil, false},
		{"write on one topic", []Binding{allow(ResourceTopic, PatternLiteral, "t", p, OpWrite)}, true},
		{"write on a prefix", []Binding{allow(ResourceTopic, PatternPrefixed, "x", p, OpWrite)}, true},
		{"read only", []Binding{allow(ResourceTopic, PatternLiteral, "t", p, OpRead)}, false},
		{"someone else", []Binding{allow(ResourceTopic, PatternLiteral, "t", "User:q", OpWrite)}, false},
		{"denied literal", []Binding{allow(ResourceTopic, PatternLiteral, "t", p, OpWrite), deny(ResourceTopic, PatternLiteral, "t", p, OpWrite)}, false},
		{"denied by prefix", []Binding{allow(ResourceTopic, PatternLiteral, "team-t", p, OpWrite), deny(ResourceTopic, PatternPrefixed, "team", p, OpAll)}, false},
		{"denied by wildcard", []Binding{allow(ResourceTopic, PatternPrefixed, "x", p, OpWrite), deny(ResourceTopic, PatternLiteral, "*", WildcardPrincipal, OpWrite)}, false},
		{"one of two denied", []Binding{allow(ResourceTopic, PatternLiteral, "a", p, OpWrite), allow(ResourceTopic, PatternLiteral, "b", p, OpWrite), deny(ResourceTopic, PatternLiteral, "a", p, OpWrite)}, true},
		{"group acls do not count", []Binding{allow(ResourceGroup, PatternLiteral, "*", p, OpAll)}, false},
	}
	for _, tc := range cases {
		if got := (&Authorizer{}).AuthorizeAny(NewSnapshot(1, tc.bs), a); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if !(&Authorizer{SuperUsers: map[string]bool{p: true}}).AuthorizeAny(NewSnapshot(1, nil), a) {
		t.Error("super user refused")
	}
}
