package group

import "errors"

// Errors of the coordinator. The kafka package maps each to its Kafka error
// code (kafka/errors.go); the names say which.
var (
	ErrInvalidGroupID            = errors.New("group: invalid group id")
	ErrNotCoordinator            = errors.New("group: not the coordinator of this group")
	ErrLoadInProgress            = errors.New("group: coordinator is loading the group's partition")
	ErrCoordinatorNotAvailable   = errors.New("group: coordinator not available")
	ErrUnknownMemberID           = errors.New("group: unknown member id")
	ErrIllegalGeneration         = errors.New("group: illegal generation")
	ErrRebalanceInProgress       = errors.New("group: rebalance in progress")
	ErrMemberIDRequired          = errors.New("group: member id required")
	ErrInconsistentGroupProtocol = errors.New("group: inconsistent group protocol")
	ErrFencedInstanceID          = errors.New("group: fenced instance id")
	ErrInvalidSessionTimeout     = errors.New("group: invalid session timeout")
	ErrGroupMaxSizeReached       = errors.New("group: group max size reached")
	ErrGroupIDNotFound           = errors.New("group: group id not found")
	ErrNonEmptyGroup             = errors.New("group: group is not empty")
	ErrGroupSubscribedToTopic    = errors.New("group: group is subscribed to the topic")
	ErrOffsetMetadataTooLarge    = errors.New("group: offset metadata too large")
	// ErrMemberMetadataTooLarge is a JoinGroup whose protocol metadata
	// exceeds Config.MaxMemberMetadataBytes (answered INVALID_REQUEST).
	ErrMemberMetadataTooLarge = errors.New("group: member protocol metadata too large")

	// KIP-848 consumer groups.
	ErrFencedMemberEpoch        = errors.New("group: fenced member epoch")
	ErrStaleMemberEpoch         = errors.New("group: stale member epoch")
	ErrUnreleasedInstanceID     = errors.New("group: unreleased instance id")
	ErrInvalidRegularExpression = errors.New("group: invalid regular expression")
	ErrUnsupportedAssignor      = errors.New("group: unsupported assignor")
	// ErrInvalidRequest is a malformed request (INVALID_REQUEST).
	ErrInvalidRequest = errors.New("group: invalid request")
)
