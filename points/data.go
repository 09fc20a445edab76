package points

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"

	"dupfs/archive/collection"
	"dupfs/archive/difftar"
	"dupfs/archive/index"
	"dupfs/archive/manifest"
	"dupfs/archive/names"
	"dupfs/archive/replay"
	"dupfs/cache"
)

// ErrNotRegular reports a read of a path that is not a regular file at
// that point: the metadata and the volumes disagree.
var ErrNotRegular = errors.New("not a regular file in the volumes")

var errEvicted = errors.New("evicted from the cache")

// keptMemberLists is how many volumes' member lists stay in memory; each
// costs about 100 bytes per member.
const keptMemberLists = 32

// fetchParallel bounds the volumes one read fetches at once.
const fetchParallel = 4

// scanFiles is how many files read from one volume make a scan (cp -a,
// tar, find -exec): the set's next volume is then fetched in the
// background, so that its decryption, on another core, overlaps with the
// reads of this one instead of stalling the reader when it gets there. A
// read of one file never starts it.
const scanFiles = 8

// Content is a file's data, ready for random reads.
type Content interface {
	io.ReaderAt
	Size() int64
	Close() error
}

// Data reads file contents at points: volumes are fetched (verified and
// decrypted) into the cache on first use, and a file is read from them
// directly when one snapshot holds it, or replayed once into the cache
// when deltas apply.
type Data struct {
	src     *Source
	c       *cache.Cache
	members *lru.Cache[string, []difftar.Member] // by volume name

	scanMu sync.Mutex
	scans  map[string]int // by volume name: files read from it, up to scanFiles
	// OnFetch, when set, is told of each volume fetched from the target,
	// once it is in the cache (err nil) or has failed.
	OnFetch func(volume string, err error)
	// ReadAheadOK, when set, says whether a volume may be fetched ahead
	// of need. On cold storage only volumes known readable may: opening
	// a sealed one would ask for an unseal nobody asked for.
	ReadAheadOK func(volume string) bool
}

// NewData reads src's files through c.
func NewData(src *Source, c *cache.Cache) *Data {
	m, _ := lru.New[string, []difftar.Member](keptMemberLists)
	return &Data{src: src, c: c, members: m, scans: map[string]int{}}
}

// need is one set's part in a read: the set and its volumes that can hold
// the path.
type need struct {
	pos  int // in Point.Sets
	set  *collection.Set
	vols []manifest.Volume
}

// needs lists the sets that stored n, each with the volumes that can hold
// it: what a read of n at p must fetch, and nothing more.
func (d *Data) needs(ctx context.Context, p *Point, n *Node) ([]need, error) {
	var out []need
	for i, set := range p.Sets {
		if !n.StoredIn(i) {
			continue
		}
		m, err := d.src.r.Manifest(ctx, set)
		if err != nil {
			return nil, err
		}
		want := m.VolumesFor(n.Index)
		var vols []manifest.Volume
		for _, v := range m.Volumes {
			if slices.Contains(want, v.Number) {
				vols = append(vols, v)
			}
		}
		out = append(out, need{pos: i, set: set, vols: vols})
	}
	return out, nil
}

// Volumes lists the remote volumes a read of n at p needs, and which of
// them are not in the cache yet.
func (d *Data) Volumes(ctx context.Context, p *Point, n *Node) (all, missing []string, err error) {
	needs, err := d.needs(ctx, p, n)
	if err != nil {
		return nil, nil, err
	}
	for _, nd := range needs {
		for _, v := range nd.vols {
			name, _ := d.src.r.VolumeName(nd.set, v.Number)
			all = append(all, name)
			if !d.c.Has(volumeKey(name)) {
				missing = append(missing, name)
			}
		}
	}
	return all, missing, nil
}

// Cached reports whether reading n at p needs no fetch.
func (d *Data) Cached(ctx context.Context, p *Point, n *Node) bool {
	if n.Size == 0 || d.c.Has(d.contentKey(p, n)) {
		return true
	}
	_, missing, err := d.Volumes(ctx, p, n)
	return err == nil && len(missing) == 0
}

