// This file proves that IBM/sarama, a client with its own protocol code,
// round-trips records through a sync producer and a partition consumer.
package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/ringtail/ringtail/testkit"
)

func TestSaramaSyncProducerPartitionConsumer(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{})
	n.CreateTopic("sarama", 2, nil)

	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Retry.Max = 5
	cfg.Consumer.Return.Errors = true

	prod, err := sarama.NewSyncProducer([]string{n.Addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	const count = 500
	type pos struct {
		p int32
		o int64
	}
	sent := map[pos]string{}
	for i := 0; i < count; i++ {
		v := fmt.Sprintf("sarama-%d", i)
		p, o, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "sarama", Partition: int32(i % 2),
			Key: sarama.StringEncoder(fmt.Sprint(i)), Value: sarama.StringEncoder(v)})
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if _, dup := sent[pos{p, o}]; dup {
			t.Fatalf("two records acknowledged at partition %d offset %d", p, o)
		}
		sent[pos{p, o}] = v
	}

	cons, err := sarama.NewConsumer([]string{n.Addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := 0
	for _, part := range []int32{0, 1} {
		pc, err := cons.ConsumePartition("sarama", part, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		hwm := pc.HighWaterMarkOffset()
		timeout := time.After(time.Minute)
		want := count / 2
		for i := 0; i < want; i++ {
			select {
			case m := <-pc.Messages():
				if v := sent[pos{m.Partition, m.Offset}]; v != string(m.Value) {
					t.Fatalf("partition %d offset %d: got %q, sent %q", m.Partition, m.Offset, m.Value, v)
				}
				if string(m.Key) == "" {
					t.Fatalf("partition %d offset %d lost its key", m.Partition, m.Offset)
				}
				got++
			case err := <-pc.Errors():
				t.Fatalf("consume partition %d: %v", part, err)
			case <-timeout:
				t.Fatalf("partition %d: consumed %d of %d (high watermark %d)", part, i, want, hwm)
			}
		}
		pc.Close()
	}
	if got != count {
		t.Fatalf("consumed %d, sent %d", got, count)
	}
}
