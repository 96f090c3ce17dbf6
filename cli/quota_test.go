// These tests prove `ringtail quota` refuses bad flag combinations as one
// line before any network, and shows entities and quotas as kafka-configs.
package cli

import (
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

func TestQuotaUsageErrors(t *testing.T) {
	for args, want := range map[*[]string]string{
		{"quota", "set", "--producer-byte-rate", "10"}:                                 "wants an entity",
		{"quota", "set", "--user", "a"}:                                                "wants at least one quota",
		{"quota", "set", "--user", "a", "--user-default", "--request-percentage", "5"}: "--user and --user-default",
		{"quota", "remove"}: "wants an entity",
		{"quota", "set", "--client-id", "c", "--producer-byte-rate", "x"}: "invalid argument",
		{"quota", "list", "extra"}:                                        "wants no arguments",
	} {
		r := run(t, "", nil, append(*args, "--bootstrap", closedPort(t))...)
		wantOneLineError(t, r, want)
	}
}

func TestQuotaFormatting(t *testing.T) {
	ds := kadm.DescribedClientQuotas{
		{Entity: kadm.ClientQuotaEntity{{Type: "client-id"}, {Type: "user", Name: kadm.StringPtr("alice")}},
			Values: kadm.ClientQuotaValues{{Key: "request_percentage", Value: 12.5}, {Key: "consumer_byte_rate", Value: 1048576}}},
		{Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: kadm.StringPtr("app")}},
			Values: kadm.ClientQuotaValues{{Key: "producer_byte_rate", Value: 1024}}},
	}
	want := []string{
		"client-id=app producer_byte_rate=1024",
		"user=alice,client-id=<default> consumer_byte_rate=1048576 request_percentage=12.5",
	}
	if got := formatQuotas(ds); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	f := exactFilter(kadm.ClientQuotaEntity{{Type: "user", Name: kadm.StringPtr("u")}, {Type: "client-id"}})
	if len(f) != 2 || f[0].MatchType != 0 || *f[0].MatchName != "u" || f[1].MatchType != 1 || f[1].MatchName != nil {
		t.Fatalf("filter %+v", f)
	}
}
