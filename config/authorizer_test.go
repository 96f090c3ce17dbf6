package config

// Tests that the authorization keys parse, default to off, and refuse
// values Kafka would not take with a message naming the key.

import (
	"reflect"
	"strings"
	"testing"
)

func TestAuthorizerKeys(t *testing.T) {
	c := parseOK(t, "")
	if c.Authorizer.Enabled() || c.Authorizer.AllowEveryoneIfNoACLFound || len(c.Authorizer.SuperUserList()) != 0 {
		t.Fatalf("default authorizer settings = %+v, want off", c.Authorizer)
	}
	c = parseOK(t, `authorizer.class.name = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
super.users = "User:admin; User:CN=broker,O=x"
allow.everyone.if.no.acl.found = true`)
	if !c.Authorizer.Enabled() || !c.Authorizer.AllowEveryoneIfNoACLFound {
		t.Fatalf("settings = %+v", c.Authorizer)
	}
	if got, want := c.Authorizer.SuperUserList(), []string{"User:admin", "User:CN=broker,O=x"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("super users = %q, want %q", got, want)
	}
	for _, ok := range []string{AclAuthorizerClass, RingtailAuthorizer} {
		if !parseOK(t, `authorizer.class.name = "`+ok+`"`).Authorizer.Enabled() {
			t.Fatalf("%s: not enabled", ok)
		}
	}
	for doc, want := range map[string]string{
		`authorizer.class.name = "com.example.MyAuthorizer"`: "authorizer.class.name",
		`super.users = "admin"`:                              "super.users",
	} {
		_, err := Parse([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want one naming %s", doc, err, want)
		}
	}
	// Round trip through TOML().
	c2 := parseOK(t, c.TOML())
	if c2.Authorizer != c.Authorizer {
		t.Fatalf("TOML round trip: %+v, want %+v", c2.Authorizer, c.Authorizer)
	}
}
