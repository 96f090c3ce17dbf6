package e2e

// The built-in Schema Registry with franz-go's sr client and a real Avro
// serializer (sr.Serde over hamba/avro): schemas register and evolve under
// BACKWARD (an optional field with a default is accepted, a required field
// without one refused with 409) and FULL (removing a required field is
// refused), records serialized with the registered ids go through a topic
// and deserialize with the schema fetched by id; the state survives a
// restart; on a 3-node cluster a schema registered through one node is
// served by the others, and writes sent to every node (two of which are not
// the writer and forward) get unique ids; when the writer's node is killed
// another registry takes over.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/ringtail/ringtail/testkit"
)

const (
	srUserV1 = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"}]}`
	srUserV2 = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"},{"name":"email","type":["null","string"],"default":null}]}`
	// A required field without a default: v2's reader cannot fill it.
	srUserNoDefault = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"},{"name":"email","type":["null","string"],"default":null},{"name":"team","type":"string"}]}`
	// age removed: fine for BACKWARD, refused under FULL (v2 readers need age).
	srUserNoAge = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"email","type":["null","string"],"default":null}]}`
)

type srUser struct {
	Name  string  `avro:"name"`
	Age   int     `avro:"age"`
	Email *string `avro:"email"`
}

func srUsers(us []srUser) string {
	out := ""
	for _, u := range us {
		e := "-"
		if u.Email != nil {
			e = *u.Email
		}
		out += fmt.Sprintf("{%s %d %s}", u.Name, u.Age, e)
	}
	return out
}

func srHasConfig(cs []kadm.Config, key, value string) bool {
	for _, c := range cs {
		if c.Key == key && c.Value != nil && *c.Value == value {
			return true
		}
	}
	return false
}

func srClient(t *testing.T, url string) *sr.Client {
	t.Helper()
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func srWant409(t *testing.T, err error, what string) {
	t.Helper()
	var re *sr.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 409 || re.ErrorCode != 409 {
		t.Fatalf("%s: %v, want a 409", what, err)
	}
}

func TestSchemaRegistryAvroSerdeRestart(t *testing.T) {
	t.Parallel()
	n := testkit.StartNode(t, testkit.Options{SchemaRegistry: true,
		Settings: map[string]string{"group.initial.rebalance.delay.ms": "0"}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := srClient(t, n.SchemaRegistryURL())
	const subject = "users-value"

	v1, err := cl.CreateSchema(ctx, subject, sr.Schema{Schema: srUserV1})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := cl.CreateSchema(ctx, subject, sr.Schema{Schema: srUserV2})
	if err != nil {
		t.Fatalf("BACKWARD: adding an optional field with a default: %v", err)
	}
	if v2.Version != 2 || v2.ID == v1.ID {
		t.Fatalf("v2 = %+v, v1 = %+v", v2, v1)
	}
	_, err = cl.CreateSchema(ctx, subject, sr.Schema{Schema: srUserNoDefault})
	srWant409(t, err, "BACKWARD: adding a required field without a default")
	if r := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatFull}, subject); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	_, err = cl.CreateSchema(ctx, subject, sr.Schema{Schema: srUserNoAge})
	srWant409(t, err, "FULL: removing a required field")

	// Serialize with the registered id, through a topic, and back with the
	// schema fetched by the id the record carries.
	sch := avro.MustParse(srUserV2)
	var serde sr.Serde
	serde.Register(v2.ID, srUser{},
		sr.EncodeFn(func(v any) ([]byte, error) { return avro.Marshal(sch, v) }),
		sr.DecodeFn(func(b []byte, v any) error { return avro.Unmarshal(sch, b, v) }))
	kc := n.Client(kgo.ConsumeTopics("users"), kgo.AllowAutoTopicCreation())
	defer kc.Close()
	email := "ada@example.com"
	sent := []srUser{{Name: "ada", Age: 36, Email: &email}, {Name: "bob", Age: 41}, {Name: "cy", Age: 7}}
	for _, u := range sent {
		if err := kc.ProduceSync(ctx, &kgo.Record{Topic: "users", Value: serde.MustEncode(u)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var got []srUser
	for len(got) < len(sent) && ctx.Err() == nil {
		kc.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			id, payload, err := serde.DecodeID(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			s, err := cl.SchemaByID(ctx, id)
			if err != nil {
				t.Fatalf("schema %d: %v", id, err)
			}
			var u srUser
			if err := avro.Unmarshal(avro.MustParse(s.Schema), payload, &u); err != nil {
				t.Fatal(err)
			}
			got = append(got, u)
		})
	}
	if srUsers(got) != srUsers(sent) {
		t.Fatalf("got %s, sent %s", srUsers(got), srUsers(sent))
	}

	// _schemas is Confluent's kafkastore topic: one compacted partition.
	adm := n.Admin()
	rc, err := adm.DescribeTopicConfigs(ctx, "_schemas")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := rc.On("_schemas", nil); err != nil || !srHasConfig(c.Configs, "cleanup.policy", "compact") {
		t.Fatalf("_schemas configs: %+v %v", c, err)
	}
	if td, err := adm.ListTopics(ctx, "_schemas"); err != nil || len(td["_schemas"].Partitions) != 1 {
		t.Fatalf("_schemas partitions: %+v %v", td, err)
	}

	// A restarted node rebuilds the registry from _schemas.
	n.Restart()
	cl = srClient(t, n.SchemaRegistryURL())
	s, err := cl.SchemaByVersion(ctx, subject, 2)
	if err != nil || s.ID != v2.ID || s.Schema.Schema != srUserV2 {
		t.Fatalf("after restart: %+v %v", s, err)
	}
	if r := cl.Compatibility(ctx, subject); r[0].Err != nil || r[0].Level != sr.CompatFull {
		t.Fatalf("compatibility after restart: %+v", r[0])
	}
	again, err := cl.CreateSchema(ctx, subject, sr.Schema{Schema: srUserV1})
	if err != nil || again.ID != v1.ID || again.Version != 1 {
		t.Fatalf("re-registering v1 after restart: %+v %v", again, err)
	}
	other, err := cl.CreateSchema(ctx, "other-value", sr.Schema{Schema: `"string"`})
	if err != nil || other.ID <= v2.ID {
		t.Fatalf("a new schema after restart: %+v %v (ids must not be reused)", other, err)
	}
}

func TestSchemaRegistryCluster(t *testing.T) {
	t.Parallel()
	c := testkit.StartCluster(t, 3, testkit.Options{SchemaRegistry: true,
		Settings: map[string]string{"group.initial.rebalance.delay.ms": "0", "offsets.topic.replication.factor": "3",
			"broker.session.timeout.ms": "3000"}})
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first, err := srClient(t, c.Nodes[0].SchemaRegistryURL()).CreateSchema(ctx, "c-value", sr.Schema{Schema: srUserV1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first register %v after the cluster started", time.Since(start))
	td, err := c.Admin().ListTopics(ctx, "_schemas")
	if err != nil || len(td["_schemas"].Partitions[0].Replicas) != 3 {
		t.Fatalf("_schemas should have 3 replicas on 3 nodes: %+v %v", td["_schemas"], err)
	}
	// Every node serves it, and takes writes: two of the three are not the
	// writer and forward theirs.
	ids := map[int]string{first.ID: "c-value"}
	for i, n := range c.Nodes {
		cl := srClient(t, n.SchemaRegistryURL())
		s, err := cl.SchemaByVersion(ctx, "c-value", 1)
		if err != nil || s.ID != first.ID || s.Schema.Schema != srUserV1 {
			t.Fatalf("node %d: %+v %v", i+1, s, err)
		}
		subject := fmt.Sprintf("n%d-value", i+1)
		schema := fmt.Sprintf(`{"type":"record","name":"R%d","fields":[{"name":"f","type":"int"}]}`, i+1)
		ss, err := cl.CreateSchema(ctx, subject, sr.Schema{Schema: schema})
		if err != nil {
			t.Fatalf("register through node %d: %v", i+1, err)
		}
		if prev, dup := ids[ss.ID]; dup {
			t.Fatalf("id %d given to %s and %s", ss.ID, prev, subject)
		}
		ids[ss.ID] = subject
		t.Logf("node %d: read and register done at %v", i+1, time.Since(start))
		_, err = cl.CreateSchema(ctx, "c-value", sr.Schema{Schema: srUserNoDefault})
		srWant409(t, err, fmt.Sprintf("an incompatible schema through node %d", i+1))
	}
	// Exactly one registry believes it is the writer; the other two forwarded.
	writers := 0
	var writer *testkit.Node
	for _, n := range c.Nodes {
		last := ""
		for _, l := range strings.Split(n.LogSinceLastStart(), "\n") {
			if strings.Contains(l, `msg="schema registry writer"`) {
				last = l
			}
		}
		if strings.Contains(last, "self=true") {
			writers++
			writer = n
		}
	}
	if writers != 1 {
		t.Fatalf("%d registries are the writer, want 1", writers)
	}
	for i, n := range c.Nodes {
		subjects, err := srClient(t, n.SchemaRegistryURL()).Subjects(ctx)
		if err != nil || len(subjects) != 4 {
			t.Fatalf("node %d subjects: %v %v", i+1, subjects, err)
		}
	}

	// The writer's node dies: another registry is elected and takes
	// writes, with an id none had.
	writer.Kill()
	var survivors []*testkit.Node
	for _, n := range c.Nodes {
		if n != writer {
			survivors = append(survivors, n)
		}
	}
	var after sr.SubjectSchema
	testkit.WaitFor(t, 40*time.Second, "a register after the writer died", func() bool {
		wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer wcancel()
		after, err = srClient(t, survivors[0].SchemaRegistryURL()).CreateSchema(wctx, "after-value", sr.Schema{Schema: `"long"`})
		return err == nil
	})
	t.Logf("register after the writer died at %v", time.Since(start))
	if _, dup := ids[after.ID]; dup {
		t.Fatalf("id %d given again after the writer changed", after.ID)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer rcancel()
	if s, err := srClient(t, survivors[1].SchemaRegistryURL()).SchemaByVersion(rctx, "after-value", 1); err != nil || s.ID != after.ID {
		t.Fatalf("the other survivor: %+v %v", s, err)
	}
}
