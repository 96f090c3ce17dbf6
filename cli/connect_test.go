package cli

// `ringtail connect standalone` reads connector files as .properties or as
// Kafka's JSON forms.

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestReadConnectorFile(t *testing.T) {
	dir := t.TempDir()
	want := map[string]string{"name": "s", "connector.class": "FileStreamSink", "topics": "t"}
	for file, body := range map[string]string{
		"a.properties": "name=s\nconnector.class=FileStreamSink\ntopics = t\n",
		"b.json":       `{"name":"s","config":{"connector.class":"FileStreamSink","topics":"t"}}`,
		"c.json":       ` {"name":"s","connector.class":"FileStreamSink","topics":"t"}`,
	} {
		p := filepath.Join(dir, file)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := readConnectorFile(p)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v %v", file, got, err)
		}
	}
	p := filepath.Join(dir, "bad.json")
	os.WriteFile(p, []byte(`{"name":"s","tasks.max":[1]}`), 0o644)
	if _, err := readConnectorFile(p); err == nil {
		t.Error("bad.json: want an error")
	}
}
