package writer

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"dupfs/archive/crypt"
	"dupfs/archive/manifest"
	"dupfs/archive/names"
	"dupfs/archive/tarstream"
	"dupfs/backends"
	"dupfs/repo"
)

// meta writes a backup's signature tar and manifest. While the backup runs
// they are plain ".part" files in the archive dir, as duplicity keeps them;
// at the end they are uploaded, signatures first and the manifest last, so
// a set is never visible before all its data is stored.
type meta struct {
	ropts    repo.Options
	opts     *Options
	plan     *backupPlan
	dir      string
	head     manifest.Manifest
	sigPath  string
	manPath  string
	sigFile  *os.File
	sigBuf   *bufio.Writer
	sig      *tarstream.Writer
	fileList *fileList
}

func (p *backupPlan) sigType() names.Type {
	if p.full {
		return names.FullSignature
	}
	return names.NewSignature
}

func (p *backupPlan) manType() names.Type {
	if p.full {
		return names.FullManifest
	}
	return names.IncManifest
}

func newMeta(ropts repo.Options, opts *Options, p *backupPlan) (*meta, error) {
	m := &meta{ropts: ropts, opts: opts, plan: p, dir: ropts.ArchiveDir}
	m.head = manifest.Manifest{Hostname: opts.Hostname, Localdir: canonicalPath(opts.SourceDir)}
	m.sigPath = filepath.Join(m.dir, p.fileName(ropts, p.sigType(), 0, false, false, true))
	m.manPath = filepath.Join(m.dir, p.fileName(ropts, p.manType(), 0, false, false, true))
	f, err := os.OpenFile(m.sigPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("archive dir: %w", err)
	}
	m.sigFile = f
	m.sigBuf = bufio.NewWriterSize(f, 1<<20)
	m.sig = tarstream.NewWriter(m.sigBuf)
	if m.fileList, err = newFileList(opts.TempDir); err != nil {
		m.abort()
		return nil, err
	}
	if err := m.checkpoint(nil); err != nil {
		m.abort()
		return nil, err
	}
	return m, nil
}

// checkpoint rewrites the partial manifest with the volumes done so far.
func (m *meta) checkpoint(vols []manifest.Volume) error {
	h := m.head
	h.Volumes = vols
	// Not "<manifest>.part.tmp": duplicity (sharing the archive dir) parses
	// that as a second partial manifest of the set, and a run killed before
	// the rename would make every duplicity command there stop with an
	// assertion. A ".dupfs-" name is no duplicity file, and the next run's
	// removeStaleTemps deletes it.
	tmp := filepath.Join(m.dir, ".dupfs-checkpoint-"+filepath.Base(m.manPath))
	if err := os.WriteFile(tmp, h.MarshalHead(), 0o600); err != nil {
		return fmt.Errorf("archive dir: %w", err)
	}
	if err := os.Rename(tmp, m.manPath); err != nil {
		return fmt.Errorf("archive dir: %w", err)
	}
	return nil
}

// abort removes the partial files of a backup that failed before storing
// anything.
func (m *meta) abort() {
	m.closeFiles()
	os.Remove(m.sigPath)
	os.Remove(m.manPath)
}

// closeFiles releases the open files; closing twice is harmless.
func (m *meta) closeFiles() {
	if m.sigFile != nil {
		m.sigFile.Close()
	}
	if m.fileList != nil {
		m.fileList.close()
	}
}

