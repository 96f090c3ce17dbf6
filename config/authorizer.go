package config

import (
	"fmt"
	"strings"
)

// Authorization keys (Kafka's authorizer.class.name, super.users,
// allow.everyone.if.no.acl.found). They register themselves with the key
// registry at init, so that this file holds all of them.

// Authorizer class names that turn authorization on.
const (
	StandardAuthorizerClass = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
	AclAuthorizerClass      = "kafka.security.authorizer.AclAuthorizer"
	RingtailAuthorizer      = "ringtail"
)

// AuthorizerConfig is the node's authorization settings.
type AuthorizerConfig struct {
	ClassName                 string // authorizer.class.name; "" turns authorization off
	SuperUsers                string // super.users: principals separated by ';'
	AllowEveryoneIfNoACLFound bool   // allow.everyone.if.no.acl.found
}

// Enabled reports whether requests are authorized against ACLs.
func (a AuthorizerConfig) Enabled() bool { return a.ClassName != "" }

// SuperUserList is super.users as a list of principals.
func (a AuthorizerConfig) SuperUserList() []string {
	var out []string
	for _, p := range strings.Split(a.SuperUsers, ";") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func checkAuthorizerClass(s string) error {
	switch s {
	case "", StandardAuthorizerClass, AclAuthorizerClass, RingtailAuthorizer:
		return nil
	}
	return fmt.Errorf("unknown authorizer %q: valid are %q (Kafka's StandardAuthorizer), %q, %q, or empty for no authorization",
		s, StandardAuthorizerClass, AclAuthorizerClass, RingtailAuthorizer)
}

func checkSuperUsers(s string) error {
	for _, p := range strings.Split(s, ";") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if typ, _, ok := strings.Cut(p, ":"); !ok || typ == "" {
			return fmt.Errorf("principal %q is not of the form Type:name (e.g. User:admin); separate principals with ';'", p)
		}
	}
	return nil
}

func authorizerKeys() []brokerKey {
	return []brokerKey{
		stringKey("authorizer.class.name", "Security", "Authorizer of every request: Kafka's org.apache.kafka.metadata.authorizer.StandardAuthorizer turns ACLs on; empty: everything is allowed.", `""`,
			func(c *Config) *string { return &c.Authorizer.ClassName }, checkAuthorizerClass),
		stringKey("super.users", "Security", "Principals allowed everything whatever the ACLs, separated by ';' (User:admin;User:CN=broker).", `""`,
			func(c *Config) *string { return &c.Authorizer.SuperUsers }, checkSuperUsers),
		boolKey("allow.everyone.if.no.acl.found", "Security", "With an authorizer: allow an action on a resource that no ACL matches.", "false",
			func(c *Config) *bool { return &c.Authorizer.AllowEveryoneIfNoACLFound }),
	}
}

func init() { registerAuthorizerKeys(authorizerKeys()) }

// registerAuthorizerKeys adds keys to the registry and rebuilds its index (whose
// pointers into brokerKeys an append may have moved).
func registerAuthorizerKeys(ks []brokerKey) {
	brokerKeys = append(brokerKeys, ks...)
	keyIndex = make(map[string]*brokerKey, len(brokerKeys))
	for i := range brokerKeys {
		keyIndex[brokerKeys[i].name] = &brokerKeys[i]
	}
}
