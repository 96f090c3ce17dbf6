// Package acl is Kafka-style authorization as pure data: ACL bindings,
// filters, and an Authorizer with StandardAuthorizer's matching rules
// (literal, prefixed and wildcard resources, DENY over ALLOW, implied
// operations, super users), plus a per-connection decision cache. It knows
// nothing of the wire protocol or the metadata log.
package acl

import (
	"fmt"
	"sort"
	"strings"
)

// ResourceType is Kafka's ResourceType code.
type ResourceType int8

// Resource types (org.apache.kafka.common.resource.ResourceType).
const (
	ResourceUnknown         ResourceType = 0
	ResourceAny             ResourceType = 1
	ResourceTopic           ResourceType = 2
	ResourceGroup           ResourceType = 3
	ResourceCluster         ResourceType = 4
	ResourceTransactionalID ResourceType = 5
	ResourceDelegationToken ResourceType = 6
	ResourceUser            ResourceType = 7
)

// PatternType is Kafka's PatternType code.
type PatternType int8

// Pattern types (org.apache.kafka.common.resource.PatternType). MATCH and
// ANY appear only in filters.
const (
	PatternUnknown  PatternType = 0
	PatternAny      PatternType = 1
	PatternMatch    PatternType = 2
	PatternLiteral  PatternType = 3
	PatternPrefixed PatternType = 4
)

// Operation is Kafka's AclOperation code.
type Operation int8

// Operations (org.apache.kafka.common.acl.AclOperation).
const (
	OpUnknown         Operation = 0
	OpAny             Operation = 1
	OpAll             Operation = 2
	OpRead            Operation = 3
	OpWrite           Operation = 4
	OpCreate          Operation = 5
	OpDelete          Operation = 6
	OpAlter           Operation = 7
	OpDescribe        Operation = 8
	OpClusterAction   Operation = 9
	OpDescribeConfigs Operation = 10
	OpAlterConfigs    Operation = 11
	OpIdempotentWrite Operation = 12
	OpCreateTokens    Operation = 13
	OpDescribeTokens  Operation = 14
	maxOp                       = OpDescribeTokens
)

// Permission is Kafka's AclPermissionType code.
type Permission int8

// Permissions (org.apache.kafka.common.acl.AclPermissionType).
const (
	PermUnknown Permission = 0
	PermAny     Permission = 1
	PermDeny    Permission = 2
	PermAllow   Permission = 3
)

// Wildcards and fixed names, as Kafka spells them.
const (
	WildcardResource  = "*"
	WildcardPrincipal = "User:*"
	WildcardHost      = "*"
	ClusterName       = "kafka-cluster"
	Anonymous         = "User:ANONYMOUS"
)

var resourceNames = map[ResourceType]string{
	ResourceUnknown: "UNKNOWN", ResourceAny: "ANY", ResourceTopic: "TOPIC", ResourceGroup: "GROUP",
	ResourceCluster: "CLUSTER", ResourceTransactionalID: "TRANSACTIONAL_ID",
	ResourceDelegationToken: "DELEGATION_TOKEN", ResourceUser: "USER",
}

var patternNames = map[PatternType]string{
	PatternUnknown: "UNKNOWN", PatternAny: "ANY", PatternMatch: "MATCH", PatternLiteral: "LITERAL", PatternPrefixed: "PREFIXED",
}

var opNames = map[Operation]string{
	OpUnknown: "UNKNOWN", OpAny: "ANY", OpAll: "ALL", OpRead: "READ", OpWrite: "WRITE", OpCreate: "CREATE",
	OpDelete: "DELETE", OpAlter: "ALTER", OpDescribe: "DESCRIBE", OpClusterAction: "CLUSTER_ACTION",
	OpDescribeConfigs: "DESCRIBE_CONFIGS", OpAlterConfigs: "ALTER_CONFIGS", OpIdempotentWrite: "IDEMPOTENT_WRITE",
	OpCreateTokens: "CREATE_TOKENS", OpDescribeTokens: "DESCRIBE_TOKENS",
}

var permNames = map[Permission]string{PermUnknown: "UNKNOWN", PermAny: "ANY", PermDeny: "DENY", PermAllow: "ALLOW"}

func name[K comparable](m map[K]string, k K) string {
	if s, ok := m[k]; ok {
		return s
	}
	return "UNKNOWN"
}

func (r ResourceType) String() string { return name(resourceNames, r) }
func (p PatternType) String() string  { return name(patternNames, p) }
func (o Operation) String() string    { return name(opNames, o) }
func (p Permission) String() string   { return name(permNames, p) }

func parse[K comparable](m map[K]string, what, s string) (K, error) {
	u := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), "-", "_"))
	var valid []string
	for k, n := range m {
		if n == u && n != "UNKNOWN" {
			return k, nil
		}
		if n != "UNKNOWN" {
			valid = append(valid, n)
		}
	}
	sort.Strings(valid)
	var zero K
	return zero, fmt.Errorf("acl: unknown %s %q: valid are %s", what, s, strings.Join(valid, ", "))
}

// ParseResourceType reads a resource type name (TOPIC, Group, ...).
func ParseResourceType(s string) (ResourceType, error) {
	return parse(resourceNames, "resource type", s)
}

