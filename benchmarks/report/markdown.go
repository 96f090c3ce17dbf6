package report

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// PlotFile is one plot Write drew, or skipped with the reason.
type PlotFile struct {
	File    string // "throughput.png"
	Title   string
	Skipped string // why it was not drawn; "" when drawn
}

// Markdown renders the report. plots are the plots Write drew or skipped.
func Markdown(r *Results, plots []PlotFile) string {
	var b strings.Builder
	mdHeader(&b, r)
	mdLimits(&b, r)
	mdWorkloads(&b, r)
	b.WriteString(cpuTable(r))
	mdComparisons(&b, r)
	mdTargets(&b, r)
	mdMicroAndProfiles(&b, r)
	mdPlotsAndNotes(&b, r, plots)
	return b.String()
}

// mdHeader writes the title, the run and the machine.
func mdHeader(b *strings.Builder, r *Results) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("# Ringtail benchmark suite: %s, %s\n\n", orDash(r.Date), orDash(r.Host))
	started := "–"
	if !r.Started.IsZero() {
		started = r.Started.UTC().Format(time.RFC3339)
	}
	p("- Started: %s\n", started)
	p("- Duration: %s\n", time.Duration(r.DurationS*float64(time.Second)).Round(time.Second))
	p("- Smoke run: %s\n\n", yesNo(r.Smoke))
	if r.Smoke {
		p("> **Smoke run**: a seconds-long check of the suite itself. These figures are not measurements.\n\n")
	}

	p("## Machine\n\n| | |\n|---|---|\n")
	m := r.Machine
	rows := [][2]string{
		{"CPUs", fmt.Sprintf("%d", m.CPUs)},
		{"CPU model", m.CPUModel},
		{"Memory", fmt.Sprintf("%s GiB", fmtNum(m.MemGiB))},
		{"Kernel", m.Kernel},
		{"File system (data directory)", m.FileSystem},
		{"Device", m.Device},
		{"Go", m.GoVersion},
		{"Ringtail", m.RingtailVersion},
		{"I/O engine", m.IOEngine},
		{"Shards", fmt.Sprintf("%d", m.Shards)},
		{"CPU pinning", m.Pinning},
	}
	for _, row := range rows {
		p("| %s | %s |\n", row[0], cell(row[1]))
	}
	p("\n")
}

// mdLimits writes what fio and iperf3 measured of the machine.
func mdLimits(b *strings.Builder, r *Results) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("## Limits of this machine\n\n")
	p("### fio: sequential writes, fdatasync after each write\n\n")
	if len(r.Limits.Fio) == 0 {
		p("Not measured.\n\n")
	} else {
		p("| Write size | MiB/s | IOPS | sync p50 ms | sync p99 ms | sync p99.9 ms |\n|---:|---:|---:|---:|---:|---:|\n")
		fio := append([]FioWrite(nil), r.Limits.Fio...)
		sort.SliceStable(fio, func(i, j int) bool { return fio[i].BlockBytes < fio[j].BlockBytes })
		for _, f := range fio {
			p("| %s | %s | %s | %s | %s | %s |\n", fmtBytes(f.BlockBytes), fmtNum(f.MBPerS), fmtCount(f.IOPS),
				fmtNum(f.Latency.P50), fmtNum(f.Latency.P99), fmtNum(f.Latency.P999))
		}
		p("\n")
	}
	if l := r.Limits.FsyncLatencyMs; l != nil {
		p("fdatasync latency at workload (a)'s group-commit size: p50 %s ms, p99 %s ms, p99.9 %s ms, max %s ms.\n\n",
			fmtNum(l.P50), fmtNum(l.P99), fmtNum(l.P999), fmtNum(l.Max))
	}
	p("### iperf3: TCP over loopback\n\n")
	if r.Limits.IperfGbps > 0 {
		p("%s Gbit/s (%s MiB/s).\n\n", fmtNum(r.Limits.IperfGbps), fmtNum(r.Limits.IperfGbps*mibPerGbps))
	} else {
		p("Not measured.\n\n")
	}
	for _, n := range r.Limits.Notes {
		p("- %s\n", n)
	}
	if len(r.Limits.Notes) > 0 {
		p("\n")
	}
}

// mdWorkloads writes the medians of each workload variant.
func mdWorkloads(b *strings.Builder, r *Results) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("## Workloads\n\nMedians over each variant's runs.\n\n")
	if len(r.Summaries) == 0 {
		p("No workload was measured.\n\n")
	} else {
		p("| Workload | Variant | Description | Runs | records/s | MiB/s | p50 ms | p99 ms | p99.9 ms | max ms | RSS MiB |\n")
		p("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, s := range sortedSummaries(r) {
			lat := [4]string{"–", "–", "–", "–"}
			if s.Latency != nil {
				lat = [4]string{fmtNum(s.Latency.P50), fmtNum(s.Latency.P99), fmtNum(s.Latency.P999), fmtNum(s.Latency.Max)}
			}
			rss := "–"
			if s.RSSMiB > 0 {
				rss = fmtNum(s.RSSMiB)
			}
			p("| %s | %s | %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", cell(s.Workload), cell(s.Variant), cell(s.Description),
				s.Runs, fmtCount(s.RecordsPerS), fmtNum(s.MBPerS), lat[0], lat[1], lat[2], lat[3], rss)
		}
		p("\n")
	}
}

