package collection

import (
	"testing"

	"dupfs/archive/names"
)

// TestDropPartial: an incremental with only a local partial manifest
// leaves its chain, and a chain whose full is partial goes entirely.
func TestDropPartial(t *testing.T) {
	remote := []string{
		"duplicity-full.20261101T000000Z.vol1.difftar.gz",
		"duplicity-full.20261101T000000Z.manifest",
		"duplicity-inc.20261101T000000Z.to.20261102T000000Z.vol1.difftar.gz",
		"duplicity-inc.20261101T000000Z.to.20261102T000000Z.manifest",
		"duplicity-inc.20261102T000000Z.to.20261103T000000Z.vol1.difftar.gz",
		"duplicity-full.20261110T000000Z.vol1.difftar.gz",
	}
	local := []string{
		"duplicity-inc.20261102T000000Z.to.20261103T000000Z.manifest.part",
		"duplicity-full.20261110T000000Z.manifest.part",
	}
	c := Build(remote, local, names.Prefixes{}, false)
	if len(c.Chains) != 2 || len(c.Chains[0].Incs) != 2 {
		t.Fatalf("as duplicity: want 2 chains, the first with 2 incrementals: %+v", c.Chains)
	}
	c.DropPartial()
	if len(c.Chains) != 1 || len(c.Chains[0].Incs) != 1 {
		t.Fatalf("after DropPartial: want 1 chain with 1 incremental: %+v", c.Chains)
	}
	if got := c.Chains[0].End().Format("20060102"); got != "20261102" {
		t.Errorf("chain ends %s", got)
	}
	if len(c.Incomplete) != 2 {
		t.Errorf("want the 2 partial sets incomplete, got %d", len(c.Incomplete))
	}
}
