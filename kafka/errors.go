package kafka

import (
	"context"
	"errors"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/group"
	"github.com/ringtail/ringtail/model"
)

// The one table from model sentinels (and a few context errors) to Kafka
// error codes. Handlers never pick a code for an error from below them
// themselves; they call errorCode.
//
// model.ErrClosed (the log or controller is shutting down) maps to
// NOT_LEADER_OR_FOLLOWER: it is retriable in every client and makes the
// client refresh metadata and go to whoever leads the partition next, which
// is what a client should do when a node goes away. A context deadline maps
// to REQUEST_TIMED_OUT (retriable), as does a metadata command that the
// quorum did not apply in time (controlplane.ErrTimeout: it may still take
// effect). A metadata command sent to a node that is not the active
// controller is NOT_CONTROLLER: clients refresh metadata and send it to
// the controller_id that Metadata names.
var errorTable = []struct {
	err  error
	code *kerr.Error
}{
	{model.ErrUnknownTopicOrPartition, kerr.UnknownTopicOrPartition},
	{model.ErrTopicAlreadyExists, kerr.TopicAlreadyExists},
	{model.ErrInvalidTopic, kerr.InvalidTopicException},
	{model.ErrInvalidPartitions, kerr.InvalidPartitions},
	{model.ErrInvalidReplicationFactor, kerr.InvalidReplicationFactor},
	{model.ErrInvalidReplicaAssignment, kerr.InvalidReplicaAssignment},
	{model.ErrInvalidConfig, kerr.InvalidConfig},
	{model.ErrInvalidRequest, kerr.InvalidRequest},
	{model.ErrPolicyViolation, kerr.PolicyViolation},
	{model.ErrCorruptRecord, kerr.CorruptMessage},
	{model.ErrRecordTooLarge, kerr.MessageTooLarge},
	{model.ErrInvalidRecord, kerr.InvalidRecord},
	{model.ErrInvalidTimestamp, kerr.InvalidTimestamp},
	{model.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
	{model.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber},
	{model.ErrInvalidProducerEpoch, kerr.InvalidProducerEpoch},
	{model.ErrUnknownProducerID, kerr.UnknownProducerID},
	{model.ErrInvalidTxnState, kerr.InvalidTxnState},
	{model.ErrTxnCoordinatorFenced, kerr.TransactionCoordinatorFenced},
	{model.ErrStorage, kerr.KafkaStorageError},
	{model.ErrNotLeader, kerr.NotLeaderForPartition},
	{model.ErrNotEnoughReplicasAfterAppend, kerr.NotEnoughReplicasAfterAppend},
	{model.ErrNotEnoughReplicas, kerr.NotEnoughReplicas},
	{controlplane.ErrElectionNotNeeded, kerr.ElectionNotNeeded},
	{controlplane.ErrNoReassignmentInProgress, kerr.NoReassignmentInProgress},
	{controlplane.ErrPreferredLeaderNotAvailable, kerr.PreferredLeaderNotAvailable},
	{controlplane.ErrEligibleLeadersNotAvailable, kerr.EligibleLeadersNotAvailable},
	{model.ErrClosed, kerr.NotLeaderForPartition},
	{group.ErrInvalidGroupID, kerr.InvalidGroupID},
	{group.ErrNotCoordinator, kerr.NotCoordinator},
	{group.ErrLoadInProgress, kerr.CoordinatorLoadInProgress},
	{group.ErrCoordinatorNotAvailable, kerr.CoordinatorNotAvailable},
	{group.ErrUnknownMemberID, kerr.UnknownMemberID},
	{group.ErrIllegalGeneration, kerr.IllegalGeneration},
	{group.ErrRebalanceInProgress, kerr.RebalanceInProgress},
	{group.ErrMemberIDRequired, kerr.MemberIDRequired},
	{group.ErrInconsistentGroupProtocol, kerr.InconsistentGroupProtocol},
	{group.ErrFencedInstanceID, kerr.FencedInstanceID},
	{group.ErrInvalidSessionTimeout, kerr.InvalidSessionTimeout},
	{group.ErrGroupMaxSizeReached, kerr.GroupMaxSizeReached},
	{group.ErrGroupIDNotFound, kerr.GroupIDNotFound},
	{group.ErrNonEmptyGroup, kerr.NonEmptyGroup},
	{group.ErrGroupSubscribedToTopic, kerr.GroupSubscribedToTopic},
	{group.ErrOffsetMetadataTooLarge, kerr.OffsetMetadataTooLarge},
	{group.ErrMemberMetadataTooLarge, kerr.InvalidRequest},
	{group.ErrFencedMemberEpoch, kerr.FencedMemberEpoch},
	{group.ErrStaleMemberEpoch, kerr.StaleMemberEpoch},
	{group.ErrUnreleasedInstanceID, kerr.UnreleasedInstanceID},
	{group.ErrInvalidRegularExpression, kerr.InvalidRegularExpression},
	{group.ErrUnsupportedAssignor, kerr.UnsupportedAssignor},
	{group.ErrInvalidRequest, kerr.InvalidRequest},
	{controlplane.ErrNotController, kerr.NotController},
	{controlplane.ErrTimeout, kerr.RequestTimedOut},
	{context.DeadlineExceeded, kerr.RequestTimedOut},
	{context.Canceled, kerr.RequestTimedOut},
}

// errorCode maps err to the Kafka error code a Kafka broker would send;
// nil is 0. Anything not in errorTable is UNKNOWN_SERVER_ERROR and logged,
// because it means a layer below returned an error nobody classified.
func errorCode(log *slog.Logger, err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			return e.code.Code
		}
	}
	log.Error("kafka: unclassified error answered as UNKNOWN_SERVER_ERROR", "err", err)
	return kerr.UnknownServerError.Code
}

// errorMessage is the text for the ErrorMessage fields of newer versions.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}
