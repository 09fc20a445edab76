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
	keys     *keyPool // nil: Encrypt derives each key itself
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

func newMeta(ropts repo.Options, opts *Options, p *backupPlan, keys *keyPool) (*meta, error) {
	m := &meta{ropts: ropts, opts: opts, plan: p, dir: ropts.ArchiveDir, keys: keys}
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

// prepare completes the signature tar and encrypts or compresses it for
// the target. It stores nothing, so it can run while the last volume is
// still being stored.
func (m *meta) prepare() (*encoded, error) {
	if err := m.sig.Close(); err != nil {
		return nil, fmt.Errorf("signature tar: %w", err)
	}
	if err := m.sigBuf.Flush(); err != nil {
		return nil, fmt.Errorf("signature tar: %w", err)
	}
	if err := m.sigFile.Close(); err != nil {
		return nil, fmt.Errorf("signature tar: %w", err)
	}
	enc := !m.opts.NoEncryption
	remote := m.plan.fileName(m.ropts, m.plan.sigType(), 0, enc, !enc, false)
	local := filepath.Join(m.dir, m.plan.fileName(m.ropts, m.plan.sigType(), 0, false, true, false))
	return m.encode(remote, m.sigPath, enc, !enc, local)
}

// publish stores the prepared signature tar, then writes and stores the
// manifest (its local file is opened only once the signatures are
// stored), and leaves their final local copies in the archive dir.
func (m *meta) publish(ctx context.Context, b backends.Backend, sig *encoded, vols []manifest.Volume) error {
	if err := sig.store(ctx, b); err != nil {
		return err
	}
	if err := os.Remove(m.sigPath); err != nil {
		return fmt.Errorf("archive dir: %w", err)
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
	man, err := m.encode(remote, m.manPath, enc, false, "")
	if err != nil {
		return err
	}
	if err := man.store(ctx, b); err != nil {
		return err
	}
	final := filepath.Join(m.dir, m.plan.fileName(m.ropts, m.plan.manType(), 0, false, false, false))
	if err := os.Rename(m.manPath, final); err != nil {
		return fmt.Errorf("archive dir: %w", err)
	}
	m.fileList.close()
	return nil
}

// encoded is a file ready to be stored: the bytes for the target in a
// temporary file and, for the signature tar, its gzipped copy for the
// archive dir.
type encoded struct {
	remote string
	out    *os.File
	size   int64
	local  *os.File // the gzipped copy when out is not one
	keepGz string   // where the gzipped copy goes; "" for none
}

// encode encrypts or gzips the plain file src for the target, as remote;
// with keepGz, a gzipped copy is made for the archive dir too.
func (m *meta) encode(remote, src string, enc, gz bool, keepGz string) (_ *encoded, err error) {
	in, err := os.Open(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", remote, err)
	}
	defer in.Close()
	e := &encoded{remote: remote, keepGz: keepGz}
	defer func() {
		if err != nil {
			e.discard()
		}
	}()
	if e.out, err = os.CreateTemp(m.dir, ".dupfs-meta-*"); err != nil {
		return nil, fmt.Errorf("%s: %w", remote, err)
	}
	var sinks []io.Writer
	var closers []io.Closer
	switch {
	case enc:
		eo, err := m.keys.encryptOptions(m.opts.Encrypt, false)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", remote, err)
		}
		w, err := crypt.Encrypt(e.out, eo)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", remote, err)
		}
		sinks, closers = append(sinks, w), append(closers, w)
	case gz:
		w := crypt.Compress(e.out)
		sinks, closers = append(sinks, w), append(closers, w)
	default:
		sinks = append(sinks, e.out)
	}
	if keepGz != "" && !gz {
		if e.local, err = os.CreateTemp(m.dir, ".dupfs-meta-*"); err != nil {
			return nil, fmt.Errorf("archive dir: %w", err)
		}
		w := crypt.Compress(e.local)
		sinks, closers = append(sinks, w), append(closers, w)
	}
	_, err = io.Copy(io.MultiWriter(sinks...), in)
	for _, c := range closers {
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", remote, err)
	}
	if e.size, err = e.out.Seek(0, io.SeekCurrent); err != nil {
		return nil, fmt.Errorf("%s: %w", remote, err)
	}
	return e, nil
}

// store saves the file to the target, then publishes the gzipped copy.
func (e *encoded) store(ctx context.Context, b backends.Backend) error {
	defer e.discard()
	if _, err := e.out.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("%s: %w", e.remote, err)
	}
	if err := b.Save(ctx, e.remote, e.out, e.size); err != nil {
		return fmt.Errorf("upload: %w", err) // the store names the file and itself
	}
	if e.keepGz == "" {
		return nil
	}
	// The remote gzip is also the archive dir's copy. Either way the file
	// is now the archive dir's, not discard's.
	src := e.out
	if e.local != nil {
		src, e.local = e.local, nil
	} else {
		e.out = nil
	}
	if err := src.Close(); err != nil {
		return fmt.Errorf("archive dir: %w", err)
	}
	if err := os.Chmod(src.Name(), 0o600); err != nil {
		return fmt.Errorf("archive dir: %w", err)
	}
	if err := os.Rename(src.Name(), e.keepGz); err != nil {
		return fmt.Errorf("archive dir: %w", err)
	}
	return nil
}

// discard removes the temporary files that are still there.
func (e *encoded) discard() {
	if e == nil {
		return
	}
	for _, f := range []*os.File{e.out, e.local} {
		if f != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}
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
