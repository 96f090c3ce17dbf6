package acl

import (
	"strings"
	"sync"
)

// Snapshot is an immutable, indexed set of bindings. Version tells two
// snapshots apart (the metadata offset of the ACL change that made it);
// caches made against one snapshot are void under another.
type Snapshot struct {
	Version int64
	n       int
	// literal holds the LITERAL bindings by resource (the "*" wildcard
	// included, under its own name); prefixed the PREFIXED ones by type,
	// which a lookup scans.
	literal  map[resourceKey][]Binding
	prefixed map[ResourceType][]Binding
}

type resourceKey struct {
	typ  ResourceType
	name string
}

// NewSnapshot indexes bindings (which must be valid) as version.
func NewSnapshot(version int64, bindings []Binding) *Snapshot {
	s := &Snapshot{Version: version, n: len(bindings), literal: map[resourceKey][]Binding{}, prefixed: map[ResourceType][]Binding{}}
	for _, b := range bindings {
		if b.PatternType == PatternPrefixed {
			s.prefixed[b.ResourceType] = append(s.prefixed[b.ResourceType], b)
			continue
		}
		k := resourceKey{b.ResourceType, b.ResourceName}
		s.literal[k] = append(s.literal[k], b)
	}
	return s
}

// Len is the number of bindings.
func (s *Snapshot) Len() int {
	if s == nil {
		return 0
	}
	return s.n
}

// Authorizer holds the broker-wide settings of authorization.
type Authorizer struct {
	// SuperUsers are allowed everything (super.users).
	SuperUsers map[string]bool
	// AllowIfNoACL allows an action on a resource that no binding's
	// pattern matches (allow.everyone.if.no.acl.found).
	AllowIfNoACL bool
}

// Action is one thing a principal asks to do.
type Action struct {
	Principal, Host string
	Resource        ResourceType
	Name            string
	Op              Operation
}

// Authorize decides a under snap with StandardAuthorizer's rules: super
// users may do anything; a DENY binding that matches wins over any ALLOW;
// otherwise an ALLOW that matches (directly, through ALL, or through an
// implied operation) allows; otherwise it is denied, unless no binding's
// pattern matches the resource at all and AllowIfNoACL is set.
func (az *Authorizer) Authorize(snap *Snapshot, a Action) bool {
	if az.SuperUsers[a.Principal] {
		return true
	}
	found, allowed := false, false
	check := func(bs []Binding) bool { // false: denied
		for i := range bs {
			b := &bs[i]
			found = true
			if !principalMatches(b.Principal, a.Principal) || (b.Host != WildcardHost && b.Host != a.Host) {
				continue
			}
			if b.Permission == PermDeny {
				if b.Operation == a.Op || b.Operation == OpAll {
					return false
				}
				continue
			}
			if !allowed && implies(b.Operation, a.Op) {
				allowed = true
			}
		}
		return true
	}
	if snap != nil {
		if !check(snap.literal[resourceKey{a.Resource, a.Name}]) {
			return false
		}
		if a.Name != WildcardResource && !check(snap.literal[resourceKey{a.Resource, WildcardResource}]) {
			return false
		}
		for _, b := range snap.prefixed[a.Resource] {
			if strings.HasPrefix(a.Name, b.ResourceName) && !check([]Binding{b}) {
				return false
			}
		}
	}
	if allowed {
		return true
	}
	return !found && az.AllowIfNoACL
}

func principalMatches(pattern, p string) bool {
	return pattern == p || pattern == WildcardPrincipal
}

// implies reports whether an ALLOW of granted covers op: ALL covers
// everything, READ/WRITE/DELETE/ALTER cover DESCRIBE, ALTER_CONFIGS
// covers DESCRIBE_CONFIGS (Kafka's implied operations).
func implies(granted, op Operation) bool {
	if granted == op || granted == OpAll {
		return true
	}
	switch op {
	case OpDescribe:
		return granted == OpRead || granted == OpWrite || granted == OpDelete || granted == OpAlter
	case OpDescribeConfigs:
		return granted == OpAlterConfigs
	}
	return false
}

// maxCacheEntries bounds one connection's cache; past it, it starts over.
const maxCacheEntries = 4096

// Cache remembers one connection's decisions (its principal and host are
// fixed) under one snapshot, so that a client repeating the same request
// pays a map lookup instead of a scan of the bindings. A change of
// principal or host (re-authentication) starts it over. It is safe for
// concurrent use.
type Cache struct {
	mu              sync.Mutex
	snap            *Snapshot
	az              *Authorizer
	principal, host string
	m               map[cacheKey]bool
}

type cacheKey struct {
	typ  ResourceType
	op   Operation
	name string
}

// Authorize is az.Authorize(snap, a), remembered until snap, az, or the
// principal or host changes.
func (c *Cache) Authorize(az *Authorizer, snap *Snapshot, a Action) bool {
	k := cacheKey{a.Resource, a.Op, a.Name}
	c.mu.Lock()
	if c.snap != snap || c.az != az || c.principal != a.Principal || c.host != a.Host || c.m == nil || len(c.m) >= maxCacheEntries {
		c.snap, c.az, c.principal, c.host, c.m = snap, az, a.Principal, a.Host, make(map[cacheKey]bool)
	} else if d, ok := c.m[k]; ok {
		c.mu.Unlock()
		return d
	}
	c.mu.Unlock()
	d := az.Authorize(snap, a)
	c.mu.Lock()
	if c.snap == snap && c.az == az && c.principal == a.Principal && c.host == a.Host {
		c.m[k] = d
	}
	c.mu.Unlock()
	return d
}

// AuthorizeAny reports whether a.Principal from a.Host may do a.Op on at
// least one resource of type a.Resource (a.Name is ignored): Kafka's
// authorizeByResourceType, which lets WRITE on any topic stand for
// IDEMPOTENT_WRITE (KIP-679). An ALLOW pattern counts unless a DENY of
// the same operation covers it: a DENY on the "*" literal covers
// everything, a DENY prefix covers patterns that start with it, a DENY
// literal covers the same literal.
func (az *Authorizer) AuthorizeAny(snap *Snapshot, a Action) bool {
	if az.SuperUsers[a.Principal] {
		return true
	}
	if snap == nil {
		return az.AllowIfNoACL
	}
	var allows, denies []Binding
	found := false
	visit := func(b Binding) {
		if b.ResourceType != a.Resource {
			return
		}
		found = true
		if !principalMatches(b.Principal, a.Principal) || (b.Host != WildcardHost && b.Host != a.Host) {
			return
		}
		switch {
		case b.Permission == PermDeny && (b.Operation == a.Op || b.Operation == OpAll):
			denies = append(denies, b)
		case b.Permission == PermAllow && implies(b.Operation, a.Op):
			allows = append(allows, b)
		}
	}
	for k, bs := range snap.literal {
		if k.typ == a.Resource {
			for _, b := range bs {
				visit(b)
			}
		}
	}
	for _, b := range snap.prefixed[a.Resource] {
		visit(b)
	}
	if !found {
		return az.AllowIfNoACL
	}
	for _, al := range allows {
		covered := false
		for _, d := range denies {
			switch {
			case d.PatternType == PatternLiteral && d.ResourceName == WildcardResource,
				d.PatternType == PatternPrefixed && strings.HasPrefix(al.ResourceName, d.ResourceName),
				d.PatternType == PatternLiteral && al.PatternType == PatternLiteral && d.ResourceName == al.ResourceName:
				covered = true
			}
		}
		if !covered {
			return true
		}
	}
	return false
}
