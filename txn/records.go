package txn

import (
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/model"
)

// Record is one record of __transaction_state in Kafka's schemas: key
// TxnMetadataKey v0 (transactional id), value TxnMetadataValue v0 (producer
// id and epoch, timeout, state, partitions, timestamps), v1 with its
// tagged fields for transaction version 2; a nil Value is a tombstone (an
// expired id).
type Record struct {
	Key, Value []byte
}

func encodeKey(id string) []byte {
	k := kmsg.NewTxnMetadataKey()
	k.TransactionalID = id
	return k.AppendTo(nil)
}

func tombstone(id string) Record { return Record{Key: encodeKey(id)} }

// record is t as a __transaction_state record.
func (t *Txn) record() Record {
	v := kmsg.NewTxnMetadataValue()
	v.ProducerID, v.ProducerEpoch, v.TimeoutMillis = t.ProducerID, t.Epoch, t.TimeoutMs
	v.State, v.LastUpdateTimestamp, v.StartTimestamp = t.State, t.LastUpdateMs, t.StartMs
	if t.NextProducerID != noPID || t.PrevProducerID != noPID || t.TV2 {
		// Version 1's tagged fields (KIP-890 part 2), only when in use.
		v.Version, v.NextProducerID, v.PreviousProducerID, v.ClientTransactionVersion = 1, t.NextProducerID, t.PrevProducerID, 0
		if t.TV2 {
			v.ClientTransactionVersion = 2
		}
	}
	byTopic := map[string][]int32{}
	for tp := range t.Partitions {
		byTopic[tp.Topic] = append(byTopic[tp.Topic], tp.Partition)
	}
	topics := make([]string, 0, len(byTopic))
	for topic := range byTopic {
		topics = append(topics, topic)
	}
	sort.Strings(topics)
	for _, topic := range topics {
		ps := byTopic[topic]
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		vt := kmsg.NewTxnMetadataValueTopic()
		vt.Topic, vt.Partitions = topic, ps
		v.Topics = append(v.Topics, vt)
	}
	return Record{Key: encodeKey(t.ID), Value: v.AppendTo(nil)}
}

// decodeRecord parses one __transaction_state record; a nil txn is a
// tombstone for id.
func decodeRecord(r Record) (id string, t *Txn, err error) {
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(r.Key); err != nil {
		return "", nil, fmt.Errorf("txn: %w: key: %v", model.ErrCorruptRecord, err)
	}
	if k.Version != 0 || k.TransactionalID == "" {
		return "", nil, fmt.Errorf("txn: %w: key version %d, id %q", model.ErrCorruptRecord, k.Version, k.TransactionalID)
	}
	if r.Value == nil {
		return k.TransactionalID, nil, nil
	}
	v := kmsg.NewTxnMetadataValue()
	if err := v.ReadFrom(r.Value); err != nil {
		return "", nil, fmt.Errorf("txn: %w: value of %q: %v", model.ErrCorruptRecord, k.TransactionalID, err)
	}
	if v.State < kmsg.TransactionStateEmpty || v.State > kmsg.TransactionStatePrepareEpochFence {
		return "", nil, fmt.Errorf("txn: %w: value of %q: state %d", model.ErrCorruptRecord, k.TransactionalID, v.State)
	}
	t = &Txn{ID: k.TransactionalID, ProducerID: v.ProducerID, Epoch: v.ProducerEpoch, TimeoutMs: v.TimeoutMillis,
		State: v.State, StartMs: v.StartTimestamp, LastUpdateMs: v.LastUpdateTimestamp,
		Partitions: map[model.TopicPartition]struct{}{}, NextProducerID: noPID, PrevProducerID: noPID, LastEpoch: -1}
	if v.Version >= 1 {
		t.NextProducerID, t.PrevProducerID = v.NextProducerID, v.PreviousProducerID
		t.TV2 = v.ClientTransactionVersion >= 2
		t.restoreLastEpoch()
	}
	for _, vt := range v.Topics {
		for _, p := range vt.Partitions {
			t.Partitions[model.TopicPartition{Topic: vt.Topic, Partition: p}] = struct{}{}
		}
	}
	return k.TransactionalID, t, nil
}

// Load replays a __transaction_state partition's records in log order; the
// last record of an id wins, a tombstone forgets it. Records that do not
// decode are returned as errors after the rest are loaded, so one bad
// record does not lose the others.
func (c *Coordinator) Load(recs []Record) []error {
	var errs []error
	for _, r := range recs {
		id, t, err := decodeRecord(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if t == nil {
			delete(c.txns, id)
			continue
		}
		c.txns[id] = t
	}
	return errs
}
