package writer

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dupfs/archive/crypt"
	"dupfs/backends/file"
	"dupfs/integration"
	"dupfs/repo"
	"dupfs/restore"
	"dupfs/writer/selection"
)

func walk(t testing.TB, src string) Source {
	sel, err := selection.New(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sel.Walk(context.Background())
}

type fixedClock struct{ t time.Time }

func (c *fixedClock) now() time.Time { return c.t }

// TestChainRestoresEveryPoint backs up the scenario's steps (full, then
// incrementals with every kind of change) and restores each point.
func TestChainRestoresEveryPoint(t *testing.T) {
	for _, tc := range []struct {
		name string
		enc  bool
	}{{"gzip", false}, {"symmetric", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			base := t.TempDir()
			src, target, archive := filepath.Join(base, "src"), filepath.Join(base, "target"), filepath.Join(base, "archive")
			for _, d := range []string{src, target, archive} {
				if err := os.Mkdir(d, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			ropts := repo.Options{ArchiveDir: archive, Keys: crypt.Keys{Passphrase: []byte("pw")}}
			clock := &fixedClock{time.Unix(1_795_000_000, 0)}
			var trees []integration.Tree
			var times []time.Time
			for k := 0; k < integration.Steps; k++ {
				if err := integration.ApplyStep(src, k); err != nil {
					t.Fatal(err)
				}
				tree, err := integration.Snapshot(src)
				if err != nil {
					t.Fatal(err)
				}
				trees = append(trees, tree)
				clock.t = clock.t.Add(time.Minute)
				times = append(times, clock.t)
				var warns []string
				st, err := Backup(ctx, file.New(target), ropts, Options{
					Source: walk(t, src), SourceDir: src, Hostname: "h",
					VolSize: volSize(tc.enc), NoEncryption: !tc.enc,
					Encrypt: crypt.EncryptOptions{Passphrase: []byte("pw")},
					Now:     clock.now,
					Warn:    func(err error) { warns = append(warns, err.Error()) },
				})
				if err != nil {
					t.Fatalf("step %d: %v (warnings %v)", k, err, warns)
				}
				var block bytes.Buffer
				st.WriteBlock(&block, time.UTC)
				t.Logf("step %d:\n%s", k, block.String())
			}
			for k, when := range times {
				dest := filepath.Join(base, "restore-"+when.Format("150405"))
				r, err := repo.Open(ctx, file.New(target), ropts)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := restore.Run(ctx, r, restore.Options{Time: when, Dest: dest}); err != nil {
					t.Fatalf("restore step %d: %v", k, err)
				}
				got, err := integration.Snapshot(dest)
				if err != nil {
					t.Fatal(err)
				}
				if d := integration.Diff(trees[k], got, integration.CompareOptions{}); len(d) > 0 {
					t.Errorf("step %d differs:\n%s", k, strings.Join(d, "\n"))
				}
			}
		})
	}
}

// volSize keeps encrypted runs to a few volumes: each costs a passphrase
// derivation on both sides, which dominates a small test.
func volSize(encrypted bool) int64 {
	if encrypted {
		return 8 << 20
	}
	return 1 << 20
}
