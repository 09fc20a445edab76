// Package points presents a target as what the mount shows: one time point
// per backup set, and for each the tree as it was then (names, types,
// metadata and exact sizes) without reading any volume. Metadata comes
// from the signature tars, which hold every changed path's new state;
// sizes come from dupfs's size records in them, or, for sets duplicity
// wrote, from an index built once by reading the set's volumes and kept in
// the archive dir.
package points

import (
	"slices"
	"time"

	"dupfs/archive/collection"
)

// Point is the state of the backup at the end of one set.
type Point struct {
	Time  time.Time
	Chain *collection.Chain
	// Sets are the sets a restore at Time applies, full first.
	Sets []*collection.Set
}

// Name is the point's directory name: its time in UTC.
func (p *Point) Name() string { return p.Time.UTC().Format("2006-01-02T15:04:05Z") }

// List returns every complete set of every chain as a point, oldest first.
func List(c *collection.Collection) []*Point {
	var out []*Point
	for _, ch := range c.Chains {
		for _, s := range ch.Sets() {
			out = append(out, &Point{Time: s.End, Chain: ch, Sets: ch.SetsUntil(s.End)})
		}
	}
	slices.SortStableFunc(out, func(a, b *Point) int { return a.Time.Compare(b.Time) })
	return out
}
