package report

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

const (
	plotWidth  = 9 * vg.Inch
	rowHeight  = 0.34 * vg.Inch // one bar or one row of points
	plotMargin = 1.7 * vg.Inch  // title, axis, tick labels
	barWidth   = 0.24 * vg.Inch
)

// Plot file names.
const (
	ThroughputPNG = "throughput.png"
	LatencyPNG    = "latency.png"
	PartitionsPNG = "partitions.png"
	SideBySidePNG = "sidebyside.png"
)

// errNoData is what a plot builder returns when it has nothing to draw.
type errNoData string

func (e errNoData) Error() string { return string(e) }

// writePlots draws every plot into dir, and removes an older file of a
// plot that has no data this time.
func writePlots(dir string, r *Results) ([]PlotFile, error) {
	builders := []struct {
		file, title string
		build       func(*Results) (*plot.Plot, vg.Length, error)
	}{
		{ThroughputPNG, "Throughput per workload and variant", throughputPlot},
		{LatencyPNG, "Latency percentiles per workload and variant", latencyPlot},
		{PartitionsPNG, "Throughput against partition count", partitionsPlot},
		{SideBySidePNG, "Side by side: each mechanism against its alternative", sideBySidePlot},
	}
	var out []PlotFile
	for _, b := range builders {
		pf := PlotFile{File: b.file, Title: b.title}
		path := filepath.Join(dir, b.file)
		p, height, err := b.build(r)
		var nd errNoData
		switch {
		case errors.As(err, &nd):
			pf.Skipped = string(nd)
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
		case err != nil:
			return nil, fmt.Errorf("report: %s: %w", b.file, err)
		default:
			if err := savePNG(p, height, path); err != nil {
				return nil, fmt.Errorf("report: save %s: %w", b.file, err)
			}
		}
		out = append(out, pf)
	}
	return out, nil
}

// savePNG draws p on a white canvas with a margin all round, so long
// tick labels at the left edge are not clipped.
func savePNG(p *plot.Plot, height vg.Length, path string) error {
	c := vgimg.NewWith(vgimg.UseWH(plotWidth, height), vgimg.UseDPI(110), vgimg.UseBackgroundColor(color.White))
	margin := 0.15 * vg.Inch
	p.Draw(draw.Crop(draw.New(c), margin, -margin, margin/2, -margin/2))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(15)
	p.Title.Padding = vg.Points(8)
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.X.Label.TextStyle.Font.Size = vg.Points(12)
	p.Y.Label.TextStyle.Font.Size = vg.Points(12)
	p.X.Tick.Label.Font.Size = vg.Points(10)
	p.Y.Tick.Label.Font.Size = vg.Points(10)
	p.Add(plotter.NewGrid())
	return p
}

// rowsHeight is the image height for n rows.
func rowsHeight(n int) vg.Length {
	h := plotMargin + vg.Length(n)*rowHeight
	if h < 4*vg.Inch {
		h = 4 * vg.Inch
	}
	return h
}

// workloadRows lays summaries out top to bottom, a blank row between
// workloads. It returns each kept summary's row (0 is the bottom) and
// the row labels for NominalY.
func workloadRows(ss []Summary) (rows []float64, labels []string) {
	var top []string // labels top to bottom
	var idx []int
	for i, s := range ss {
		if i > 0 && s.Workload != ss[i-1].Workload {
			top = append(top, "")
		}
		idx = append(idx, len(top))
		top = append(top, s.Workload+" / "+s.Variant)
	}
	n := len(top)
	labels = make([]string, n)
	for i, l := range top {
		labels[n-1-i] = l
	}
	rows = make([]float64, len(idx))
	for i, t := range idx {
		rows[i] = float64(n - 1 - t)
	}
	return rows, labels
}

