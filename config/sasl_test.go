package config

import (
	"reflect"
	"strings"
	"testing"
)

const saslListeners = "listeners = \"PLAINTEXT://:9092,CLIENT://:9094,CONTROLLER://:9093\"\n" +
	"listener.security.protocol.map = \"PLAINTEXT:PLAINTEXT,CLIENT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT\"\n"

func TestSASLKeys(t *testing.T) {
	c, err := Parse([]byte(saslListeners))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.SASLFor("CLIENT").EnabledMechanisms, []string{"SCRAM-SHA-256", "SCRAM-SHA-512"}) || c.ConnectionFailedAuthenticationDelayMs != 100 || c.ConnectionsMaxReauthMs != 0 {
		t.Fatalf("defaults: %+v delay %d reauth %d", c.SASL, c.ConnectionFailedAuthenticationDelayMs, c.ConnectionsMaxReauthMs)
	}
	doc := saslListeners + `sasl.enabled.mechanisms = "scram-sha-512"
connections.max.reauth.ms = 5000
connection.failed.authentication.delay.ms = 250
listener.name.client.sasl.enabled.mechanisms = "PLAIN,SCRAM-SHA-256"
listener.name.client.plain.sasl.jaas.config = 'org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="a" user_admin="a" user_alice="p\"w";'
`
	c, err = Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.SASL.EnabledMechanisms, []string{"SCRAM-SHA-512"}) || c.ConnectionsMaxReauthMs != 5000 || c.ConnectionFailedAuthenticationDelayMs != 250 {
		t.Fatalf("got %+v %d %d", c.SASL, c.ConnectionsMaxReauthMs, c.ConnectionFailedAuthenticationDelayMs)
	}
	s := c.SASLFor("CLIENT")
	if !reflect.DeepEqual(s.EnabledMechanisms, []string{"PLAIN", "SCRAM-SHA-256"}) {
		t.Fatalf("listener mechanisms %v", s.EnabledMechanisms)
	}
	users, err := ParsePlainJAAS(s.PlainJAAS)
	if err != nil || !reflect.DeepEqual(users, map[string]string{"admin": "a", "alice": `p"w`}) {
		t.Fatalf("users %v %v", users, err)
	}
	if _, own := c.ListenerSSL["CLIENT"]; own {
		t.Fatal("SASL-only overrides made a listener TLS override")
	}
	if strings.Contains(c.TOML(), `p\"w`) && !strings.Contains(c.TOML(), "plain.sasl.jaas.config") {
		t.Fatal("TOML shows the password")
	}
}

func TestSASLKeysReject(t *testing.T) {
	for _, tt := range []struct{ doc, want string }{
		{saslListeners + `sasl.enabled.mechanisms = "GSSAPI"`, `sasl.enabled.mechanisms = "GSSAPI": unsupported SASL mechanism "GSSAPI": valid are PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`},
		{saslListeners + `listener.name.client.sasl.enabled.mechanisms = "PLAIN,OAUTHBEARER"`, `listener.name.client.sasl.enabled.mechanisms = "PLAIN,OAUTHBEARER": unsupported SASL mechanism "OAUTHBEARER": valid are PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`},
		{saslListeners + `sasl.enabled.mechanisms = ""`, `sasl.enabled.mechanisms is empty: SASL listener CLIENT needs at least one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`},
		{saslListeners + `listener.name.client.sasl.enabled.mechanisms = ""`, `listener.name.client.sasl.enabled.mechanisms is empty: SASL listener CLIENT needs at least one of`},
		{saslListeners + `sasl.enabled.mechanisms = "PLAIN,PLAIN"`, `PLAIN appears twice`},
		{saslListeners + `plain.sasl.jaas.config = 'org.apache.kafka.common.security.plain.PlainLoginModule required user_a="b";'`, `listener CLIENT has PLAIN users (plain.sasl.jaas.config) but PLAIN is not enabled; add PLAIN`},
		{saslListeners + `plain.sasl.jaas.config = 'org.apache.kafka.common.security.scram.ScramLoginModule required;'`, `plain.sasl.jaas.config = (hidden): login module "org.apache.kafka.common.security.scram.ScramLoginModule"`},
		{saslListeners + `plain.sasl.jaas.config = 'org.apache.kafka.common.security.plain.PlainLoginModule required user_a="b"'`, `the entry ends with ';'`},
		{saslListeners + `plain.sasl.jaas.config = 'org.apache.kafka.common.security.plain.PlainLoginModule required user_a="secretpw;'`, `unterminated quoted value`},
		{saslListeners + `connection.failed.authentication.delay.ms = -1`, `connection.failed.authentication.delay.ms = -1`},
		{saslListeners + `inter.broker.listener.name = "CLIENT"`, `inter.broker.listener.name = "CLIENT": listener CLIENT is SASL_PLAINTEXT, but brokers do not authenticate to each other with SASL`},
		{"listener.security.protocol.map = \"PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_PLAINTEXT\"", `controller listener CONTROLLER is SASL_PLAINTEXT; the controller quorum speaks PLAINTEXT`},
	} {
		_, err := Parse([]byte(tt.doc))
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "secretpw") {
			t.Errorf("%s:\nerror %v\nwant  %q", tt.doc, err, tt.want)
		}
	}
}

func FuzzParsePlainJAAS(f *testing.F) {
	for _, s := range []string{
		`org.apache.kafka.common.security.plain.PlainLoginModule required user_a="b";`,
		`org.apache.kafka.common.security.plain.PlainLoginModule required username=x user_a="b\"c" ;`,
		`x y z`, `a b c="`, ``, `;`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		users, err := ParsePlainJAAS(s)
		if err == nil && users == nil {
			t.Fatal("nil users without an error")
		}
	})
}
