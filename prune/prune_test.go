package prune

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"dupfs/archive/collection"
	"dupfs/backends"
)

// store is a backend whose Delete records calls and fails for one name.
type store struct {
	files   map[string]bool
	failOn  string
	deleted []string
}

func (s *store) List(context.Context) ([]backends.FileInfo, error) { return nil, nil }
func (s *store) Open(context.Context, string) (io.ReadCloser, error) {
	return nil, errors.New("not used")
}
func (s *store) Save(context.Context, string, io.ReadSeeker, int64) error {
	return errors.New("not used")
}
func (s *store) String() string { return "store" }
func (s *store) Close() error   { return nil }
func (s *store) Delete(_ context.Context, name string) error {
	if name == s.failOn {
		return errors.New("permission denied")
	}
	if !s.files[name] {
		return fmt.Errorf("%s: %w", name, backends.ErrNotExist)
	}
	delete(s.files, name)
	s.deleted = append(s.deleted, name)
	return nil
}

func TestRun(t *testing.T) {
	list := []collection.File{
		{Name: "l1", Local: true}, {Name: "r1"}, {Name: "gone"}, {Name: "l-gone", Local: true}, {Name: "r2"}, {Name: "l2", Local: true}, {Name: "r3"},
	}
	cases := []struct {
		name    string
		failOn  string
		deleted []string // remote, in order
		local   []string // archive-dir files left
		done    int
		err     string
	}{
		{name: "all", deleted: []string{"r1", "r2", "r3"}, done: len(list)},
		{name: "stops at the first failure", failOn: "r2", deleted: []string{"r1"}, local: []string{"l2"}, done: 4, err: "delete r2 from store: permission denied"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, n := range []string{"l1", "l2"} {
				if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			s := &store{files: map[string]bool{"r1": true, "r2": true, "r3": true}, failOn: tc.failOn}
			var done []string
			err := Run(t.Context(), s, dir, list, func(f collection.File) { done = append(done, Path(dir, f)) })
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("error: got %v, want %q", err, tc.err)
			}
			if !slices.Equal(s.deleted, tc.deleted) {
				t.Errorf("deleted %q, want %q", s.deleted, tc.deleted)
			}
			if len(done) != tc.done {
				t.Errorf("reported %d files done, want %d: %q", len(done), tc.done, done)
			}
			ents, _ := os.ReadDir(dir)
			var left []string
			for _, e := range ents {
				left = append(left, e.Name())
			}
			if !slices.Equal(left, tc.local) {
				t.Errorf("archive dir holds %q, want %q", left, tc.local)
			}
		})
	}
}
