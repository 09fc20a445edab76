package writer

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"dupfs/archive/crypt"
	"dupfs/backends/file"
	"dupfs/repo"
)

// BenchmarkBackupDir makes an encrypted full backup of the directory
// DUPFS_BENCH_SRC, to profile the writer on real data (integration/bench
// times the dupfs binary; this gives its profile and trace):
//
//	DUPFS_BENCH_SRC=/some/tree go test ./writer -run '^$' -bench BackupDir \
//		-benchtime 1x -cpuprofile cpu.out -trace trace.out
//
// The passphrase derivation runs at GnuPG's full count, as in real use.
func BenchmarkBackupDir(b *testing.B) {
	src := os.Getenv("DUPFS_BENCH_SRC")
	if src == "" {
		b.Skip("DUPFS_BENCH_SRC is not set")
	}
	ctx := context.Background()
	pass := []byte("bench")
	for b.Loop() {
		b.StopTimer()
		base := b.TempDir()
		target, archive := filepath.Join(base, "target"), filepath.Join(base, "archive")
		for _, d := range []string{target, archive} {
			if err := os.Mkdir(d, 0o700); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		st, err := Backup(ctx, file.New(target), repo.Options{ArchiveDir: archive, Keys: crypt.Keys{Passphrase: pass}}, Options{
			Source: walk(b, src), SourceDir: src, Hostname: "bench",
			Encrypt: crypt.EncryptOptions{Passphrase: pass},
			Warn:    func(err error) { b.Log(err) },
		})
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(st.SourceFileSize)
		b.ReportMetric(float64(st.TotalDestinationSizeChange)/float64(st.SourceFileSize), "ratio")
	}
}