func valueLabels(xs, ys []float64, texts []string) (*plotter.Labels, error) {
	xys := make(plotter.XYs, len(xs))
	for i := range xs {
		xys[i] = plotter.XY{X: xs[i], Y: ys[i]}
	}
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: texts})
	if err != nil {
		return nil, err
	}
	for i := range l.TextStyle {
		l.TextStyle[i].Font.Size = vg.Points(9)
		l.TextStyle[i].XAlign = text.XLeft
		l.TextStyle[i].YAlign = text.YCenter
	}
	l.Offset = vg.Point{X: vg.Points(4)}
	return l, nil
}

func workloadColor(workloads []string, w string) color.Color {
	for i, x := range workloads {
		if x == w {
			return plotutil.Color(i)
		}
	}
	return color.Gray{Y: 128}
}

func throughputPlot(r *Results) (*plot.Plot, vg.Length, error) {
	var ss []Summary
	for _, s := range sortedSummaries(r) {
		if s.MBPerS > 0 {
			ss = append(ss, s)
		}
	}
	if len(ss) == 0 {
		return nil, 0, errNoData("no workload has a throughput")
	}
	rows, labels := workloadRows(ss)
	p := newPlot("Throughput per workload and variant (median of runs)", "throughput (MiB/s)", "")
	var workloads []string
	maxV := 0.0
	xs, texts := make([]float64, len(ss)), make([]string, len(ss))
	for i, s := range ss {
		if len(workloads) == 0 || workloads[len(workloads)-1] != s.Workload {
			workloads = append(workloads, s.Workload)
		}
		bar, err := plotter.NewBarChart(plotter.Values{s.MBPerS}, barWidth)
		if err != nil {
			return nil, 0, err
		}
		bar.Horizontal = true
		bar.XMin = rows[i]
		bar.Color = workloadColor(workloads, s.Workload)
		bar.LineStyle.Width = 0
		p.Add(bar)
		maxV = math.Max(maxV, s.MBPerS)
		xs[i], texts[i] = s.MBPerS, fmtNum(s.MBPerS)+" MiB/s"
	}
	lab, err := valueLabels(xs, rows, texts)
	if err != nil {
		return nil, 0, err
	}
	p.Add(lab)
	p.NominalY(labels...)
	p.X.Min, p.X.Max = 0, maxV*1.18
	return p, rowsHeight(len(labels)), nil
}

func latencyPlot(r *Results) (*plot.Plot, vg.Length, error) {
	var ss []Summary
	for _, s := range sortedSummaries(r) {
		if l := s.Latency; l != nil && (l.P50 > 0 || l.P99 > 0 || l.P999 > 0) {
			ss = append(ss, s)
		}
	}
	if len(ss) == 0 {
		return nil, 0, errNoData("no workload has latencies")
	}
	rows, labels := workloadRows(ss)
	// Two empty rows on top hold the legend clear of the points.
	labels = append(labels, "", "")
	p := newPlot("Latency percentiles per workload and variant (median of runs)", "latency (ms, log scale)", "")
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}

	series := []struct {
		name  string
		get   func(*Latency) float64
		shape draw.GlyphDrawer
	}{
		{"p50", func(l *Latency) float64 { return l.P50 }, draw.CircleGlyph{}},
		{"p99", func(l *Latency) float64 { return l.P99 }, draw.PyramidGlyph{}},
		{"p99.9", func(l *Latency) float64 { return l.P999 }, draw.BoxGlyph{}},
	}
	minV, maxV := math.Inf(1), 0.0
	for i, s := range ss {
		// A thin line from the lowest to the highest percentile of the row.
		var span plotter.XYs
		for _, se := range series {
			if v := se.get(s.Latency); v > 0 {
				span = append(span, plotter.XY{X: v, Y: rows[i]})
				minV, maxV = math.Min(minV, v), math.Max(maxV, v)
			}
		}
		if len(span) > 1 {
			sort.Slice(span, func(a, b int) bool { return span[a].X < span[b].X })
			ln, err := plotter.NewLine(plotter.XYs{span[0], span[len(span)-1]})
			if err != nil {
				return nil, 0, err
			}
			ln.LineStyle.Color = color.Gray{Y: 170}
			ln.LineStyle.Width = vg.Points(1.5)
			p.Add(ln)
		}
	}
	for k, se := range series {
		var xys plotter.XYs
		for i, s := range ss {
			if v := se.get(s.Latency); v > 0 {
				xys = append(xys, plotter.XY{X: v, Y: rows[i]})
			}
		}
		if len(xys) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return nil, 0, err
		}
		sc.GlyphStyle.Shape = se.shape
		sc.GlyphStyle.Radius = vg.Points(4.5)
		sc.GlyphStyle.Color = plotutil.Color(k)
		p.Add(sc)
		p.Legend.Add(se.name, sc)
	}
	p.Legend.Top = true
	p.Legend.TextStyle.Font.Size = vg.Points(11)
	p.NominalY(labels...)
	p.Y.Min, p.Y.Max = -0.6, float64(len(labels))-0.4
	p.X.Min, p.X.Max = minV/1.6, maxV*1.6
	return p, rowsHeight(len(labels)), nil
}

