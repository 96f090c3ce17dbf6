package console

import (
	"net/url"
	"strconv"
)

// perPage is how many rows a list page shows: with 10,000 topics the page
// renders 50 rows and asks the cluster about those 50 only.
const perPage = 50

// pager is one page of a list of Total rows.
type pager struct {
	Page, Pages int // 1-based page number, and how many there are (>= 1)
	Total       int
	From, To    int    // 1-based rows shown, From > To when there are none
	Prev, Next  string // links, "" at the ends
	lo, hi      int    // the slice of rows: [lo, hi)
}

// paginate picks page (from the "page" parameter; anything unreadable or out
// of range is clamped to the nearest page) of total rows, per a page, with
// links that keep the other parameters of q.
func paginate(path string, q url.Values, total, per int) pager {
	p := pager{Total: total, Pages: (total + per - 1) / per}
	if p.Pages < 1 {
		p.Pages = 1
	}
	p.Page, _ = strconv.Atoi(q.Get("page"))
	p.Page = min(max(p.Page, 1), p.Pages)
	p.lo = (p.Page - 1) * per
	p.hi = min(p.lo+per, total)
	p.From, p.To = p.lo+1, p.hi
	if p.Page > 1 {
		p.Prev = pageURL(path, q, p.Page-1)
	}
	if p.Page < p.Pages {
		p.Next = pageURL(path, q, p.Page+1)
	}
	return p
}
