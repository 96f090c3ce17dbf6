package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TestDeleteGroup: the confirmation names the group's committed offsets
// and their topics, a POST whose confirmation names another group deletes
// nothing, the confirmed one deletes it (the list says so and no longer
// shows it), and a read-only console refuses both steps.
func TestDeleteGroup(t *testing.T) {
	fx := newKfakeFixture(t, 2, "orders")
	adm := fx.adm
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var os kadm.Offsets = make(kadm.Offsets)
	os.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 0, LeaderEpoch: -1})
	os.Add(kadm.Offset{Topic: "orders", Partition: 1, At: 0, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, "billing", os); err != nil {
		t.Fatalf("commit: %v", err)
	}

	ro := fx.serve(Config{ReadOnly: true})
	if code, body := get(t, ro+"/groups/billing"); code != http.StatusOK || strings.Contains(body, "delete-group") {
		t.Errorf("read-only group page: %d, offers to delete: %v", code, strings.Contains(body, "delete-group"))
	}
	if code, _ := get(t, ro+"/groups/billing/delete"); code != http.StatusForbidden {
		t.Errorf("read-only confirmation: %d, want 403", code)
	}
	if code, _, _ := post(t, ro+"/groups/billing/delete", url.Values{"confirm": {"billing"}}); code != http.StatusForbidden {
		t.Errorf("read-only delete: %d, want 403", code)
	}

	srv := fx.serve(Config{})
	if _, body := get(t, srv+"/groups/billing"); !strings.Contains(body, `href="/groups/billing/delete"`) {
		t.Errorf("group page offers no delete:\n%s", body)
	}
	code, body := get(t, srv+"/groups/billing/delete")
	if code != http.StatusOK || !strings.Contains(body, "<strong>2 partitions</strong> of <code>orders</code>") || !strings.Contains(body, "<strong>Empty</strong>") {
		t.Fatalf("confirmation: %d\n%s", code, body)
	}
	if code, _, body := post(t, srv+"/groups/billing/delete", url.Values{"confirm": {"other"}}); code != http.StatusBadRequest || !strings.Contains(body, "nothing was deleted") {
		t.Fatalf("wrong confirmation: %d\n%s", code, body)
	}
	if _, body := get(t, srv+"/groups"); !strings.Contains(body, `href="/groups/billing"`) {
		t.Fatal("the group went on a wrong confirmation")
	}
	code, loc, _ := post(t, srv+"/groups/billing/delete", url.Values{"confirm": {"billing"}})
	if code != http.StatusSeeOther || loc != "/groups?deleted_group=billing" {
		t.Fatalf("delete: %d %q", code, loc)
	}
	if _, body := get(t, srv+loc); !strings.Contains(body, "Group billing deleted.") || strings.Contains(body, `href="/groups/billing"`) {
		t.Errorf("after delete:\n%s", body)
	}
	if code, body := get(t, srv+"/groups/billing/delete"); code != http.StatusNotFound || !strings.Contains(body, "GROUP_ID_NOT_FOUND") {
		t.Errorf("confirmation of a deleted group: %d\n%s", code, body)
	}
}
