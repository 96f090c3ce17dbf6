package controlplane

import (
	"context"

	"github.com/ringtail/ringtail/model"
)

// ReportOfflineReplicas is a placeholder, replaced at merge by the offline helper's.
func (c *Controller) ReportOfflineReplicas(ctx context.Context, parts []model.TopicPartition) error {
	return nil
}