// finish completes and uploads the signature tar, then the manifest, and
// leaves their final local copies in the archive dir.
func (m *meta) finish(ctx context.Context, b backends.Backend, vols []manifest.Volume) error {
	if err := m.sig.Close(); err != nil {
		return fmt.Errorf("signature tar: %w", err)
	}
	if err := m.sigBuf.Flush(); err != nil {
		return fmt.Errorf("signature tar: %w", err)
	}
	if err := m.sigFile.Close(); err != nil {
		return fmt.Errorf("signature tar: %w", err)
	}
	if err := m.uploadSigtar(ctx, b); err != nil {
		return err
	}

	h := m.head
	h.Volumes = vols
	f, err := os.OpenFile(m.manPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("archive dir: %w", err)
	}
	_, err = f.Write(h.MarshalHead())
	if err == nil {
		err = m.fileList.writeTo(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	enc := !m.opts.NoEncryption
	remote := m.plan.fileName(m.ropts, m.plan.manType(), 0, enc, false, false)
	if err := m.upload(ctx, b, remote, m.manPath, enc, false, ""); err != nil {
		return err
	}
	final := filepath.Join(m.dir, m.plan.fileName(m.ropts, m.plan.manType(), 0, false, false, false))
	if err := os.Rename(m.manPath, final); err != nil {
		return fmt.Errorf("archive dir: %w", err)
	}
	m.fileList.close()
	return nil
}

func (m *meta) uploadSigtar(ctx context.Context, b backends.Backend) error {
	enc := !m.opts.NoEncryption
	remote := m.plan.fileName(m.ropts, m.plan.sigType(), 0, enc, !enc, false)
	local := filepath.Join(m.dir, m.plan.fileName(m.ropts, m.plan.sigType(), 0, false, true, false))
	if err := m.upload(ctx, b, remote, m.sigPath, enc, !enc, local); err != nil {
		return err
	}
	return os.Remove(m.sigPath)
}

// upload stores the plain file src under remote, encrypted or gzipped as
// asked; with keepGz, a gzipped copy is also published locally there.
func (m *meta) upload(ctx context.Context, b backends.Backend, remote, src string, enc, gz bool, keepGz string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("%s: %w", remote, err)
	}
	defer in.Close()
	out, err := os.CreateTemp(m.dir, ".dupfs-meta-*")
	if err != nil {
		return fmt.Errorf("%s: %w", remote, err)
	}
	defer os.Remove(out.Name())
	defer out.Close()
	var local *os.File
	var sinks []io.Writer
	var closers []io.Closer
	switch {
	case enc:
		w, err := crypt.Encrypt(out, m.opts.Encrypt)
		if err != nil {
			return fmt.Errorf("%s: %w", remote, err)
		}
		sinks, closers = append(sinks, w), append(closers, w)
	case gz:
		w := crypt.Compress(out)
		sinks, closers = append(sinks, w), append(closers, w)
	default:
		sinks = append(sinks, out)
	}
	if keepGz != "" && !gz {
		if local, err = os.CreateTemp(m.dir, ".dupfs-meta-*"); err != nil {
			return fmt.Errorf("archive dir: %w", err)
		}
		defer os.Remove(local.Name())
		defer local.Close()
		w := crypt.Compress(local)
		sinks, closers = append(sinks, w), append(closers, w)
	}
	_, err = io.Copy(io.MultiWriter(sinks...), in)
	for _, c := range closers {
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", remote, err)
	}
	size, err := out.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("%s: %w", remote, err)
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("%s: %w", remote, err)
	}
	if err := b.Save(ctx, remote, out, size); err != nil {
		return fmt.Errorf("upload %s to %s: %w", remote, b, err)
	}
	if keepGz == "" {
		return nil
	}
	// The remote gzip is also the archive dir's copy.
	src2 := out
	if local != nil {
		src2 = local
	}
	if err := src2.Close(); err != nil {
		return fmt.Errorf("archive dir: %w", err)
	}
	if err := os.Chmod(src2.Name(), 0o600); err != nil {
		return fmt.Errorf("archive dir: %w", err)
	}
	if err := os.Rename(src2.Name(), keepGz); err != nil {
		return fmt.Errorf("archive dir: %w", err)
	}
	return nil
}

// fileList collects the manifest's Filelist on disk, since a large backup
// changes millions of files.
type fileList struct {
	f *os.File
	w *bufio.Writer
	n int
}

func newFileList(dir string) (*fileList, error) {
	f, err := os.CreateTemp(dir, ".dupfs-files-*")
	if err != nil {
		return nil, fmt.Errorf("file list: %w", err)
	}
	os.Remove(f.Name())
	return &fileList{f: f, w: bufio.NewWriterSize(f, 256<<10)}, nil
}

func (l *fileList) add(change, idx string) {
	l.n++
	l.w.WriteString(manifest.FileLine(manifest.File{Change: change, Path: idx}))
}

func (l *fileList) writeTo(w io.Writer) error {
	if err := l.w.Flush(); err != nil {
		return fmt.Errorf("file list: %w", err)
	}
	if _, err := io.WriteString(w, manifest.FilelistLine(l.n)); err != nil {
		return err
	}
	if _, err := l.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	_, err := io.Copy(w, l.f)
	return err
}

func (l *fileList) close() { l.f.Close() }
