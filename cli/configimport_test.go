// These tests check the server.properties reader (Java's format: separators,
// continuations, escapes, repeated keys) and the TOML it becomes.
package cli

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/ringtail/ringtail/config"
)

func TestParseProperties(t *testing.T) {
	in := "# comment\n! also a comment\n\n" +
		"a=1\n" +
		"b : two words \n" +
		"c three\n" +
		"d = first,\\\n    second\n" +
		"e\\=x = \\u0041\\tz\n" +
		"a = 3\n" +
		"f\n"
	got, err := parseProperties([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []property{
		{"a", "3", 10}, {"b", "two words ", 5}, {"c", "three", 6},
		{"d", "first,second", 7}, {"e=x", "A\tz", 9}, {"f", "", 11},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestImportPropertiesTypesAndWarnings(t *testing.T) {
	props := []property{
		{"node.id", "3", 1},
		{"auto.create.topics.enable", "FALSE", 2},
		{"log.dirs", `C:\data "x"`, 3},
		{"num.io.threads", "8", 4},
		{"log.retention.hours", "soon", 5},
	}
	doc, warnings := importProperties(props, "in.properties")
	for _, line := range []string{"node.id = 3\n", "auto.create.topics.enable = false\n", `log.dirs = "C:\\data \"x\""` + "\n",
		`log.retention.hours = "soon"` + "\n", "# num.io.threads=8\n"} {
		if !strings.Contains(doc, line) {
			t.Errorf("doc lacks %q:\n%s", line, doc)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "in.properties:4: num.io.threads = 8 not imported") {
		t.Errorf("warnings %q", warnings)
	}
	if _, err := config.Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), "log.retention.hours") {
		t.Errorf("a bad value should fail the check naming its key; got %v", err)
	}
}

// The log cleaner's keys are Kafka's, so they are carried over with their
// types, doubles in Java's spellings included, and checked like any other.
func TestImportPropertiesCleanerKeys(t *testing.T) {
	props := []property{
		{"log.cleaner.enable", "false", 1},
		{"log.cleaner.threads", "2", 2},
		{"log.cleaner.dedupe.buffer.size", "268435456", 3},
		{"log.cleaner.io.buffer.size", "1048576", 4},
		{"log.cleaner.io.buffer.load.factor", "0.75", 5},
		{"log.cleaner.io.max.bytes.per.second", "1.7976931348623157E308", 6},
		{"log.cleaner.backoff.ms", "30000", 7},
		{"log.cleaner.min.cleanable.ratio", ".25", 8},
		{"log.cleaner.min.compaction.lag.ms", "60000", 9},
		{"log.cleaner.max.compaction.lag.ms", "9223372036854775807", 10},
		{"log.cleaner.delete.retention.ms", "3600000", 11},
	}
	doc, warnings := importProperties(props, "in.properties")
	if len(warnings) != 0 {
		t.Errorf("warnings %q", warnings)
	}
	for _, line := range []string{"log.cleaner.enable = false\n", "log.cleaner.threads = 2\n", "log.cleaner.dedupe.buffer.size = 268435456\n",
		"log.cleaner.io.buffer.size = 1048576\n", "log.cleaner.io.buffer.load.factor = 0.75\n",
		"log.cleaner.io.max.bytes.per.second = 1.7976931348623157e+308\n", "log.cleaner.backoff.ms = 30000\n",
		"log.cleaner.min.cleanable.ratio = 0.25\n", "log.cleaner.min.compaction.lag.ms = 60000\n",
		"log.cleaner.max.compaction.lag.ms = 9223372036854775807\n", "log.cleaner.delete.retention.ms = 3600000\n"} {
		if !strings.Contains(doc, "\n"+line) {
			t.Errorf("doc lacks %q:\n%s", line, doc)
		}
	}
	c, err := config.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("imported doc does not parse: %v\n%s", err, doc)
	}
	if c.LogCleanerEnable || c.LogCleanerThreads != 2 || c.LogCleanerDedupeBufferSize != 256<<20 || c.LogCleanerIOBufferSize != 1<<20 ||
		c.LogCleanerIOBufferLoadFactor != 0.75 || c.LogCleanerIOMaxBytesPerSecond != math.MaxFloat64 || c.LogCleanerBackoffMs != 30000 ||
		c.LogCleanerMinCleanableRatio != 0.25 || c.LogCleanerMinCompactionLagMs != 60000 || c.LogCleanerMaxCompactionLagMs != math.MaxInt64 ||
		c.LogCleanerDeleteRetentionMs != 3600000 {
		t.Errorf("imported config %+v", c)
	}

	// Bad values are carried over too, and the check names them.
	for _, tt := range []struct{ key, value, line, want string }{
		{"log.cleaner.min.cleanable.ratio", "1.5", "log.cleaner.min.cleanable.ratio = 1.5\n", "log.cleaner.min.cleanable.ratio = 1.5: must be a number from 0 to 1"},
		{"log.cleaner.io.max.bytes.per.second", "Infinity", `log.cleaner.io.max.bytes.per.second = "Infinity"` + "\n", `log.cleaner.io.max.bytes.per.second = "Infinity": must be a positive, finite number`},
		{"log.cleaner.threads", "0", "log.cleaner.threads = 0\n", "log.cleaner.threads = 0: must be an integer from 1 to 64"},
	} {
		doc, warnings := importProperties([]property{{tt.key, tt.value, 1}}, "in.properties")
		if len(warnings) != 0 || !strings.Contains(doc, "\n"+tt.line) {
			t.Errorf("%s=%s: warnings %q, doc:\n%s", tt.key, tt.value, warnings, doc)
		}
		if _, err := config.Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s=%s: check error %v, want %s", tt.key, tt.value, err, tt.want)
		}
	}
}

// A Kafka SSL listener's settings import as they are.
func TestImportSSL(t *testing.T) {
	props, err := parseProperties([]byte("listeners=PLAINTEXT://:9092,SSL://:9094,CONTROLLER://:9093\n" +
		"listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL\n" +
		"ssl.keystore.type=PEM\nssl.keystore.location=/etc/kafka/server.pem\nssl.truststore.type=PEM\n" +
		"ssl.truststore.location=/etc/kafka/ca.pem\nssl.client.auth=required\nssl.enabled.protocols=TLSv1.2,TLSv1.3\n" +
		"ssl.cipher.suites=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n" +
		"listener.name.ssl.ssl.keystore.location=/etc/kafka/ssl-listener.pem\n"))
	if err != nil {
		t.Fatal(err)
	}
	doc, warnings := importProperties(props, "in.properties")
	if len(warnings) != 0 {
		t.Errorf("warnings %q", warnings)
	}
	c, err := config.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("imported doc does not parse: %v\n%s", err, doc)
	}
	if c.ListenerProtocol("SSL") != config.ProtocolSSL || c.SSL.KeystoreLocation != "/etc/kafka/server.pem" ||
		c.SSL.TruststoreLocation != "/etc/kafka/ca.pem" || c.SSL.ClientAuth != "required" ||
		len(c.SSL.CipherSuites) != 1 || len(c.SSL.EnabledProtocols) != 2 ||
		c.SSLFor("SSL").KeystoreLocation != "/etc/kafka/ssl-listener.pem" {
		t.Errorf("imported config %+v", c)
	}
}

// A Kafka SASL listener's settings import as they are.
func TestImportSASL(t *testing.T) {
	props, err := parseProperties([]byte("listeners=PLAINTEXT://:9092,SASL_PLAINTEXT://:9094,CONTROLLER://:9093\n" +
		"sasl.enabled.mechanisms=SCRAM-SHA-512\nconnections.max.reauth.ms=3600000\n" +
		"listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN\n" +
		`listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="a-secret";` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	doc, warnings := importProperties(props, "in.properties")
	if len(warnings) != 0 {
		t.Errorf("warnings %q", warnings)
	}
	c, err := config.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("imported doc does not parse: %v\n%s", err, doc)
	}
	users, err := config.ParsePlainJAAS(c.SASLFor("SASL_PLAINTEXT").PlainJAAS)
	if c.SASL.EnabledMechanisms[0] != "SCRAM-SHA-512" || c.ConnectionsMaxReauthMs != 3600000 || c.SASLFor("SASL_PLAINTEXT").EnabledMechanisms[0] != "PLAIN" ||
		err != nil || users["alice"] != "a-secret" {
		t.Errorf("imported config %+v, users %v %v", c.SASLFor("SASL_PLAINTEXT"), users, err)
	}
}