// Open returns node n's content at point p.
func (d *Data) Open(ctx context.Context, p *Point, n *Node) (Content, error) {
	key := d.contentKey(p, n)
	if d.c.Has(key) {
		// A replayed version; should it be evicted meanwhile, replay again.
		gone := func(context.Context, io.Writer) error { return errEvicted }
		if h, err := d.c.Get(ctx, key, gone); err == nil {
			return h, nil
		}
	}
	needs, err := d.needs(ctx, p, n)
	if err != nil {
		return nil, err
	}
	vols, err := d.fetch(ctx, needs)
	if err != nil {
		return nil, err
	}
	d.readAhead(needs)
	defer func() {
		for _, hs := range vols {
			for _, h := range hs {
				if h != nil {
					h.Close()
				}
			}
		}
	}()
	streams := make([]replay.Stream, len(needs))
	for i, nd := range needs {
		s, err := d.stream(ctx, nd, vols[i], n.Index)
		if err != nil {
			return nil, err
		}
		streams[i] = s
	}
	m := replay.NewMerger(streams, n.Index)
	g, err := m.Next()
	if err == io.EOF || (err == nil && g.Index != n.Index) {
		return nil, fmt.Errorf("%s: %w", index.Display(n.Index), ErrNotRegular)
	}
	if err != nil {
		return nil, err
	}
	node, err := replay.Resolve(g)
	if err != nil {
		return nil, err
	}
	if node == nil || node.Meta.Type != difftar.Reg {
		return nil, fmt.Errorf("%s: %w", index.Display(n.Index), ErrNotRegular)
	}
	if len(node.Deltas) == 0 {
		if c, ok := d.segments(ctx, needs[node.Base], vols[node.Base], n); ok {
			vols[node.Base] = nil // now owned by c
			return c, nil
		}
	}
	// Deltas apply (or the snapshot is oddly laid out): replay once into
	// the cache; every later read, at any point sharing this version, is
	// a cache hit.
	return d.c.Get(ctx, key, func(ctx context.Context, w io.Writer) error {
		return g.WriteContent(w, node, d.src.scratch)
	})
}

// fetch brings every needed volume into the cache, a few at a time, and
// returns pinned handles in needs' shape.
func (d *Data) fetch(ctx context.Context, needs []need) ([][]*cache.Handle, error) {
	out := make([][]*cache.Handle, len(needs))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		slots    = make(chan struct{}, fetchParallel)
	)
	for i, nd := range needs {
		out[i] = make([]*cache.Handle, len(nd.vols))
		for j, v := range nd.vols {
			wg.Add(1)
			go func() {
				defer wg.Done()
				slots <- struct{}{}
				defer func() { <-slots }()
				h, err := d.volume(ctx, nd.set, v)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
						cancel()
					}
					return
				}
				out[i][j] = h
			}()
		}
	}
	wg.Wait()
	if firstErr != nil {
		for _, hs := range out {
			for _, h := range hs {
				if h != nil {
					h.Close()
				}
			}
		}
		return nil, firstErr
	}
	return out, nil
}

// readAhead counts a read against each set's last volume it needed and,
// when that makes a scan, fetches the set's next volume in the background.
func (d *Data) readAhead(needs []need) {
	for _, nd := range needs {
		if len(nd.vols) == 0 {
			continue
		}
		last := nd.vols[len(nd.vols)-1]
		name, _ := d.src.r.VolumeName(nd.set, last.Number)
		if !d.scanned(name) {
			continue
		}
		// Detached from the reader's request, which may end first.
		ctx := context.Background()
		m, err := d.src.r.Manifest(ctx, nd.set)
		if err != nil {
			continue
		}
		i := slices.IndexFunc(m.Volumes, func(v manifest.Volume) bool { return v.Number == last.Number+1 })
		if i < 0 {
			continue
		}
		next := m.Volumes[i]
		nextName, _ := d.src.r.VolumeName(nd.set, next.Number)
		if d.c.Has(volumeKey(nextName)) || (d.ReadAheadOK != nil && !d.ReadAheadOK(nextName)) {
			continue
		}
		go func() {
			// A failure is reported through OnFetch, and the reader
			// that needs the volume fetches it again.
			if h, err := d.volume(ctx, nd.set, next); err == nil {
				h.Close()
			}
		}()
	}
}

// scanned counts one more file read from volume name, and reports whether
// that one makes the reads a scan.
func (d *Data) scanned(name string) bool {
	d.scanMu.Lock()
	defer d.scanMu.Unlock()
	n := d.scans[name]
	if n >= scanFiles {
		return false
	}
	d.scans[name] = n + 1
	return n+1 == scanFiles
}

// volume returns a pinned handle on one volume's plaintext, fetching it
// (hash checked before decryption) when the cache does not have it.
func (d *Data) volume(ctx context.Context, set *collection.Set, v manifest.Volume) (*cache.Handle, error) {
	name, _ := d.src.r.VolumeName(set, v.Number)
	return d.c.Get(ctx, volumeKey(name), func(ctx context.Context, w io.Writer) error {
		err := d.copyVolume(ctx, set, v, w)
		if d.OnFetch != nil {
			d.OnFetch(name, err)
		}
		return err
	})
}