// partitionPoint is one e/partitions-N summary.
type partitionPoint struct {
	n    int
	recs float64
	rss  float64
}

func partitionPoints(r *Results) []partitionPoint {
	var pts []partitionPoint
	for _, s := range r.Summaries {
		if s.Workload != "e" || !strings.HasPrefix(s.Variant, "partitions-") {
			continue
		}
		n := s.Partitions
		if n <= 0 {
			n, _ = strconv.Atoi(strings.TrimPrefix(s.Variant, "partitions-"))
		}
		if n > 0 && s.RecordsPerS > 0 {
			pts = append(pts, partitionPoint{n: n, recs: s.RecordsPerS, rss: s.RSSMiB})
		}
	}
	sort.Slice(pts, func(i, j int) bool { return pts[i].n < pts[j].n })
	return pts
}

func partitionsPlot(r *Results) (*plot.Plot, vg.Length, error) {
	pts := partitionPoints(r)
	if len(pts) == 0 {
		return nil, 0, errNoData("no e/partitions-N summary has a throughput")
	}
	p := newPlot("Workload (e): throughput against partition count", "partitions (log scale)", "throughput (records/s)")
	p.X.Scale = plot.LogScale{}
	var ticks []plot.Tick
	xys := make(plotter.XYs, len(pts))
	texts := make([]string, len(pts))
	maxY, minX, maxX := 0.0, float64(pts[0].n), float64(pts[len(pts)-1].n)
	for i, pt := range pts {
		xys[i] = plotter.XY{X: float64(pt.n), Y: pt.recs}
		texts[i] = fmtCount(pt.recs) + "/s"
		if pt.rss > 0 {
			texts[i] += ", RSS " + fmtNum(pt.rss) + " MiB"
		}
		ticks = append(ticks, plot.Tick{Value: float64(pt.n), Label: strconv.Itoa(pt.n)})
		maxY = math.Max(maxY, pt.recs)
	}
	lp, sc, err := plotter.NewLinePoints(xys)
	if err != nil {
		return nil, 0, err
	}
	lp.LineStyle.Width = vg.Points(2)
	lp.LineStyle.Color = plotutil.Color(0)
	sc.GlyphStyle.Color = plotutil.Color(0)
	sc.GlyphStyle.Radius = vg.Points(4)
	p.Add(lp, sc)
	p.Legend.Add("e / partitions-N", lp, sc)

	// Workload (a) runs on 8 partitions: show it when (e) has no 8.
	if a := r.Find("a", "ringtail"); a != nil && a.RecordsPerS > 0 && pts[0].n != 8 {
		ap, err := plotter.NewScatter(plotter.XYs{{X: 8, Y: a.RecordsPerS}})
		if err != nil {
			return nil, 0, err
		}
		ap.GlyphStyle.Shape = draw.SquareGlyph{}
		ap.GlyphStyle.Radius = vg.Points(4)
		ap.GlyphStyle.Color = plotutil.Color(1)
		p.Add(ap)
		p.Legend.Add("a / ringtail (8 partitions)", ap)
		ticks = append(ticks, plot.Tick{Value: 8, Label: "8"})
		minX = math.Min(minX, 8)
		maxY = math.Max(maxY, a.RecordsPerS)
	}
	lab, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: texts})
	if err != nil {
		return nil, 0, err
	}
	for i := range lab.TextStyle {
		lab.TextStyle[i].Font.Size = vg.Points(9)
		lab.TextStyle[i].XAlign = text.XCenter
		lab.TextStyle[i].YAlign = text.YBottom
	}
	lab.Offset = vg.Point{Y: vg.Points(7)}
	p.Add(lab)
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.Y.Tick.Marker = commaTicks{}
	p.X.Min, p.X.Max = minX/2, maxX*2
	p.Y.Min, p.Y.Max = 0, maxY*1.25
	p.Legend.Top = true
	p.Legend.TextStyle.Font.Size = vg.Points(11)
	return p, 5.5 * vg.Inch, nil
}

