package console

// A line diff for the schemas page: the longest common subsequence of two
// short texts (schemas are a few hundred lines at most), bounded so that a
// huge schema gives a plain "too large" rather than a slow page.

import "strings"

// maxDiffCells bounds the LCS table (lines of a × lines of b): 4M cells of
// int32 is 16 MiB, milliseconds of work.
const maxDiffCells = 4 << 20

// diffLine is one line of a diff: Op is ' ' (in both), '-' (only in the
// old text) or '+' (only in the new).
type diffLine struct {
	Op   byte
	Text string
}

// Class is the line's CSS class; Mark its first column.
func (l diffLine) Class() string {
	switch l.Op {
	case '+':
		return "add"
	case '-':
		return "del"
	}
	return "same"
}

func (l diffLine) Mark() string { return string(rune(l.Op)) }

// lineDiff is the lines of a and b in order, each marked kept, removed or
// added; ok is false when the texts are too large to diff.
func lineDiff(a, b string) (out []diffLine, ok bool) {
	al, bl := splitLines(a), splitLines(b)
	// Common head and tail lines need no table.
	head := 0
	for head < len(al) && head < len(bl) && al[head] == bl[head] {
		head++
	}
	tail := 0
	for tail < len(al)-head && tail < len(bl)-head && al[len(al)-1-tail] == bl[len(bl)-1-tail] {
		tail++
	}
	for _, l := range al[:head] {
		out = append(out, diffLine{' ', l})
	}
	x, y := al[head:len(al)-tail], bl[head:len(bl)-tail]
	if (len(x)+1)*(len(y)+1) > maxDiffCells {
		return nil, false
	}
	// lcs[i][j] is the LCS length of x[i:] and y[j:], in one flat slice.
	w := len(y) + 1
	lcs := make([]int32, (len(x)+1)*w)
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i*w+j] = lcs[(i+1)*w+j+1] + 1
			} else {
				lcs[i*w+j] = max(lcs[(i+1)*w+j], lcs[i*w+j+1])
			}
		}
	}
	i, j := 0, 0
	for i < len(x) && j < len(y) {
		switch {
		case x[i] == y[j]:
			out = append(out, diffLine{' ', x[i]})
			i++
			j++
		case lcs[(i+1)*w+j] >= lcs[i*w+j+1]:
			out = append(out, diffLine{'-', x[i]})
			i++
		default:
			out = append(out, diffLine{'+', y[j]})
			j++
		}
	}
	for ; i < len(x); i++ {
		out = append(out, diffLine{'-', x[i]})
	}
	for ; j < len(y); j++ {
		out = append(out, diffLine{'+', y[j]})
	}
	for _, l := range al[len(al)-tail:] {
		out = append(out, diffLine{' ', l})
	}
	return out, true
}

// splitLines splits s into lines without their ends; "" has none.
func splitLines(s string) []string {
	s = strings.TrimSuffix(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