// ParsePatternType reads a pattern type name (LITERAL, prefixed, ...).
func ParsePatternType(s string) (PatternType, error) { return parse(patternNames, "pattern type", s) }

// ParseOperation reads an operation name (Read, WRITE, describe-configs, ...).
func ParseOperation(s string) (Operation, error) { return parse(opNames, "operation", s) }

// ParsePermission reads ALLOW or DENY (or ANY).
func ParsePermission(s string) (Permission, error) { return parse(permNames, "permission", s) }

// Binding is one ACL: a resource pattern and an access control entry.
type Binding struct {
	ResourceType ResourceType `json:"resource_type"`
	ResourceName string       `json:"resource_name"`
	PatternType  PatternType  `json:"pattern_type"`
	Principal    string       `json:"principal"`
	Host         string       `json:"host"`
	Operation    Operation    `json:"operation"`
	Permission   Permission   `json:"permission"`
}

func (b Binding) String() string {
	return fmt.Sprintf("(resource=%s:%s:%s, principal=%s, host=%s, operation=%s, permission=%s)",
		b.ResourceType, b.PatternType, b.ResourceName, b.Principal, b.Host, b.Operation, b.Permission)
}

// Validate checks that b can be stored (Kafka's AclControlManager rules);
// an error is Kafka's INVALID_REQUEST.
func (b Binding) Validate() error {
	switch {
	case b.ResourceType <= ResourceAny || b.ResourceType > ResourceUser:
		return fmt.Errorf("acl: invalid resource type %s", b.ResourceType)
	case b.PatternType != PatternLiteral && b.PatternType != PatternPrefixed:
		return fmt.Errorf("acl: invalid pattern type %s: must be LITERAL or PREFIXED", b.PatternType)
	case b.ResourceName == "":
		return fmt.Errorf("acl: resource name must not be empty")
	case b.Operation <= OpAny || b.Operation > maxOp:
		return fmt.Errorf("acl: invalid operation %s", b.Operation)
	case b.Permission != PermAllow && b.Permission != PermDeny:
		return fmt.Errorf("acl: invalid permission %s: must be ALLOW or DENY", b.Permission)
	}
	if _, _, err := SplitPrincipal(b.Principal); err != nil {
		return err
	}
	return nil
}

// SplitPrincipal splits "Type:name" (KafkaPrincipal.fromString).
func SplitPrincipal(p string) (typ, name string, err error) {
	typ, name, ok := strings.Cut(p, ":")
	if !ok || typ == "" {
		return "", "", fmt.Errorf("acl: principal %q is not of the form Type:name (e.g. User:alice)", p)
	}
	return typ, name, nil
}

// Filter selects bindings (DescribeAcls, DeleteAcls). An empty name,
// principal or host matches any.
type Filter struct {
	ResourceType ResourceType
	ResourceName *string
	PatternType  PatternType
	Principal    *string
	Host         *string
	Operation    Operation
	Permission   Permission
}

// Validate refuses filters with UNKNOWN fields (INVALID_REQUEST).
func (f Filter) Validate() error {
	switch {
	case f.ResourceType == ResourceUnknown || f.ResourceType > ResourceUser || f.ResourceType < 0:
		return fmt.Errorf("acl: filter has an unknown resource type")
	case f.PatternType == PatternUnknown || f.PatternType > PatternPrefixed || f.PatternType < 0:
		return fmt.Errorf("acl: filter has an unknown pattern type")
	case f.Operation == OpUnknown || f.Operation > maxOp || f.Operation < 0:
		return fmt.Errorf("acl: filter has an unknown operation")
	case f.Permission == PermUnknown || f.Permission > PermAllow || f.Permission < 0:
		return fmt.Errorf("acl: filter has an unknown permission")
	}
	return nil
}

// Matches reports whether b passes f, with Kafka's ResourcePatternFilter
// and AccessControlEntryFilter rules: MATCH selects every pattern that
// would apply to the named resource (the literal name, the "*" wildcard,
// and every prefix of it).
func (f Filter) Matches(b Binding) bool {
	if f.ResourceType != ResourceAny && f.ResourceType != b.ResourceType {
		return false
	}
	switch f.PatternType {
	case PatternAny:
		if f.ResourceName != nil && *f.ResourceName != b.ResourceName {
			return false
		}
	case PatternMatch:
		if f.ResourceName != nil {
			n := *f.ResourceName
			switch b.PatternType {
			case PatternLiteral:
				if b.ResourceName != n && b.ResourceName != WildcardResource {
					return false
				}
			case PatternPrefixed:
				if !strings.HasPrefix(n, b.ResourceName) {
					return false
				}
			default:
				return false
			}
		}
	default:
		if f.PatternType != b.PatternType || (f.ResourceName != nil && *f.ResourceName != b.ResourceName) {
			return false
		}
	}
	if f.Principal != nil && *f.Principal != b.Principal {
		return false
	}
	if f.Host != nil && *f.Host != b.Host {
		return false
	}
	if f.Operation != OpAny && f.Operation != b.Operation {
		return false
	}
	return f.Permission == PermAny || f.Permission == b.Permission
}