// commaTicks are the default ticks labelled with thousands separators.
type commaTicks struct{}

func (commaTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = fmtCount(ts[i].Value)
		}
	}
	return ts
}

func sideBySidePlot(r *Results) (*plot.Plot, vg.Length, error) {
	var cs []Comparison
	for _, c := range r.Comparisons {
		if c.Ratio > 0 {
			cs = append(cs, c)
		}
	}
	if len(cs) == 0 {
		return nil, 0, errNoData("no comparison has a ratio")
	}
	n := len(cs)
	labels := make([]string, n)
	rows := make([]float64, n)
	xs := make([]float64, n)
	texts := make([]string, n)
	maxV := 1.0
	p := newPlot("Side by side: throughput with the mechanism / without it", "ratio (with / without; > 1 means the mechanism wins)", "")
	for i, c := range cs {
		row := float64(n - 1 - i) // first comparison on top
		labels[n-1-i] = fmt.Sprintf("%s (%s)", c.Mechanism, c.Workload)
		rows[i], xs[i] = row, math.Max(c.Ratio, 1) // a label clear of the line at 1
		verdict := "loses"
		col := color.RGBA{R: 200, G: 60, B: 50, A: 255}
		if c.Wins {
			verdict = "wins"
			col = color.RGBA{R: 40, G: 150, B: 70, A: 255}
		}
		texts[i] = fmt.Sprintf("%.2f× %s", c.Ratio, verdict)
		bar, err := plotter.NewBarChart(plotter.Values{c.Ratio}, barWidth)
		if err != nil {
			return nil, 0, err
		}
		bar.Horizontal = true
		bar.XMin = row
		bar.Color = col
		bar.LineStyle.Width = 0
		p.Add(bar)
		maxV = math.Max(maxV, c.Ratio)
	}
	one, err := plotter.NewLine(plotter.XYs{{X: 1, Y: -0.6}, {X: 1, Y: float64(n) - 0.4}})
	if err != nil {
		return nil, 0, err
	}
	one.LineStyle.Width = vg.Points(1.5)
	one.LineStyle.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	p.Add(one)
	lab, err := valueLabels(xs, rows, texts)
	if err != nil {
		return nil, 0, err
	}
	p.Add(lab)
	p.NominalY(labels...)
	p.Y.Min, p.Y.Max = -0.6, float64(n)-0.4
	p.X.Min, p.X.Max = 0, maxV*1.25
	p.X.Tick.Marker = withOne{}
	return p, rowsHeight(n), nil
}

// withOne are the default ticks with a labelled tick at 1 (no change).
type withOne struct{}

func (withOne) Ticks(min, max float64) []plot.Tick {
	var ts []plot.Tick
	for _, t := range (plot.DefaultTicks{}).Ticks(min, max) {
		if t.Value == 1 || (t.Label != "" && math.Abs(t.Value-1) < (max-min)/15) {
			t.Label = "" // keep the tick, drop a label that would crowd "1"
		}
		ts = append(ts, t)
	}
	return append(ts, plot.Tick{Value: 1, Label: "1"})
}
