package report

import "fmt"

// Issue 16's figures: the broker's CPU per GiB moved, and the raw-fetch
// consume against loopback TCP.
const (
	// Run.Extra and Summary.Extra keys the suite fills.
	ExtraBrokerCPU   = "broker_cpu_s"           // the broker's utime+stime over the run
	ExtraCPUProduced = "cpu_s_per_gib_produced" // broker CPU seconds per GiB produced
	ExtraCPUConsumed = "cpu_s_per_gib_consumed" // broker CPU seconds per GiB consumed

	TargetACPU      = "a-cpu"
	TargetCCPU      = "c-cpu"
	TargetCRawIperf = "c-raw-iperf"

	// VariantRawFetch is workload (c)'s consume that reads raw Fetch
	// responses without decoding records (`ringtail bench consume --raw`).
	VariantRawFetch = "raw-fetch"
)

// targetCPU: w/with's broker CPU per GiB (Extra key) at most half of
// w/kfake's.
func targetCPU(r *Results, id, desc, w, with, key string) Target {
	t := Target{ID: id, Description: desc, Measured: notMeasured,
		Target: fmt.Sprintf("≤ 0.5 × %s/kfake's broker CPU s per GiB", w)}
	ws, ks := r.Find(w, with), r.Find(w, "kfake")
	if ks != nil && ks.Extra[key] > 0 {
		t.Target = fmt.Sprintf("≤ 0.5 × %s/kfake %s CPU s/GiB = %s", w, fmtNum(ks.Extra[key]), fmtNum(ks.Extra[key]/2))
	}
	if ws == nil || ks == nil || ws.Extra[key] <= 0 || ks.Extra[key] <= 0 {
		return t
	}
	ratio := ws.Extra[key] / ks.Extra[key]
	t.Measured = fmt.Sprintf("%s/%s %s CPU s/GiB = %.2f × kfake", w, with, fmtNum(ws.Extra[key]), ratio)
	t.Met = ratio <= 0.5
	return t
}

func targetCRawIperf(r *Results) Target {
	t := Target{
		ID:          TargetCRawIperf,
		Description: "Workload (c), warm consume by raw Fetch requests (no record decoding), against iperf3 TCP over loopback",
		Target:      "≥ 70% of iperf3 loopback",
		Measured:    notMeasured,
	}
	iperf := r.Limits.IperfGbps * mibPerGbps
	if iperf > 0 {
		t.Target = fmt.Sprintf("≥ 70%% of iperf3 loopback %s Gbit/s = %s MiB/s", fmtNum(r.Limits.IperfGbps), fmtNum(iperf))
	}
	s := r.Find("c", VariantRawFetch)
	if s == nil || iperf <= 0 {
		return t
	}
	frac := s.MBPerS / iperf
	t.Measured = fmt.Sprintf("%s MiB/s = %.0f%%", fmtNum(s.MBPerS), frac*100)
	t.Met = frac >= 0.7
	return t
}

// cpuTable is the markdown section of broker CPU per GiB: every summary
// that has the figure, next to its workload's kfake.
func cpuTable(r *Results) string {
	var rows []Summary
	for _, s := range sortedSummaries(r) {
		if _, ok := s.Extra[ExtraBrokerCPU]; ok {
			rows = append(rows, s)
		}
	}
	out := "## Broker CPU per GiB\n\n"
	if r.Machine.Pinning != "" {
		out += "Pinning: " + r.Machine.Pinning + ".\n\n"
	}
	if len(rows) == 0 {
		return out + "Not measured.\n\n"
	}
	out += "The broker's own utime + stime (/proc/<pid>/stat, all its threads, not the load generator's) over each measured run, per GiB produced or consumed; medians over the runs. The kernel counts CPU time in 10 ms ticks, so runs of a fraction of a second (smoke runs) read coarse or 0.\n\n"
	out += "| Workload | Variant | MiB/s | Broker CPU s | CPU s per GiB produced | CPU s per GiB consumed | × kfake |\n|---|---|---:|---:|---:|---:|---:|\n"
	for _, s := range rows {
		cell3 := func(k string) string {
			if v, ok := s.Extra[k]; ok {
				return fmtNum(v)
			}
			return "–"
		}
		vs := "–"
		if k := r.Find(s.Workload, "kfake"); k != nil && s.Variant != "kfake" {
			for _, key := range []string{ExtraCPUProduced, ExtraCPUConsumed} {
				if s.Extra[key] > 0 && k.Extra[key] > 0 {
					vs = fmt.Sprintf("%.2f×", s.Extra[key]/k.Extra[key])
				}
			}
		}
		out += fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s |\n", cell(s.Workload), cell(s.Variant), fmtNum(s.MBPerS),
			cell3(ExtraBrokerCPU), cell3(ExtraCPUProduced), cell3(ExtraCPUConsumed), vs)
	}
	return out + "\n"
}