// mdComparisons writes each speed mechanism against its simpler alternative.
func mdComparisons(b *strings.Builder, r *Results) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("## Side by side: each speed mechanism against its simpler alternative\n\n")
	if len(r.Comparisons) == 0 {
		p("No comparison was measured.\n\n")
	} else {
		p("| Mechanism | Workload | With | Without | Ratio | Verdict | Note |\n|---|---|---|---|---:|---|---|\n")
		for _, c := range r.Comparisons {
			with := fmt.Sprintf("%s: %s MiB/s", c.With, fmtNum(c.WithMBps))
			without := fmt.Sprintf("%s: %s MiB/s", c.Without, fmtNum(c.WithoutMBps))
			ratio, verdict := "–", "not measured"
			if c.Ratio > 0 {
				ratio = fmt.Sprintf("%.2f×", c.Ratio)
				verdict = "loses"
				if c.Wins {
					verdict = "wins"
				}
			}
			p("| %s | %s | %s | %s | %s | %s | %s |\n", cell(c.Mechanism), cell(c.Workload), cell(with), cell(without),
				ratio, verdict, cell(c.Note))
		}
		p("\n")
	}
}

// mdTargets writes which targets were met.
func mdTargets(b *strings.Builder, r *Results) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("## Targets (issues 5 and 16)\n\n")
	if len(r.Targets) == 0 {
		p("Not evaluated.\n\n")
	} else {
		met := 0
		for _, t := range r.Targets {
			if t.Met {
				met++
			}
		}
		p("%d of %d met.\n\n", met, len(r.Targets))
		p("| Id | Description | Target | Measured | Met | Note |\n|---|---|---|---|:---:|---|\n")
		for _, t := range r.Targets {
			mark := "❌"
			if t.Met {
				mark = "✅"
			}
			p("| %s | %s | %s | %s | %s | %s |\n", cell(t.ID), cell(t.Description), cell(t.Target), cell(t.Measured), mark, cell(t.Note))
		}
		p("\n")
	}
}

// mdMicroAndProfiles writes the micro-benchmarks and links the profiles.
func mdMicroAndProfiles(b *strings.Builder, r *Results) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("## Micro-benchmarks\n\n")
	if len(r.Micro) == 0 {
		p("None were run.\n\n")
	} else {
		p("| Package | Benchmark | ns/op | MB/s | B/op | allocs/op |\n|---|---|---:|---:|---:|---:|\n")
		for _, mb := range r.Micro {
			mbs := "–"
			if mb.MBPerS > 0 {
				mbs = fmtNum(mb.MBPerS)
			}
			p("| %s | %s | %s | %s | %s | %s |\n", cell(mb.Package), cell(mb.Name), fmtNum(mb.NsPerOp), mbs,
				fmtCount(mb.BytesPerOp), fmtCount(mb.AllocsPerOp))
		}
		p("\n")
	}

	p("## Profiles\n\n")
	if len(r.Profiles) == 0 {
		p("None were taken.\n\n")
	} else {
		for _, f := range r.Profiles {
			p("- [%s](%s)\n", f, linkPath(f))
		}
		p("\n")
	}
}

// mdPlotsAndNotes writes the plots (or why one was not drawn) and the notes.
func mdPlotsAndNotes(b *strings.Builder, r *Results, plots []PlotFile) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("## Plots\n\n")
	skipped := false
	for _, pl := range plots {
		if pl.Skipped != "" {
			p("- %s (`%s`): not drawn, %s.\n", pl.Title, pl.File, pl.Skipped)
			skipped = true
		}
	}
	if skipped {
		p("\n")
	}
	for _, pl := range plots {
		if pl.Skipped == "" {
			p("### %s\n\n![%s](%s)\n\n", pl.Title, pl.Title, pl.File)
		}
	}

	if len(r.Notes) > 0 {
		p("## Notes\n\n")
		for _, n := range r.Notes {
			p("- %s\n", n)
		}
		p("\n")
	}
}

// sortedSummaries orders summaries by workload, keeping the suite's
// order of variants within a workload.
func sortedSummaries(r *Results) []Summary {
	s := append([]Summary(nil), r.Summaries...)
	sort.SliceStable(s, func(i, j int) bool { return s[i].Workload < s[j].Workload })
	return s
}

// cell makes text safe inside a markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\r", "")
	return strings.ReplaceAll(s, "\n", " ")
}

// linkPath escapes what would end a markdown link target.
func linkPath(s string) string {
	return strings.NewReplacer(" ", "%20", "(", "%28", ")", "%29").Replace(s)
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
