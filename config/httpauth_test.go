// These tests prove the HTTP services' authentication keys parse, default
// to none with SCRAM-SHA-256, and refuse a mode the node cannot serve
// (http_basic without a SASL listener offering the mechanism, mtls without
// its files), naming the key and what is valid.
package config

import (
	"strings"
	"testing"
)

const servicesSASLListeners = `listeners = "PLAINTEXT://:9092,SASL_PLAINTEXT://:9094,CONTROLLER://:9093"
advertised.listeners = "PLAINTEXT://localhost:9092,SASL_PLAINTEXT://localhost:9094"
`

func TestServicesAuthKeys(t *testing.T) {
	if d := Default().ServicesAuth; d.Mode != "none" || d.SASLMechanism != "SCRAM-SHA-256" {
		t.Fatalf("defaults: %+v", d)
	}
	c := parseOK(t, servicesSASLListeners+"[ringtail]\nservices_auth = \"HTTP_BASIC\"\nservices_sasl_mechanism = \"SCRAM-SHA-512\"\nservices_sasl_user = \"svc\"\nservices_sasl_password = \"pw\"")
	if sa := c.ServicesAuth; sa.Mode != "http_basic" || sa.SASLMechanism != "SCRAM-SHA-512" || sa.SASLUser != "svc" {
		t.Fatalf("parsed: %+v", sa)
	}
	if l, ok := c.ServicesSASLListener(); !ok || l.Name != "SASL_PLAINTEXT" {
		t.Fatalf("SASL listener %+v %v", l, ok)
	}
	parseOK(t, "[ringtail]\nservices_auth = \"mtls\"\nservices_tls_cert_file = \"/c.pem\"\nservices_tls_key_file = \"/k.pem\"\nservices_tls_ca_file = \"/ca.pem\"")
	for _, bad := range []struct{ doc, want string }{
		{"[ringtail]\nservices_auth = \"ldap\"", `ringtail.services_auth = "ldap": must be one of "none", "http_basic", "mtls"`},
		{"[ringtail]\nservices_auth = \"http_basic\"", `ringtail.services_auth = "http_basic": checks HTTP basic credentials on a SASL_PLAINTEXT or SASL_SSL listener of this node that enables ringtail.services_sasl_mechanism = SCRAM-SHA-256; none does (listeners: PLAINTEXT)`},
		{servicesSASLListeners + "listener.name.sasl_plaintext.sasl.enabled.mechanisms = \"SCRAM-SHA-512\"\n[ringtail]\nservices_auth = \"http_basic\"", `enables ringtail.services_sasl_mechanism = SCRAM-SHA-256; none does`},
		{"[ringtail]\nservices_auth = \"mtls\"\nservices_tls_cert_file = \"/c.pem\"", `ringtail.services_auth = "mtls": needs ringtail.services_tls_key_file, ringtail.services_tls_ca_file`},
		{"[ringtail]\nservices_sasl_mechanism = \"GSSAPI\"", `ringtail.services_sasl_mechanism = "GSSAPI": must be one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`},
		{"[ringtail]\nservices_sasl_user = \"svc\"", `ringtail.services_sasl_user = "svc": ringtail.services_sasl_user and ringtail.services_sasl_password are set together`},
	} {
		_, err := Parse([]byte(bad.doc))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want %q", bad.doc, err, bad.want)
		}
	}
}
