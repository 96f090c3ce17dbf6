package admin

import "github.com/prometheus/client_golang/prometheus"

// LogDirStat is one log dir's state, from an optional Source method
// LogDirs() []LogDirStat.
type LogDirStat struct {
	Dir     string
	Offline bool // taken offline by an I/O error
}

var (
	descLogDirsOffline = prometheus.NewDesc("ringtail_log_dirs_offline",
		"Log dirs taken offline by an I/O error; their partitions answer KAFKA_STORAGE_ERROR until a restart with the disk repaired.", nil, nil)
	descLogDirOffline = prometheus.NewDesc("ringtail_log_dir_offline",
		"1 when the log dir is offline after an I/O error, else 0.", []string{"dir"}, nil)
)

func describeLogDirs(ch chan<- *prometheus.Desc) {
	ch <- descLogDirsOffline
	ch <- descLogDirOffline
}

// collectLogDirs emits the log dir metrics when src has them.
func collectLogDirs(ch chan<- prometheus.Metric, src any) {
	ld, ok := src.(interface{ LogDirs() []LogDirStat })
	if !ok {
		return
	}
	dirs := ld.LogDirs()
	if dirs == nil {
		return
	}
	offline := 0
	for _, d := range dirs {
		v := 0.0
		if d.Offline {
			v = 1
			offline++
		}
		ch <- prometheus.MustNewConstMetric(descLogDirOffline, prometheus.GaugeValue, v, d.Dir)
	}
	ch <- prometheus.MustNewConstMetric(descLogDirsOffline, prometheus.GaugeValue, float64(offline))
}