func (d *Data) copyVolume(ctx context.Context, set *collection.Set, v manifest.Volume, w io.Writer) error {
	rc, err := d.src.r.OpenVolume(ctx, set, v)
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := io.Copy(w, rc); err != nil {
		return err
	}
	return rc.Close()
}

// memberList returns the members of a cached volume, scanning it once.
func (d *Data) memberList(name string, h *cache.Handle) ([]difftar.Member, error) {
	if ms, ok := d.members.Get(name); ok {
		return ms, nil
	}
	ms, err := difftar.Scan(h, h.Size())
	if err != nil {
		return nil, fmt.Errorf("volume %s: %w", name, err)
	}
	d.members.Add(name, ms)
	return ms, nil
}

// stream reads one set's entries from its cached volumes, starting at the
// first member at or after idx so that nothing before it is read.
func (d *Data) stream(ctx context.Context, nd need, hs []*cache.Handle, idx string) (replay.Stream, error) {
	var first io.Reader
	if len(hs) > 0 {
		name, _ := d.src.r.VolumeName(nd.set, nd.vols[0].Number)
		ms, err := d.memberList(name, hs[0])
		if err != nil {
			return nil, err
		}
		i := sort.Search(len(ms), func(i int) bool { return index.Compare(ms[i].Index, idx) >= 0 })
		off := hs[0].Size()
		if i < len(ms) {
			off = ms[i].Header
		}
		if first, err = difftar.SectionFrom(hs[0], off, hs[0].Size()); err != nil {
			return nil, fmt.Errorf("volume %s: %w", name, err)
		}
	}
	k := 0
	return difftar.NewReader(func() (io.Reader, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if k >= len(hs) {
			return nil, io.EOF
		}
		k++
		if k == 1 {
			return first, nil
		}
		h := hs[k-1]
		return io.NewSectionReader(h, 0, h.Size()), nil
	}), nil
}

// segments serves a file that one snapshot holds straight from the cached
// volumes, chunk by chunk, without copying it.
func (d *Data) segments(ctx context.Context, nd need, hs []*cache.Handle, n *Node) (Content, bool) {
	c := &segmented{}
	for i, h := range hs {
		name, _ := d.src.r.VolumeName(nd.set, nd.vols[i].Number)
		ms, err := d.memberList(name, h)
		if err != nil {
			return nil, false
		}
		j := sort.Search(len(ms), func(j int) bool { return index.Compare(ms[j].Index, n.Index) >= 0 })
		for ; j < len(ms) && ms[j].Index == n.Index; j++ {
			if ms[j].Kind != difftar.Snapshot {
				continue
			}
			c.segs = append(c.segs, segment{h: h, off: ms[j].Data, size: ms[j].Size, start: c.size})
			c.size += ms[j].Size
		}
	}
	if c.size != n.Size && n.Size != 0 || len(c.segs) == 0 {
		return nil, false
	}
	c.handles = hs
	return c, true
}

// segmented is a file laid out in pieces of cached volumes.
type segmented struct {
	segs    []segment
	size    int64
	handles []*cache.Handle
}

type segment struct {
	h                io.ReaderAt
	off, size, start int64 // where in the volume; where in the file
}

func (s *segmented) Size() int64 { return s.size }

func (s *segmented) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.size {
		return 0, io.EOF
	}
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].start+s.segs[i].size > off })
	n := 0
	for ; i < len(s.segs) && n < len(p); i++ {
		seg := s.segs[i]
		rel := off + int64(n) - seg.start
		want := min(int64(len(p)-n), seg.size-rel)
		got, err := seg.h.ReadAt(p[n:n+int(want)], seg.off+rel)
		n += got
		if err != nil && !(err == io.EOF && int64(got) == want) {
			return n, err
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (s *segmented) Close() error {
	for _, h := range s.handles {
		if h != nil {
			h.Close()
		}
	}
	return nil
}

func volumeKey(name string) string { return "volume " + name }

// contentKey names a file version: the set that last stored it and its
// index, so every point sharing the version shares the cache entry.
func (d *Data) contentKey(p *Point, n *Node) string {
	return "file " + names.FormatTime(p.Sets[n.Set].End) + " " + n.Index
}

// scratch makes the temporary files delta replay needs, unlinked at once.
func (s *Source) scratch() (*os.File, func(), error) {
	f, err := os.CreateTemp(s.archiveDir, ".dupfs-scratch-*")
	if err != nil {
		return nil, nil, fmt.Errorf("scratch file: %w", err)
	}
	os.Remove(f.Name())
	return f, func() { f.Close() }, nil
}
